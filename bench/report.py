"""Turns the raw lines that bench/run.sh collected into one Markdown table.

    python3 report.py RAW_LINES_FILE MACHINE_FILE

RAW_LINES_FILE: one line per client run, `key=value` pairs, with the keys the
clients print plus `scheme=`, `kind=` and `round=` added by run.sh.
MACHINE_FILE: `key=value` lines (cpu, nproc, kernel, versions, ...).

Per-call time: each run reports the median of its N per-call times; the
table shows the median of those over the rounds (and the spread of the
rounds' medians). The ratios between per-call times are paired: the median
over the rounds of each round's own ratio. Standard library only.

With `run.sh --before REV` the lines include the client `lib_before` (the
library of REV) and MACHINE_FILE `before=`; the table then gets a column for
it and a column "library ÷ before" (paired per round where there are rounds).
Without it the table is as it always was.
"""

import statistics
import sys

CLIENTS = ["lib", "raw", "curl", "sdk"]
BEFORE = "lib_before"


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or "=" not in line:
                continue
            row = {}
            for part in line.split():
                if "=" in part:
                    k, v = part.split("=", 1)
                    row[k] = v
            rows.append(row)
    return rows


def machine(path):
    info = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                info[k] = v
    return info


def pick(rows, **want):
    return [r for r in rows if all(r.get(k) == str(v) for k, v in want.items())]


def med(rows, key):
    vals = [float(r[key]) for r in rows if key in r]
    return statistics.median(vals) if vals else None


def paired(rows, a, b, key="p50_ns", kind="seq", **match):
    """Median over the rounds of one round's `a` ÷ the same round's `b`, where
    `a` and `b` are (scheme, client) of `kind` runs (and `match`, e.g. a
    thread count). The clients of a round run back to back, so a slow spell of
    the machine (another tenant of the VM, a frequency change) weighs on both
    sides of a ratio instead of on whichever client happened to run in it."""
    by_round = {}
    for side, (scheme, client) in enumerate((a, b)):
        for r in pick(rows, kind=kind, scheme=scheme, client=client, **match):
            if key in r:
                by_round.setdefault(r["round"], [None, None])[side] = float(r[key])
    vals = [x / y for x, y in by_round.values() if x is not None and y]
    return statistics.median(vals) if vals else None


def times(value):
    return "—" if value is None else f"{value:.2f}×"


def spread(rows, key):
    vals = [float(r[key]) for r in rows if key in r]
    return (min(vals), max(vals)) if vals else None


def us(ns, digits=1):
    if ns is None:
        return "—"
    v = ns / 1000.0
    if v >= 1000:
        return f"{v / 1000:.2f} ms"
    return f"{v:.{digits}f} µs"


def ratio(a, b):
    return times(a / b if a is not None and b else None)


def verdict(value, limit):
    if value is None:
        return ""
    return " ✅" if value <= limit else " ❌"


class Table:
    """The rows of the table: a label, a cell per client, the ratio columns
    (library ÷ floor, ÷ libcurl and, with a `before` client, ÷ before) and the
    target. The before column and its ratio exist only when the run had one,
    so that a run without --before gives the table it always gave."""

    def __init__(self, clients, before_label):
        self.clients = clients
        self.before = BEFORE in clients
        self.lines = []
        names = {
            "lib": "library (C ABI), after" if self.before else "library (C ABI)",
            BEFORE: f"library before ({before_label})",
            "raw": "raw socket (floor)",
            "curl": "libcurl, reused handle",
            "sdk": "lark-oapi (Python SDK)",
        }
        ratios = ["library ÷ floor", "library ÷ libcurl"] + (["library ÷ before"] if self.before else [])
        self.lines.append("| Measure | " + " | ".join([names[c] for c in clients] + ratios) + " | target |")
        self.lines.append("|---|" + "---:|" * (len(clients) + len(ratios)) + "---|")

    def row(self, label, cells, to_raw="", to_curl="", to_before="", target=""):
        """`cells`: client -> text (a missing client: an empty cell)."""
        parts = [label] + [cells.get(c, "") for c in self.clients] + [to_raw, to_curl]
        if self.before:
            parts.append(to_before)
        parts.append(target)
        self.lines.append("|" + "|".join(f" {p} " if p else " " for p in parts) + "|")


def usage(out=sys.stdout):
    print(__doc__.strip(), file=out)


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        usage()
        return
    if len(sys.argv) != 3:
        usage(sys.stderr)
        sys.exit(2)
    rows = parse(sys.argv[1])
    info = machine(sys.argv[2])
    has_before = any(r.get("client") == BEFORE for r in rows)
    # The library of --before REV sits next to the working tree's.
    clients = ["lib", BEFORE] + CLIENTS[1:] if has_before else CLIENTS
    table = Table(clients, info.get("before", "?"))
    row = table.row

    rounds = sorted({int(r["round"]) for r in rows if r.get("kind") == "seq"})
    seq = {}
    for scheme in ("http", "https"):
        for c in clients:
            runs = pick(rows, kind="seq", scheme=scheme, client=c)
            seq[scheme, c] = {
                "p50": med(runs, "p50_ns"),
                "mean": med(runs, "mean_ns"),
                "spread": spread(runs, "p50_ns"),
                "first": med(runs, "first_call_ns"),
                "calls": runs[0]["calls"] if runs else "?",
            }

    def vs_before(scheme, key, kind="seq", **match):
        """After ÷ before, paired per round (a run without rounds: one pair)."""
        return times(paired(rows, (scheme, "lib"), (scheme, BEFORE), key, kind, **match))

    def seq_row(scheme, label):
        cells = {}
        for c in clients:
            s = seq[scheme, c]
            if s["p50"] is None:
                cells[c] = "—"
                continue
            lo, hi = s["spread"]
            cells[c] = f"{us(s['p50'])} <sub>({us(lo)}–{us(hi)})</sub>"
        to_raw = paired(rows, (scheme, "lib"), (scheme, "raw"))
        to_curl = paired(rows, (scheme, "lib"), (scheme, "curl"))
        target = "< libcurl" + verdict(to_curl, 0.999999)
        row(label, cells, times(to_raw), times(to_curl), vs_before(scheme, "p50_ns"), target)

    seq_row("http", "Per call, plain HTTP, keep-alive (median)")
    seq_row("https", "Per call, HTTPS, connection reused (median)")

    tls = {c: paired(rows, ("https", c), ("http", c)) for c in clients}
    lib_tls = tls["lib"]
    # The server's CPU per request (nginx's schedstat over each client's run).
    srv = {
        scheme: {c: med(pick(rows, kind="seq", scheme=scheme, client=c), "server_cpu_per_call_ns") for c in clients}
        for scheme in ("http", "https")
    }

    def server_tls(c):
        a, b = srv["https"].get(c), srv["http"].get(c)
        return a - b if a is not None and b is not None else None

    row(
        "HTTPS ÷ plain HTTP, per call",
        {c: times(tls[c]) for c in clients},
    )

    # The same without the server's share: what the client's TLS adds.
    cells, lib_net = {}, None
    for c in clients:
        a, b, t = seq["https", c]["p50"], seq["http", c]["p50"], server_tls(c)
        if a is None or b is None or t is None or tls[c] is None:
            cells[c] = "—"
            continue
        # The paired ratio less the server's TLS share of the plain call.
        net = tls[c] - t / b
        cells[c] = times(net)
        if c == "lib":
            lib_net = net
    if lib_net is not None:
        row(
            "HTTPS ÷ plain HTTP, per call, less the server's TLS work (HTTPS − HTTP nginx CPU)",
            cells,
        )

    def time_rows(title, values, before_key, skip_empty=False):
        """One row per scheme of a per-call time: the clients' values, ÷ floor,
        ÷ libcurl, ÷ before."""
        for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
            v = values(scheme)
            if skip_empty and not any(v.values()):
                continue
            row(
                title.format(label),
                {c: us(v[c]) for c in clients},
                ratio(v["lib"], v["raw"]),
                ratio(v["lib"], v["curl"]),
                vs_before(scheme, before_key),
            )

    # Mean per call, as a cross-check of the medians.
    time_rows("Per call, {}, mean", lambda s: {c: seq[s, c]["mean"] for c in clients}, "mean_ns")
    time_rows(
        "Client CPU per call (user + system), {}",
        lambda s: {c: med(pick(rows, kind="seq", scheme=s, client=c), "cpu_per_call_ns") for c in clients},
        "cpu_per_call_ns",
    )
    time_rows(
        "Server (nginx) CPU per request, {}",
        lambda s: {c: srv[s].get(c) for c in clients},
        "server_cpu_per_call_ns",
        skip_empty=True,
    )

    # What TLS adds to a reused connection's call, split into the client's
    # CPU and the server's: the server's share is the same for every client.
    cells = {}
    for c in clients:
        wall = [seq[s, c]["p50"] for s in ("https", "http")]
        cpu = [med(pick(rows, kind="seq", scheme=s, client=c), "cpu_per_call_ns") for s in ("https", "http")]
        server = [srv[s].get(c) for s in ("https", "http")]
        if None in wall or None in cpu:
            cells[c] = "—"
            continue
        text = f"+{us(wall[0] - wall[1])} <sub>(client CPU +{us(cpu[0] - cpu[1])}"
        if None not in server:
            text += f", server CPU +{us(server[0] - server[1])}"
        cells[c] = text + ")</sub>"
    row("What TLS adds per call (HTTPS − plain HTTP, median)", cells)

    prof = {(r.get("scheme"), r.get("client")): r for r in pick(rows, kind="profile")}
    if prof:
        for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
            ins = {c: float(prof[scheme, c]["instr_per_call"]) if (scheme, c) in prof else None for c in clients}
            row(
                f"User-space instructions per call (callgrind), {label}",
                {c: f"{ins[c]:,.0f}" if ins[c] else "—" for c in clients},
                ratio(ins["lib"], ins["raw"]),
                ratio(ins["lib"], ins["curl"]),
                ratio(ins["lib"], ins.get(BEFORE)),
            )
        for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
            cells = {}
            for c in clients:
                r = prof.get((scheme, c))
                if not r:
                    cells[c] = "—"
                    continue
                detail = r.get("syscalls", "").replace(":", " ").replace(",", ", ")
                cells[c] = f"{float(r['syscalls_per_call']):.1f} <sub>({detail})</sub>"
            row(f"System calls per call (strace), {label}", cells)

    for scheme, label in (("https", "HTTPS"), ("http", "plain HTTP")):
        runs = {c: pick(rows, kind="cold", scheme=scheme, client=c) for c in clients}
        both = {c: med(runs[c], "new_plus_first_ns") for c in clients}
        first = {c: med(runs[c], "first_call_ns") for c in clients}
        new = {c: med(runs[c], "new_client_ns") for c in clients}
        k = next((r[0]["cold"] for r in runs.values() if r), "?")
        cells = {
            c: f"{us(both[c])}" + (f" <sub>(new {us(new[c])} + call {us(first[c])})</sub>" if new[c] else "")
            for c in clients
        }
        to_curl = ratio(both["lib"], both["curl"])
        row(
            f"Cold call, {label}: new client + first call (connect{', handshake' if scheme == 'https' else ''}), median of {k}",
            cells,
            ratio(both["lib"], both["raw"]),
            to_curl,
            ratio(both["lib"], both.get(BEFORE)),
            target=("< libcurl" + verdict(both["lib"] / both["curl"] if both["lib"] and both["curl"] else None, 0.999999))
            if scheme == "https"
            else "",
        )
    first = {c: seq["https", c]["first"] for c in clients}
    row(
        "Cold call, HTTPS: first call of a new process (client setup, connect, handshake)",
        {c: us(first[c]) for c in clients},
        ratio(first["lib"], first["raw"]),
        ratio(first["lib"], first["curl"]),
        vs_before("https", "first_call_ns"),
    )

    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        mem = {c: pick(rows, kind="mem", scheme=scheme, client=c) for c in clients}
        n = next((r[0]["calls"] for r in mem.values() if r), "?")
        warm = next((x["warmup"] for r in mem.values() for x in r if "warmup" in x), "?")
        cells = {}
        for c in clients:
            r = [x for x in mem[c] if "rss_growth_kb" in x]
            cells[c] = (
                f"{r[0]['rss_growth_kb']} kB <sub>(settling {r[0]['settling_kb']} kB; RSS {r[0]['rss_after_kb']} kB)</sub>"
                if r
                else "—"
            )
        lib_growth = next((float(x["rss_growth_kb"]) for x in mem["lib"] if "rss_growth_kb" in x), None)
        row(
            f"RSS growth over {int(n):,} calls after {int(warm):,} warm-up calls, {label} "
            f"<sub>(settling: growth from call 1,000 to {int(warm):,})</sub>",
            cells,
            target=f"0{verdict(lib_growth, 0)}",
        )
    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        mem = {c: pick(rows, kind="mem", scheme=scheme, client=c) for c in clients}
        cells = {}
        for c in clients:
            r = [x for x in mem[c] if "allocs_per_call" in x]
            cells[c] = (
                f"{float(r[0]['allocs_per_call']):.1f} <sub>({float(r[0]['bytes_per_call']):,.0f} B; "
                f"{float(r[0]['allocs_per_call']) - float(r[0]['frees_per_call']):+.2f} live)</sub>"
                if r
                else "—"
            )
        row(f"Allocations per call, {label} <sub>(bytes requested; change in live blocks)</sub>", cells)

    def size(prefix):
        stripped = int(info.get(f"{prefix}lib_stripped_bytes", "0") or 0)
        unstripped = int(info.get(f"{prefix}lib_bytes", "0") or 0)
        return stripped, f"{stripped / 1048576:.2f} MiB <sub>({unstripped / 1048576:.2f} MiB)</sub>"

    stripped, lib_size = size("")
    before_stripped, before_size = size("before_")
    row(
        "Shared library size, stripped <sub>(as built)</sub>",
        {"lib": lib_size, BEFORE: before_size, "curl": info.get("curl_lib_size", "—")},
        to_before=ratio(stripped or None, before_stripped),
        target=f"≤ 2.5 MiB{verdict(stripped / 1048576 if stripped else None, 2.5)}",
    )

    what = {
        "lib": "shared default client",
        BEFORE: "shared default client",
        "raw": "a connection per thread",
        "curl": "a handle per thread",
    }
    for t in (1, 2, 8, 32):
        tput, cells = {}, {}
        for c in clients:
            if c == "sdk":
                continue
            runs = pick(rows, kind="threads", client=c, threads=t)
            tput[c] = med(runs, "calls_per_s")
            cells[c] = f"{f'{tput[c]:,.0f}' if tput[c] else '—'} <sub>({us(med(runs, 'cpu_per_call_ns'))}; {what[c]})</sub>"
        # Calls/s the other way round (the other's ÷ the library's), so that
        # > 1× still means the library is slower.
        row(
            f"Throughput, {t} thread{'s' if t > 1 else ''}, plain HTTP, calls/s <sub>(CPU per call)</sub>",
            cells,
            ratio(tput["raw"], tput["lib"]),
            ratio(tput["curl"], tput["lib"]),
            times(paired(rows, ("http", BEFORE), ("http", "lib"), "calls_per_s", "threads", threads=t)),
        )

    n_c = seq["http", "lib"]["calls"]
    n_py = seq["http", "sdk"]["calls"]
    print(
        f"Machine: {info.get('cpu', '?')}, {info.get('nproc', '?')} cores, {info.get('kernel', '?')}; "
        f"nginx {info.get('nginx', '?')} on loopback (`worker_processes {info.get('nginx_workers', '?')}`), "
        f"TLS: {info.get('tls', '?')}; CPU placement: "
        + {
            "same": "nginx and each client pinned to CPU 0 (thread-count runs unpinned)",
            "split": "nginx on CPU 0, each client on CPU 1 (thread-count runs unpinned)",
            "none": "unpinned",
        }.get(info.get("pin", "?"), info.get("pin", "?"))
        + ".  "
    )
    before = ""
    if has_before:
        before = (
            f"Before: the library at {info.get('before', '?')} (`--before {info.get('before_rev', '?')}`), "
            "built from a git worktree the same way and run as a client of its own, interleaved with the "
            "others in every round and mode.  "
        )
    print(
        f"Library {info.get('lib_version', '?')} at {info.get('commit', '?')} ({info.get('rustc', '?')}); "
        f"{info.get('libcurl', '?')}; lark-oapi {info.get('lark_oapi', '?')} on Python {info.get('python', '?')}.  "
        + before
    )
    print(
        f"{len(rounds)} interleaved rounds; per round {n_c} timed calls per C client and {n_py} for the SDK, "
        f"after a warm-up; median of the rounds' per-call medians, with the rounds' range in small type.  "
    )
    print(
        "Ratios are of times (> 1× = the library is slower). The ratios of per-call times are paired: the median over the rounds of each round's own ratio (a round runs the clients back to back, so a slow spell of the machine weighs on both sides of a ratio), which is why they can differ from the quotient of the two medians shown; for throughput, the other client's calls/s ÷ the library's (< 1× = the library serves more). "
        + (
            "Library ÷ before is the working tree's library against the one of the earlier revision, "
            "paired per round wherever the runs have rounds (per-call times, CPU, first calls, throughput; "
            "< 1× = the working tree's is faster). "
            if has_before
            else ""
        )
        + "Client CPU per call is the client process's user + system time over the timed calls ÷ calls: "
        "less sensitive to a busy machine than wall time (on loopback it includes some of the kernel's "
        "TCP work for the server's side). "
        "The SDK opens a new connection for every call (its transport uses `requests.request`), so its "
        "per-call times include connect (and over HTTPS a handshake) every time."
    )
    print()
    print("\n".join(table.lines))


if __name__ == "__main__":
    main()
