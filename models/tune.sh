#!/usr/bin/env bash
# The settings search behind models/train.sh's corpus models: 5-fold
# cross-validation (kujo-train --cv) on the corpus TRAIN split only, so
# that neither dev nor test takes part in any choice. Prints one line per
# setting tried (TSV: language, task, cv accuracy, cv macro-F1, flags) to
# stdout; sort it to read the best. The public sets a model is pooled with
# are always trained on and never scored here.
#   models/tune.sh BUILD_DIR [ja|en] [task...]
#   models/tune.sh BUILD_DIR public   (the Japanese sentiment models of the
#       public sets, by 5-fold CV on their train.tsv; their dev.tsv is then
#       the split no choice used, where they meet models/baseline.py)
# Deterministic, like the trainer; a few minutes on one core.
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR [ja|en] [task...]}" && pwd)"
cd "$(dirname "$0")/.."
train="$build/bin/kujo-train"
D=../shared/data
K=models/corpus
langs=(${2:-ja en})
tasks=("${@:3}")
[ ${#tasks[@]} -gt 0 ] || tasks=(sentiment category urgency actionable)

corpus_train() {
    local f
    for f in "$K/$1"-*.tsv; do
        printf '%s\n' --data "$f" --licence MIT --split train
    done
}

# cv LANG TASK FLAGS...: one line of results.
cv() {
    local lang=$1 task=$2
    shift 2
    mapfile -t tr < <(corpus_train "$lang")
    local out
    out=$("$train" "${tr[@]}" --task "$task" --label-column "$task" \
        --cv 5 --seed 1 "$@" 2>/dev/null)
    printf '%s\t%s\t%s\t%s\t%s\n' "$lang" "$task" \
        "$(jq -r .accuracy <<<"$out")" "$(jq -r .macro_f1 <<<"$out")" "$*"
}

# public_cv SET FLAGS...: one line of results for a public set.
public_cv() {
    local set=$1
    shift
    local out
    out=$("$train" --data "$D/$set/train.tsv" --licence x --task sentiment \
        --cv 5 --seed 1 --hash-bits 20 "$@" 2>/dev/null)
    printf '%s\tsentiment\t%s\t%s\t%s\n' "$set" \
        "$(jq -r .accuracy <<<"$out")" "$(jq -r .macro_f1 <<<"$out")" "$*"
}

if [ "${2:-}" = public ]; then
    for set in ja-hotel-reviews chabsa; do
        # First pass: features, min-df, class weights, epochs, lambda.
        for f in "--word-ngrams 1,2 --char-ngrams 1,4" \
            "--word-ngrams 1,2 --char-ngrams 2,5" \
            "--word-ngrams 1,2 --char-ngrams 1,3"; do
            for mindf in 1 2; do
                for cw in balanced none; do
                    for ep in 10 20; do
                        for lam in 1e-5 1e-4; do
                            # shellcheck disable=SC2086
                            public_cv $set $f --min-df $mindf \
                                --class-weight $cw --epochs $ep --lambda $lam
                        done
                    done
                done
            done
        done
    done
    # Second pass around the hotel reviews' best (characters 1-3,
    # min-df 1, balanced): words on or off, lambda, epochs, eta0.
    for f in "--word-ngrams 0 --char-ngrams 1,3" \
        "--word-ngrams 1,2 --char-ngrams 1,3" \
        "--word-ngrams 1,1 --char-ngrams 1,3"; do
        for lam in 1e-6 1e-4 3e-4; do
            for ep in 10 30; do
                for eta in 0.25 1; do
                    # shellcheck disable=SC2086
                    public_cv ja-hotel-reviews $f --min-df 1 \
                        --class-weight balanced --epochs $ep --lambda $lam \
                        --eta0 $eta
                done
            done
        done
    done
    exit 0
fi

for lang in "${langs[@]}"; do
    if [ "$lang" = ja ]; then
        feats=("--word-ngrams 1,2 --char-ngrams 1,4"
            "--word-ngrams 1,2 --char-ngrams 1,3"
            "--word-ngrams 1,1 --char-ngrams 1,3")
    else
        feats=("--word-ngrams 1,2 --char-ngrams 2,5"
            "--word-ngrams 1,2 --char-ngrams 3,5"
            "--word-ngrams 1,1 --char-ngrams 2,4")
    fi
    for task in "${tasks[@]}"; do
        for f in "${feats[@]}"; do
            for mindf in 1 2; do
                for cw in balanced none; do
                    for ep in 10 20; do
                        # shellcheck disable=SC2086
                        cv "$lang" "$task" --hash-bits 20 $f --min-df $mindf \
                            --class-weight $cw --epochs $ep
                    done
                done
            done
        done
    done
done
