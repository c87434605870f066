#!/usr/bin/env bash
# Runs each fuzz target for SECONDS seconds (default 60) from its seed corpus
# (tests/fuzz/corpus/<target>/, every seed first, so a crash that was fixed
# and kept as a seed is a regression test), and fails on any crash, panic,
# leak, timeout (> 10 s for one input) or out-of-memory.
#
#   tests/fuzz/run.sh 60        # CI: a short, fixed time per target
#   tests/fuzz/run.sh 1800      # a real campaign
#
# Needs the nightly toolchain and cargo-fuzz (installed here if missing).
# New inputs go to a scratch corpus, never into the committed seeds; crash
# inputs are kept in tests/fuzz/artifacts/<target>-*.
set -euo pipefail
seconds=${1:-60}
cd "$(dirname "$0")/../.."
fuzz_dir=tests/fuzz

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked --quiet
fi

cargo +nightly fuzz build --fuzz-dir "$fuzz_dir" >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$fuzz_dir/artifacts"
passed=0 failed=0
for target in classify ffi_inputs; do
  case $target in
    classify) max_len=8192 ;;
    *) max_len=6000 ;;
  esac
  mkdir -p "$work/$target"
  log="$work/$target.log"
  set +e
  cargo +nightly fuzz run "$target" --fuzz-dir "$fuzz_dir" "$work/$target" "$fuzz_dir/corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/$target-" >"$log" 2>&1
  rc=$?
  set -e
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)
  runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{print $2}' || true)
  if [ "$rc" -eq 0 ]; then
    passed=$((passed + 1))
    echo "fuzz $target: ok, ${runs:-?} runs in ${seconds} s; ${done_line:-no final stats}"
  else
    failed=$((failed + 1))
    echo "fuzz $target: FAILED (exit $rc); the input is in $fuzz_dir/artifacts/"
    grep -E 'panicked at|ERROR: |SUMMARY: |^Test unit written to|assertion' "$log" | head -20 || true
    tail -40 "$log"
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
