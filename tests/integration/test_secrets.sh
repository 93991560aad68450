#!/usr/bin/env bash
# Every secret option of every binary stays secret. The secrets are the
# Redis password (inside KUJO_REDIS_URL, which every binary reads), the
# webhook signing key (KUJO_WEBHOOK_SECRET), the webhook URL's path (often
# a credential), the stages' CURVE secret key (KUJO_CURVE_SECRET_KEY),
# an API key (kujo-admin prints it once; ingest must never) and ingest's
# inbound webhook secrets (LINE, Meta, social). Each binary is run
#   - with --help,
#   - with a configuration error elsewhere (exit 78), the secret given as
#     a variable and as a flag,
#   - with the secret option itself malformed (exit 78),
#   - with a secret given both as a variable and as a file (<ENV>_FILE),
#     and as an unreadable file (exit 78 naming what to fix),
#   - for real against a redis-server that requires the password, with
#     CURVE on and ingest checking API keys, until ready, with a complaint
#     posted through, /metrics read, then SIGTERM;
#     the notifier takes both its secrets only from files (KUJO_*_FILE),
#     and the sink checks the signature made with the key from the file,
# and everything it printed (stdout, stderr, log lines) and its /metrics
# page must not contain the secret. The check is shown able to fail: the
# same grep finds a secret planted in a copy of one output.
#   usage: test_secrets.sh BUILD_DIR
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$build/bin"
READY_MS=15000

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}
fail() {
    echo "FAIL: $*"
    exit 1
}

svcs=(ingest classifier router notifier analytics)
for s in "${svcs[@]}" admin keygen; do
    [ -x "$bin/kujo-$s" ] || fail "$bin/kujo-$s is not built"
done
for tool in redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed"
done

tmp=$(mktemp -d /tmp/kujo-secrets.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.5
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Distinct, unguessable, and long enough that a match is no accident.
pw="redispw$RANDOM$RANDOM$RANDOM"
hook="hooksecret$RANDOM$RANDOM$RANDOM"

hookpath="hookpath$RANDOM$RANDOM$RANDOM"
# The inbound webhook secrets of ingest (LINE, Meta, social) all contain it.
inbound="inboundsecret$RANDOM$RANDOM$RANDOM"
"$bin/kujo-keygen" --out "$tmp" >"$tmp/keygen.out" 2>&1 || fail "kujo-keygen failed"
curve=$(cat "$tmp/curve.secret")
[ ${#curve} -eq 40 ] || fail "kujo-keygen wrote no 40-character secret key"
apikey=none-yet

# assert_clean FILE WHAT: FILE holds none of the secrets.
assert_clean() {
    local s=(-e "$pw" -e "$hook" -e "$hookpath" -e "$curve" -e "$apikey"
        -e "$inbound")
    if grep -a -q -F "${s[@]}" "$1"; then
        echo "----- $2:"
        grep -a -n -F "${s[@]}" "$1" | head -5
        fail "$2 shows a secret"
    fi
}
assert_clean "$tmp/keygen.out" "kujo-keygen --out"

mapfile -t PORTS < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))')
[ ${#PORTS[@]} -eq 10 ] || fail "no free ports"
rport=${PORTS[0]}
redis-server --bind 127.0.0.1 --port "$rport" --dir "$tmp" --save '' \
    --appendonly no --requirepass "$pw" >"$tmp/redis.out" 2>&1 &
pids+=($!)
deadline=$(($(now_ms) + 5000))
until redis-cli -p "$rport" -a "$pw" --no-auth-warning ping >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "redis-server did not start"
    sleep 0.1
done
url="redis://:$pw@127.0.0.1:$rport/0"
# The same secrets as files, the way Docker and Kubernetes mount them (with
# the trailing newline that `echo` leaves).
printf '%s\n' "$url" >"$tmp/redis_url.secret"
printf '%s\n' "$hook" >"$tmp/webhook.secret"
chmod 600 "$tmp/redis_url.secret" "$tmp/webhook.secret"
export KUJO_PREFIX="sec$RANDOM" KUJO_LOG_LEVEL=debug KUJO_DRAIN_MS=500
export KUJO_RULES="$root/deploy/rules.json" KUJO_MODELS="$root/models"
unset KUJO_REDIS_URL KUJO_WEBHOOK_SECRET KUJO_WEBHOOK_URL KUJO_ADMIN_ADDR \
    KUJO_HTTP_ADDR KUJO_REDIS_URL_FILE KUJO_WEBHOOK_SECRET_FILE

# Per binary: the options that only the notifier has.
extra_env() {
    [ "$1" = notifier ] && echo "KUJO_WEBHOOK_SECRET=$hook" \
        "KUJO_WEBHOOK_URL=http://127.0.0.1:9/$hookpath"
    [ "$1" = analytics ] || echo "KUJO_CURVE_SECRET_KEY=$curve"
    [ "$1" = ingest ] && echo "KUJO_LINE_CHANNEL_SECRET=${inbound}l" \
        "KUJO_META_APP_SECRET=${inbound}m" "KUJO_META_VERIFY_TOKEN=${inbound}t" \
        "KUJO_SOCIAL_SECRETS=x=${inbound}s"
    true
}

for s in "${svcs[@]}"; do
    out="$tmp/$s.static"
    : >"$out"
    # --help, with every secret set.
    env KUJO_REDIS_URL="$url" $(extra_env "$s") "$bin/kujo-$s" --help \
        >>"$out" 2>&1 || fail "kujo-$s --help failed"
    # A configuration error elsewhere: secrets as variables, then as flags.
    set +e
    env KUJO_REDIS_URL="$url" $(extra_env "$s") KUJO_LOG_LEVEL=loud \
        "$bin/kujo-$s" >>"$out" 2>&1
    rc1=$?
    flags=(--redis-url "$url")
    [ "$s" = notifier ] && flags+=(--webhook-secret "$hook")
    "$bin/kujo-$s" "${flags[@]}" --lease-ms banana >>"$out" 2>&1
    rc2=$?
    # The secret option itself malformed.
    "$bin/kujo-$s" --redis-url "redis://:$pw@127.0.0.1:notaport/0" \
        >>"$out" 2>&1
    rc3=$?
    # The secret both as a variable and as a file; then a file not there.
    env KUJO_REDIS_URL="$url" KUJO_REDIS_URL_FILE="$tmp/redis_url.secret" \
        "$bin/kujo-$s" >"$tmp/$s.both" 2>&1
    rc4=$?
    env KUJO_REDIS_URL_FILE="$tmp/missing.secret" "$bin/kujo-$s" \
        >"$tmp/$s.missing" 2>&1
    rc5=$?
    set -e
    cat "$tmp/$s.both" "$tmp/$s.missing" >>"$out"
    [ "$rc4" -eq 78 ] && grep -q 'KUJO_REDIS_URL and KUJO_REDIS_URL_FILE' \
        "$tmp/$s.both" || fail "kujo-$s with the URL twice exited $rc4"
    [ "$rc5" -eq 78 ] && grep -q "cannot read $tmp/missing.secret" \
        "$tmp/$s.missing" || fail "kujo-$s with a missing file exited $rc5"
    [ "$rc1" -eq 78 ] || fail "kujo-$s with a bad log level exited $rc1"
    [ "$rc2" -eq 64 ] || [ "$rc2" -eq 78 ] ||
        fail "kujo-$s with a bad lease exited $rc2"
    [ "$rc3" -eq 78 ] || fail "kujo-$s with a bad Redis URL exited $rc3"
    grep -q 'usage:' "$out" || fail "kujo-$s printed no help"
    assert_clean "$out" "kujo-$s --help and configuration errors"
done

# kujo-admin, with the password in its URL: the key alone on the last line,
# the password nowhere; list never shows the key.
KUJO_REDIS_URL="$url" KUJO_PREFIX=$KUJO_PREFIX "$bin/kujo-admin" key create \
    --tenant default --scopes complaints:write,complaints:read \
    >"$tmp/admin.out" 2>&1 || fail "kujo-admin key create failed"
apikey=$(tail -n 1 "$tmp/admin.out")
case $apikey in kj_*) ;; *) fail "kujo-admin printed no key last: $apikey" ;; esac
head -n -1 "$tmp/admin.out" >"$tmp/admin.rest"
KUJO_REDIS_URL="$url" "$bin/kujo-admin" key list >>"$tmp/admin.rest" 2>&1 ||
    fail "kujo-admin key list failed"
KUJO_REDIS_URL="$url" "$bin/kujo-admin" key bogus >>"$tmp/admin.rest" 2>&1 || true
assert_clean "$tmp/admin.rest" "kujo-admin output (but the key's line)"

# For real: every secret set, every service up, one complaint through.
declare -A admin
for i in "${!svcs[@]}"; do admin[${svcs[$i]}]=127.0.0.1:${PORTS[$((i + 1))]}; done
api=127.0.0.1:${PORTS[6]}
sink=${PORTS[8]}
"$bin/kujo-webhook-sink" --addr "127.0.0.1:$sink" --secret "$hook" \
    --log "$tmp/sink.ndjson" >"$tmp/sink.out" 2>&1 &
pids+=($!)
# secret_env SERVICE: the notifier reads its secrets from files only.
secret_env() {
    if [ "$1" = notifier ]; then
        echo "KUJO_REDIS_URL_FILE=$tmp/redis_url.secret" \
            "KUJO_WEBHOOK_SECRET_FILE=$tmp/webhook.secret"
    else
        echo "KUJO_REDIS_URL=$url"
    fi
    [ "$1" = ingest ] && echo "KUJO_LINE_CHANNEL_SECRET=${inbound}l" \
        "KUJO_META_APP_SECRET=${inbound}m" "KUJO_META_VERIFY_TOKEN=${inbound}t" \
        "KUJO_SOCIAL_SECRETS=x=${inbound}s"
    # CURVE between the stages, the secret key from a file.
    [ "$1" = analytics ] || echo "KUJO_CURVE_SECRET_KEY_FILE=$tmp/curve.secret" \
        "KUJO_CURVE_PEERS_FILE=$tmp/curve.public"
}
for s in notifier router classifier analytics ingest; do
    env $(secret_env "$s") \
        KUJO_ADMIN_ADDR="${admin[$s]}" \
        KUJO_HTTP_ADDR="$([ "$s" = analytics ] && echo "127.0.0.1:${PORTS[7]}" || echo "$api")" \
        KUJO_WEBHOOK_URL="http://127.0.0.1:$sink/alerts/$hookpath" \
        "$bin/kujo-$s" >"$tmp/$s.run" 2>&1 &
    pids+=($!)
done
for s in "${svcs[@]}"; do
    deadline=$(($(now_ms) + READY_MS))
    until curl -fs --max-time 2 "http://${admin[$s]}/readyz" >/dev/null; do
        [ "$(now_ms)" -lt "$deadline" ] || {
            tail -5 "$tmp/$s.run"
            fail "kujo-$s not ready"
        }
        sleep 0.1
    done
done
code=$(curl -s -o "$tmp/post.json" -w '%{http_code}' --max-time 5 \
    -H 'Content-Type: application/json' -H 'Idempotency-Key: sec-1' \
    -H @<(printf 'Authorization: Bearer %s\n' "$apikey") \
    -d '{"channel":"web","customer":{"id":"c-1"},"text":"my card was charged twice"}' \
    "http://$api/v1/complaints")
[ "$code" = 202 ] || fail "post answered $code"
deadline=$(($(now_ms) + 10000))
until grep -q . "$tmp/sink.ndjson" 2>/dev/null; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "the alert was not delivered"
    sleep 0.1
done
# Signed with the key the notifier read from its file, newline dropped.
grep -q '"signature_ok":true' "$tmp/sink.ndjson" ||
    fail "the alert signed with KUJO_WEBHOOK_SECRET_FILE's key did not verify"
for s in "${svcs[@]}"; do
    curl -fs --max-time 2 "http://${admin[$s]}/metrics" >"$tmp/$s.metrics" ||
        fail "kujo-$s /metrics"
    assert_clean "$tmp/$s.metrics" "kujo-$s /metrics"
done
# A reload logs too.
for p in "${pids[@]:2}"; do kill -HUP "$p" 2>/dev/null || true; done
sleep 0.3
# Drain everything, then read every line each one wrote.
for p in "${pids[@]:2}"; do kill -TERM "$p" 2>/dev/null || true; done
sleep 1.5
for s in "${svcs[@]}"; do
    grep -q '"msg":"config"' "$tmp/$s.run" || fail "kujo-$s logged no config"
    assert_clean "$tmp/$s.run" "kujo-$s log"
done

# The check can fail: a planted secret is found.
cp "$tmp/router.run" "$tmp/planted"
echo "{\"msg\":\"oops\",\"url\":\"$url\"}" >>"$tmp/planted"
if (assert_clean "$tmp/planted" planted) >/dev/null; then
    fail "the check does not see a planted secret"
fi
echo "test_secrets: every binary keeps KUJO_REDIS_URL's password and" \
    "KUJO_WEBHOOK_SECRET out of --help, errors, logs and /metrics;" \
    "the notifier ran on KUJO_*_FILE secrets"
