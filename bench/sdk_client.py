"""The official Python SDK, lark-oapi, calling the same endpoint.

    sdk_client.py seq N    first call (client built, connection opened), 50
                           warm-up calls, then N timed calls
    sdk_client.py cold K   K times: a new lark.Client and its first call

Server from the environment, like the library: FEISHU_BASE_URL (the SDK
accepts http:// only for loopback hosts, which is what the benchmark uses)
and, for https, FEISHU_CA_FILE, handed to `requests` as REQUESTS_CA_BUNDLE.

How the SDK is driven (read from lark_oapi 1.7.x): `lark.Client.builder()
.domain(url).enable_set_token(True)`, a `TaskCheckFileRequest.builder()
.task_id(...)`, and a `RequestOption.builder().tenant_access_token(...)`.
Its transport calls the module-level `requests.request(...)`, which makes a
new `requests.Session` per call: every call opens a new TCP connection (and
over https does a full TLS handshake). There is no connection reuse to turn
on, so its per-call time is a cold call every time.

Prints `key=value` lines like the C clients; times in nanoseconds.
"""

import os
import statistics
import sys
import time

TOKEN = "t-g1044ghJRUIJJ5ELPZ5EVHXZQXTOVM6V2ZVKOXF7"
TASK_ID = "7360595374803812356"

if os.environ.get("FEISHU_CA_FILE"):
    os.environ.setdefault("REQUESTS_CA_BUNDLE", os.environ["FEISHU_CA_FILE"])

import lark_oapi as lark  # noqa: E402
from lark_oapi.api.drive.v1 import TaskCheckFileRequest  # noqa: E402

BASE = os.environ["FEISHU_BASE_URL"]
OPTION = lark.RequestOption.builder().tenant_access_token(TOKEN).build()


def new_client():
    return (
        lark.Client.builder()
        .domain(BASE)
        .enable_set_token(True)
        .log_level(lark.LogLevel.ERROR)
        .build()
    )


def call(client):
    # A request object per call: the SDK mutates it (token types) while sending.
    request = TaskCheckFileRequest.builder().task_id(TASK_ID).build()
    response = client.drive.v1.file.task_check(request, OPTION)
    if not response.success() or response.data is None or response.data.status != "success":
        sys.stderr.write(f"sdk_client: call failed: code={response.code} msg={response.msg}\n")
        sys.exit(1)


def run_seq(n):
    t0 = time.perf_counter_ns()
    client = new_client()
    call(client)
    first = time.perf_counter_ns() - t0
    for _ in range(50):
        call(client)
    lat = []
    cpu = time.process_time_ns()
    start = time.perf_counter_ns()
    for _ in range(n):
        t = time.perf_counter_ns()
        call(client)
        lat.append(time.perf_counter_ns() - t)
    total = time.perf_counter_ns() - start
    cpu = time.process_time_ns() - cpu
    lat.sort()
    print(
        f"first_call_ns={first} client=sdk calls={n} p50_ns={int(statistics.median(lat))} "
        f"mean_ns={total // n} p99_ns={lat[(n * 99) // 100]} min_ns={lat[0]} cpu_per_call_ns={cpu // n}"
    )


def run_cold(k):
    create, first, both = [], [], []
    for _ in range(k):
        t0 = time.perf_counter_ns()
        client = new_client()
        t1 = time.perf_counter_ns()
        call(client)
        t2 = time.perf_counter_ns()
        create.append(t1 - t0)
        first.append(t2 - t1)
        both.append(t2 - t0)
    print(
        f"client=sdk cold={k} new_client_ns={int(statistics.median(create))} "
        f"first_call_ns={int(statistics.median(first))} "
        f"new_plus_first_ns={int(statistics.median(both))}"
    )


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "seq"
    arg = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    if mode == "seq":
        run_seq(arg)
    elif mode == "cold":
        run_cold(arg)
    else:
        sys.exit("usage: sdk_client.py seq N | cold K")


if __name__ == "__main__":
    main()
