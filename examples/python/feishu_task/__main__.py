"""``python -m feishu_task`` (also installed as ``feishu-task``): the statuses of Feishu drive
tasks, or a wait for them, as the C example ``examples/c/task_check.c`` does::

    FEISHU_TOKEN=t-xxxx python -m feishu_task 7360595374803812356 [more task ids...]
    FEISHU_TOKEN=t-xxxx python -m feishu_task --wait 60 7360595374803812356
    FEISHU_APP_ID=cli_xxx FEISHU_APP_SECRET=xxx python -m feishu_task 7360595374803812356

The token (a tenant_access_token or user_access_token) is read from the environment so it
never shows up in ``ps`` or the shell history; with FEISHU_APP_ID and FEISHU_APP_SECRET
instead, the library fetches and refreshes the app's tenant_access_token itself.
FEISHU_BASE_URL selects another host, FEISHU_TIMEOUT_MS bounds each call, FEISHU_CA_FILE and
the proxy variables apply as for the library's default client. ``--wait SECONDS`` polls each
task until it finishes, showing progress.

Exit status: 0 when every task was checked (or finished, with --wait), 1 when any failed
(or the client could not be configured), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Callable, List, Optional

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


def describe_error(task_id: str, e: FeishuTaskError) -> str:
    """``<task_id>: error <code> (<description>): <message> [HTTP n] [log id x] [retry after n ms]``."""
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


def _parser() -> argparse.ArgumentParser:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    parser = argparse.ArgumentParser(
        # "feishu-task" as the console script, "python -m feishu_task" otherwise
        prog=name if name and name != "__main__.py" else "python -m feishu_task",
        description="Prints the status of Feishu / Lark drive tasks (task_check), or waits "
        "for them to finish.",
        epilog="Credentials come from the environment: FEISHU_TOKEN=<access token>, or "
        "FEISHU_APP_ID and FEISHU_APP_SECRET. FEISHU_BASE_URL, FEISHU_TIMEOUT_MS, "
        "FEISHU_CA_FILE and the proxy variables apply. Exit status: 0 all checked, "
        "1 any failed, 2 usage.",
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
    parser = _parser()
    args = parser.parse_args(argv)  # exits with 2 on a usage error
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


def _progress(task_id: str) -> Callable[[Status, int, float], bool]:
    """The progress display of --wait: one line per poll."""

    def show(status: Status, polls: int, elapsed: float) -> bool:
        what = "no answer (retrying)" if status is Status.UNKNOWN else STATUS_TEXT[status]
        print(f"  {task_id}: poll {polls} at {elapsed:.1f} s: {what}", flush=True)
        return False  # True would stop the wait

    return show


if __name__ == "__main__":
    sys.exit(main())
