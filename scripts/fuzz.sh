#!/usr/bin/env bash
# Fuzz every libFuzzer target of a fuzz build for FUZZ_SECONDS each (default
# 30), starting from a copy of its seed corpus so the checked-in corpus is
# never rewritten. Exits non-zero if any target crashed; the reproducer is
# left in <build>/fuzz-artifacts/<name>/ and the log in <build>/fuzz-logs/.
#
#   CC=clang cmake -S . -B build-fuzz -DKJ_FUZZ=ON && cmake --build build-fuzz -j2
#   scripts/fuzz.sh build-fuzz
#
# Seeds come from tests/fuzz/corpus/<name>/ (and corpus/fuzz_<name>/). To
# keep a crash as a regression test, copy the reproducer there once it is
# fixed: the normal build replays it.
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
    echo "usage: FUZZ_SECONDS=30 $0 <fuzz build dir>" >&2
    exit 64
fi
build=$(cd "$1" && pwd)
secs=${FUZZ_SECONDS:-30}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kj-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

found=0
failed=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] || continue
    found=$((found + 1))
    target=$(basename "$bin")
    name=${target#fuzz_}
    corpus="$work/$name"
    mkdir -p "$corpus"
    for seeds in "$src/tests/fuzz/corpus/$name" "$src/tests/fuzz/corpus/$target"; do
        if [ -d "$seeds" ]; then
            cp -R "$seeds/." "$corpus/"
        fi
    done
    artifacts="$build/fuzz-artifacts/$name"
    log="$build/fuzz-logs/$name.log"
    mkdir -p "$artifacts"
    echo "fuzz $name for ${secs}s"
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" \
        >"$log" 2>&1; then
        echo "  ok: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" || true)"
    else
        failed=$((failed + 1))
        echo "  FAILED: see $log; reproducers in $artifacts/" >&2
        tail -n 40 "$log" >&2
    fi
done

if [ "$found" -eq 0 ]; then
    echo "no fuzz targets in $build/fuzz (configure with CC=clang -DKJ_FUZZ=ON)" >&2
    exit 2
fi
echo "$found targets, $failed failed"
[ "$failed" -eq 0 ]
