#!/usr/bin/env bash
# Score every shipped model of both sets (models/models.json and the
# non-commercial models/models-nc.json) on the dev split of its public
# data set(s) with kujo-eval and fail if one falls below its floor (each
# model's "eval" entries with a "dataset" name the set, columns and floor;
# entries with a "corpus" are test_models_corpus.sh's).
# The public data lives beside the repository in ../shared/data; a user's
# clone does not have it, and then this test exits 77, which CTest
# reports as skipped (SKIP_RETURN_CODE), never as passed.
#   usage: test_models_dev.sh BUILD_DIR
set -euo pipefail

build="${1:?usage: $0 BUILD_DIR}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
data="$root/../shared/data"
models="$root/models"

if [ ! -d "$data" ]; then
    echo "skipped: ../shared/data not present"
    exit 77
fi
eval_bin="$build/bin/kujo-eval"
if [ ! -x "$eval_bin" ]; then
    echo "FAIL: $eval_bin is not built"
    exit 1
fi
if ! command -v jq >/dev/null; then
    echo "FAIL: jq is needed (scripts/deps.sh installs it)"
    exit 1
fi

errs=$(mktemp)
trap 'rm -f "$errs"' EXIT
fail=0
checked=0
# Every model once, whichever set lists it.
all=$(jq -s -c '[.[].models[]] | unique_by(.name) | .[]' \
    "$models/models.json" "$models/models-nc.json")
while IFS= read -r model; do
    name=$(jq -r '.name' <<<"$model")
    file=$(jq -r '.file' <<<"$model")
    evals=$(jq '.eval | length' <<<"$model")
    if [ "$evals" -eq 0 ]; then
        echo "FAIL: $name has no eval entry (and so no floor)"
        fail=1
        continue
    fi
    for ((j = 0; j < evals; j++)); do
        ev=$(jq -c ".eval[$j]" <<<"$model")
        if [ "$(jq -r '.dataset // empty' <<<"$ev")" = "" ]; then
            continue # a corpus entry: test_models_corpus.sh
        fi
        set_name=$(jq -r '.dataset' <<<"$ev")
        text_col=$(jq -r '.text_column // "text"' <<<"$ev")
        label_col=$(jq -r '.label_column' <<<"$ev")
        min_acc=$(jq -r '.floor.accuracy // 0' <<<"$ev")
        min_f1=$(jq -r '.floor.macro_f1 // 0' <<<"$ev")
        tsv="$data/$set_name/dev.tsv"
        if [ ! -f "$tsv" ]; then
            echo "FAIL: $name: $tsv is missing"
            fail=1
            continue
        fi
        rc=0
        out=$("$eval_bin" --model "$models/$file" --data "$tsv" \
            --text-column "$text_col" --label-column "$label_col" --json \
            --min-accuracy "$min_acc" --min-macro-f1 "$min_f1" 2>"$errs") ||
            rc=$?
        summary=$(jq -r '"accuracy \(.accuracy) macro_f1 \(.macro_f1) n \(.n) texts/s \(.texts_per_s | floor)"' \
            <<<"$out" 2>/dev/null || echo "no result")
        if [ "$rc" -eq 0 ]; then
            echo "ok   $name on $set_name/$label_col: $summary (floor $min_acc / $min_f1)"
        else
            echo "FAIL $name on $set_name/$label_col: $summary (floor $min_acc / $min_f1)"
            cat "$errs"
            fail=1
        fi
        checked=$((checked + 1))
    done
done <<<"$all"
echo "$checked evaluations, $([ $fail -eq 0 ] && echo "all at or above their floors" || echo "some below their floors")"
exit $fail
