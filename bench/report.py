"""Turns the raw lines that bench/run.sh collected into one Markdown table.

    python3 report.py RAW_LINES_FILE MACHINE_FILE

RAW_LINES_FILE: one line per client run, `key=value` pairs, with the keys the
clients print plus `scheme=`, `kind=` and `round=` added by run.sh.
MACHINE_FILE: `key=value` lines (cpu, nproc, kernel, versions, ...).

Per-call time: each run reports the median of its N per-call times; the
table shows the median of those over the rounds (and the spread of the
rounds' medians). The ratios between per-call times are paired: the median
over the rounds of each round's own ratio. Standard library only.
"""

import statistics
import sys

CLIENTS = ["lib", "raw", "curl", "sdk"]


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


def paired(rows, a, b, key="p50_ns"):
    """Median over the rounds of one round's `a` ÷ the same round's `b`, where
    `a` and `b` are (scheme, client) of seq runs. The clients of a round run
    back to back, so a slow spell of the machine (another tenant of the VM, a
    frequency change) weighs on both sides of a ratio instead of on whichever
    client happened to run in it."""
    by_round = {}
    for side, (scheme, client) in enumerate((a, b)):
        for r in pick(rows, kind="seq", scheme=scheme, client=client):
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


def main():
    rows = parse(sys.argv[1])
    info = machine(sys.argv[2])
    out = []
    w = out.append

    rounds = sorted({int(r["round"]) for r in rows if r.get("kind") == "seq"})
    seq = {}
    for scheme in ("http", "https"):
        for c in CLIENTS:
            runs = pick(rows, kind="seq", scheme=scheme, client=c)
            seq[scheme, c] = {
                "p50": med(runs, "p50_ns"),
                "mean": med(runs, "mean_ns"),
                "spread": spread(runs, "p50_ns"),
                "first": med(runs, "first_call_ns"),
                "calls": runs[0]["calls"] if runs else "?",
            }

    w("| Measure | library (C ABI) | raw socket (floor) | libcurl, reused handle | lark-oapi (Python SDK) | library ÷ floor | library ÷ libcurl | target |")
    w("|---|---:|---:|---:|---:|---:|---:|---|")

    def seq_row(scheme, label):
        cells = []
        for c in CLIENTS:
            s = seq[scheme, c]
            if s["p50"] is None:
                cells.append("—")
                continue
            lo, hi = s["spread"]
            cells.append(f"{us(s['p50'])} <sub>({us(lo)}–{us(hi)})</sub>")
        to_raw = paired(rows, (scheme, "lib"), (scheme, "raw"))
        to_curl = paired(rows, (scheme, "lib"), (scheme, "curl"))
        if scheme == "http":
            target = "≤ 1.15× floor" + verdict(to_raw, 1.15)
            target += ", < libcurl" + verdict(to_curl, 0.999999)
        else:
            target = ""
        w(f"| {label} | {' | '.join(cells)} | {times(to_raw)} | {times(to_curl)} | {target} |")

    seq_row("http", "Per call, plain HTTP, keep-alive (median)")
    seq_row("https", "Per call, HTTPS, connection reused (median)")

    tls = {c: paired(rows, ("https", c), ("http", c)) for c in CLIENTS}
    cells = [times(tls[c]) for c in CLIENTS]
    lib_tls = tls["lib"]
    # The server's CPU per request (nginx's schedstat over each client's run).
    srv = {
        scheme: {c: med(pick(rows, kind="seq", scheme=scheme, client=c), "server_cpu_per_call_ns") for c in CLIENTS}
        for scheme in ("http", "https")
    }

    def server_tls(c):
        a, b = srv["https"].get(c), srv["http"].get(c)
        return a - b if a is not None and b is not None else None

    note = ""
    if server_tls("lib") is not None and seq["http", "lib"]["p50"]:
        note = (
            f" (nginx's own TLS work is +{us(server_tls('lib'))} per request, "
            f"{server_tls('lib') / seq['http', 'lib']['p50']:.0%} of the library's plain call: "
            "over 1.2× for any client here)"
        )
    w(f"| HTTPS ÷ plain HTTP, per call | {' | '.join(cells)} | | | ≤ 1.2×{verdict(lib_tls, 1.2)}{note} |")

    # The same without the server's share: what the client's TLS adds.
    cells, lib_net = [], None
    for c in CLIENTS:
        a, b, t = seq["https", c]["p50"], seq["http", c]["p50"], server_tls(c)
        if a is None or b is None or t is None or tls[c] is None:
            cells.append("—")
            continue
        # The paired ratio less the server's TLS share of the plain call.
        net = tls[c] - t / b
        cells.append(times(net))
        if c == "lib":
            lib_net = net
    if lib_net is not None:
        w(
            f"| HTTPS ÷ plain HTTP, per call, less the server's TLS work (HTTPS − HTTP nginx CPU) | "
            f"{' | '.join(cells)} | | | the client's TLS ≤ 1.2×{verdict(lib_net, 1.2)} |"
        )

    # The floor with the library's extra system call: what the system calls
    # alone cost, apart from the library's user-space work.
    cells = []
    for scheme in ("http", "https"):
        runs = pick(rows, kind="seq", scheme=scheme, client="raw+lib-syscalls")
        v = med(runs, "p50_ns")
        r = paired(rows, (scheme, "raw+lib-syscalls"), (scheme, "raw"))
        cells.append(f"{'HTTP' if scheme == 'http' else 'HTTPS'} {us(v)} ({times(r)} floor)" if v else "—")
    if any(c != "—" for c in cells):
        w(
            "| Floor + the library's system calls (a recv(MSG_PEEK, MSG_DONTWAIT) probe of the pooled "
            f"connection: 3 per call), median | | {'; '.join(cells)} | | | | | |"
        )

    # Mean per call, as a cross-check of the medians.
    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        cells = [us(seq[scheme, c]["mean"]) for c in CLIENTS]
        lib, raw, curl = (seq[scheme, c]["mean"] for c in ("lib", "raw", "curl"))
        w(f"| Per call, {label}, mean | {' | '.join(cells)} | {ratio(lib, raw)} | {ratio(lib, curl)} | |")

    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        cpu = {c: med(pick(rows, kind="seq", scheme=scheme, client=c), "cpu_per_call_ns") for c in CLIENTS}
        w(
            f"| Client CPU per call (user + system), {label} | {' | '.join(us(cpu[c]) for c in CLIENTS)} | "
            f"{ratio(cpu['lib'], cpu['raw'])} | {ratio(cpu['lib'], cpu['curl'])} | |"
        )

    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        if any(srv[scheme].values()):
            w(
                f"| Server (nginx) CPU per request, {label} | {' | '.join(us(srv[scheme][c]) for c in CLIENTS)} | "
                f"{ratio(srv[scheme]['lib'], srv[scheme]['raw'])} | {ratio(srv[scheme]['lib'], srv[scheme]['curl'])} | |"
            )

    # What TLS adds to a reused connection's call, split into the client's
    # CPU and the server's: the server's share is the same for every client.
    cells = []
    for c in CLIENTS:
        wall = [seq[s, c]["p50"] for s in ("https", "http")]
        cpu = [med(pick(rows, kind="seq", scheme=s, client=c), "cpu_per_call_ns") for s in ("https", "http")]
        server = [srv[s].get(c) for s in ("https", "http")]
        if None in wall or None in cpu:
            cells.append("—")
            continue
        text = f"+{us(wall[0] - wall[1])} <sub>(client CPU +{us(cpu[0] - cpu[1])}"
        if None not in server:
            text += f", server CPU +{us(server[0] - server[1])}"
        cells.append(text + ")</sub>")
    w(f"| What TLS adds per call (HTTPS − plain HTTP, median) | {' | '.join(cells)} | | | |")

    prof = {(r.get("scheme"), r.get("client")): r for r in pick(rows, kind="profile")}
    if prof:
        for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
            ins = {c: float(prof[scheme, c]["instr_per_call"]) if (scheme, c) in prof else None for c in CLIENTS}
            cells = [f"{ins[c]:,.0f}" if ins[c] else "—" for c in CLIENTS]
            w(
                f"| User-space instructions per call (callgrind), {label} | {' | '.join(cells)} | "
                f"{ratio(ins['lib'], ins['raw'])} | {ratio(ins['lib'], ins['curl'])} | |"
            )
        for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
            cells = []
            for c in CLIENTS:
                r = prof.get((scheme, c))
                if not r:
                    cells.append("—")
                    continue
                detail = r.get("syscalls", "").replace(":", " ").replace(",", ", ")
                cells.append(f"{float(r['syscalls_per_call']):.1f} <sub>({detail})</sub>")
            w(f"| System calls per call (strace), {label} | {' | '.join(cells)} | | | |")

    for scheme, label in (("https", "HTTPS"), ("http", "plain HTTP")):
        runs = {c: pick(rows, kind="cold", scheme=scheme, client=c) for c in CLIENTS}
        both = {c: med(runs[c], "new_plus_first_ns") for c in CLIENTS}
        first = {c: med(runs[c], "first_call_ns") for c in CLIENTS}
        new = {c: med(runs[c], "new_client_ns") for c in CLIENTS}
        k = next((r[0]["cold"] for r in runs.values() if r), "?")
        cells = [
            f"{us(both[c])}"
            + (f" <sub>(new {us(new[c])} + call {us(first[c])})</sub>" if new[c] else "")
            for c in CLIENTS
        ]
        w(
            f"| Cold call, {label}: new client + first call (connect{', handshake' if scheme == 'https' else ''}), median of {k} | "
            f"{' | '.join(cells)} | {ratio(both['lib'], both['raw'])} | {ratio(both['lib'], both['curl'])} | |"
        )
    cells = [us(seq["https", c]["first"]) for c in CLIENTS]
    w(
        "| Cold call, HTTPS: first call of a new process (client setup, connect, handshake) | "
        f"{' | '.join(cells)} | {ratio(seq['https', 'lib']['first'], seq['https', 'raw']['first'])} | "
        f"{ratio(seq['https', 'lib']['first'], seq['https', 'curl']['first'])} | |"
    )

    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        mem = {c: pick(rows, kind="mem", scheme=scheme, client=c) for c in CLIENTS}
        n = next((r[0]["calls"] for r in mem.values() if r), "?")
        warm = next((x["warmup"] for r in mem.values() for x in r if "warmup" in x), "?")
        cells = []
        for c in CLIENTS:
            r = [x for x in mem[c] if "rss_growth_kb" in x]
            cells.append(
                f"{r[0]['rss_growth_kb']} kB <sub>(settling {r[0]['settling_kb']} kB; RSS {r[0]['rss_after_kb']} kB)</sub>"
                if r
                else "—"
            )
        lib_growth = next((float(x["rss_growth_kb"]) for x in mem["lib"] if "rss_growth_kb" in x), None)
        w(
            f"| RSS growth over {int(n):,} calls after {int(warm):,} warm-up calls, {label} "
            f"<sub>(settling: growth from call 1,000 to {int(warm):,})</sub> | {' | '.join(cells)} | | | 0{verdict(lib_growth, 0)} |"
        )
    for scheme, label in (("http", "plain HTTP"), ("https", "HTTPS")):
        mem = {c: pick(rows, kind="mem", scheme=scheme, client=c) for c in CLIENTS}
        cells = []
        for c in CLIENTS:
            r = [x for x in mem[c] if "allocs_per_call" in x]
            cells.append(
                f"{float(r[0]['allocs_per_call']):.1f} <sub>({float(r[0]['bytes_per_call']):,.0f} B; "
                f"{float(r[0]['allocs_per_call']) - float(r[0]['frees_per_call']):+.2f} live)</sub>"
                if r
                else "—"
            )
        w(
            f"| Allocations per call, {label} <sub>(bytes requested; change in live blocks)</sub> | "
            f"{' | '.join(cells)} | | | |"
        )

    stripped = int(info.get("lib_stripped_bytes", "0") or 0)
    unstripped = int(info.get("lib_bytes", "0") or 0)
    w(
        f"| Shared library size, stripped <sub>(as built)</sub> | {stripped / 1048576:.2f} MiB <sub>({unstripped / 1048576:.2f} MiB)</sub> | "
        f"| {info.get('curl_lib_size', '—')} | | | | ≤ 2 MiB{verdict(stripped / 1048576 if stripped else None, 2.0)} |"
    )

    for t in (1, 2, 8, 32):
        lib = pick(rows, kind="threads", client="lib", threads=t)
        raw = pick(rows, kind="threads", client="raw", threads=t)
        crl = pick(rows, kind="threads", client="curl", threads=t)
        lt, rt, ct = med(lib, "calls_per_s"), med(raw, "calls_per_s"), med(crl, "calls_per_s")
        lc, rc, cc = (med(x, "cpu_per_call_ns") for x in (lib, raw, crl))
        w(
            f"| Throughput, {t} thread{'s' if t > 1 else ''}, plain HTTP, calls/s <sub>(CPU per call)</sub> | "
            f"{f'{lt:,.0f}' if lt else '—'} <sub>({us(lc)}; shared default client)</sub> | "
            f"{f'{rt:,.0f}' if rt else '—'} <sub>({us(rc)}; a connection per thread)</sub> | "
            f"{f'{ct:,.0f}' if ct else '—'} <sub>({us(cc)}; a handle per thread)</sub> | | "
            f"{ratio(rt, lt)} | {ratio(ct, lt)} | |"
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
    print(
        f"Library {info.get('lib_version', '?')} at {info.get('commit', '?')} ({info.get('rustc', '?')}); "
        f"{info.get('libcurl', '?')}; lark-oapi {info.get('lark_oapi', '?')} on Python {info.get('python', '?')}.  "
    )
    print(
        f"{len(rounds)} interleaved rounds; per round {n_c} timed calls per C client and {n_py} for the SDK, "
        f"after a warm-up; median of the rounds' per-call medians, with the rounds' range in small type.  "
    )
    print(
        "Ratios are of times (> 1× = the library is slower). The ratios of per-call times are paired: the median over the rounds of each round's own ratio (a round runs the clients back to back, so a slow spell of the machine weighs on both sides of a ratio), which is why they can differ from the quotient of the two medians shown; for throughput, the other client's calls/s ÷ the library's (< 1× = the library serves more). "
        "Client CPU per call is the client process's user + system time over the timed calls ÷ calls: "
        "less sensitive to a busy machine than wall time (on loopback it includes some of the kernel's "
        "TCP work for the server's side). "
        "The SDK opens a new connection for every call (its transport uses `requests.request`), so its "
        "per-call times include connect (and over HTTPS a handshake) every time."
    )
    print()
    print("\n".join(out))


if __name__ == "__main__":
    main()
