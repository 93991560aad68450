#!/usr/bin/env bash
# Print, as Markdown, every corpus model's scores on the corpus TEST split
# (accuracy, macro-F1, per-class precision / recall / F1 and the confusion
# matrix), the whole triage of both sets with the operator's rules
# (deploy/rules.json) per language and field, and the model files' sizes:
# the numbers models/README.md quotes. Re-run it after models/train.sh.
#   models/report.sh BUILD_DIR > /tmp/report.md
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
cd "$(dirname "$0")/.."
ev="$build/bin/kujo-eval"
K=models/corpus

data_args() {
    local f
    for f in "$K/$1"-*.tsv; do printf '%s\n' --data "$f"; done
}

# table JSON: per-class scores and the confusion matrix of kujo-eval --json.
table() {
    jq -r '
      "| label | precision | recall | F1 | support |",
      "|---|---|---|---|---|",
      (.labels | to_entries[] |
        "| \(.key) | \(.value.precision * 1000 | round / 1000) | \(.value.recall * 1000 | round / 1000) | \(.value.f1 * 1000 | round / 1000) | \(.value.support) |"),
      "",
      "confusion (rows: true, columns: predicted):",
      "",
      "| | \(.confusion.labels | join(" | ")) |",
      "|---|\(.confusion.labels | map("---") | join("|"))|",
      ([.confusion.labels, .confusion.matrix] | transpose[] |
        "| **\(.[0])** | \(.[1] | map(tostring) | join(" | ")) |"),
      ""' <<<"$1"
}

echo "## Corpus test split: each model alone"
echo
for m in $(jq -r '[.models[] | select(.eval[]?.corpus) | .name] | unique | .[]' \
    models/models.json models/models-nc.json | sort -u); do
    file=$(jq -r --arg m "$m" '.models[] | select(.name == $m) | .file' \
        models/models.json models/models-nc.json | head -1)
    lang=$(jq -r --arg m "$m" '.models[] | select(.name == $m) | .eval[] | select(.corpus) | .corpus' \
        models/models.json models/models-nc.json | head -1)
    col=$(jq -r --arg m "$m" '.models[] | select(.name == $m) | .eval[] | select(.corpus) | .label_column' \
        models/models.json models/models-nc.json | head -1)
    mapfile -t args < <(data_args "$lang")
    out=$("$ev" --model "models/$file" "${args[@]}" --split test \
        --label-column "$col" --json)
    echo "### $m ($(du -k "models/$file" | cut -f1) kB)"
    echo
    jq -r '"accuracy **\(.accuracy * 10000 | round / 10000)**, macro-F1 \(.macro_f1 * 10000 | round / 10000), n \(.n)"' <<<"$out"
    echo
    table "$out"
done

echo "## Corpus test split: the whole triage with deploy/rules.json"
echo
echo "| set | lang | field | accuracy | macro-F1 | n |"
echo "|---|---|---|---|---|---|"
for set in models.json models-nc.json; do
    for lang in ja en; do
        mapfile -t args < <(data_args "$lang")
        for field in sentiment category urgency actionable; do
            out=$("$ev" --models "models/$set" --rules deploy/rules.json \
                "${args[@]}" --split test --field "$field" --json)
            jq -r --arg s "$set" --arg l "$lang" --arg f "$field" \
                '"| \($s) | \($l) | \($f) | \(.accuracy * 10000 | round / 10000) | \(.macro_f1 * 10000 | round / 10000) | \(.n) |"' <<<"$out"
        done
    done
done
echo
echo "## Sizes"
echo
for set in models.json models-nc.json; do
    files=$(jq -r '.models[].file' "models/$set" | sed 's|^|models/|')
    # shellcheck disable=SC2086
    echo "- $set: $(jq '.models | length' "models/$set") models, $(du -ck $files | tail -1 | cut -f1) kB"
done
