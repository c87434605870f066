#!/usr/bin/env bash
# The main job, offline: build libfeishu_task, start the mock Feishu server on
# loopback, and run the C example (examples/c/task_check.c) against it. You see
# real task statuses, then real platform errors, a wait with progress, then a
# folder move started and waited for until it finishes, and a file move that
# is done at once; with no network and no account.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== building libfeishu_task (release) and the mock server"
cargo build --release --quiet --lib --example mock_server
cc -std=c99 -O2 -Wall -Wextra -Werror -Iinclude examples/c/task_check.c \
   -Ltarget/release -lfeishu_task -Wl,-rpath,"$PWD/target/release" -o target/release/task_check

addr_file=$(mktemp)
target/release/examples/mock_server --addr-file "$addr_file" --exit-after 300 >/dev/null &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; rm -f "$addr_file"' EXIT
for _ in $(seq 100); do [ -s "$addr_file" ] && break; sleep 0.05; done
FEISHU_BASE_URL=$(cat "$addr_file")
export FEISHU_BASE_URL FEISHU_TOKEN="t-demo-token" FEISHU_TIMEOUT_MS=3000
echo "== mock Feishu server at $FEISHU_BASE_URL"

echo
echo "\$ FEISHU_TOKEN=t-... ./task_check 7360595374803812356 process fail"
target/release/task_check 7360595374803812356 process fail

echo
echo "\$ FEISHU_TOKEN=t-... ./task_check err-1061003 token-expired html-502 rate-limited"
set +e
target/release/task_check err-1061003 token-expired html-502 rate-limited
rc=$?
set -e
echo "(exit status $rc: the example exits 1 when any check failed)"
[ "$rc" -eq 1 ]

echo
echo "\$ FEISHU_TOKEN=t-... ./task_check --wait 30 after-1500ms   # a task that finishes after 1.5 s"
target/release/task_check --wait 30 after-1500ms

echo
echo "\$ FEISHU_TOKEN=t-... ./task_check move fldcnProjects folder fldcnArchive   # a folder: started, then waited for"
target/release/task_check move fldcnProjects folder fldcnArchive

echo
echo "\$ FEISHU_TOKEN=t-... ./task_check move boxcnReport file fldcnArchive      # a file: done at once, no task"
target/release/task_check move boxcnReport file fldcnArchive

echo
echo "demo finished: the library talked HTTP to a Feishu-compatible server on loopback."
