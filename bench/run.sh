#!/usr/bin/env bash
# The benchmark of libfeishu_task: per-call time against a raw-socket floor,
# libcurl and the official Python SDK, over plain HTTP and HTTPS, cold calls,
# memory, size and threads, all against nginx on loopback.
#
#   bench/run.sh             install what is missing, build, measure, print the
#                            table, write bench/results.md and the Performance
#                            table of bench/README.md
#   bench/run.sh --quick     fewer calls and rounds (a smoke test, ~1 minute)
#   bench/run.sh --profile   also profile the library with callgrind (HTTP and
#                            HTTPS); reports under target/bench/
#   bench/run.sh --profile-only   only that profile, no measurements
#   bench/run.sh --before REV     also measure the library as it was at git
#                            revision REV (e.g. HEAD while src/ has uncommitted
#                            changes) next to the working tree's: REV is built
#                            in a git worktree under target/bench/ and runs as
#                            the client lib_before, interleaved with the others
#                            in every mode the library runs in; the table gets
#                            its column and the paired ratios library ÷ before
#
# Knobs (environment): ROUNDS (10), CALLS (10000 per C client per round),
# SDK_CALLS (300), COLD (50 cold calls per client), MEM_CALLS (100000),
# THREAD_CALLS (20000 per thread count and round), NGINX_WORKERS (1), PIN (same:
# nginx and clients on CPU 0; split; none), SKIP_BUILD=1 (use target/release as
# it is; --before REV is built all the same), NO_INSTALL=1 (fail instead of
# installing), FILL_README=0 (leave the table of bench/README.md alone).
set -euo pipefail

BENCH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$BENCH")"
OUT="$ROOT/target/bench"
VENV="$BENCH/.venv"

QUICK=0
PROFILE=0
BEFORE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --profile) PROFILE=1 ;;
        --profile-only) PROFILE=2 ;;
        --before)
            [ $# -ge 2 ] && [ -n "$2" ] || { echo "run.sh: --before needs a git revision" >&2; exit 2; }
            BEFORE="$2"
            shift
            ;;
        --before=*) BEFORE="${1#--before=}" ;;
        -h | --help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
# The library clients: the working tree's, and with --before the one of REV,
# which runs wherever "lib" runs so that both see the same machine.
LIBS=(lib)
[ -n "$BEFORE" ] && LIBS+=(lib_before)
if [ "$QUICK" = 1 ]; then
    : "${ROUNDS:=2}" "${CALLS:=3000}" "${SDK_CALLS:=100}" "${COLD:=10}" "${MEM_CALLS:=20000}" "${THREAD_CALLS:=4000}"
fi
ROUNDS="${ROUNDS:-10}"
CALLS="${CALLS:-10000}"
SDK_CALLS="${SDK_CALLS:-300}"
COLD="${COLD:-50}"
MEM_CALLS="${MEM_CALLS:-100000}"
THREAD_CALLS="${THREAD_CALLS:-20000}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
# CPU placement. same: nginx and the client on CPU 0 (default); split: nginx on
# CPU 0, the client on CPU 1; none: wherever the scheduler puts them. On a VM a
# wake-up across CPUs costs tens of microseconds of hypervisor latency and the
# scheduler flips between placements run to run, which made per-call times
# bimodal (14 vs 44 us for the floor here); on one CPU a call costs the client's
# CPU + nginx's CPU + two context switches, which is what the ratios compare.
# The thread-count runs are never pinned (nginx stays where PIN put it).
PIN="${PIN:-same}"

log() { printf '[bench] %s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools ----
have_header() { printf '#include <%s>\n' "$1" | cc -E -x c - >/dev/null 2>&1; }

install_tools() {
    local missing=()
    command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    have_header curl/curl.h || missing+=(libcurl4-openssl-dev)
    have_header openssl/ssl.h || missing+=(libssl-dev)
    if [ ${#missing[@]} -gt 0 ]; then
        [ "${NO_INSTALL:-0}" = 1 ] && { echo "run.sh: missing: ${missing[*]}" >&2; exit 1; }
        log "installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! "$VENV/bin/python" -c 'import lark_oapi' >/dev/null 2>&1; then
        [ "${NO_INSTALL:-0}" = 1 ] && { echo "run.sh: lark-oapi is not installed in $VENV" >&2; exit 1; }
        log "installing lark-oapi into $VENV"
        if ! python3 -m venv "$VENV" >/dev/null 2>&1; then
            apt-get install -y -qq python3-venv >/dev/null
            python3 -m venv "$VENV"
        fi
        "$VENV/bin/pip" install -q --disable-pip-version-check lark-oapi
    fi
}

# ---------------------------------------------------------------- build ----
CFLAGS=(-std=c99 -O2 -Wall -Wextra)

# compile_lib_client EXE INCLUDE_DIR LIB_DIR [CC_ARGS...]: lib_client.c against
# one build of the library, with that build's directory as its rpath.
compile_lib_client() {
    local exe="$1" include="$2" lib="$3"
    shift 3
    cc "${CFLAGS[@]}" -I"$include" -I"$BENCH" "$@" -o "$exe" "$BENCH/lib_client.c" \
        -L"$lib" -lfeishu_task -Wl,-rpath,"$lib" -lpthread -ldl
    check_loads "$exe" "$lib"
}

# check_loads EXE LIB_DIR: fails unless EXE loads libfeishu_task from LIB_DIR.
# With --before two builds of the same soname are about: an LD_LIBRARY_PATH or
# an rpath gone wrong would quietly measure one library twice.
check_loads() {
    local so
    so="$(ldd "$1" | awk '/libfeishu_task/ {print $3; exit}')"
    case "$so" in
        "$2"/*) ;;
        *) echo "run.sh: $1 loads libfeishu_task from ${so:-nowhere}, not from $2" >&2; exit 1 ;;
    esac
}

build() {
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "cargo build --release --lib"
        (cd "$ROOT" && cargo build --release --lib --quiet)
    fi
    [ -f "$ROOT/target/release/libfeishu_task.so" ] || { echo "run.sh: no target/release/libfeishu_task.so" >&2; exit 1; }
    mkdir -p "$OUT"
    local cflags=("${CFLAGS[@]}" -I"$BENCH")
    log "compiling the C clients into $OUT"
    compile_lib_client "$OUT/lib_client" "$ROOT/include" "$ROOT/target/release"
    cc "${cflags[@]}" -o "$OUT/raw_client" "$BENCH/raw_client.c" -lssl -lcrypto -lpthread -ldl
    cc "${cflags[@]}" -o "$OUT/curl_client" "$BENCH/curl_client.c" -lcurl -ldl
    cc -O2 -Wall -shared -fPIC -o "$OUT/malloc_count.so" "$BENCH/malloc_count.c"
}

# ------------------------------------------------------ --before REV ----
# The library of REV is built from a git worktree of its own (the working tree,
# its index and target/release stay as they are), into a target dir of its own
# that stays between runs so that only the crate itself is rebuilt, and
# lib_client.c is compiled a second time against REV's header and library.
BEFORE_SRC="$OUT/before-src"
BEFORE_LIB="$OUT/before-target/release"
BEFORE_COMMIT=""
BEFORE_WORKTREE=0

# remove_before_worktree: also clears what an interrupted run left behind: git
# refuses to add a worktree at a path it still has registered, even if the
# directory is gone, until it is pruned.
remove_before_worktree() {
    git -C "$ROOT" worktree remove --force "$BEFORE_SRC" >/dev/null 2>&1 || true
    rm -rf "$BEFORE_SRC"
    git -C "$ROOT" worktree prune || true
    BEFORE_WORKTREE=0
}

build_before() {
    BEFORE_COMMIT="$(git -C "$ROOT" rev-parse --verify --quiet "$BEFORE^{commit}")" \
        || { echo "run.sh: --before $BEFORE is not a commit of $ROOT" >&2; exit 2; }
    mkdir -p "$OUT"
    remove_before_worktree
    log "git worktree of $BEFORE ($(git -C "$ROOT" rev-parse --short "$BEFORE_COMMIT")) in $BEFORE_SRC"
    BEFORE_WORKTREE=1
    git -C "$ROOT" worktree add --detach --quiet "$BEFORE_SRC" "$BEFORE_COMMIT"
    log "cargo build --release --lib of $BEFORE into $(dirname "$BEFORE_LIB")"
    (cd "$BEFORE_SRC" && CARGO_TARGET_DIR="$(dirname "$BEFORE_LIB")" cargo build --release --lib --quiet)
    [ -f "$BEFORE_LIB/libfeishu_task.so" ] || { echo "run.sh: no $BEFORE_LIB/libfeishu_task.so" >&2; exit 1; }
    compile_lib_client "$OUT/lib_before_client" "$BEFORE_SRC/include" "$BEFORE_LIB" \
        -DLIB_CLIENT_NAME='"lib_before"'
    # Everything the run needs is in $OUT now.
    remove_before_worktree
}

# ---------------------------------------------------------------- nginx ----
WORK=""
NGINX_PID=""
cleanup() {
    local rc=$?
    if [ -n "$NGINX_PID" ] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NGINX_PID" 2>/dev/null || true
    fi
    [ -n "$WORK" ] && rm -rf "$WORK"
    [ "$BEFORE_WORKTREE" = 1 ] && remove_before_worktree
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

make_pki() {
    local d="$WORK/pki"
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
        -keyout "$d/ca.key" -out "$d/ca.pem" -subj "/CN=libfeishu_task bench CA" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/server.key" -out "$d/server.csr" -subj "/CN=127.0.0.1" 2>/dev/null
    printf '%s\n' "subjectAltName=IP:127.0.0.1,DNS:localhost" \
        "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 7 -extfile "$d/server.ext" -out "$d/server.pem" 2>/dev/null
    CA_FILE="$d/ca.pem"
}

start_nginx() {
    HTTP_PORT="$(free_port)"
    HTTPS_PORT="$(free_port)"
    while [ "$HTTPS_PORT" = "$HTTP_PORT" ]; do HTTPS_PORT="$(free_port)"; done
    mkdir -p "$WORK/nginx/tmp"
    cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    tcp_nodelay on;
    server {
        listen 127.0.0.1:$HTTP_PORT;
        listen 127.0.0.1:$HTTPS_PORT ssl;
        ssl_certificate $WORK/pki/server.pem;
        ssl_certificate_key $WORK/pki/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /open-apis/drive/v1/files/task_check {
            default_type application/json;
            add_header X-Tt-Logid 20260101000000BENCH0000000000000 always;
            return 200 '{"code":0,"msg":"success","data":{"status":"success"}}';
        }
        # Requests served so far (for the server's CPU per request).
        location = /bench_status { stub_status; }
        location / { return 404; }
    }
}
EOF
    local nginx_bin
    nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
    local pin=()
    if [ "$PIN" != none ]; then pin=(taskset -c 0); fi
    "${pin[@]}" "$nginx_bin" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
    NGINX_PID=$!
    for _ in $(seq 100); do
        if curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/open-apis/drive/v1/files/task_check?task_id=1" \
            && curl -sf -o /dev/null --cacert "$CA_FILE" \
                "https://127.0.0.1:$HTTPS_PORT/open-apis/drive/v1/files/task_check?task_id=1"; then
            log "nginx (pid $NGINX_PID) on http://127.0.0.1:$HTTP_PORT and https://127.0.0.1:$HTTPS_PORT"
            return 0
        fi
        kill -0 "$NGINX_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "run.sh: nginx did not come up" >&2
    cat "$WORK/nginx/error.log" >&2 || true
    exit 1
}

# server_snapshot: "<nanoseconds the nginx workers have run> <requests served>"
# (/proc/PID/schedstat: time on CPU in ns; stub_status: requests, counting
# this status request itself).
server_snapshot() {
    local ns=0 pid t
    for pid in $(pgrep -P "$NGINX_PID"); do
        read -r t _ <"/proc/$pid/schedstat" && ns=$((ns + t))
    done
    local requests
    requests="$(curl -sf "http://127.0.0.1:$HTTP_PORT/bench_status" | awk 'NR == 3 {print $3}')"
    echo "$ns ${requests:-0}"
}

# ------------------------------------------------------------- clients ----
# run_client SCHEME KIND ROUND CLIENT ARGS...: runs one client and appends its
# result lines, tagged, to $RAW. A failing client fails the benchmark.
run_client() {
    local scheme="$1" kind="$2" round="$3" client="$4"
    shift 4
    local url ca=""
    if [ "$scheme" = https ]; then url="https://127.0.0.1:$HTTPS_PORT"; ca="$CA_FILE"; else url="http://127.0.0.1:$HTTP_PORT"; fi
    local cmd
    case "$client" in
        lib) cmd=("$OUT/lib_client") ;;
        lib_before) cmd=("$OUT/lib_before_client") ;;
        raw) cmd=("$OUT/raw_client") ;;
        curl) cmd=("$OUT/curl_client") ;;
        sdk) cmd=("$VENV/bin/python" "$BENCH/sdk_client.py") ;;
    esac
    local pre=()
    case "$PIN:$kind" in
        *:threads | none:*) ;;
        split:*) pre=(taskset -c "$(($(nproc) > 1 ? 1 : 0))") ;;
        *) pre=(taskset -c 0) ;;
    esac
    [ "$kind" = mem ] && pre+=(env LD_PRELOAD="$OUT/malloc_count.so")
    local vars=(FEISHU_BASE_URL="$url")
    [ -n "$ca" ] && vars+=(FEISHU_CA_FILE="$ca")
    local output before=""
    [ "$kind" = seq ] && before="$(server_snapshot)"
    if ! output="$(env -u FEISHU_CA_FILE -u FEISHU_TIMEOUT_MS -u HTTPS_PROXY -u https_proxy -u HTTP_PROXY \
        -u http_proxy -u ALL_PROXY -u all_proxy -u REQUESTS_CA_BUNDLE "${vars[@]}" "${pre[@]}" "${cmd[@]}" "$@")"; then
        echo "run.sh: $client $kind over $scheme failed" >&2
        exit 1
    fi
    if [ -n "$before" ]; then
        # The server's CPU per request over this client's run (its warm-up
        # included): the other half of each call's time on one CPU.
        local after
        after="$(server_snapshot)"
        output="$output$(awk -v b="$before" -v a="$after" 'BEGIN {
            split(b, x, " "); split(a, y, " "); n = y[2] - x[2] - 1
            if (n > 0) printf " server_cpu_per_call_ns=%.0f", (y[1] - x[1]) / n }')"
    fi
    while IFS= read -r line; do
        if [ -n "$line" ]; then
            printf 'scheme=%s kind=%s round=%s %s\n' "$scheme" "$kind" "$round" "$line" >>"$RAW"
        fi
    done <<<"$output"
    log "  $scheme $kind round $round: $(tail -n 1 <<<"$output")"
}

measure() {
    local clients=(raw curl "${LIBS[@]}" sdk)
    log "per-call time: $ROUNDS rounds x ($CALLS calls per C client, $SDK_CALLS for the SDK), interleaved"
    for round in $(seq "$ROUNDS"); do
        # Rotate the order each round so that no client always runs first.
        local order=() i
        for i in "${!clients[@]}"; do order+=("${clients[$(((i + round) % ${#clients[@]}))]}"); done
        for scheme in http https; do
            for c in "${order[@]}"; do
                if [ "$c" = sdk ]; then
                    run_client "$scheme" seq "$round" sdk seq "$SDK_CALLS"
                else
                    run_client "$scheme" seq "$round" "$c" seq "$CALLS"
                fi
            done
        done
    done
    log "cold calls: $COLD per client"
    for scheme in https http; do
        for c in raw curl "${LIBS[@]}"; do run_client "$scheme" cold 0 "$c" cold "$COLD"; done
        run_client "$scheme" cold 0 sdk cold "$((COLD < 20 ? COLD : 20))"
    done
    log "memory and allocations: $MEM_CALLS calls after warm-up"
    for scheme in http https; do
        for c in "${LIBS[@]}" raw curl; do run_client "$scheme" mem 0 "$c" mem "$MEM_CALLS"; done
    done
    log "throughput: 1, 2, 8, 32 threads, $THREAD_CALLS calls each, $ROUNDS rounds"
    for round in $(seq "$ROUNDS"); do
        for t in 1 2 8 32; do
            for c in "${LIBS[@]}" raw curl; do run_client http threads "$round" "$c" threads "$t" "$THREAD_CALLS"; done
        done
    done
}

machine_info() {
    local m="$WORK/machine.txt" lib="$ROOT/target/release/libfeishu_task.so"
    strip -o "$WORK/stripped.so" "$lib"
    local curl_so
    curl_so="$(ldconfig -p | awk '/libcurl.so.4 .*x86-64|libcurl.so.4 \(/ && !found {print $NF; found=1}')"
    {
        echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
        echo "nproc=$(nproc)"
        echo "kernel=$(uname -sr)"
        echo "nginx=$(nginx -v 2>&1 | sed 's/.*nginx\///')"
        echo "nginx_workers=$NGINX_WORKERS"
        echo "pin=$PIN"
        echo "tls=ECDSA P-256 server certificate from a local CA, nginx TLS 1.2/1.3 (TLS 1.3 negotiated)"
        echo "libcurl=$(curl-config --version 2>/dev/null || echo libcurl) with $(openssl version | awk '{print $1, $2}')"
        echo "python=$("$VENV/bin/python" -c 'import platform; print(platform.python_version())')"
        echo "lark_oapi=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("lark-oapi"))')"
        echo "rustc=$(rustc --version 2>/dev/null | awk '{print $1, $2}')"
        echo "lib_version=$(awk -F'"' '/^version/ {print $2; exit}' "$ROOT/Cargo.toml")"
        echo "commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || echo ' + uncommitted changes')"
        echo "lib_bytes=$(stat -c %s "$lib")"
        echo "lib_stripped_bytes=$(stat -c %s "$WORK/stripped.so")"
        if [ -n "$BEFORE" ]; then
            strip -o "$WORK/stripped-before.so" "$BEFORE_LIB/libfeishu_task.so"
            echo "before=$(git -C "$ROOT" rev-parse --short "$BEFORE_COMMIT")"
            echo "before_rev=$BEFORE"
            echo "before_lib_bytes=$(stat -c %s "$BEFORE_LIB/libfeishu_task.so")"
            echo "before_lib_stripped_bytes=$(stat -c %s "$WORK/stripped-before.so")"
        fi
        if [ -n "$curl_so" ]; then
            echo "curl_lib_size=libcurl.so.4 alone: $(awk -v b="$(stat -L -c %s "$curl_so")" 'BEGIN {printf "%.2f MiB", b / 1048576}')"
        fi
    } >"$m"
}

# profile: callgrind (user-space instructions per call, where they go) and
# strace (system calls per call) for the C clients (with --before, both
# libraries), HTTP and HTTPS.
# Writes target/bench/profile.md and the callgrind reports next to it.
profile() {
    local scheme client calls=2000 fn
    local summary="$OUT/profile.md"
    command -v strace >/dev/null 2>&1 || apt-get install -y -qq strace >/dev/null
    {
        echo "| client | scheme | user-space instructions per call (callgrind) | system calls per call (strace) |"
        echo "|---|---|---:|---|"
    } >"$summary"
    for scheme in http https; do
        local url ca=()
        if [ "$scheme" = https ]; then url="https://127.0.0.1:$HTTPS_PORT"; ca=(FEISHU_CA_FILE="$CA_FILE"); else url="http://127.0.0.1:$HTTP_PORT"; fi
        for client in "${LIBS[@]}" raw curl; do
            case "$client" in
                lib | lib_before) fn=feishu_task_check ;;
                raw) fn=exchange ;;
                curl) fn=curl_easy_perform ;;
            esac
            local base="$OUT/callgrind.$client.$scheme"
            log "callgrind + strace: $client seq $calls over $scheme"
            env FEISHU_BASE_URL="$url" "${ca[@]}" valgrind --tool=callgrind \
                --callgrind-out-file="$base.out" "$OUT/${client}_client" seq "$calls" >/dev/null 2>"$base.log"
            callgrind_annotate --inclusive=yes "$base.out" >"$base.inclusive.txt" 2>/dev/null
            callgrind_annotate "$base.out" >"$base.self.txt" 2>/dev/null
            env FEISHU_BASE_URL="$url" "${ca[@]}" strace -f -c -o "$base.strace" \
                "$OUT/${client}_client" seq "$calls" >/dev/null
            python3 - "$base.inclusive.txt" "$base.strace" "$fn" "$((calls + 1001))" "$client" "$scheme" "$RAW" >>"$summary" <<'PY'
import re, sys
incl, strace, fn, calls, client, scheme = sys.argv[1:7]
calls = int(calls)
ir = 0
for line in open(incl):
    m = re.match(r"\s*([\d,]+) \(.*?\)\s+\S*:(\S+) \[", line)
    if m and m.group(2) == fn:
        ir = int(m.group(1).replace(",", ""))
        break
sys_total, top = 0, []
for line in open(strace):
    parts = line.split()
    if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
        n = int(parts[3])
        sys_total += n
        top.append((n, parts[-1]))
top.sort(reverse=True)
shown = [(n, name) for n, name in top if n / calls >= 0.05][:5]
detail = ", ".join(f"{name} {n / calls:.1f}" for n, name in shown)
print(f"| {client} | {scheme} | {ir / calls:,.0f} | {sys_total / calls:.1f} ({detail}) |")
with open(sys.argv[7], "a") as raw:
    syscalls = ",".join(f"{name}:{n / calls:.1f}" for n, name in shown)
    raw.write(f"scheme={scheme} kind=profile round=0 client={client} instr_per_call={ir / calls:.0f} "
              f"syscalls_per_call={sys_total / calls:.2f} syscalls={syscalls}\n")
PY
        done
    done
    log "profile summary in $summary; callgrind reports in $OUT/callgrind.*.txt"
    cat "$summary" >&2
}

fill_readme() {
    local readme="$BENCH/README.md" table="$1"
    [ -f "$readme" ] || return 0
    grep -q '<!-- perf:begin -->' "$readme" || return 0
    python3 - "$readme" "$table" <<'EOF'
import sys
readme, table = sys.argv[1], open(sys.argv[2]).read().strip()
text = open(readme).read()
head, rest = text.split("<!-- perf:begin -->", 1)
_, tail = rest.split("<!-- perf:end -->", 1)
open(readme, "w").write(head + "<!-- perf:begin -->\n" + table + "\n<!-- perf:end -->" + tail)
EOF
}

main() {
    local started=$SECONDS
    install_tools
    build
    if [ -n "$BEFORE" ]; then build_before; fi
    WORK="$(mktemp -d /tmp/feishu-bench.XXXXXX)"
    make_pki
    start_nginx
    RAW="$WORK/raw.txt"
    : >"$RAW"
    if [ "$PROFILE" = 2 ]; then
        profile
        return 0
    fi
    measure
    if [ "$PROFILE" = 1 ]; then profile; fi
    machine_info
    local table="$WORK/table.md"
    python3 "$BENCH/report.py" "$WORK/raw.txt" "$WORK/machine.txt" >"$table"
    # Kept, so report.py can make the table again: report.py RAW MACHINE.
    cp "$WORK/raw.txt" "$WORK/machine.txt" "$OUT/"
    {
        echo "# libfeishu_task benchmark results"
        echo
        echo "Produced by \`bench/run.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC')."
        echo
        cat "$table"
    } >"$BENCH/results.md"
    if [ "${FILL_README:-1}" = 1 ]; then fill_readme "$table"; fi
    echo
    cat "$table"
    echo
    log "done in $((SECONDS - started)) s; table in bench/results.md, raw lines in target/bench/raw.txt and machine.txt"
}

main
