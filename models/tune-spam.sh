#!/usr/bin/env bash
# The settings search behind models/train-spam.sh: 5-fold cross-validation
# on spamassassin's train.tsv (through kujo-mail2tsv, as training sees it),
# holding out spamassassin rows only (row i goes to fold i mod 5); the
# corpus ham (our corpus's English train split) is always trained on.
# kujo-train --cv cannot do this split (with --split it holds out corpus
# rows only), hence the loop. Prints one line per setting: accuracy over
# all held-out rows, then the flags. Deterministic; a minute or two.
#   models/tune-spam.sh BUILD_DIR
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
cd "$(dirname "$0")/.."
S=../shared/data/spamassassin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/bin/kujo-mail2tsv" "$S/train.tsv" >"$tmp/train.tsv" 2>/dev/null
for f in models/corpus/en-*.tsv; do
    "$build/bin/kujo-mail2tsv" --corpus "$f" >"$tmp/ham-$(basename "$f")"
done

# cv WEIGHT FLAGS...: the held-out accuracy of one setting, with the
# corpus ham at WEIGHT.
cv() {
    local w=$1 k ok=0 n=0
    shift
    local ham=()
    for f in "$tmp"/ham-*.tsv; do
        ham+=(--data "$f" --licence MIT --split train --weight "$w")
    done
    for k in 0 1 2 3 4; do
        awk -F'\t' -v k=$k 'NR == 1 || (NR - 2) % 5 != k' "$tmp/train.tsv" \
            >"$tmp/tr.tsv"
        awk -F'\t' -v k=$k 'NR == 1 || (NR - 2) % 5 == k' "$tmp/train.tsv" \
            >"$tmp/te.tsv"
        "$build/bin/kujo-train" --data "$tmp/tr.tsv" --licence x "${ham[@]}" \
            --task spam --label-column label --languages en --seed 1 \
            --temperature 1 "$@" --out "$tmp/m.kjm" 2>/dev/null
        local r
        r=$("$build/bin/kujo-eval" --model "$tmp/m.kjm" --data "$tmp/te.tsv" \
            --json)
        local rn
        rn=$(jq .n <<<"$r")
        ok=$(jq -n --argjson ok "$ok" --argjson r "$r" \
            '$ok + ($r.accuracy * $r.n | round)')
        n=$((n + rn))
    done
    printf '%.4f\tw=%s %s\n' "$(jq -n "$ok / $n")" "$w" "$*"
}

N=nfkc,url,mention,number,repeat
for w in 0.1 0.3 1; do
    cv "$w" --normalise $N --word-ngrams 1,1 --char-ngrams 1,3 --min-df 2 \
        --epochs 20 --class-weight balanced
done
cv 0.1 --normalise $N --word-ngrams 1,1 --char-ngrams 1,2 --hash-bits 18 \
    --min-df 2 --epochs 20 --class-weight balanced
cv 0.1 --normalise $N --word-ngrams 1,3 --char-ngrams 1,5 --hash-bits 18 \
    --min-df 2 --epochs 20 --class-weight balanced
cv 0.1 --normalise nfkc,url,mention,number --word-ngrams 1,2 \
    --char-ngrams 2,4 --char-weight 2 --min-df 2 --epochs 20
for n in nfkc,casefold,mention,number,repeat nfkc,mention,number,repeat \
    nfkc,casefold,url,mention,number,repeat; do
    cv 0.3 --normalise $n --word-ngrams 1,1 --char-ngrams 1,3 --min-df 2 \
        --epochs 20 --class-weight balanced
done
