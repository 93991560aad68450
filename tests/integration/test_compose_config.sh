#!/usr/bin/env bash
# docker-compose.yml is valid (docker-compose config -q, with the committed
# .env.example) and keeps its promises: Redis with AOF everysec on a named
# volume, only the balancer, analytics and Prometheus publish ports (on
# 127.0.0.1 by default), every kujo service stops on SIGTERM (init) with a
# grace period, Prometheus scrapes every service by DNS, and the pipeline
# stages run ZeroMQ CURVE with keys a one-shot keygen service wrote to a
# named volume they mount read-only.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
fail() { echo "test_compose_config: $*" >&2; exit 1; }
command -v docker-compose >/dev/null || fail "docker-compose is not installed (scripts/deps.sh installs it)"

docker-compose --env-file .env.example config -q || fail "docker-compose config -q failed"
docker-compose --env-file .env.example config >"${TMPDIR:-/tmp}/kujo-compose.$$.yml"
trap 'rm -f "${TMPDIR:-/tmp}/kujo-compose.$$.yml"' EXIT

# Without a required secret the configuration must refuse to render.
for secret in KUJO_WEBHOOK_SECRET KUJO_REDIS_PASSWORD; do
    if grep -v "^$secret=" .env.example | env -u "$secret" \
        docker-compose --env-file /dev/stdin config -q 2>/dev/null; then
        fail "compose accepts a missing $secret"
    fi
done

python3 - "${TMPDIR:-/tmp}/kujo-compose.$$.yml" <<'PY'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
svcs = c["services"]
errs = []
want = {"keygen", "redis", "ingest", "classifier", "router", "notifier", "analytics", "lb", "prometheus"}
if set(svcs) != want:
    errs.append(f"services are {sorted(svcs)}, want {sorted(want)}")
publishers = {"lb", "analytics", "prometheus"}
for name, s in svcs.items():
    ports = s.get("ports", [])
    if name not in publishers and ports:
        errs.append(f"{name} publishes ports {ports}; only {sorted(publishers)} may")
    for p in ports:
        ip = p.get("host_ip") if isinstance(p, dict) else str(p).split(":")[0]
        if ip != "127.0.0.1":
            errs.append(f"{name} publishes on {ip!r}, not 127.0.0.1")
    if name in publishers and not ports:
        errs.append(f"{name} publishes nothing")
    if not s.get("init"):
        errs.append(f"{name} has no init: true (would not stop on SIGTERM)")
for name in ("ingest", "classifier", "router", "notifier", "analytics"):
    s = svcs[name]
    if s.get("command") != [f"kujo-{name}"]:
        errs.append(f"{name} runs {s.get('command')}")
    env = s.get("environment", {})
    # kujo connects as its ACL user, never as the default user.
    if not str(env.get("KUJO_REDIS_URL", "")).startswith("redis://kujo:"):
        errs.append(f"{name}: KUJO_REDIS_URL does not use the kujo ACL user")
    if "dockerfile" not in str(s.get("build", "")):
        errs.append(f"{name} is not built from deploy/Dockerfile")
redis_cmd = " ".join(map(str, svcs["redis"].get("command") or []))
vols = [v if isinstance(v, str) else f"{v.get('source')}:{v.get('target')}"
        for v in svcs["redis"].get("volumes", [])]
if not any(v.startswith("redis-data:") for v in vols):
    errs.append(f"redis has no named volume: {vols}")
if not svcs["redis"].get("environment", {}).get("KUJO_REDIS_PASSWORD"):
    errs.append("redis is not given KUJO_REDIS_PASSWORD (its ACL user)")
if "redis-data" not in c.get("volumes", {}):
    errs.append("volume redis-data is not declared")
kg = svcs["keygen"]
if "kujo-keygen --out /keys" not in " ".join(map(str, kg.get("command") or [])):
    errs.append(f"keygen runs {kg.get('command')}, not kujo-keygen --out /keys")
if kg.get("restart") not in ("no", None):
    errs.append(f"keygen restarts ({kg.get('restart')}); it is one-shot")
def mounts(s):
    return [(v.get("source"), v.get("target"), v.get("read_only", False))
            if isinstance(v, dict) else tuple(v.split(":")[:2]) + (v.endswith(":ro"),)
            for v in s.get("volumes", [])]
if ("curve-keys", "/keys", False) not in mounts(kg):
    errs.append(f"keygen does not write the curve-keys volume: {mounts(kg)}")
for name in ("ingest", "classifier", "router", "notifier"):
    s = svcs[name]
    env = s.get("environment", {})
    if env.get("KUJO_CURVE_SECRET_KEY_FILE") != "/run/kujo-curve/curve.secret":
        errs.append(f"{name}: CURVE is off (KUJO_CURVE_SECRET_KEY_FILE is {env.get('KUJO_CURVE_SECRET_KEY_FILE')})")
    if env.get("KUJO_CURVE_PEERS_FILE") != "/run/kujo-curve/curve.public":
        errs.append(f"{name}: KUJO_CURVE_PEERS_FILE is {env.get('KUJO_CURVE_PEERS_FILE')}")
    if "KUJO_CURVE_SECRET_KEY" in env:
        errs.append(f"{name}: the CURVE secret key is inline, not from a file")
    if ("curve-keys", "/run/kujo-curve", True) not in mounts(s):
        errs.append(f"{name} does not mount curve-keys read-only: {mounts(s)}")
    dep = (s.get("depends_on") or {}).get("keygen", {})
    if dep.get("condition") != "service_completed_successfully":
        errs.append(f"{name} does not wait for keygen: {s.get('depends_on')}")
if "curve-keys" not in c.get("volumes", {}):
    errs.append("volume curve-keys is not declared")
if errs:
    sys.exit("test_compose_config: " + "\n  ".join(errs))
PY

# Redis' AOF settings live in its image: check the Dockerfile says so.
grep -q -- '"--appendonly", "yes", "--appendfsync", "everysec"' deploy/images/redis/Dockerfile ||
    fail "deploy/images/redis/Dockerfile does not run Redis with AOF everysec"
# The image writes the ACL file from the same script the tests run as.
grep -q 'kujo-acl.sh' deploy/images/redis/Dockerfile ||
    fail "deploy/images/redis/Dockerfile does not install deploy/redis/kujo-acl.sh"
# Prometheus discovers every copy of every service through Docker's DNS.
for svc in ingest classifier router notifier analytics; do
    grep -Eq "^\s*-\s*['\"]?$svc['\"]?\s*$|names:.*\b$svc\b" deploy/prometheus/prometheus.yml ||
        fail "deploy/prometheus/prometheus.yml has no DNS discovery for $svc"
done
echo "test_compose_config: ok"
