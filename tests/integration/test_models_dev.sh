#!/usr/bin/env bash
# Score every shipped model on the dev split of its data set(s) with
# kujo-eval and fail if one falls below its floor (models/models.json:
# each model's "eval" entries name the data set, columns and floor).
# The data lives beside the repository in ../shared/data; a user's clone
# does not have it, and then this test is skipped.
#   usage: test_models_dev.sh BUILD_DIR
set -euo pipefail

build="${1:?usage: $0 BUILD_DIR}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
data="$root/../shared/data"
models="$root/models"

if [ ! -d "$data" ]; then
    echo "skipped: ../shared/data not present"
    exit 0
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
count=$(jq '.models | length' "$models/models.json")
for ((i = 0; i < count; i++)); do
    model=$(jq -c ".models[$i]" "$models/models.json")
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
done
echo "$checked evaluations, $([ $fail -eq 0 ] && echo "all at or above their floors" || echo "some below their floors")"
exit $fail
