#!/usr/bin/env bash
# The whole triage's speed per core (kujo-eval --models: PII masking,
# normalising, every model of the set, the rules; one text at a time, in
# the process's CPU time), best of three runs, for both sets on:
#   - the corpus texts as they are (ja, en; every split),
#   - 280-character texts: dev tweets (en) and hotel-review sentences (ja)
#     joined and cut to 280 characters (needs ../shared/data).
# Also the load time of each set (kujo-eval on one text, wall clock).
#   models/speed.sh BUILD_DIR
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
cd "$(dirname "$0")/.."
ev="$build/bin/kujo-eval"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
D=../shared/data

# Corpus texts, repeated so that a run takes a while.
for lang in ja en; do
    {
        printf 'id\tlang\ttext\n'
        for r in 1 2 3 4 5 6 7 8; do
            tail -q -n +2 models/corpus/"$lang"-*.tsv |
                awk -F'\t' -v r="$r" '{ print r $1 "\t" $2 "\t" $9 }'
        done
    } >"$tmp/corpus-$lang.tsv"
done
# 280-character texts.
join280() {
    # perl counts characters (awk here may count bytes).
    perl -CSD -ne '
        chomp; my @f = split /\t/, $_, -1;
        if ($. == 1) { ($t) = grep { $f[$_] eq "text" } 0 .. $#f;
                       print "id\tlang\ttext\n"; next }
        $cur .= ($cur eq "" ? "" : " ") . $f[$t];
        if (length($cur) >= 280) {
            print "s", $n++, "\t'"$2"'\t", substr($cur, 0, 280), "\n"; $cur = "" }' "$1"
}
if [ -d "$D" ]; then
    join280 "$D/twitter-airline/dev.tsv" en >"$tmp/t280-en.tsv"
    join280 "$D/ja-hotel-reviews/train.tsv" ja >"$tmp/t280-ja.tsv"
    for lang in ja en; do
        head -1 "$tmp/t280-$lang.tsv" >"$tmp/x280-$lang.tsv"
        for r in $(seq 1 20); do
            tail -n +2 "$tmp/t280-$lang.tsv" | sed "s/^/$r/" >>"$tmp/x280-$lang.tsv"
        done
    done
fi

best() {
    local b=0 v i
    for i in 1 2 3; do
        v=$("$ev" --models "$1" --data "$2" --json | jq -r '.texts_per_s | floor')
        [ "$v" -gt "$b" ] && b=$v
    done
    echo "$b"
}

printf '| set | text | texts/s (one core) |\n|---|---|---|\n'
for set in models/models.json models/models-nc.json; do
    for lang in ja en; do
        printf '| %s | corpus %s (as written) | %s |\n' "$(basename "$set")" \
            "$lang" "$(best "$set" "$tmp/corpus-$lang.tsv")"
        if [ -f "$tmp/x280-$lang.tsv" ]; then
            printf '| %s | %s, 280 characters | %s |\n' "$(basename "$set")" \
                "$lang" "$(best "$set" "$tmp/x280-$lang.tsv")"
        fi
    done
done
echo
for set in models/models.json models/models-nc.json; do
    head -2 "$tmp/corpus-en.tsv" >"$tmp/one.tsv"
    s=$( { /usr/bin/time -f '%e' "$ev" --models "$set" --data "$tmp/one.tsv" \
        --json >/dev/null; } 2>&1 | tail -1)
    echo "- $(basename "$set"): loaded (every checksum verified, groups built) and one text triaged in $s s"
done
