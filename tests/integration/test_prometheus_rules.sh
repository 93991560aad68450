#!/usr/bin/env bash
# deploy/prometheus and deploy/grafana, checked with Prometheus' own tools:
#   - promtool check config on prometheus.yml and prometheus-k8s.yml, and
#     each config's relabelling run (promtool check service-discovery) on
#     simulated Docker DNS answers and Kubernetes pods;
#   - promtool check rules, promtool test rules, and that the tests make
#     every alert fire and stay quiet and fail without it;
#   - yamllint; the Grafana dashboard's structure; the syntax of the
#     dashboard's PromQL and of the prometheus-adapter rules under
#     deploy/k8s (through promtool check rules); the PromQL tokenizer.
#   usage: test_prometheus_rules.sh BUILD_DIR   (the build is not needed)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
prom="$root/deploy/prometheus"
dash="$root/deploy/grafana/kujo-dashboard.json"
tools="$prom/tools"

fail() {
    echo "FAIL: $*"
    exit 1
}
step() { echo "== $*"; }

for tool in promtool python3 jq yamllint; do
    command -v "$tool" >/dev/null ||
        fail "$tool is needed (scripts/deps.sh installs it)"
done
python3 -c 'import yaml' 2>/dev/null || fail "python3-yaml is needed"

tmp=$(mktemp -d /tmp/kujo-prom-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

step "promtool check config prometheus.yml (docker compose)"
promtool check config "$prom/prometheus.yml" || fail "prometheus.yml is invalid"

step "promtool check config prometheus-k8s.yml (Kubernetes)"
if promtool check config "$prom/prometheus-k8s.yml" >"$tmp/k8s.out" 2>&1; then
    cat "$tmp/k8s.out"
elif grep -q 'kubernetes_sd_configs not found' "$tmp/k8s.out"; then
    # Debian builds Prometheus without Kubernetes discovery; the
    # simulated check below still runs everything else through promtool.
    echo "this promtool has no Kubernetes discovery (Debian's build):"
    echo "checking the config with the discovery replaced by simulated pods"
else
    cat "$tmp/k8s.out"
    fail "prometheus-k8s.yml is invalid"
fi

step "relabelling of discovered targets (promtool check service-discovery)"
python3 "$tools/sd_check.py" "$prom/prometheus.yml" "$prom/tests/compose-dns.yml" ||
    fail "prometheus.yml does not label compose targets as the rules expect"
python3 "$tools/sd_check.py" "$prom/prometheus-k8s.yml" "$prom/tests/k8s-pods.yml" ||
    fail "prometheus-k8s.yml does not label pods as the rules expect"

step "promtool check rules"
promtool check rules "$prom"/rules/*.yml || fail "rule files are invalid"

step "promtool test rules"
promtool test rules "$prom/tests/kujo-alerts.test.yml" ||
    fail "alert unit tests failed"

step "every alert fires and stays quiet in a test, and the tests fail without it"
python3 "$tools/alert_coverage.py" "$prom/tests/kujo-alerts.test.yml" ||
    fail "alert unit tests do not cover every alert"

step "yamllint"
if [ -f "$root/.yamllint" ]; then
    (cd "$root" && yamllint --strict deploy/prometheus) || fail "yamllint"
else
    yamllint --strict -d '{extends: default, rules: {line-length: {max: 120},
        document-start: disable}}' "$prom" || fail "yamllint"
fi

step "Grafana dashboard"
jq -e . "$dash" >/dev/null || fail "$dash is not JSON"
# Grafana 9/10 schema, a Prometheus data source variable that every panel
# and query uses, unique panel ids, and at least one query per panel.
problems=$(jq -r '
    def panels: .panels[] | (., (.panels // [])[]);
    (if .schemaVersion < 36 then "schemaVersion \(.schemaVersion) is older than Grafana 9" else empty end),
    (if ([.templating.list[] | select(.type == "datasource" and .query == "prometheus" and .name == "datasource")] | length) != 1
     then "no Prometheus data source variable named datasource" else empty end),
    ([panels | .id] | group_by(.) | map(select(length > 1) | "panel id \(.[0]) is used twice")[]),
    (panels | select(.type != "row") |
        (if .datasource.uid != "${datasource}" then "panel \(.title): data source is not ${datasource}" else empty end),
        (if ((.targets // []) | length) == 0 then "panel \(.title): no query" else empty end),
        (.targets[]? | select(.datasource.uid != "${datasource}" or ((.expr // "") == ""))
            | "panel: a query without expr or without the ${datasource} data source"),
        (if .gridPos.x + .gridPos.w > 24 then "panel \(.title): wider than the grid" else empty end))
' "$dash")
[ -z "$problems" ] || fail "dashboard: $problems"

step "PromQL syntax of the dashboard and of deploy/k8s (prometheus-adapter)"
promql=("$dash")
[ -d "$root/deploy/k8s" ] && promql+=("$root/deploy/k8s")
python3 "$tools/promql_names.py" rules-file "${promql[@]}" >"$tmp/promql.yml"
promtool check rules "$tmp/promql.yml" ||
    fail "PromQL that Prometheus cannot parse (source label above)"

step "PromQL tokenizer self-test"
python3 "$tools/promql_names.py" self-test || fail "tokenizer self-test"

echo "PASS: deploy/prometheus and deploy/grafana"
