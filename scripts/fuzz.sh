#!/usr/bin/env bash
# Fuzz every libFuzzer target of a fuzz build for FUZZ_SECONDS each (default
# 60), FUZZ_JOBS targets at a time (default: the number of cores), starting
# from a copy of its seed corpus so the checked-in corpus is never
# rewritten. Exits non-zero if any target crashed; the reproducer is
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
    echo "usage: FUZZ_SECONDS=60 FUZZ_JOBS=2 $0 <fuzz build dir>" >&2
    exit 64
fi
build=$(cd "$1" && pwd)
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/kj-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

# fuzz_one BIN: one target for secs; its verdict goes to $work/<name>.rc.
fuzz_one() {
    local bin=$1 target name corpus artifacts log seeds
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
    if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$corpus" \
        >"$log" 2>&1; then
        echo "ok   $name ${secs}s: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" || true)"
        echo 0 >"$work/$name.rc"
    else
        echo "FAIL $name: see $log; reproducers in $artifacts/" >&2
        tail -n 40 "$log" >&2
        echo 1 >"$work/$name.rc"
    fi
}

bins=()
for bin in "$build"/fuzz/fuzz_*; do
    [ -f "$bin" ] && [ -x "$bin" ] && bins+=("$bin")
done
if [ ${#bins[@]} -eq 0 ]; then
    echo "no fuzz targets in $build/fuzz (configure with CC=clang -DKJ_FUZZ=ON)" >&2
    exit 2
fi
echo "fuzzing ${#bins[@]} targets for ${secs}s each, $jobs at a time"
running=0
for bin in "${bins[@]}"; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    fuzz_one "$bin" &
    running=$((running + 1))
done
wait || true

failed=0
for bin in "${bins[@]}"; do
    name=$(basename "$bin")
    name=${name#fuzz_}
    [ "$(cat "$work/$name.rc" 2>/dev/null)" = 0 ] || failed=$((failed + 1))
done
echo "${#bins[@]} targets, $failed failed"
[ "$failed" -eq 0 ]
