#!/usr/bin/env bash
# The ABI guard of libfeishu_task.so.0 (libabigail), as fwupd and libxmlb run
# abidiff against their last release:
#
#   bash tests/abi/check.sh            fail on any change from the baseline
#   bash tests/abi/check.sh --update   record the current ABI as the baseline
#
# Two parts, both from a build with debug information:
#  - symbols.abi: the functions the library exports (abidw of the library).
#  - types.abi: every exported function's exact C type and every type of the
#    header (layouts, field offsets, enum values), from the DWARF of a probe
#    compiled from include/feishu_task.h (the header is generated from the
#    library's source and CI checks it is current). The Rust library's own
#    DWARF describes its internals too (30,000 lines of XML reachable behind
#    the opaque handles) and libabigail cannot cut that down to the C ABI.
#
# Policy (README, "ABI"): a change that removes or alters anything of .so.0
# fails; a compatible addition (a new function, a new type) passes the
# compatibility check and must be recorded with --update in the same commit.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/abi
update=0
[ "${1:-}" = --update ] && update=1

for tool in abidw abidiff cc; do
  command -v "$tool" >/dev/null || { echo "check.sh: $tool is missing (apt-get install abigail-tools)"; exit 2; }
done

cargo build --quiet --lib
lib=target/debug/libfeishu_task.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The probe: for each function of the header a pointer to it, typed by the
# function itself, and a variable of each type and enum.
{
  echo '#include "feishu_task.h"'
  grep -oE '\bfeishu_[a-z_]+\(' include/feishu_task.h | tr -d '(' | sort -u |
    sed -E 's/.*/__typeof__(&) *const abi_&_ = &;/'
  grep -oE '^\} (Feishu[A-Za-z]+);|^typedef [a-z0-9_]+ (Feishu[A-Za-z]+);' include/feishu_task.h |
    grep -oE 'Feishu[A-Za-z]+' | sort -u | sed -E 's/.*/& abi_type_&;/'
  # The enums' values (their C typedefs are int32_t, which carries none).
  grep -oE '^enum Feishu[A-Za-z]+' include/feishu_task.h | sort -u |
    sed -E 's/enum (.*)/enum \1 abi_enum_\1;/'
} >"$work/probe.c"
cc -std=gnu99 -g -shared -fPIC -Iinclude -o "$work/libfeishu_task_abi.so" "$work/probe.c"

opts=(--no-corpus-path --no-comp-dir-path --no-show-locs)
abidw "${opts[@]}" --exported-interfaces-only --out-file "$work/symbols.abi" "$lib"
abidw "${opts[@]}" --out-file "$work/types.abi" "$work/libfeishu_task_abi.so"
# The probe's own name is no part of the library's ABI.
sed -i -E "s/ soname='[^']*'//" "$work/types.abi"

if [ "$update" = 1 ]; then
  cp "$work/symbols.abi" "$work/types.abi" "$HERE/"
  echo "check.sh: baseline updated ($(grep -c '<elf-symbol' "$HERE/symbols.abi") functions); commit tests/abi/*.abi"
  exit 0
fi

status=0
for part in symbols types; do
  # First: nothing removed or changed (additions are left out here).
  if ! abidiff --no-added-syms "$HERE/$part.abi" "$work/$part.abi" >"$work/$part.diff"; then
    echo "check.sh: INCOMPATIBLE ABI CHANGE of libfeishu_task.so.0 ($part):"
    cat "$work/$part.diff"
    status=1
    continue
  fi
  # Then: additions, compatible, but recorded in the same commit.
  if ! abidiff "$HERE/$part.abi" "$work/$part.abi" >"$work/$part.diff"; then
    echo "check.sh: compatible ABI additions ($part) not yet in the baseline:"
    cat "$work/$part.diff"
    echo "check.sh: record them: bash tests/abi/check.sh --update, and commit tests/abi/*.abi"
    status=1
  fi
done
[ "$status" = 0 ] && echo "check.sh: the ABI of libfeishu_task.so.0 matches the baseline ($(grep -c '<elf-symbol' "$HERE/symbols.abi") functions)"
exit "$status"
