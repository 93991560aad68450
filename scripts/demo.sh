#!/usr/bin/env bash
# make demo: install what is missing, build, run the whole pipeline on
# examples/complaints.ndjson with a private redis-server and a local webhook
# receiver on free loopback ports, print what kujo made of each complaint and
# the analytics summary, then stop everything it started.
#   BUILD=build-x scripts/demo.sh   use another build directory
#   KEEP=1 scripts/demo.sh          keep the logs directory afterwards
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
BIN="$ROOT/$BUILD/bin"
INPUT=${INPUT:-$ROOT/examples/complaints.ndjson}
PREFIX=demo
SECRET="demo-$RANDOM$RANDOM"
TIMEOUT_S=60 # bound on waiting for the pipeline to finish

say() { printf '%s\n' "$*" >&2; }
now_ms() {
    local t=${EPOCHREALTIME/[.,]/}
    echo $((t / 1000))
}

cd "$ROOT"
"$ROOT/scripts/deps.sh"
say "demo: building into $BUILD/"
cmake -S . -B "$BUILD" >/dev/null
cmake --build "$BUILD" -j "$(nproc)" >/dev/null

TMP=$(mktemp -d /tmp/kujo-demo.XXXXXX)
infra=()  # redis and the webhook receiver: stopped last
svcs=()   # the five services
declare -A pid_of
failed=0

# TERM a list of pids, wait up to 5 s for them, then KILL what is left.
stop_pids() {
    [ $# -gt 0 ] || return 0
    kill -TERM "$@" 2>/dev/null || true
    local deadline=$(($(now_ms) + 5000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        local alive=0 p
        for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    kill -KILL "$@" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Services first (they drain into Redis), then Redis and the receiver.
    stop_pids "${svcs[@]}"
    stop_pids "${infra[@]}"
    wait 2>/dev/null || true
    if [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
        say ""
        say "demo: FAILED (exit $rc)."
        for f in "$TMP"/*.log; do
            [ -s "$f" ] || continue
            say "----- $(basename "$f") (last 10 lines)"
            tail -n 10 "$f" >&2
        done
        say "demo: logs kept in $TMP"
    elif [ -n "${KEEP:-}" ]; then
        say "demo: logs kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say ""; say "demo: interrupted"; exit 130' INT TERM

die() {
    say ""
    say "demo: $*"
    failed=1
    exit 1
}

# Eleven distinct free loopback ports, found in one go (python3 starts
# slowly on small machines): redis, receiver, five admin ports, two HTTP
# APIs, the mail server, the Slack stand-in.
mapfile -t PORTS < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(11)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))')
[ ${#PORTS[@]} -eq 11 ] || die "could not find free ports"

# start KIND NAME CMD...: run in the background, output to $TMP/NAME.log.
start() {
    local kind=$1 name=$2
    shift 2
    "$@" >"$TMP/$name.log" 2>&1 &
    pid_of[$name]=$!
    if [ "$kind" = infra ]; then infra+=($!); else svcs+=($!); fi
}

ccurl() { curl --noproxy '*' -s --max-time 5 "$@"; }

# wait_ready NAME ADMIN: until GET /readyz is 200, at most 15 s.
wait_ready() {
    local name=$1 addr=$2 deadline=$(($(now_ms) + 15000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        kill -0 "${pid_of[$name]}" 2>/dev/null ||
            die "kujo-$name exited at start-up (see $TMP/$name.log)"
        ccurl -f "http://$addr/readyz" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "kujo-$name is not ready after 15 s (see $TMP/$name.log)"
}

# Redis, private to this run.
RP=${PORTS[0]}
start infra redis redis-server --bind 127.0.0.1 --port "$RP" --dir "$TMP" \
    --save '' --appendonly no
deadline=$(($(now_ms) + 5000))
until redis-cli -p "$RP" ping >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || die "redis-server did not start"
    sleep 0.1
done

# The team's webhook: a real receiver that checks every signature.
SINK=${PORTS[1]}
start infra webhook-sink "$BIN/kujo-webhook-sink" --addr "127.0.0.1:$SINK" \
    --secret "$SECRET" --log "$TMP/alerts.ndjson"

# The customers' mail server: a real SMTP server (aiosmtpd) that stores
# what it receives, so the acknowledgements e-mailed to customers can be
# read back below.
SMTP=${PORTS[9]}
mkdir -p "$TMP/mail"
start infra smtp /usr/bin/python3 "$ROOT/tests/support/smtp_sink.py" "$SMTP" "$TMP/mail"

# tech-ops reads Slack: a stand-in for a Slack incoming webhook (it keeps
# each body) and the shipped rules with tech-ops's webhook in Slack's
# format (README "Slack").
SLACK=${PORTS[10]}
mkdir -p "$TMP/slack"
start infra slack python3 -c '
import http.server, sys, os
n = [0]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        n[0] += 1
        with open(os.path.join(sys.argv[2], "%05d.json" % n[0]), "wb") as f:
            f.write(body)
        self.send_response(200); self.send_header("Content-Length", "2")
        self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$SLACK" "$TMP/slack"
RULES="$TMP/rules.json"
jq --arg url "http://127.0.0.1:$SLACK/services/T0/B0/demo" \
    '(.teams[] | select(.name == "tech-ops")) += {webhook: $url, webhook_format: "slack"}' \
    "$ROOT/deploy/rules.json" >"$RULES" || die "could not write $RULES"

export KUJO_REDIS_URL="redis://127.0.0.1:$RP/0" KUJO_PREFIX=$PREFIX
export KUJO_LOG_LEVEL=info KUJO_DRAIN_MS=2000
declare -A admin
i=2
for svc in ingest classifier router notifier analytics; do
    admin[$svc]=127.0.0.1:${PORTS[$i]}
    i=$((i + 1))
done
HTTP=127.0.0.1:${PORTS[7]}
STATS=127.0.0.1:${PORTS[8]}
say "demo: starting redis, a webhook receiver and the five services (logs in $TMP)"
KUJO_ADMIN_ADDR=${admin[notifier]} KUJO_RULES="$RULES" KUJO_WEBHOOK_URL="http://127.0.0.1:$SINK/alerts" \
    KUJO_WEBHOOK_SECRET=$SECRET KUJO_SMTP_URL="smtp://127.0.0.1:$SMTP" \
    KUJO_SMTP_FROM="kujo care <care@kujo.example>" KUJO_SMTP_TLS=off \
    KUJO_CASE_URL="http://$HTTP/v1/cases/{case_id}" start svc notifier "$BIN/kujo-notifier"
for svc in router classifier; do
    KUJO_ADMIN_ADDR=${admin[$svc]} KUJO_RULES="$RULES" \
        KUJO_MODELS="$ROOT/models" start svc "$svc" "$BIN/kujo-$svc"
done
# The router again later, its SLA clock $1 ms ahead: the demo's simulated
# time (KUJO_CLOCK_OFFSET_MS; tests and demos only).
restart_router() {
    stop_pids "${pid_of[router]}"
    KUJO_ADMIN_ADDR=${admin[router]} KUJO_RULES="$RULES" \
        KUJO_MODELS="$ROOT/models" KUJO_CLOCK_OFFSET_MS=$1 \
        start svc router "$BIN/kujo-router"
    wait_ready router "${admin[router]}"
}
KUJO_ADMIN_ADDR=${admin[analytics]} KUJO_RULES="$RULES" KUJO_HTTP_ADDR=$STATS \
    start svc analytics "$BIN/kujo-analytics"
# The LINE and Meta webhook secrets turn on /v1/inbound/{line,meta}.
LINE_SECRET="line-$RANDOM$RANDOM" META_SECRET="meta-$RANDOM$RANDOM"
KUJO_ADMIN_ADDR=${admin[ingest]} KUJO_HTTP_ADDR=$HTTP KUJO_RULES="$RULES" \
    KUJO_LINE_CHANNEL_SECRET=$LINE_SECRET KUJO_META_APP_SECRET=$META_SECRET \
    start svc ingest "$BIN/kujo-ingest"

for svc in notifier router classifier analytics ingest; do
    wait_ready "$svc" "${admin[$svc]}"
done
# The stages find each other through the registry in Redis; wait until
# each has announced itself and its upstream has connected, so the first
# complaints flow at once instead of waiting for a lease to run out.
for stage in classifier router notifier; do
    deadline=$(($(now_ms) + 10000))
    while :; do
        n=$(redis-cli -p "$RP" zcount "$PREFIX:reg:$stage" "$(now_ms)" +inf 2>/dev/null || echo 0)
        [ "${n:-0}" -ge 1 ] && break
        [ "$(now_ms)" -lt "$deadline" ] || die "kujo-$stage did not register in Redis"
        sleep 0.1
    done
done
for svc in ingest classifier router; do
    deadline=$(($(now_ms) + 3000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        page=$(ccurl "http://${admin[$svc]}/metrics" || true)
        grep -Eq '^kujo_downstream_peers(\{[^}]*\})? [1-9]' <<<"$page" && break
        sleep 0.1
    done
done

# An API key, as an operator makes one: ingest checks keys (KUJO_AUTH=keys
# is the default). kujo-admin prints it alone on its last line; it goes to
# a header file, never onto a command line (visible in /proc/PID/cmdline).
KEY=$("$BIN/kujo-admin" key create --tenant default \
    --scopes complaints:write,complaints:read,agents,admin --name demo | tail -n 1) ||
    die "kujo-admin key create failed"
AUTH="$TMP/auth.header"
(umask 077 && printf 'Authorization: Bearer %s\n' "$KEY" >"$AUTH")
unset KEY
say "demo: made an API key for tenant default (kujo-admin key create)"

# The care team: agents per team, by language (PUT /v1/agents/{id}).
api() { # METHOD PATH [BODY]
    if [ $# -ge 3 ]; then
        ccurl -X "$1" -H "@$AUTH" -H 'Content-Type: application/json' \
            --data-binary "$3" "http://$HTTP$2"
    else
        ccurl -H "@$AUTH" "http://$HTTP$2"
    fi
}
agent() { # ID NAME TEAMS LANGUAGES
    api PUT "/v1/agents/$1" "{\"name\":\"$2\",\"teams\":$3,\"languages\":$4,\"capacity\":10,\"status\":\"online\"}" >/dev/null ||
        die "PUT /v1/agents/$1 failed"
}
agent aiko "Aiko Sato" '["social-media","care-ja"]' '["ja"]'
agent emma "Emma Stone" '["social-media","care-en"]' '["en"]'
agent kenji "Kenji Ito" '["billing","tech-ops","trust-safety"]' '["ja"]'
agent liam "Liam Park" '["billing","tech-ops","trust-safety","care-en"]' '["en"]'
say "demo: put 4 agents on the roster (GET /v1/agents lists them)"

# Post every complaint: one curl, one request (and one answer file) each.
args=()
total=0
while IFS= read -r line || [ -n "$line" ]; do
    [ -z "${line// /}" ] && continue
    total=$((total + 1))
    printf '%s' "$line" >"$TMP/post-$total.json"
    [ "$total" -gt 1 ] && args+=(--next)
    args+=(--noproxy '*' -s --max-time 10 -o "$TMP/answer-$total.json"
        -w '%{http_code}\n' -H 'Content-Type: application/json' -H "@$AUTH"
        -H "Idempotency-Key: demo-$total" --data-binary "@$TMP/post-$total.json"
        "http://$HTTP/v1/complaints")
done <"$INPUT"
[ "$total" -gt 0 ] || die "no complaints in $INPUT"
mapfile -t codes < <(curl "${args[@]}" || true)
ids=()
for n in $(seq "$total"); do
    code=${codes[$((n - 1))]:-000}
    if [ "$code" != 202 ] && [ "$code" != 200 ]; then
        die "POST #$n answered $code: $(cat "$TMP/answer-$n.json" 2>/dev/null)"
    fi
    ids+=("$(jq -r .id "$TMP/answer-$n.json")")
done
say "demo: posted $total complaints from ${INPUT#"$ROOT"/}"

# Platforms push complaints too: a LINE message and a comment on the
# company's Facebook page, signed the way LINE and Meta sign them.
inbound() { # ADAPTER SIGNATURE_HEADER BODY
    local answer
    answer=$(ccurl -X POST -H 'Content-Type: application/json' -H "$2" \
        --data-binary "$3" "http://$HTTP/v1/inbound/$1") ||
        die "POST /v1/inbound/$1 failed"
    jq -e '.ids | length == 1' <<<"$answer" >/dev/null ||
        die "POST /v1/inbound/$1 answered $answer"
    ids+=("$(jq -r '.ids[0]' <<<"$answer")")
    total=$((total + 1))
}
body='{"destination":"Udemo","events":[{"type":"message","message":{"type":"text","id":"500100","text":"昨日からアプリで注文履歴が表示されません。再インストールしても同じです。確認をお願いします。"},"webhookEventId":"01DEMO'"$RANDOM"'LINE","deliveryContext":{"isRedelivery":false},"timestamp":'"$(now_ms)"',"source":{"type":"user","userId":"Udemo00000000000000000000000000001"},"replyToken":"demo"}]}'
inbound line "x-line-signature: $(printf '%s' "$body" | openssl dgst -sha256 -hmac "$LINE_SECRET" -binary | base64)" "$body"
body='{"object":"page","entry":[{"id":"1048576","time":'"$(($(now_ms) / 1000))"',"changes":[{"field":"feed","value":{"item":"comment","verb":"add","from":{"id":"7781234","name":"Jane Doe"},"message":"Charged twice for my subscription this month and nobody answers the support chat. Fix this.","post_id":"1048576_222","comment_id":"222_'"$RANDOM"'","created_time":'"$(($(now_ms) / 1000))"'}}]}]}'
inbound meta "X-Hub-Signature-256: sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$META_SECRET" | sed 's/^.*= //')" "$body"
say "demo: a LINE message and a Facebook comment came in through signed webhooks (/v1/inbound/line, /v1/inbound/meta)"

# E-mail, as an inbound-mail relay hands it over: raw messages with a key
# that may only post mail (inbound:email). A Japanese complaint in
# ISO-2022-JP, an English reply with quoted history, and an out-of-office
# that is kept with its noise label and never answered (no mail loop).
MAILAUTH="$TMP/mail.header"
(umask 077 && printf 'Authorization: Bearer %s\n' "$("$BIN/kujo-admin" key create \
    --tenant default --scopes inbound:email --name demo-relay | tail -n 1)" >"$MAILAUTH")
for eml in iso2022jp.eml gmail_reply_en.eml ooo_ja.eml; do
    answer=$(ccurl -X POST -H 'Content-Type: message/rfc822' -H "@$MAILAUTH" \
        --data-binary "@$ROOT/tests/data/email/$eml" "http://$HTTP/v1/inbound/email") ||
        die "POST /v1/inbound/email ($eml) failed"
    jq -e '.ids | length == 1' <<<"$answer" >/dev/null ||
        die "POST /v1/inbound/email ($eml) answered $answer"
    ids+=("$(jq -r '.ids[0]' <<<"$answer")")
    total=$((total + 1))
done
say "demo: 3 e-mails came in raw (/v1/inbound/email): ISO-2022-JP, a quoted reply, an out-of-office (team noise: never acknowledged)"

# Follow them until each is delivered or dead.
urls() { local id; for id in "$@"; do printf 'http://%s/v1/complaints/%s\n' "$HTTP" "$id"; done; }
declare -A final
deadline=$(($(now_ms) + TIMEOUT_S * 1000))
while :; do
    pending=()
    for id in "${ids[@]}"; do [ -n "${final[$id]:-}" ] || pending+=("$id"); done
    if [ ${#pending[@]} -gt 0 ]; then
        # One curl for all of them; jq reads the stream of records.
        while IFS=$'\t' read -r id st; do
            case "$st" in delivered | dead) final[$id]=$st ;; esac
        done < <(urls "${pending[@]}" | xargs curl --noproxy '*' -s --max-time 10 -H "@$AUTH" |
            jq -r '[.id, .state] | @tsv' 2>/dev/null || true)
    fi
    delivered=0
    dead=0
    for id in "${ids[@]}"; do
        case "${final[$id]:-}" in
        delivered) delivered=$((delivered + 1)) ;;
        dead) dead=$((dead + 1)) ;;
        esac
    done
    printf '\rdemo: delivered %d/%d, dead %d ' "$delivered" "$total" "$dead" >&2
    [ $((delivered + dead)) -ge "$total" ] && break
    [ "$(now_ms)" -lt "$deadline" ] ||
        die "only $delivered of $total delivered after ${TIMEOUT_S} s"
    sleep 0.2
done
printf '\n\n' >&2

# What kujo made of each complaint.
row() { printf '%-8s  %-10s  %-4s  %-15s  %-8s  %-12s  %-4s  %-5s  %-9s  %6s  %-6s  %-6s  %s\n' "$@"; }
row id channel lang category urgency team prio due state e2e_ms case agent ack
row -------- ---------- ---- --------------- -------- ------------ ---- ----- --------- ------ ------ ------ ---
while IFS=$'\t' read -r a b c d e f g h i j k l m; do
    row "$a" "$b" "$c" "$d" "$e" "$f" "$g" "$h" "$i" "$j" "$k" "$l" "$m"
done < <(urls "${ids[@]}" | xargs curl --noproxy '*' -s --max-time 10 -H "@$AUTH" | jq -r '[
        (.id // "?" | .[-8:]),
        (.channel // "-"),
        (.triage.language // "-"),
        (.triage.category // "-"),
        (.triage.urgency // "-"),
        (.assignment.team // "-"),
        (.assignment.priority // "-"),
        (.assignment.due_at // "" | if . == "" then "-" else .[11:16] end),
        (.state // "-"),
        (.e2e_ms // "-" | tostring),
        (.case_id // "-" | .[-6:]),
        (.assignment.assignee // "-"),
        (.assignment.ack_template // "-" | if . == "" then "-" else . end)] | @tsv')
printf '(id, case: last hex digits; due: first reply due, HH:MM UTC; e2e_ms: ingest in -> webhook answered;\n ack: the playbook acknowledgement sent to the customer, - for none: vague, abusive, noise or spam (team noise/spam), or no template)\n\n'

alerts=$(wc -l <"$TMP/alerts.ndjson" 2>/dev/null || echo 0)
signed=$(jq -s '[.[] | select(.signature_ok == true)] | length' "$TMP/alerts.ndjson" 2>/dev/null || echo 0)
printf 'webhook receiver: %s deliveries (alerts and the outbox), %s with a valid Kujo-Signature\n\n' "$alerts" "$signed"

# Analytics reads the event streams on its own schedule; give it a moment
# to count what was delivered.
stats=""
deadline=$(($(now_ms) + 10000))
while :; do
    stats=$(ccurl -H @"$AUTH" "http://$STATS/v1/stats" || true)
    got=$(jq -r '.delivered // 0' <<<"$stats" 2>/dev/null || echo 0)
    [ "${got:-0}" -ge "$delivered" ] && break
    if [ "$(now_ms)" -ge "$deadline" ]; then
        say "demo: analytics counted $got of $delivered delivered after 10 s"
        break
    fi
    sleep 0.2
done
printf 'analytics (GET /v1/stats):\n'
jq . <<<"$stats" || die "analytics answered no JSON: $stats"

# The SLA clocks, with simulated time: the agents answer every case but
# one public post on the social desk; two hours later (the router's clock
# offset) that one has breached its 60-minute first response: warning,
# breach, priority up, escalation to the team lead.
mapfile -t cases < <(urls "${ids[@]}" | xargs curl --noproxy '*' -s --max-time 10 -H "@$AUTH" |
    jq -r 'select(.case_id != null) | [.case_id, (.assignment.team // ""), (.assignment.assignee // "")] | @tsv' | sort -u)
late=""
for c in "${cases[@]}"; do
    IFS=$'\t' read -r cid team who <<<"$c"
    if [ -z "$late" ] && [ "$team" = social-media ] && [ -n "$who" ]; then
        late=$cid
        continue
    fi
    # A case nobody could take (no agent speaks its language) is answered
    # by a team member all the same.
    [ -n "$who" ] || who=liam
    [ "$team" = social-media ] && [ "$who" = liam ] && who=emma
    [ "$team" = care-ja ] && [ "$who" = liam ] && who=aiko
    api POST "/v1/cases/$cid/events" "{\"type\":\"reply\",\"agent\":\"$who\",\"text\":\"Looking into it now.\"}" >/dev/null
done
[ -n "$late" ] || die "no assigned social-media case to leave unanswered"
say "demo: the agents answered every case but $late; moving the router's clock 2 hours on"
restart_router 7200000
deadline=$(($(now_ms) + 20000))
until api GET "/v1/cases/$late" | jq -e '.timeline | map(.type) | index("escalation")' >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || die "case $late was not escalated"
    sleep 0.2
done
printf 'case %s (GET /v1/cases/%s): status, assignee, priority, clocks and timeline:\n' "$late" "$late"
api GET "/v1/cases/$late" | jq -r '"  status \(.status), assignee \(.assignee), team \(.team), priority \(.priority), first response \(.clocks.first_response.state)",
    (.timeline[] | "  \(.at[11:19])  \(.type)\(if .clock then " " + .clock else "" end)\(if .to then " -> " + .to else "" end)\(if .agent then " (" + .agent + ")" else "" end)")'
printf '\n'
# Deliveries by kind at the receiver (team alerts, acknowledgements,
# warnings, escalations), after a moment for the outbox.
sleep 2
printf 'webhook deliveries by kind: '
jq -s -r 'group_by(.kind) | map("\(.[0].kind) \(length)") | join(", ")' "$TMP/alerts.ndjson"
printf '\n'

# The customers who wrote by e-mail got their acknowledgement by e-mail:
# what the mail server stored, read back with a real MIME parser.
deadline=$(($(now_ms) + 10000))
until ls "$TMP"/mail/*.eml >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || die "no acknowledgement reached the mail server"
    sleep 0.2
done
mails=$(ls "$TMP"/mail/*.eml | wc -l)
printf 'mail server: %s acknowledgements e-mailed to customers; one of them (Python email, policy.default):\n' "$mails"
for m in "$TMP"/mail/*.eml; do
    python3 "$ROOT/tests/support/mail_parse.py" "$m" >"$TMP/mail.json" || continue
    # The Japanese one that answers a customer's own e-mail, if any.
    jq -e '.in_reply_to != "" and (.subject | test("[^\\x00-\\x7F]"))' "$TMP/mail.json" >/dev/null && break
done
jq -r '"  Subject: \(.subject)\n  To: \(.to | join(", ") | sub("^[^@]*"; "…"))  In-Reply-To: \(.in_reply_to)  Auto-Submitted: \(.auto_submitted)\n  " + (.body | split("\n") | map(select(length > 0)) | .[0:3] | join("\n  "))' "$TMP/mail.json"
printf '\n'

# tech-ops's alerts went to its Slack webhook as Block Kit.
slack=$(ls "$TMP"/slack/*.json 2>/dev/null | wc -l)
[ "$slack" -gt 0 ] || die "no Block Kit message reached the Slack stand-in"
printf 'Slack (team tech-ops, webhook_format slack): %s Block Kit messages; the first:\n' "$slack"
jq -r '"  text: \(.text)", "  blocks: \([.blocks[].type] | join(", "))", "  button: \([.blocks[] | select(.type == "actions") | .elements[].url] | first // "-")"' \
    "$(ls "$TMP"/slack/*.json | head -n 1)"
printf '\n'

# An outage: the operator opens an incident on analytics, and everyone who
# complained about one in the last hour hears from us before they ask
# again, on the channel they wrote from, in their language.
from=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
incident=$(ccurl -X POST -H "@$AUTH" -H 'Content-Type: application/json' \
    -H "Idempotency-Key: demo-outage" --data-binary '{"category": "outage",
      "window": {"from": "'"$from"'"}, "title": "App outage",
      "message": {"ja": "現在アプリに障害が発生しており、復旧作業を進めております。ご迷惑をおかけし申し訳ございません。",
                  "en": "Our app is having an outage and we are working on it. We are sorry for the trouble."}}' \
    "http://$STATS/v1/incidents") || die "POST /v1/incidents failed"
iid=$(jq -r '.id // empty' <<<"$incident")
owed=$(jq -r '.members_total // 0' <<<"$incident")
[ -n "$iid" ] && [ "$owed" -gt 0 ] || die "POST /v1/incidents answered $incident"
deadline=$(($(now_ms) + 20000))
while :; do
    hooks=$(jq -s '[.[] | select(.kind == "incident_notice")] | length' "$TMP/alerts.ndjson")
    # The mail's Message-ID carries its job id: <kujo.<job>@...>.
    mailed=$(grep -l -s 'incident_notice' "$TMP"/mail/*.eml | wc -l)
    [ $((hooks + mailed)) -ge "$owed" ] && break
    [ "$(now_ms)" -lt "$deadline" ] || die "only $((hooks + mailed)) of $owed incident notices went out"
    sleep 0.2
done
printf 'incident %s (POST /v1/incidents, category outage): %s affected customers told first — %s by their channel'"'"'s webhook, %s by e-mail\n\n' \
    "$iid" "$owed" "$hooks" "$mailed"

[ "$dead" -eq 0 ] || die "$dead complaints were dead-lettered"
say ""
say "demo: done"
