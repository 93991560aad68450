#!/usr/bin/env bash
# GET /v1/openapi.json: the document (docs/openapi.json, byte for byte) is
# valid OpenAPI 3.1 (swagger-parser, from npm), its examples match its
# schemas, and every example request in tests/data/api-examples is sent to
# a real kujo-ingest on a real Redis and answered as the example says —
# the status, and for a refusal its error code — so the document, the
# examples and the server agree.
set -euo pipefail
BUILD=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
EX="$ROOT/tests/data/api-examples"
fail() { echo "test_openapi: $*" >&2; exit 1; }
command -v node >/dev/null || fail "node is not installed (scripts/deps.sh installs it)"
[ -d "$ROOT/tests/npm/node_modules/@apidevtools/swagger-parser" ] ||
    fail "tests/npm tools missing: run scripts/deps-npm.sh"

node "$ROOT/tests/npm/openapi-check.mjs" "$ROOT/docs/openapi.json" "$EX"

# Every error code the server can answer (kj_rc.c's 4xx and 5xx) is in
# the document's list, and the list names no other.
want=$(sed -n 's/.*= {"\([a-z_0-9]*\)", [45][0-9][0-9]}.*/\1/p' \
    "$ROOT/libcommon/src/kj_rc.c" | sort -u)
have=$(jq -r '.components.schemas.Error.properties.error.properties.code.enum[]' \
    "$ROOT/docs/openapi.json" | sort -u)
[ -n "$want" ] || fail "no error codes found in libcommon/src/kj_rc.c"
[ "$want" = "$have" ] || fail "error codes differ (< kj_rc.c, > openapi.json):
$(diff <(echo "$want") <(echo "$have") | grep '^[<>]')"

TMP=$(mktemp -d /tmp/kujo-openapi.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
read -r RP HP AP <<<"$(python3 -c 'import socket
s=[socket.socket() for _ in range(3)]
for x in s: x.bind(("127.0.0.1",0))
print(" ".join(str(x.getsockname()[1]) for x in s))')"
redis-server --bind 127.0.0.1 --port "$RP" --save '' --appendonly no \
    --dir "$TMP" >"$TMP/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
KUJO_REDIS_URL="redis://127.0.0.1:$RP/0" KUJO_AUTH=open KUJO_LOG_LEVEL=warn \
    KUJO_SURVEY_SECRET=openapi-example-survey-secret-0123 \
    KUJO_RULES="$ROOT/deploy/rules.json" KUJO_HTTP_ADDR="127.0.0.1:$HP" \
    KUJO_ADMIN_ADDR="127.0.0.1:$AP" "$BUILD/bin/kujo-ingest" >"$TMP/ingest.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$AP/healthz" >/dev/null && break; sleep 0.1; done
URL="http://127.0.0.1:$HP"

# The served document is the committed one.
curl -fsS "$URL/v1/openapi.json" -o "$TMP/served.json" || fail "GET /v1/openapi.json failed"
cmp -s "$TMP/served.json" "$ROOT/docs/openapi.json" ||
    fail "GET /v1/openapi.json is not docs/openapi.json"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/v1/openapi.json")
[ "$code" = 405 ] || fail "POST /v1/openapi.json answered $code, want 405"

# (KUJO_SURVEY_SECRET above signed the token of the feedback-*.json
# examples, valid until 2100.)
# Each example, as the server answers it ("after": another example sent
# first, e.g. the agent a status change needs).
# An example with "lines" sends them as NDJSON, one compact value a line,
# under its "content_type" (default application/json).
send() {
    local f=$1 method path type
    method=$(jq -r .method "$EX/$f")
    path=$(jq -r .path "$EX/$f")
    type=$(jq -r '.content_type // "application/json"' "$EX/$f")
    if jq -e 'has("lines")' "$EX/$f" >/dev/null; then
        jq -c '.lines[]' "$EX/$f" >"$TMP/body.json"
    else
        jq -c .body "$EX/$f" >"$TMP/body.json"
    fi
    curl -s -o "$TMP/answer.json" -w '%{http_code}' -X "$method" \
        -H "Content-Type: $type" --data-binary @"$TMP/body.json" "$URL$path"
}
n=0
for ex in "$EX"/*.json; do
    f=$(basename "$ex")
    after=$(jq -r '.after // empty' "$ex")
    if [ -n "$after" ]; then send "$after" >/dev/null; fi
    want=$(jq -r .status "$ex")
    got=$(send "$f")
    [ "$got" = "$want" ] || fail "$f: answered $got, want $want: $(cat "$TMP/answer.json")"
    code=$(jq -r '.code // empty' "$ex")
    if [ -n "$code" ]; then
        got_code=$(jq -r '.error.code' "$TMP/answer.json")
        [ "$got_code" = "$code" ] || fail "$f: error code $got_code, want $code"
    fi
    # An accepted batch: a result line with an id for each line.
    if [ "$want" -lt 300 ] && jq -e 'has("lines")' "$ex" >/dev/null; then
        nl=$(jq '.lines | length' "$ex")
        ok=$(jq -s '[.[] | select(has("id"))] | length' "$TMP/answer.json")
        [ "$ok" = "$nl" ] || fail "$f: $ok of $nl lines recorded: $(cat "$TMP/answer.json")"
    fi
    n=$((n + 1))
done
echo "test_openapi: $n example requests answered as documented"
