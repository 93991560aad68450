#!/usr/bin/env bash
# The Kubernetes manifests (deploy/k8s): yamllint; the rules ConfigMap's
# file equal to deploy/rules.json; every base file listed in its
# kustomization; the base, overlays/custom-metrics and overlays/secret-env
# rendered by kustomize (kubectl kustomize); every object, rendered and
# per file, validated against the Kubernetes API schema (kubernetes-models,
# pinned in tests/npm); kujo's own contract (probes on the admin port,
# resources, the pod IP advertised for ZeroMQ, Prometheus annotations,
# autoscalers, disruption budgets, Redis with AOF on a volume, ZeroMQ
# CURVE keys from the Secret kujo-curve); the
# prometheus-adapter rules against the autoscalers, their PromQL parsed by
# promtool. Then each checker is fed broken input and must fail.
#   usage: test_k8s_manifests.sh BUILD_DIR   (the build is not used)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
k8s="$root/deploy/k8s"
npmdir="$root/tests/npm"
tmp=$(mktemp -d /tmp/kujo-k8s.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

checks=0
ok() {
    checks=$((checks + 1))
    echo "ok: $*"
}
fail() {
    echo "FAIL: $*"
    exit 1
}

# Missing tools fail the test, never skip it: scripts/deps.sh installs
# all of them (node and npm from Debian when the machine has none).
for tool in node npm yamllint promtool; do
    command -v "$tool" >/dev/null ||
        fail "$tool is not installed (run scripts/deps.sh)"
done
want=$(sha256sum "$npmdir/package-lock.json" | cut -d' ' -f1)
have=$(cat "$npmdir/node_modules/.kujo-lock.sha256" 2>/dev/null || true)
[ "$want" = "$have" ] ||
    fail "tests/npm/node_modules is missing or older than package-lock.json (run scripts/deps-npm.sh)"
validate() { node "$npmdir/validate-k8s.mjs" "$@"; }
contract() { node "$npmdir/k8s-contract.mjs" "$@"; }

# expect_fail WHAT PATTERN CMD...: CMD must exit non-zero and print
# PATTERN (a fixed string), which proves the checker can fail and says why.
expect_fail() {
    local what=$1 pattern=$2
    shift 2
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    [ "$rc" -ne 0 ] || fail "$what: the checker passed broken input"
    grep -qF -- "$pattern" <<<"$out" ||
        fail "$what: the checker failed without saying \"$pattern\"; it said: $out"
    ok "$what is caught"
}

# --- lint and files ------------------------------------------------------
yamllint -c "$root/.yamllint" -s -f parsable "$k8s" ||
    fail "yamllint found problems in deploy/k8s (above)"
ok "yamllint deploy/k8s"

cmp -s "$root/deploy/rules.json" "$k8s/base/rules.json" ||
    fail "deploy/k8s/base/rules.json differs from deploy/rules.json: kustomize reads only files under deploy/k8s, so copy it: cp deploy/rules.json deploy/k8s/base/rules.json"
ok "base/rules.json is deploy/rules.json"

# Every manifest in base/ is in its kustomization, and every file the
# kustomization lists exists.
listed=$(sed -n 's/^  - \([A-Za-z0-9_.-]*\.\(yaml\|json\|env\)\)$/\1/p' \
    "$k8s/base/kustomization.yaml")
for f in "$k8s"/base/*.yaml; do
    name=$(basename "$f")
    [ "$name" = kustomization.yaml ] && continue
    grep -qx "$name" <<<"$listed" ||
        fail "deploy/k8s/base/$name is not listed in base/kustomization.yaml"
done
for name in $listed; do
    [ -f "$k8s/base/$name" ] ||
        fail "base/kustomization.yaml lists $name, which does not exist"
done
ok "base/kustomization.yaml lists every base file"

# Each base manifest on its own, so a schema error names its source line.
files=()
for f in "$k8s"/base/*.yaml; do
    [ "$(basename "$f")" = kustomization.yaml ] || files+=("$f")
done
validate "${files[@]}" || fail "a base manifest does not match the Kubernetes API schema (above)"
ok "base manifests match the Kubernetes API schema"

# --- rendered by kustomize ----------------------------------------------
# kubectl carries kustomize; components (custom-metrics) need v4 or newer
# (Debian 12's kubectl 1.20 has v2). Without one, rendering is not
# possible and the per-file checks above are what remains.
kver=""
if command -v kubectl >/dev/null; then
    kver=$(kubectl version --client -o json 2>/dev/null |
        node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).kustomizeVersion||"")}catch{console.log("")}})') ||
        kver=""
fi
if [[ "$kver" =~ ^v([0-9]+)\. ]] && [ "${BASH_REMATCH[1]}" -ge 4 ]; then
    render() { kubectl kustomize "$1" >"$2" || fail "kubectl kustomize $1 failed (above)"; }
    render "$k8s" "$tmp/base.yaml"
    render "$k8s/overlays/custom-metrics" "$tmp/custom.yaml"
    # The secret-env overlay reads a git-ignored secret.env: render a copy
    # with the example in its place.
    cp -r "$k8s" "$tmp/k8s"
    cp "$tmp/k8s/overlays/secret-env/secret.env.example" "$tmp/k8s/overlays/secret-env/secret.env"
    render "$tmp/k8s/overlays/secret-env" "$tmp/secret-env.yaml"
    ok "kustomize $kver rendered deploy/k8s and both overlays"

    validate --label "kustomize deploy/k8s" "$tmp/base.yaml" ||
        fail "the rendered deploy/k8s does not match the Kubernetes API schema (above)"
    validate --label "kustomize overlays/custom-metrics" "$tmp/custom.yaml" ||
        fail "the rendered overlays/custom-metrics does not match the Kubernetes API schema (above)"
    validate --label "kustomize overlays/secret-env" "$tmp/secret-env.yaml" ||
        fail "the rendered overlays/secret-env does not match the Kubernetes API schema (above)"
    ok "every rendered object matches the Kubernetes API schema"

    contract base "$tmp/base.yaml" || fail "deploy/k8s breaks kujo's deployment contract (above)"
    contract custom "$tmp/custom.yaml" || fail "overlays/custom-metrics breaks kujo's deployment contract (above)"
    contract base "$tmp/secret-env.yaml" || fail "overlays/secret-env breaks kujo's deployment contract (above)"
    ok "kujo's deployment contract holds"

    # The generated Secret exists and the notifier reads that one.
    secret=$(sed -n 's/^  name: \(kujo-secrets-[a-z0-9]*\)$/\1/p' "$tmp/secret-env.yaml")
    [ -n "$secret" ] || fail "overlays/secret-env made no Secret kujo-secrets-<hash>"
    [ "$(grep -c "name: $secret\$" "$tmp/secret-env.yaml")" -ge 2 ] ||
        fail "no Deployment in overlays/secret-env reads the generated Secret $secret"
    ok "overlays/secret-env generates $secret and the Deployments read it"

    node "$npmdir/adapter-rules.mjs" "$k8s/custom-metrics/prometheus-adapter-rules.yaml" \
        "$tmp/custom.yaml" "$tmp/adapter-promql.yml" ||
        fail "prometheus-adapter-rules.yaml does not serve the autoscalers' metrics (above)"
    promtool check rules "$tmp/adapter-promql.yml" >"$tmp/promtool.out" 2>&1 ||
        fail "promtool cannot parse the adapter's PromQL: $(cat "$tmp/promtool.out")"
    ok "the adapter serves every custom metric and its PromQL parses"
    rendered=1
else
    echo "NOTE: no kubectl with kustomize v4+ (found '${kver:-none}'): the rendered," \
        "contract and adapter checks did not run; the files were checked one by one"
    rendered=0
fi

# --- each checker fails on broken input ---------------------------------
cat >"$tmp/broken-replicas.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
spec:
  replicas: "two"
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
        - name: broken
          image: kujo
EOF
expect_fail "schema: replicas: \"two\"" \
    "broken-replicas.yaml:6: Deployment/broken: /spec/replicas must be integer" \
    validate "$tmp/broken-replicas.yaml"
sed 's/- name: broken/- nmae: broken/' "$tmp/broken-replicas.yaml" |
    sed 's/replicas: "two"/replicas: 2/' >"$tmp/broken-field.yaml"
expect_fail "schema: a misspelled container field" \
    "must have required property name" validate "$tmp/broken-field.yaml"
sed 's/kind: Deployment/kind: Deploymnet/; s/replicas: "two"/replicas: 2/' \
    "$tmp/broken-replicas.yaml" >"$tmp/broken-kind.yaml"
expect_fail "schema: a misspelled kind" \
    'no Kubernetes schema for apiVersion "apps/v1" kind "Deploymnet"' \
    validate "$tmp/broken-kind.yaml"
printf 'a: yes\n' >"$tmp/broken-lint.yaml"
expect_fail "yamllint: an unquoted yes" "truthy value should be one of" \
    yamllint -c "$root/.yamllint" -s "$tmp/broken-lint.yaml"

if [ "$rendered" = 1 ]; then
    sed '0,/path: \/readyz/s//path: \/ready/' "$tmp/base.yaml" >"$tmp/c1.yaml"
    expect_fail "contract: readiness probe on the wrong path" \
        "readinessProbe path /ready, want /readyz" contract base "$tmp/c1.yaml"
    sed '/prometheus.io\/scrape: "true"/d' "$tmp/base.yaml" >"$tmp/c2.yaml"
    expect_fail "contract: no prometheus.io/scrape annotation" \
        'pod annotation prometheus.io/scrape is undefined' contract base "$tmp/c2.yaml"
    sed 's/fieldPath: status.podIP/fieldPath: status.hostIP/' "$tmp/base.yaml" >"$tmp/c3.yaml"
    expect_fail "contract: ZeroMQ advertised with the node IP" \
        "KUJO_ZMQ_ADVERTISE is not the pod IP" contract base "$tmp/c3.yaml"
    sed 's/KUJO_DRAIN_MS: "10000"/KUJO_DRAIN_MS: "40000"/' "$tmp/base.yaml" >"$tmp/c4.yaml"
    expect_fail "contract: a drain longer than the grace period" \
        "terminationGracePeriodSeconds 30 leaves under 5 s" contract base "$tmp/c4.yaml"
    sed 's/port: 9100$/port: 8080/' "$tmp/base.yaml" >"$tmp/c5.yaml"
    expect_fail "contract: probes off the admin port" \
        "livenessProbe on port 8080, not the admin port 9100" contract base "$tmp/c5.yaml"
    sed 's/secretName: kujo-curve/secretName: kujo-secrets/' "$tmp/base.yaml" >"$tmp/c6.yaml"
    expect_fail "contract: CURVE keys not from the Secret kujo-curve" \
        "is not key curve.secret of a mounted Secret kujo-curve" contract base "$tmp/c6.yaml"
    sed '/name: KUJO_CURVE_PEERS_FILE/,+1d' "$tmp/base.yaml" >"$tmp/c7.yaml"
    expect_fail "contract: a stage without KUJO_CURVE_PEERS_FILE" \
        "KUJO_CURVE_PEERS_FILE is not set" contract base "$tmp/c7.yaml"
    expect_fail "contract: the base without queue-depth autoscaling as the custom variant" \
        "does not scale on the External metric kujo_queue_depth" contract custom "$tmp/base.yaml"
    sed 's/as: kujo_queue_depth/as: kujo_queue_length/' \
        "$k8s/custom-metrics/prometheus-adapter-rules.yaml" >"$tmp/adapter-broken.yaml"
    expect_fail "adapter: a renamed external metric" \
        "External metric kujo_queue_depth is not served" \
        node "$npmdir/adapter-rules.mjs" "$tmp/adapter-broken.yaml" "$tmp/custom.yaml" "$tmp/x.yml"
fi

echo "k8s manifests: $checks checks passed"
