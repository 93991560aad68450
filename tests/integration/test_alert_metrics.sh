#!/usr/bin/env bash
# Every metric that kujo's PromQL names is one the services really export.
# Starts a private redis-server, a webhook receiver and the five real
# binaries on free loopback ports, posts a few complaints through to
# delivery (some series appear with the first work), reads each service's
# live /metrics, and checks the names used by
#   deploy/prometheus/rules/*.yml   (alerts and recording rules),
#   deploy/grafana/*.json           (dashboard queries and variables),
#   deploy/k8s/                     (prometheus-adapter seriesQuery and
#                                    metricsQuery),
# with deploy/prometheus/tools/promql_names.py (and lints each page with
# promtool check metrics). Then proves the check can
# fail: a rule, a dashboard and an adapter rule naming a metric no service
# exports must each be reported.
#   usage: test_alert_metrics.sh BUILD_DIR
set -euo pipefail

build="$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)"
root="$(cd "$(dirname "$0")/../.." && pwd)"
bin="$build/bin"
check="$root/deploy/prometheus/tools/promql_names.py"
POSTS=3        # complaints sent through the pipeline
READY_MS=15000 # bound on each service becoming ready
FLOW_MS=30000  # bound on the complaints being delivered

now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}
fail() {
    echo "FAIL: $*"
    exit 1
}

for b in kujo-ingest kujo-classifier kujo-router kujo-notifier \
    kujo-analytics kujo-webhook-sink; do
    [ -x "$bin/$b" ] || fail "$bin/$b is not built"
done
for tool in redis-server redis-cli curl jq python3; do
    command -v "$tool" >/dev/null || fail "$tool is needed"
done

tmp=$(mktemp -d /tmp/kujo-alert-metrics.XXXXXX)
pids=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Services first (they drain into Redis), then Redis and the receiver;
    # TERM, then KILL whatever has not exited after 5 s.
    local p deadline=$(($(now_ms) + 5000))
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null && [ "$(now_ms)" -lt "$deadline" ]; do
            sleep 0.1
        done
        kill -KILL "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        for f in "$tmp"/*.log; do
            [ -s "$f" ] || continue
            echo "----- $(basename "$f") (last 5 lines)"
            tail -n 5 "$f"
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mapfile -t PORTS < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(9)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))')
[ ${#PORTS[@]} -eq 9 ] || fail "no free ports"

# start NAME CMD...: in the background, output to $tmp/NAME.log.
start() {
    local name=$1
    shift
    "$@" >"$tmp/$name.log" 2>&1 &
    pids+=($!)
}
ccurl() { curl --noproxy '*' -s --max-time 5 "$@"; }

rport=${PORTS[0]}
start redis redis-server --bind 127.0.0.1 --port "$rport" --dir "$tmp" \
    --save '' --appendonly no
deadline=$(($(now_ms) + 5000))
until redis-cli -p "$rport" ping >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "redis-server did not start"
    sleep 0.1
done
secret="alert-metrics-$RANDOM"
start sink "$bin/kujo-webhook-sink" --addr "127.0.0.1:${PORTS[1]}" \
    --secret "$secret" --log "$tmp/alerts.ndjson"

export KUJO_REDIS_URL="redis://127.0.0.1:$rport/0" KUJO_PREFIX="am$RANDOM"
export KUJO_LOG_LEVEL=warn KUJO_DRAIN_MS=1000
svcs=(ingest classifier router notifier analytics)
declare -A admin
for i in "${!svcs[@]}"; do admin[${svcs[$i]}]=127.0.0.1:${PORTS[$((i + 2))]}; done
api=127.0.0.1:${PORTS[7]}
KUJO_ADMIN_ADDR=${admin[notifier]} KUJO_WEBHOOK_SECRET=$secret \
    KUJO_WEBHOOK_URL="http://127.0.0.1:${PORTS[1]}/alerts" \
    start notifier "$bin/kujo-notifier"
for svc in router classifier; do
    KUJO_ADMIN_ADDR=${admin[$svc]} KUJO_RULES="$root/deploy/rules.json" \
        KUJO_MODELS="$root/models" start "$svc" "$bin/kujo-$svc"
done
KUJO_ADMIN_ADDR=${admin[analytics]} KUJO_HTTP_ADDR=127.0.0.1:${PORTS[8]} \
    start analytics "$bin/kujo-analytics"
KUJO_ADMIN_ADDR=${admin[ingest]} KUJO_HTTP_ADDR=$api KUJO_AUTH=open \
    start ingest "$bin/kujo-ingest"

for svc in "${svcs[@]}"; do
    deadline=$(($(now_ms) + READY_MS))
    until ccurl -f "http://${admin[$svc]}/readyz" >/dev/null 2>&1; do
        [ "$(now_ms)" -lt "$deadline" ] ||
            fail "kujo-$svc is not ready after $((READY_MS / 1000)) s"
        sleep 0.1
    done
done

# A few complaints through to delivery, so that series which appear with
# the first piece of work (a delivery's endpoint, a failure reason) exist.
ids=()
while IFS= read -r line; do
    answer=$(ccurl -H 'Content-Type: application/json' \
        -H "Idempotency-Key: am-${#ids[@]}-$RANDOM" --data-binary "$line" \
        "http://$api/v1/complaints") || fail "POST to ingest failed"
    id=$(jq -r '.id // empty' <<<"$answer")
    [ -n "$id" ] || fail "ingest answered $answer"
    ids+=("$id")
done < <(head -n "$POSTS" "$root/examples/complaints.ndjson")
deadline=$(($(now_ms) + FLOW_MS))
for id in "${ids[@]}"; do
    until [ "$(ccurl "http://$api/v1/complaints/$id" | jq -r .state)" = delivered ]; do
        [ "$(now_ms)" -lt "$deadline" ] ||
            fail "complaint $id not delivered after $((FLOW_MS / 1000)) s"
        sleep 0.2
    done
done
echo "posted $POSTS complaints; all delivered"

pages=()
for svc in "${svcs[@]}"; do
    page="$tmp/metrics-$svc.txt"
    ccurl -f "http://${admin[$svc]}/metrics" >"$page" ||
        fail "GET /metrics from kujo-$svc failed"
    grep -q "^kujo_build_info{svc=\"$svc\"" "$page" ||
        fail "kujo-$svc's /metrics has no kujo_build_info{svc=\"$svc\"}"
    # Prometheus' own linter on the exposition (names, types, HELP).
    if command -v promtool >/dev/null; then
        promtool check metrics <"$page" >"$tmp/lint.out" 2>&1 || {
            cat "$tmp/lint.out"
            fail "promtool check metrics finds problems in kujo-$svc's /metrics"
        }
    fi
    pages+=(--metrics "$page")
done

sources=("$root/deploy/prometheus/rules" "$root/deploy/grafana")
[ -d "$root/deploy/k8s" ] && sources+=("$root/deploy/k8s")
echo "== metric names in ${sources[*]#"$root"/}"
python3 "$check" check "${pages[@]}" "${sources[@]}" ||
    fail "PromQL names metrics that no service exports (listed above)"

# The check must be able to fail, once for each kind of source.
mkdir -p "$tmp/bogus"
cat >"$tmp/bogus/rules.yml" <<'EOF'
groups:
  - name: bogus
    rules:
      - alert: Bogus
        expr: sum by (svc) (rate(kujo_bogus_total{svc="router"}[5m])) > 0
EOF
cat >"$tmp/bogus/dashboard.json" <<'EOF'
{"panels": [{"type": "timeseries", "title": "bogus", "gridPos": {},
  "targets": [{"refId": "A", "expr": "max(kujo_stage_latency_seconds{svc=~\"$svc\"})"}]}]}
EOF
cat >"$tmp/bogus/adapter.yaml" <<'EOF'
rules:
  - seriesQuery: '{__name__=~"^kujo_no_such_.*",namespace!=""}'
    metricsQuery: 'sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)'
EOF
for f in rules.yml:kujo_bogus_total dashboard.json:kujo_stage_latency_seconds \
    adapter.yaml:kujo_no_such_; do
    file=${f%%:*} name=${f#*:}
    if python3 "$check" check "${pages[@]}" "$tmp/bogus/$file" >"$tmp/bogus.out" 2>&1; then
        cat "$tmp/bogus.out"
        fail "the check passed $file, which names $name (not exported)"
    fi
    grep -q "$name" "$tmp/bogus.out" || {
        cat "$tmp/bogus.out"
        fail "the check failed $file without naming $name"
    }
done
echo "the check rejects unexported names in rules, dashboards and adapter rules"
echo "PASS: every metric in the alert rules, dashboard and adapter rules is exported"
