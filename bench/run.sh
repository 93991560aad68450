#!/usr/bin/env bash
# make bench: the whole pipeline on this machine (Redis with AOF everysec,
# one copy of each service, a real webhook receiver), and in the same run the
# raw ceilings of ZeroMQ and Redis. Writes bench/RESULTS.md and
# bench/results.json. Every load is bounded in count and time.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD/bin"
N_MAX=${BENCH_N:-20000}          # closed-loop complaints
RATE=${BENCH_RATE:-1000}         # open-loop rate
RATE_SECONDS=${BENCH_SECONDS:-10}
TMP=$(mktemp -d /tmp/kujo-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# N distinct free loopback ports, all held open while they are picked.
ports() { python3 -c 'import socket,sys
s=[socket.socket() for _ in range(int(sys.argv[1]))]
for x in s: x.bind(("127.0.0.1",0))
print(" ".join(str(x.getsockname()[1]) for x in s))' "$1"; }
ready() { for _ in $(seq 100); do curl -fs "http://$1/readyz" >/dev/null && return 0; sleep 0.1; done; echo "bench: $1 not ready" >&2; exit 1; }

read -r -a P <<<"$(ports 9)"
RP=${P[0]}
redis-server --bind 127.0.0.1 --port "$RP" --dir "$TMP" --save '' \
    --appendonly yes --appendfsync everysec >"$TMP/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$RP" ping >/dev/null 2>&1 && break; sleep 0.1; done
export KUJO_REDIS_URL="redis://127.0.0.1:$RP/0" KUJO_LOG_LEVEL=warn
export KUJO_RULES="$ROOT/deploy/rules.json" KUJO_MODELS="$ROOT/models"

echo "bench: raw ceilings" >&2
RAW=$("$BIN/kujo-bench-raw" "$KUJO_REDIS_URL" 200000 100000)
redis-cli -p "$RP" flushall >/dev/null

SINK=${P[1]}
"$BIN/kujo-webhook-sink" --addr "127.0.0.1:$SINK" --secret bench --log "$TMP/sink.log" &
pids+=($!)
export KUJO_WEBHOOK_URL="http://127.0.0.1:$SINK/alerts" KUJO_WEBHOOK_SECRET=bench
HTTP=${P[2]}
declare -A admin
i=3
for svc in ingest classifier router notifier analytics; do
    admin[$svc]=127.0.0.1:${P[i]}
    i=$((i + 1))
done
KUJO_HTTP_ADDR=127.0.0.1:$HTTP KUJO_ADMIN_ADDR=${admin[ingest]} "$BIN/kujo-ingest" >"$TMP/ingest.log" &
pids+=($!)
for svc in classifier router notifier; do
    KUJO_ADMIN_ADDR=${admin[$svc]} "$BIN/kujo-$svc" >"$TMP/$svc.log" &
    pids+=($!)
done
KUJO_HTTP_ADDR=127.0.0.1:${P[8]} KUJO_ADMIN_ADDR=${admin[analytics]} "$BIN/kujo-analytics" >"$TMP/analytics.log" &
pids+=($!)
for svc in ingest classifier router notifier analytics; do ready "${admin[$svc]}"; done
sleep 1.5 # registry heartbeats reach the upstream copies

URL=http://127.0.0.1:$HTTP
echo "bench: warm-up" >&2
"$BIN/kujo-bench-load" post "$URL" 500 32 0 "$TMP/warm.ids"
"$BIN/kujo-bench-load" collect "$URL" "$TMP/warm.ids" 60 >/dev/null

# Latency first, on a warmed-up but quiet pipeline: the closed loop leaves
# a backlog behind (analytics catching up, an AOF rewrite) that would be
# measured as latency of the next phase.
echo "bench: open loop, $RATE/s for $RATE_SECONDS s" >&2
"$BIN/kujo-bench-load" post "$URL" $((RATE * RATE_SECONDS)) 256 "$RATE" "$TMP/rate.ids"
AT=$("$BIN/kujo-bench-load" collect "$URL" "$TMP/rate.ids" 120)

echo "bench: closed loop, $N_MAX complaints" >&2
"$BIN/kujo-bench-load" post "$URL" "$N_MAX" 64 0 "$TMP/max.ids"
MAX=$("$BIN/kujo-bench-load" collect "$URL" "$TMP/max.ids" 300)

MACHINE="$(nproc) vCPU, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
jq -n --argjson raw "$RAW" --argjson max "$MAX" --argjson at "$AT" \
      --arg machine "$MACHINE" --arg date "$(date -u +%FT%TZ)" --argjson rate "$RATE" '{
    date: $date, machine: $machine, redis_aof: "everysec",
    complaints_per_s: $max.complaints_per_s,
    raw_zmq_3hop_per_s: $raw.raw_zmq_3hop_per_s,
    raw_redis_pipelined_per_s: $raw.raw_redis_pipelined_per_s,
    ratio_vs_zmq_3hop: ($max.complaints_per_s / $raw.raw_zmq_3hop_per_s),
    ratio_vs_redis_pipelined: ($max.complaints_per_s / $raw.raw_redis_pipelined_per_s),
    p50_ms_at_1k: $at.p50_ms, p99_ms_at_1k: $at.p99_ms, max_ms_at_1k: $at.max_ms,
    open_loop_rate: $rate,
    closed_loop: $max, open_loop: $at, raw: $raw}' >"$ROOT/bench/results.json"

jq -r '"# kujo benchmark results\n\n" +
  "Measured \(.date) on \(.machine); Redis with AOF (appendfsync \(.redis_aof)); one copy of each service; a real webhook receiver.\n\n" +
  "| measure | value | ratio |\n|---|---|---|\n" +
  "| full pipeline, HTTP in → delivered (closed loop, \(.closed_loop.n) complaints) | \(.complaints_per_s) complaints/s | |\n" +
  "| raw ZeroMQ, 3 hops with protobuf decode+encode per hop | \(.raw_zmq_3hop_per_s) msg/s | pipeline = \(.ratio_vs_zmq_3hop * 1000 | round / 10) % |\n" +
  "| raw Redis, HSET + XADD pipelined 100 at a time | \(.raw_redis_pipelined_per_s) msg/s | pipeline = \(.ratio_vs_redis_pipelined * 1000 | round / 10) % |\n" +
  "| end-to-end latency at \(.open_loop_rate)/s open loop, p50 | \(.p50_ms_at_1k) ms | |\n" +
  "| end-to-end latency at \(.open_loop_rate)/s open loop, p99 | \(.p99_ms_at_1k) ms | |\n\n" +
  "The open-loop phase runs first, after a warm-up, so it does not measure the backlog the closed loop leaves behind. End-to-end latency is ingest receiving the request → notifier getting the webhook 2xx, from the stage stamps kujo records in every envelope.\n\n" +
  "Goals (issue 3): ≥ 3,000 complaints/s with AOF on, p99 ≤ 20 ms at 1,000/s.\n"' \
  "$ROOT/bench/results.json" >"$ROOT/bench/RESULTS.md"
cat "$ROOT/bench/RESULTS.md"
