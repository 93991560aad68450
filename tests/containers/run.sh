#!/usr/bin/env bash
# make test-containers: the real images under docker compose.
#   - starts dockerd if none answers (and stops only the one it started);
#   - makes the Debian 12 base image from the apt mirror (no registry here);
#   - builds every image, starts Redis, the five services (ingest x3,
#     classifier x2), the load balancer, Prometheus and a webhook receiver;
#   - posts complaints through the load balancer: all reach delivered,
#     every ingest and classifier copy's /metrics shows work and
#     Prometheus scrapes each of them; SIGHUP reloads the mounted rules;
#   - kills one ingest container mid-load: still nothing lost;
#   - docker-compose down -v.
# Everything published listens on 127.0.0.1.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-build}
cd "$ROOT"
# Debian's docker client first: a newer one without buildx may shadow it.
export PATH=/usr/bin:$PATH
unset DOCKER_BUILDKIT
export COMPOSE_DOCKER_CLI_BUILD=0

say() { printf 'test-containers: %s\n' "$*" >&2; }
start=$(date +%s)
TMP=$(mktemp -d /tmp/kujo-ct.XXXXXX)
PROJECT=kujo-ct$$
dockerd_pid=""
compose() {
    docker-compose -p "$PROJECT" --env-file "$TMP/env" \
        -f docker-compose.yml -f tests/containers/compose.test.yml "$@"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -f "$TMP/env" ]; then
        if [ "$rc" -ne 0 ]; then
            say "FAILED; last log lines of every container:"
            compose logs --no-color --tail 15 2>&1 | tail -n 150 >&2 || true
        fi
        compose down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$dockerd_pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$ROOT/scripts/deps.sh" --containers
[ -x "$BUILD/bin/kujo-webhook-sink" ] || cmake --build "$BUILD" --target kujo-webhook-sink >/dev/null

if ! docker info >/dev/null 2>&1; then
    say "starting dockerd"
    dockerd >"$TMP/dockerd.log" 2>&1 &
    dockerd_pid=$!
    for _ in $(seq 100); do docker info >/dev/null 2>&1 && break; sleep 0.2; done
    docker info >/dev/null 2>&1 || { cat "$TMP/dockerd.log" >&2; exit 1; }
fi

"$ROOT/scripts/base-image.sh" local/debian:12

# N distinct free loopback ports, all held open while they are picked.
ports() { python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1",0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"; }
read -r -a P <<<"$(ports 3)"
API_PORT=${P[0]}
cat >"$TMP/env" <<ENV
KUJO_BASE_IMAGE=local/debian:12
KUJO_WEBHOOK_SECRET=ct-$RANDOM$RANDOM$RANDOM
KUJO_REDIS_PASSWORD=$(openssl rand -hex 24)
KUJO_TENANT_RATE_LIMIT=0
KUJO_WEBHOOK_URL=http://sink:8080/alerts
KUJO_SINK_BIN=$ROOT/$BUILD/bin/kujo-webhook-sink
KUJO_PUBLISH_ADDR=127.0.0.1
KUJO_API_PORT=$API_PORT
KUJO_ANALYTICS_PORT=${P[1]}
KUJO_PROMETHEUS_PORT=${P[2]}
KUJO_LOG_LEVEL=info
ENV
# shellcheck disable=SC1091
. "$TMP/env"
API=http://127.0.0.1:$API_PORT
PROM=http://127.0.0.1:$KUJO_PROMETHEUS_PORT

say "building images"
compose build --parallel redis lb prometheus ingest >"$TMP/build.log" 2>&1 ||
    { tail -n 40 "$TMP/build.log" >&2; exit 1; }
compose build classifier router notifier analytics >>"$TMP/build.log" 2>&1 ||
    { tail -n 40 "$TMP/build.log" >&2; exit 1; }
say "images built ($(( $(date +%s) - start )) s so far)"

compose up -d --scale ingest=3 --scale classifier=2 >"$TMP/up.log" 2>&1 ||
    { cat "$TMP/up.log" >&2; exit 1; }

# Containers of one service, and a value from one container's /metrics.
containers() { compose ps -q "$1"; }
metric() { # container name
    docker exec "$1" curl -fsS http://127.0.0.1:9100/metrics |
        awk -v n="$2" '$1 ~ "^"n"([{]|$)" {s += $2} END {print s + 0}'
}
wait_for() { # seconds description command...
    local secs=$1 what=$2
    shift 2
    local deadline=$(( $(date +%s) + secs ))
    until "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -lt "$deadline" ] || { say "timed out waiting for $what"; exit 1; }
        sleep 0.5
    done
}
ready_all() {
    local svc c
    for svc in ingest classifier router notifier analytics; do
        for c in $(containers "$svc"); do
            docker exec "$c" curl -fsS http://127.0.0.1:9100/readyz >/dev/null || return 1
        done
    done
}
wait_for 90 "every copy ready" ready_all
# Ingest checks API keys (KUJO_AUTH=keys, the default; open mode would be
# refused on the container's 0.0.0.0 binds): make one as an operator
# would, with kujo-admin inside an ingest container (it reads the same
# KUJO_REDIS_URL and KUJO_PREFIX). load.py reads it from the environment.
KUJO_API_KEY=$(docker exec "$(containers ingest | head -n 1)" kujo-admin key create \
    --tenant default --rate 1000000 --scopes complaints:write,complaints:read,admin --name containers |
    tail -n 1)
[ -n "$KUJO_API_KEY" ] || { say "kujo-admin key create failed"; exit 1; }
export KUJO_API_KEY
(umask 077 && printf 'Authorization: Bearer %s\n' "$KUJO_API_KEY" >"$TMP/auth.header")
# An unknown id answered 404 by ingest means the balancer reaches a copy.
lb_ok() { [ "$(curl -s -o /dev/null -H "@$TMP/auth.header" -w '%{http_code}' "$API/v1/complaints/00000000000000000000")" = 404 ]; }
wait_for 30 "the load balancer" lb_ok
# Ingest copies see both classifier copies through the Redis registry.
peers_ok() {
    local c
    for c in $(containers ingest); do
        [ "$(metric "$c" kujo_downstream_peers)" -ge 2 ] || return 1
    done
}
wait_for 30 "ingest copies to see both classifiers" peers_ok
say "up: ingest x3, classifier x2 ($(( $(date +%s) - start )) s so far)"

say "posting 300 complaints through the load balancer"
python3 tests/containers/load.py post "$API" 300 150 a "$TMP/a.ids"
python3 tests/containers/load.py wait "$API" "$TMP/a.ids" 90

for svc in ingest classifier; do
    for c in $(containers "$svc"); do
        n=$(metric "$c" kujo_envelopes_out_total)
        [ "$svc" = classifier ] && n=$(metric "$c" kujo_envelopes_in_total)
        [ "${n%.*}" -gt 0 ] || { say "$svc copy ${c:0:12} did no work"; exit 1; }
        say "$svc ${c:0:12}: $n envelopes"
    done
done

# Prometheus found every copy through Docker's DNS.
prom_count() { # svc expected
    curl -fsS "$PROM/api/v1/query" --data-urlencode \
        "query=count(kujo_build_info{svc=\"$1\"})" |
        jq -e --argjson n "$2" '.data.result[0].value[1] | tonumber == $n'
}
wait_for 60 "Prometheus to scrape 3 ingest copies" prom_count ingest 3
wait_for 30 "Prometheus to scrape 2 classifier copies" prom_count classifier 2
say "Prometheus scrapes every copy"

# The rules file is mounted from the checkout: SIGHUP through docker's init
# reaches the service, which reloads it.
compose kill -s HUP router >/dev/null
reloaded() { compose logs --no-color router | grep -q '"msg":"reloaded"'; }
wait_for 15 "the router to reload its rules on SIGHUP" reloaded
say "SIGHUP reloads the mounted rules"

say "posting 600 more; killing one ingest copy mid-load"
python3 tests/containers/load.py post "$API" 600 150 b "$TMP/b.ids" &
loader=$!
sleep 1.5
victim=$(containers ingest | sed -n 1p)
docker kill "$victim" >/dev/null
say "killed ingest ${victim:0:12}"
wait "$loader"
python3 tests/containers/load.py wait "$API" "$TMP/b.ids" 120

# The receiver saw every complaint, each with a valid signature.
compose logs --no-color sink >"$TMP/sink.log" 2>&1
cat "$TMP/a.ids" "$TMP/b.ids" | sort -u >"$TMP/all.ids"
grep -o '{.*}' "$TMP/sink.log" |
    jq -r 'select(.complaint_id != null and .signature_ok == true) | .complaint_id' |
    sort -u >"$TMP/seen.ids"
missing=$(comm -23 "$TMP/all.ids" "$TMP/seen.ids" | wc -l)
bad=$(grep -o '{.*}' "$TMP/sink.log" | jq -r 'select(.signature_ok == false) | .complaint_id' | wc -l)
[ "$missing" -eq 0 ] || { say "$missing complaints never reached the receiver"; exit 1; }
[ "$bad" -eq 0 ] || { say "$bad alerts with a bad signature"; exit 1; }
say "receiver: all $(wc -l <"$TMP/all.ids") complaints, every signature valid"

curl -fsS -H @"$TMP/auth.header" "http://127.0.0.1:$KUJO_ANALYTICS_PORT/v1/stats" | jq -e '.total >= 900' >/dev/null ||
    { say "analytics does not count the 900 complaints"; exit 1; }

say "passed in $(( $(date +%s) - start )) s"
