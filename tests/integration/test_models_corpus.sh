#!/usr/bin/env bash
# Our corpus's TEST split against the floors in the model sets. The corpus
# ships with the repository (models/corpus, MIT), so this test always
# runs; it needs nothing from outside.
#  1. every model of models/models.json and models/models-nc.json with a
#     "corpus" eval entry, alone (kujo-eval --model), on the test split of
#     that language's corpus files;
#  2. the whole triage of each set as the service runs it (kujo-eval
#     --models SET --rules deploy/rules.json: the operator's keyword rules
#     overriding the models as in kujo-classifier), per language and field,
#     against the set's "corpus_eval" floors.
# Exit 1 if any score is below its floor, or if anything needed is
# missing.
#   usage: test_models_corpus.sh BUILD_DIR
set -euo pipefail

build="${1:?usage: $0 BUILD_DIR}"
root="$(cd "$(dirname "$0")/../.." && pwd)"
models="$root/models"
corpus="$models/corpus"
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

# The corpus files of a language as repeated --data arguments.
data_args() {
    local f found=0
    for f in "$corpus/$1"-*.tsv; do
        [ -f "$f" ] || continue
        printf '%s\n' --data "$f"
        found=1
    done
    [ $found -eq 1 ]
}

# check WHAT FLOOR_ACC FLOOR_F1 ARGS...: run kujo-eval --json with the
# floors and report.
check() {
    local what=$1 min_acc=$2 min_f1=$3
    shift 3
    local rc=0 out summary
    out=$("$eval_bin" "$@" --split test --json --min-accuracy "$min_acc" \
        --min-macro-f1 "$min_f1" 2>"$errs") || rc=$?
    summary=$(jq -r '"accuracy \(.accuracy) macro_f1 \(.macro_f1) n \(.n)"' \
        <<<"$out" 2>/dev/null || echo "no result")
    if [ "$rc" -eq 0 ]; then
        echo "ok   $what: $summary (floor $min_acc / $min_f1)"
    else
        echo "FAIL $what: $summary (floor $min_acc / $min_f1)"
        cat "$errs"
        fail=1
    fi
    checked=$((checked + 1))
}

all=$(jq -s -c '[.[].models[]] | unique_by(.name) | .[]' \
    "$models/models.json" "$models/models-nc.json")
while IFS= read -r model; do
    name=$(jq -r '.name' <<<"$model")
    file=$(jq -r '.file' <<<"$model")
    while IFS= read -r ev; do
        [ -n "$ev" ] || continue
        lang=$(jq -r '.corpus' <<<"$ev")
        label_col=$(jq -r '.label_column' <<<"$ev")
        if ! mapfile -t args < <(data_args "$lang") || [ ${#args[@]} -eq 0 ]; then
            echo "FAIL: $name: no corpus files $corpus/$lang-*.tsv"
            fail=1
            continue
        fi
        check "$name on corpus $lang/$label_col" \
            "$(jq -r '.floor.accuracy // 0' <<<"$ev")" \
            "$(jq -r '.floor.macro_f1 // 0' <<<"$ev")" \
            --model "$models/$file" "${args[@]}" --label-column "$label_col"
    done < <(jq -c '.eval[] | select(.corpus)' <<<"$model")
done <<<"$all"

for set in models.json models-nc.json; do
    while IFS= read -r ev; do
        [ -n "$ev" ] || continue
        lang=$(jq -r '.lang' <<<"$ev")
        field=$(jq -r '.field' <<<"$ev")
        mapfile -t args < <(data_args "$lang")
        check "triage of $set with deploy/rules.json: $lang $field" \
            "$(jq -r '.floor.accuracy // 0' <<<"$ev")" \
            "$(jq -r '.floor.macro_f1 // 0' <<<"$ev")" \
            --models "$models/$set" --rules "$root/deploy/rules.json" \
            "${args[@]}" --field "$field"
    done < <(jq -c '.corpus_eval // [] | .[]' "$models/$set")
done

if [ "$checked" -eq 0 ]; then
    echo "FAIL: nothing was evaluated"
    exit 1
fi
echo "$checked evaluations on the corpus test split, $([ $fail -eq 0 ] && echo "all at or above their floors" || echo "some below their floors")"
exit $fail
