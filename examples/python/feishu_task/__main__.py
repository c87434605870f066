"""``python -m feishu_task`` (also installed as ``feishu-task``): the statuses of Feishu drive
tasks, or a wait for them, as the C example ``examples/c/task_check.c`` does; and the moves
and deletes that start such tasks::

    FEISHU_TOKEN=t-xxxx python -m feishu_task 7360595374803812356 [more task ids...]
    FEISHU_TOKEN=t-xxxx python -m feishu_task --wait 60 7360595374803812356
    FEISHU_APP_ID=cli_xxx FEISHU_APP_SECRET=xxx python -m feishu_task 7360595374803812356
    FEISHU_TOKEN=t-xxxx python -m feishu_task move FILE_TOKEN --type folder --to FOLDER_TOKEN [--wait 60]
    FEISHU_TOKEN=t-xxxx python -m feishu_task delete FILE_TOKEN --type folder [--wait 60]

The token (a tenant_access_token or user_access_token) is read from the environment so it
never shows up in ``ps`` or the shell history; with FEISHU_APP_ID and FEISHU_APP_SECRET
instead, the library fetches and refreshes the app's tenant_access_token itself.
FEISHU_BASE_URL selects another host, FEISHU_TIMEOUT_MS bounds each call, FEISHU_CA_FILE and
the proxy variables apply as for the library's default client. ``--wait SECONDS`` polls each
task until it finishes, showing progress.

``move`` and ``delete`` (the first word that is not an option) start a task: without
``--wait`` they print its id, or ``done`` when the platform finished at once (a file, a
folder already in place); with ``--wait SECONDS`` they wait for the task as above, showing
progress, and end with its status (or ``done``). A failed write prints its error (it says
so when the operation may have been applied). Task ids are numbers, so a task id never
reads as one of these words; ``--`` before the task ids makes sure.

Exit status: 0 when every task was checked (or finished, with --wait), 1 when any failed
(or the client could not be configured), 2 on a usage error. ``move`` and ``delete``: 0 when
the write was accepted (and, with --wait, its task succeeded), 1 when the write failed, its
task failed or the wait did, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, List, Optional, Sequence

import feishu_task
from feishu_task import Client, FeishuTaskError, Status

#: How a status is shown (the C example's words).
STATUS_TEXT = {
    Status.SUCCESS: "success (the task has finished)",
    Status.FAIL: "fail (the task has failed)",
    Status.PROCESS: "process (still running)",
    Status.UNKNOWN: "unknown",
}

#: The longest --wait, in seconds (a day), as in the C example.
MAX_WAIT = 86400

#: The words that start a task instead of checking one.
COMMANDS = ("move", "delete")


def describe_error(task_id: str, e: FeishuTaskError) -> str:
    """``<task_id>: error <code> (<description>): <message> [HTTP n] [log id x] [retry after n ms]``
    (for a failed move or delete, its file token instead of the task id)."""
    # The C example gives the retry advice in milliseconds.
    return f"{task_id}: error {e.code} ({e.description}): {e.message}{e.details('ms')}"


def _wait_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < seconds <= MAX_WAIT:
        raise argparse.ArgumentTypeError(f"{text} seconds: more than 0 and at most {MAX_WAIT}")
    return seconds


def _prog() -> str:
    """"feishu-task" as the console script, "python -m feishu_task" otherwise."""
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return name if name and name != "__main__.py" else "python -m feishu_task"


_CREDENTIALS = (
    "Credentials come from the environment: FEISHU_TOKEN=<access token>, or "
    "FEISHU_APP_ID and FEISHU_APP_SECRET. FEISHU_BASE_URL, FEISHU_TIMEOUT_MS, "
    "FEISHU_CA_FILE and the proxy variables apply."
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_prog(),
        description="Prints the status of Feishu / Lark drive tasks (task_check), or waits "
        "for them to finish. To start one: %(prog)s move FILE_TOKEN --type TYPE --to "
        "FOLDER_TOKEN [--wait SECONDS], or %(prog)s delete FILE_TOKEN --type TYPE "
        "[--wait SECONDS] (%(prog)s move -h tells more).",
        epilog=_CREDENTIALS + " Exit status: 0 all checked, 1 any failed, 2 usage.",
    )
    parser.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_wait_seconds,
        help="poll each task until it finishes (at most SECONDS), showing progress",
    )
    parser.add_argument("task_ids", metavar="task_id", nargs="+", help="a drive task's ticket")
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {feishu_task.version()}"
    )
    return parser


def _write_parser(command: str) -> argparse.ArgumentParser:
    """The arguments of ``move`` or ``delete`` (the command word itself removed)."""
    if command == "move":
        description = (
            "Moves a file or folder into another folder (POST /open-apis/drive/v1/files/"
            "FILE_TOKEN/move). Prints the id of the task it started (a folder), or 'done' "
            "when the platform finished at once; with --wait, waits for the task."
        )
    else:
        description = (
            "Deletes a file or folder: it goes to the recycle bin (DELETE /open-apis/drive/"
            "v1/files/FILE_TOKEN?type=TYPE). Prints the id of the task it started (a "
            "folder), or 'done' when the platform finished at once; with --wait, waits for "
            "the task."
        )
    parser = argparse.ArgumentParser(
        prog=f"{_prog()} {command}",
        description=description,
        epilog=_CREDENTIALS + " Exit status: 0 done (or, with --wait, the task succeeded), "
        "1 the write, its task or the wait failed, 2 usage.",
    )
    parser.add_argument("file_token", metavar="FILE_TOKEN", help=f"the file or folder to {command}")
    parser.add_argument(
        "--type",
        dest="file_type",
        metavar="TYPE",
        required=True,
        help="FILE_TOKEN's type: folder, file, docx, doc, sheet, bitable, mindnote, slides, "
        "shortcut, ...",
    )
    if command == "move":
        parser.add_argument(
            "--to", dest="folder_token", metavar="FOLDER_TOKEN", required=True,
            help="the folder to move it into",
        )
    parser.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_wait_seconds,
        help="poll the task it started until it finishes (at most SECONDS), showing progress",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {feishu_task.version()}"
    )
    return parser


def _command_at(argv: Sequence[str]) -> Optional[int]:
    """Where ``move`` or ``delete`` is in ``argv``: the first argument that is neither an
    option nor ``--wait``'s value; ``None`` if that is anything else (a task id), or after
    ``--``."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return None
        if arg.startswith("-") and arg != "-":
            # --wait SECONDS (argparse also takes a prefix, --wa); --wait=SECONDS is one.
            takes_value = "=" not in arg and len(arg) > 2 and "--wait".startswith(arg)
            i += 2 if takes_value else 1
            continue
        return i if arg in COMMANDS else None
    return None


def _env(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value if value else None


def _client(token: Optional[str]) -> Client:
    """With a token, a client configured like the library's default one (the environment);
    without, the same settings plus the app's credentials."""
    if token is not None:
        return Client.from_env()
    timeout_ms = _env("FEISHU_TIMEOUT_MS")
    timeout = None
    if timeout_ms is not None:
        try:
            timeout = int(timeout_ms) / 1000.0
        except ValueError:
            raise feishu_task.InvalidArgumentError(
                feishu_task.Code.INVALID_ARGUMENT,
                f"FEISHU_TIMEOUT_MS is {timeout_ms!r}, not a number of milliseconds",
            ) from None
    return Client(
        base_url=_env("FEISHU_BASE_URL"),
        timeout=timeout,
        ca_file=_env("FEISHU_CA_FILE"),
        app_id=_env("FEISHU_APP_ID"),
        app_secret=os.environ.get("FEISHU_APP_SECRET", ""),
    )


def main(argv: Optional[List[str]] = None) -> int:
    """Runs the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    at = _command_at(argv)
    command: Optional[str] = None
    if at is None:
        parser = _parser()
        args = parser.parse_args(argv)  # exits with 2 on a usage error
    else:
        command = argv[at]
        parser = _write_parser(command)
        args = parser.parse_args(argv[:at] + argv[at + 1 :])
    token = _env("FEISHU_TOKEN")
    if token is None and _env("FEISHU_APP_ID") is None:
        parser.print_usage(sys.stderr)
        print(
            f"{parser.prog}: set FEISHU_TOKEN to a tenant_access_token or user_access_token, "
            "or FEISHU_APP_ID and FEISHU_APP_SECRET",
            file=sys.stderr,
        )
        return 2
    try:
        client = _client(token)
    except FeishuTaskError as e:
        print(f"{parser.prog}: cannot configure the client: {e.message}", file=sys.stderr)
        return 1

    if command is not None:
        with client:
            return _start(parser.prog, command, args, client, token)

    failures = 0
    with client:
        for task_id in args.task_ids:
            try:
                if args.wait is not None:
                    status = client.wait(
                        task_id, token, timeout=args.wait, progress=_progress(task_id)
                    )
                else:
                    status = client.task_check(task_id, token)
            except FeishuTaskError as e:
                failures += 1
                print(describe_error(task_id, e), flush=True)
            except KeyboardInterrupt:  # Ctrl-C: a wait stops at its next poll
                print(f"{parser.prog}: interrupted", file=sys.stderr)
                return 130
            else:
                print(f"{task_id}: {STATUS_TEXT[status]}", flush=True)
    return 0 if failures == 0 else 1


def _start(prog: str, command: str, args: argparse.Namespace, client: Client, token: Optional[str]) -> int:
    """``move`` or ``delete``, then (with --wait) the wait; prints and returns the exit status."""
    try:
        if command == "move":
            task_id = client.move(args.file_token, args.file_type, args.folder_token, token)
        else:
            task_id = client.delete(args.file_token, args.file_type, token)
    except FeishuTaskError as e:
        print(describe_error(args.file_token, e), flush=True)
        return 1
    except KeyboardInterrupt:
        print(
            f"{prog}: interrupted: the {command} may have been applied: check before repeating it",
            file=sys.stderr,
        )
        return 130
    if task_id is None:
        print("done", flush=True)
        return 0
    if args.wait is None:
        print(task_id, flush=True)
        return 0
    try:
        status = client.wait(task_id, token, timeout=args.wait, progress=_progress(task_id))
    except FeishuTaskError as e:
        print(describe_error(task_id, e), flush=True)
        return 1
    except KeyboardInterrupt:  # the task goes on; its id is in the progress lines
        print(f"{prog}: interrupted: task {task_id} goes on", file=sys.stderr)
        return 130
    print(f"{task_id}: {STATUS_TEXT[status]}", flush=True)
    return 0 if status is Status.SUCCESS else 1


def _progress(task_id: str) -> Callable[[Status, int, float], bool]:
    """The progress display of --wait: one line per poll."""

    def show(status: Status, polls: int, elapsed: float) -> bool:
        what = "no answer (retrying)" if status is Status.UNKNOWN else STATUS_TEXT[status]
        print(f"  {task_id}: poll {polls} at {elapsed:.1f} s: {what}", flush=True)
        return False  # True would stop the wait

    return show


if __name__ == "__main__":
    sys.exit(main())
