#!/usr/bin/env bash
# The compose load balancer's configuration (deploy/images/lb/haproxy.cfg)
# run by a real haproxy on loopback in front of a real kujo-ingest and
# redis-server, against what libmicrohttpd 0.9.75 cannot refuse itself:
#   - a NUL in a header value (libmicrohttpd cuts the value at the NUL, so
#     "Idempotency-Key: nulkey<NUL>BBBB" would replay the answer of the
#     complaint sent with "nulkey"): 400, JSON body, code invalid_header,
#     from haproxy, nothing stored;
#   - another control character: the same;
#   - a Content-Length that is not a number (libmicrohttpd answers those in
#     HTML, status line twice): 400 from haproxy, nothing stored;
#   - no copy of ingest up: 503 with the JSON error body (errorfile).
# The only change to the configuration is the sed below: loopback
# addresses instead of Docker's DNS, the error files from the repository.
#   usage: test_lb_hostile.sh BUILD_DIR
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$build/bin"

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}
fail() {
    echo "FAIL: $*"
    exit 1
}

[ -x "$bin/kujo-ingest" ] || fail "$bin/kujo-ingest is not built"
for tool in haproxy redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed (scripts/deps.sh)"
done

tmp=$(mktemp -d /tmp/kujo-lb.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.3
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        for f in "$tmp"/*.out; do
            echo "----- $f"
            tail -20 "$f"
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t PORTS < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))')
[ ${#PORTS[@]} -eq 4 ] || fail "no free ports"
rport=${PORTS[0]} api=${PORTS[1]} admin=${PORTS[2]} lb=${PORTS[3]}

redis-server --bind 127.0.0.1 --port "$rport" --dir "$tmp" --save '' \
    --appendonly no >"$tmp/redis.out" 2>&1 &
pids+=($!)
deadline=$(($(now_ms) + 5000))
until redis-cli -p "$rport" ping >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "redis-server did not start"
    sleep 0.1
done
dbsize() { redis-cli -p "$rport" dbsize; }

env -i PATH="$PATH" KUJO_REDIS_URL="redis://127.0.0.1:$rport/0" \
    KUJO_HTTP_ADDR="127.0.0.1:$api" KUJO_ADMIN_ADDR="127.0.0.1:$admin" \
    KUJO_PREFIX="lb$RANDOM" KUJO_HTTP_PER_IP_LIMIT=0 KUJO_DRAIN_MS=200 KUJO_AUTH=open \
    "$bin/kujo-ingest" >"$tmp/ingest.out" 2>&1 &
ingest_pid=$!
pids+=($ingest_pid)
deadline=$(($(now_ms) + 10000))
until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$admin/healthz"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "kujo-ingest did not start"
    sleep 0.1
done

# The compose configuration, pointed at loopback. The health check goes
# (ingest is not ready without a classifier, and readiness is not what is
# tested here); everything about HTTP parsing and errors stays as it is.
sed -e "s|^    bind :8080|    bind 127.0.0.1:$lb|" \
    -e "s|/etc/haproxy/errors/|$root/deploy/images/lb/errors/|g" \
    -e '/^resolvers docker/,/^$/d' \
    -e '/^    default-server /d' \
    -e '/^    option httpchk/d' -e '/^    http-check /d' \
    -e "s|^    server-template ingest 32 ingest:8080|    server ingest1 127.0.0.1:$api|" \
    "$root/deploy/images/lb/haproxy.cfg" >"$tmp/haproxy.cfg"
grep -q "server ingest1 127.0.0.1:$api" "$tmp/haproxy.cfg" ||
    fail "the sed no longer matches haproxy.cfg"
haproxy -c -q -f "$tmp/haproxy.cfg" || fail "haproxy.cfg does not load"
haproxy -db -f "$tmp/haproxy.cfg" >"$tmp/haproxy.out" 2>&1 &
pids+=($!)
deadline=$(($(now_ms) + 5000))
until curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$lb/"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "haproxy did not start"
    sleep 0.1
done

# raw 'REQUEST' (printf escapes): send it as is, print the answer's status
# code on the first line and its body after; bounded by 3 s.
raw() {
    python3 - "$lb" "$1" <<'PY'
import socket, sys
req = sys.argv[2].encode().decode("unicode_escape").encode("latin-1")
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=3)
s.sendall(req)
out = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
        head, sep, body = out.partition(b"\r\n\r\n")
        if sep:
            n = [int(l.split(b":", 1)[1]) for l in head.split(b"\r\n")
                 if l.lower().startswith(b"content-length:")]
            if n and len(body) >= n[0]:
                break
except socket.timeout:
    pass
head, _, body = out.partition(b"\r\n\r\n")
status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/") else "0"
print(status)
print(body.decode("latin-1"))
PY
}
# error_code BODY: the JSON body's error.code, or "" if it is not one.
error_code() {
    python3 -c 'import json,sys
try: print(json.loads(sys.argv[1])["error"]["code"])
except Exception: print("")' "$1"
}

body='{"channel":"web","customer":{"id":"c-1"},"text":"charged twice"}'
head="POST /v1/complaints HTTP/1.1\\r\\nHost: t\\r\\nContent-Type: application/json\\r\\nContent-Length: ${#body}\\r\\nConnection: close\\r\\n"

# Through the proxy a good request is taken, and its key remembered.
out=$(raw "${head}Idempotency-Key: nulkey\\r\\n\\r\\n$body")
[ "$(head -1 <<<"$out")" = 202 ] || fail "a good request through haproxy: $out"
before=$(dbsize)

# A NUL in the key: refused by haproxy, so ingest never sees "nulkey".
out=$(raw "${head}Idempotency-Key: nulkey\\x00BBBB\\r\\n\\r\\n$body")
status=$(head -1 <<<"$out")
reply=$(tail -n +2 <<<"$out")
[ "$status" = 400 ] || fail "NUL in a header: status $status: $reply"
[ "$(error_code "$reply")" = invalid_header ] ||
    fail "NUL in a header: not the JSON error body: $reply"
[ "$(dbsize)" = "$before" ] || fail "NUL in a header: something was stored"

# Any other control character: the same.
out=$(raw "${head}X-Note: a\\x01b\\r\\n\\r\\n$body")
[ "$(head -1 <<<"$out")" = 400 ] || fail "control character: $out"
[ "$(error_code "$(tail -n +2 <<<"$out")")" = invalid_header ] ||
    fail "control character: not the JSON error body: $out"

# A Content-Length that is not a number: refused by haproxy's parser. (Its
# body is HAProxy 2.6's own HTML page: errorfile does not reach parser
# errors before 3.2; see haproxy.cfg.)
out=$(raw "POST /v1/complaints HTTP/1.1\\r\\nHost: t\\r\\nContent-Type: application/json\\r\\nContent-Length: -1\\r\\n\\r\\n$body")
[ "$(head -1 <<<"$out")" = 400 ] || fail "Content-Length -1: $out"
[ "$(dbsize)" = "$before" ] || fail "bad requests stored something"

# With no ingest to send to, haproxy's own 503 carries the JSON body.
kill -TERM "$ingest_pid"
wait "$ingest_pid" 2>/dev/null || true
out=$(raw "${head}\\r\\n$body")
status=$(head -1 <<<"$out")
[ "$status" = 503 ] || fail "no ingest: status $status"
[ "$(error_code "$(tail -n +2 <<<"$out")")" = unavailable ] ||
    fail "no ingest: not the JSON error body: $out"
[ "$(dbsize)" = "$before" ] || fail "something was stored without ingest"

echo "PASS: haproxy refuses NUL and control characters in headers with kujo's JSON body; nothing stored"
