#!/usr/bin/env bash
# Rebuild models/spam-en.kjm, the spam model (models/README.md, "The spam
# model"). Every message of ../shared/data/spamassassin goes through the
# real ingest e-mail parser (kujo-mail2tsv), which writes the one line
# the classifier reads at run time (kj_spam_text: subject, sender domain,
# text with quotes and signatures cut); our complaint corpus's train split
# (models/corpus, MIT) is added as ham, so that the model learns that
# complaints are not spam. spamassassin's dev.tsv fits the temperature;
# the corpus's dev and test splits are never read here. Settings by
# 5-fold cross-validation on spamassassin's train.tsv (held-out folds are
# its rows only; models/README.md gives the search). Deterministic.
#   models/train-spam.sh BUILD_DIR      (models/train.sh runs it too)
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
cd "$(dirname "$0")/.."
S=../shared/data/spamassassin
# The converted files go to a fixed relative path, because the model
# records its data sets' paths and folder names (spamassassin, corpus):
# a temporary directory's random name would change the bytes.
tmp=.train-spam
rm -rf "$tmp"
mkdir -p "$tmp/spamassassin" "$tmp/corpus"
trap 'rm -rf "$tmp"' EXIT

"$build/bin/kujo-mail2tsv" "$S/train.tsv" >"$tmp/spamassassin/train.tsv"
"$build/bin/kujo-mail2tsv" "$S/dev.tsv" >"$tmp/spamassassin/dev.tsv"
ham=()
for f in models/corpus/en-*.tsv; do
    "$build/bin/kujo-mail2tsv" --corpus "$f" >"$tmp/corpus/$(basename "$f")"
    ham+=(--data "$tmp/corpus/$(basename "$f")" --licence MIT --split train
        --weight 0.3)
done

echo "+ kujo-train (spam-en)" >&2
"$build/bin/kujo-train" --data "$tmp/spamassassin/train.tsv" \
    --licence "PDDL 1.0; CC0 1.0" "${ham[@]}" --dev "$tmp/spamassassin/dev.tsv" \
    --task spam --label-column label --languages en \
    --normalise nfkc,url,mention,number,repeat \
    --hash-bits 20 --word-ngrams 1,1 --char-ngrams 1,3 --min-df 2 \
    --class-weight balanced --epochs 20 --seed 1 --out models/spam-en.kjm
