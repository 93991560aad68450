// Check kujo's own deployment contract on rendered manifests (the output of
// kubectl kustomize), beyond what the API schema can say:
//   node k8s-contract.mjs base RENDERED.yaml     the default deploy/k8s
//   node k8s-contract.mjs custom RENDERED.yaml   overlays/custom-metrics
// Prints one line per broken rule, "Kind/name: what", and exits 1 if any.
import { loadDocs, idOf } from "./lib/yaml-docs.mjs";

const [mode, file] = process.argv.slice(2);
if (!["base", "custom"].includes(mode) || !file) {
    console.error("usage: k8s-contract.mjs base|custom RENDERED.yaml");
    process.exit(64);
}

const SERVICES = ["ingest", "classifier", "router", "notifier", "analytics"];
const AUTOSCALED = ["ingest", "classifier", "notifier"];
const FIXED_REPLICAS = { router: 1, analytics: 1 };
const ZMQ_STAGES = ["classifier", "router", "notifier"];
const HTTP_SERVICES = ["ingest", "analytics"];
// Services that speak ZeroMQ to another stage: CURVE is on for each.
const CURVE_SERVICES = ["ingest", ...ZMQ_STAGES];
const ADMIN_PORT = 9100;
const NAMESPACE = "kujo";

const objects = loadDocs(file).map((d) => d.doc);
let broken = 0;
function fail(obj, text) {
    broken++;
    console.log(`${typeof obj === "string" ? obj : idOf(obj)}: ${text}`);
}
const find = (kind, name) => objects.find((o) => o.kind === kind && o.metadata.name === name);
const all = (kind) => objects.filter((o) => o.kind === kind);
const matches = (selector, labels) =>
    !!selector && Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels && labels[k] === v);

// Kubernetes quantities: "250m", "1", "96Mi", "2Gi".
function quantity(q) {
    const m = /^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(q));
    if (!m) return NaN;
    const mult = { m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12,
        Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
    return Number(m[1]) * (m[2] ? mult[m[2]] : 1);
}

// The environment a container sees before any Secret exists: envFrom
// ConfigMaps (rendered, so their data is known), then env values (env
// wins). An optional Secret key that is absent leaves the earlier value,
// as the kubelet does; other valueFrom variables map to their source.
function environment(container) {
    const env = {};
    for (const from of container.envFrom || []) {
        if (from.configMapRef) {
            const cm = find("ConfigMap", from.configMapRef.name);
            if (cm) Object.assign(env, cm.data || {});
        }
    }
    for (const e of container.env || []) {
        const secret = e.valueFrom && e.valueFrom.secretKeyRef;
        if (secret && secret.optional && env[e.name] !== undefined) continue;
        env[e.name] = e.value !== undefined ? e.value : e.valueFrom;
    }
    return env;
}

function checkProbe(obj, c, kind, path) {
    const p = c[kind];
    if (!p || !p.httpGet) {
        fail(obj, `container ${c.name}: no ${kind} with httpGet`);
        return;
    }
    if (p.httpGet.port !== ADMIN_PORT) {
        fail(obj, `container ${c.name}: ${kind} on port ${p.httpGet.port}, not the admin port ${ADMIN_PORT}`);
    }
    if (p.httpGet.path !== path) {
        fail(obj, `container ${c.name}: ${kind} path ${p.httpGet.path}, want ${path}`);
    }
}

// The "restricted" Pod Security Standard, which the namespace enforces.
function checkSecurity(obj, pod, c) {
    const psc = pod.securityContext || {};
    const sc = c.securityContext || {};
    if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) fail(obj, `container ${c.name}: runAsNonRoot is not true`);
    if (sc.allowPrivilegeEscalation !== false) fail(obj, `container ${c.name}: allowPrivilegeEscalation is not false`);
    if (sc.readOnlyRootFilesystem !== true) fail(obj, `container ${c.name}: readOnlyRootFilesystem is not true`);
    const drop = (sc.capabilities && sc.capabilities.drop) || [];
    if (!drop.includes("ALL")) fail(obj, `container ${c.name}: capabilities do not drop ALL`);
    if (sc.capabilities && sc.capabilities.add && sc.capabilities.add.length) {
        fail(obj, `container ${c.name}: adds capabilities ${sc.capabilities.add.join(",")}`);
    }
    const seccomp = (sc.seccompProfile || psc.seccompProfile || {}).type;
    if (seccomp !== "RuntimeDefault") fail(obj, `container ${c.name}: seccomp profile is ${seccomp}, want RuntimeDefault`);
    if (sc.privileged) fail(obj, `container ${c.name}: privileged`);
    if (pod.hostNetwork || pod.hostPID || pod.hostIPC) fail(obj, "uses a host namespace");
}

function checkResources(obj, c) {
    const r = c.resources || {};
    for (const res of ["cpu", "memory"]) {
        const req = r.requests && r.requests[res];
        const lim = r.limits && r.limits[res];
        if (req === undefined) fail(obj, `container ${c.name}: no ${res} request`);
        if (lim === undefined) fail(obj, `container ${c.name}: no ${res} limit`);
        if (req !== undefined && lim !== undefined && !(quantity(req) <= quantity(lim))) {
            fail(obj, `container ${c.name}: ${res} request ${req} above limit ${lim}`);
        }
    }
}

// The longest stop: preStop sleep plus KUJO_DRAIN_MS must end well before
// the kubelet's SIGKILL.
function checkGrace(obj, pod, c, env) {
    const grace = pod.terminationGracePeriodSeconds ?? 30;
    const drain = Number(env.KUJO_DRAIN_MS);
    if (!Number.isFinite(drain)) {
        fail(obj, `container ${c.name}: KUJO_DRAIN_MS is not set to a number`);
        return;
    }
    let pre = 0;
    const cmd = c.lifecycle && c.lifecycle.preStop && c.lifecycle.preStop.exec &&
        c.lifecycle.preStop.exec.command;
    if (cmd && cmd[0] === "sleep") pre = Number(cmd[1]);
    if (!(grace >= pre + drain / 1000 + 5)) {
        fail(obj, `terminationGracePeriodSeconds ${grace} leaves under 5 s beyond preStop ${pre} s + drain ${drain / 1000} s`);
    }
}

function checkDeployment(name) {
    const d = find("Deployment", name);
    if (!d) {
        fail(`Deployment/${name}`, "missing");
        return;
    }
    const want = { "app.kubernetes.io/name": "kujo", "app.kubernetes.io/component": name,
        "app.kubernetes.io/part-of": "kujo" };
    const tpl = d.spec.template;
    for (const [k, v] of Object.entries(want)) {
        if ((d.metadata.labels || {})[k] !== v) fail(d, `label ${k} is not ${v}`);
        if ((tpl.metadata.labels || {})[k] !== v) fail(d, `pod label ${k} is not ${v}`);
    }
    if (!matches(d.spec.selector.matchLabels, tpl.metadata.labels)) fail(d, "selector does not match the pod labels");
    const ann = tpl.metadata.annotations || {};
    const wantAnn = { "prometheus.io/scrape": "true", "prometheus.io/port": String(ADMIN_PORT),
        "prometheus.io/path": "/metrics" };
    for (const [k, v] of Object.entries(wantAnn)) {
        if (ann[k] !== v) fail(d, `pod annotation ${k} is ${JSON.stringify(ann[k])}, want "${v}"`);
    }
    if (name in FIXED_REPLICAS && d.spec.replicas !== FIXED_REPLICAS[name]) {
        fail(d, `replicas ${d.spec.replicas}, want ${FIXED_REPLICAS[name]}`);
    }
    if (AUTOSCALED.includes(name) && d.spec.replicas !== undefined) {
        fail(d, "sets replicas although a HorizontalPodAutoscaler owns the count (apply would reset it)");
    }
    const pod = tpl.spec;
    if (pod.automountServiceAccountToken !== false) fail(d, "mounts a service account token it does not need");
    const c = pod.containers.find((x) => x.name === name);
    if (!c) {
        fail(d, `no container named ${name}`);
        return;
    }
    if (!(c.image || "").startsWith("kujo")) fail(d, `image ${c.image} is not the kujo image`);
    const argv = [...(c.command || []), ...(c.args || [])];
    if (argv[argv.length - 1] !== `kujo-${name}`) fail(d, `runs ${JSON.stringify(argv)}, not kujo-${name}`);
    checkProbe(d, c, "readinessProbe", "/readyz");
    checkProbe(d, c, "livenessProbe", "/healthz");
    checkResources(d, c);
    checkSecurity(d, pod, c);
    const env = environment(c);
    checkGrace(d, pod, c, env);
    if (!/:9100$/.test(env.KUJO_ADMIN_ADDR || "")) {
        fail(d, `KUJO_ADMIN_ADDR ${env.KUJO_ADMIN_ADDR} does not listen on ${ADMIN_PORT}`);
    }
    const ports = (c.ports || []).map((p) => p.containerPort);
    if (!ports.includes(ADMIN_PORT)) fail(d, `container ${name} does not declare port ${ADMIN_PORT}`);
    // kujo's Redis ACL user and password: from the Secret, never optional
    // (the default user may only PING).
    const url = env.KUJO_REDIS_URL;
    const ref = url && url.secretKeyRef;
    if (!ref || !/^kujo-secrets(-[a-z0-9]+)?$/.test(ref.name) || ref.key !== "KUJO_REDIS_URL" || ref.optional) {
        fail(d, `KUJO_REDIS_URL ${JSON.stringify(url)} is not the required key KUJO_REDIS_URL of Secret kujo-secrets`);
    }
    if (ZMQ_STAGES.includes(name)) {
        const adv = env.KUJO_ZMQ_ADVERTISE;
        if (!adv || !adv.fieldRef || adv.fieldRef.fieldPath !== "status.podIP") {
            fail(d, "KUJO_ZMQ_ADVERTISE is not the pod IP from the downward API (status.podIP)");
        }
        if (!/^tcp:\/\/0\.0\.0\.0:5555$/.test(env.KUJO_ZMQ_BIND || "")) {
            fail(d, `KUJO_ZMQ_BIND ${env.KUJO_ZMQ_BIND}, want tcp://0.0.0.0:5555`);
        }
        if (!ports.includes(5555)) fail(d, "does not declare the ZeroMQ port 5555");
    }
    if (HTTP_SERVICES.includes(name)) {
        if (env.KUJO_HTTP_ADDR !== "0.0.0.0:8080") fail(d, `KUJO_HTTP_ADDR ${env.KUJO_HTTP_ADDR}, want 0.0.0.0:8080`);
        checkService(name, d, c);
    }
    if (["classifier", "router"].includes(name)) checkRules(d, pod, c, env);
    if (CURVE_SERVICES.includes(name)) checkCurve(d, pod, c, env);
    // Every referenced ConfigMap is in the rendering; every Secret is the
    // one README.md tells operators to create.
    for (const from of c.envFrom || []) {
        if (from.configMapRef && !find("ConfigMap", from.configMapRef.name)) {
            fail(d, `envFrom ConfigMap ${from.configMapRef.name} is not in the manifests`);
        }
    }
    for (const e of c.env || []) {
        const ref = e.valueFrom && e.valueFrom.secretKeyRef;
        if (ref && !/^kujo-secrets(-[a-z0-9]+)?$/.test(ref.name)) {
            fail(d, `${e.name} reads Secret ${ref.name}, not kujo-secrets`);
        }
    }
    if (name === "notifier") {
        const s = (c.env || []).find((e) => e.name === "KUJO_WEBHOOK_SECRET");
        const ref = s && s.valueFrom && s.valueFrom.secretKeyRef;
        if (!ref || ref.optional) fail(d, "KUJO_WEBHOOK_SECRET does not come from a required Secret key");
    }
}

function checkService(name, d, c) {
    const s = find("Service", name);
    if (!s) {
        fail(`Service/${name}`, "missing");
        return;
    }
    if (!matches(s.spec.selector, d.spec.template.metadata.labels)) fail(s, `selector does not select Deployment/${name}`);
    const p = (s.spec.ports || []).find((x) => x.port === 8080);
    if (!p) {
        fail(s, "has no port 8080");
        return;
    }
    const target = p.targetPort ?? p.port;
    const cp = (c.ports || []).find((x) => x.name === target || x.containerPort === target);
    if (!cp || cp.containerPort !== 8080) fail(s, `targetPort ${target} is not the container's HTTP port 8080`);
}

// KUJO_RULES must be a file inside a mounted ConfigMap that has that key.
function checkRules(d, pod, c, env) {
    const path = env.KUJO_RULES || "";
    const mount = (c.volumeMounts || []).find((m) => path.startsWith(m.mountPath + "/"));
    const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
    const cm = vol && vol.configMap && find("ConfigMap", vol.configMap.name);
    const key = mount ? path.slice(mount.mountPath.length + 1) : "";
    if (!cm || !(cm.data || {})[key]) {
        fail(d, `KUJO_RULES ${path} is not a key of a mounted rules ConfigMap`);
        return;
    }
    try {
        JSON.parse(cm.data[key]);
    } catch (e) {
        fail(cm, `${key} is not JSON: ${e.message}`);
    }
}

// ZeroMQ CURVE on: the secret key and the peers list are files of a
// read-only mount of the Secret kujo-curve (keys curve.secret and
// curve.public), readable by the kujo group (fsGroup), never inline.
function checkCurve(d, pod, c, env) {
    if (env.KUJO_CURVE_SECRET_KEY !== undefined) fail(d, "KUJO_CURVE_SECRET_KEY is inline, not a file from the Secret kujo-curve");
    for (const [name, key] of [["KUJO_CURVE_SECRET_KEY_FILE", "curve.secret"], ["KUJO_CURVE_PEERS_FILE", "curve.public"]]) {
        const path = env[name];
        if (typeof path !== "string" || !path) {
            fail(d, `${name} is not set: ZeroMQ CURVE is off`);
            continue;
        }
        const mount = (c.volumeMounts || []).find((m) => path === `${m.mountPath}/${key}`);
        const vol = mount && (pod.volumes || []).find((v) => v.name === mount.name);
        if (!vol || !vol.secret || vol.secret.secretName !== "kujo-curve") {
            fail(d, `${name} ${path} is not key ${key} of a mounted Secret kujo-curve`);
        } else if (!mount.readOnly) {
            fail(d, `the Secret kujo-curve is mounted writable`);
        }
    }
    if (!pod.securityContext || pod.securityContext.fsGroup !== 10001) {
        fail(d, "no fsGroup 10001: the kujo user could not read the Secret kujo-curve");
    }
}

function checkAutoscaler(name) {
    const h = find("HorizontalPodAutoscaler", name);
    if (!h) {
        fail(`HorizontalPodAutoscaler/${name}`, "missing");
        return;
    }
    const ref = h.spec.scaleTargetRef;
    if (ref.kind !== "Deployment" || ref.name !== name) fail(h, `scales ${ref.kind}/${ref.name}, not Deployment/${name}`);
    if (h.spec.minReplicas !== 2) fail(h, `minReplicas ${h.spec.minReplicas}, want 2`);
    if (!(h.spec.maxReplicas > h.spec.minReplicas)) fail(h, "maxReplicas leaves no room to scale");
    const metrics = h.spec.metrics || [];
    const cpu = metrics.find((m) => m.type === "Resource" && m.resource.name === "cpu");
    if (!cpu) fail(h, "does not scale on CPU");
    const custom = metrics.filter((m) => m.type === "External" || m.type === "Pods");
    if (mode === "base" && custom.length > 0) fail(h, "uses custom metrics in the base (they need the adapter)");
    if (mode === "custom" && custom.length === 0) fail(h, "has no queue-depth or request-rate metric");
    if (mode === "custom" && ["classifier", "notifier"].includes(name)) {
        const q = custom.find((m) => m.type === "External" && m.external.metric.name === "kujo_queue_depth");
        const sel = q && q.external.metric.selector && q.external.metric.selector.matchLabels;
        if (!q) fail(h, "does not scale on the External metric kujo_queue_depth");
        else if (!sel || sel.svc !== name) fail(h, `kujo_queue_depth is not selected by svc=${name}`);
    }
    const d = find("Deployment", name);
    const pdb = find("PodDisruptionBudget", name);
    if (!pdb) fail(`PodDisruptionBudget/${name}`, "missing");
    else if (d && !matches(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels)) {
        fail(pdb, `selector does not select Deployment/${name}`);
    } else if (pdb.spec.minAvailable === undefined && pdb.spec.maxUnavailable === undefined) {
        fail(pdb, "sets neither minAvailable nor maxUnavailable");
    }
}

function checkRedis() {
    const s = find("StatefulSet", "redis");
    if (!s) {
        fail("StatefulSet/redis", "missing");
        return;
    }
    const pod = s.spec.template.spec;
    const c = pod.containers[0];
    const args = [...(c.command || []), ...(c.args || [])].map(String);
    const opt = (name) => {
        const i = args.indexOf(`--${name}`);
        return i >= 0 ? args[i + 1] : undefined;
    };
    if (opt("appendonly") !== "yes") fail(s, "Redis runs without --appendonly yes");
    if (opt("appendfsync") !== "everysec") fail(s, "Redis runs without --appendfsync everysec");
    const acl = opt("aclfile");
    const aclMount = acl && (c.volumeMounts || []).find((m) => acl.startsWith(`${m.mountPath}/`));
    const aclVol = aclMount && (pod.volumes || []).find((v) => v.name === aclMount.name);
    if (!aclVol || !aclVol.secret || aclVol.secret.secretName !== "kujo-redis-acl") {
        fail(s, `Redis's --aclfile ${acl} is not mounted from Secret kujo-redis-acl`);
    }
    const dir = opt("dir") || "/data";
    const claims = (s.spec.volumeClaimTemplates || []).map((v) => v.metadata.name);
    const mount = (c.volumeMounts || []).find((m) => m.mountPath === dir);
    if (!mount || !claims.includes(mount.name)) fail(s, `Redis's --dir ${dir} is not on a volumeClaimTemplate`);
    checkResources(s, c);
    checkSecurity(s, pod, c);
    const headless = find("Service", s.spec.serviceName);
    if (!headless || headless.spec.clusterIP !== "None") fail(s, `serviceName ${s.spec.serviceName} is not a headless Service`);
    const client = find("Service", "redis");
    if (!client) fail("Service/redis", "missing");
    else {
        if (!matches(client.spec.selector, s.spec.template.metadata.labels)) fail(client, "does not select the StatefulSet");
        if (!(client.spec.ports || []).some((p) => p.port === 6379)) fail(client, "has no port 6379");
    }
}

for (const o of objects) {
    if (o.kind !== "Namespace" && o.metadata.namespace !== NAMESPACE) {
        fail(o, `namespace ${o.metadata.namespace}, want ${NAMESPACE}`);
    }
}
const ns = find("Namespace", NAMESPACE);
if (!ns) fail(`Namespace/${NAMESPACE}`, "missing");
else if ((ns.metadata.labels || {})["pod-security.kubernetes.io/enforce"] !== "restricted") {
    fail(ns, "does not enforce the restricted Pod Security Standard");
}
SERVICES.forEach(checkDeployment);
AUTOSCALED.forEach(checkAutoscaler);
for (const h of all("HorizontalPodAutoscaler")) {
    if (!AUTOSCALED.includes(h.metadata.name)) fail(h, "autoscales a stage documented to run a fixed count");
}
checkRedis();

if (broken > 0) {
    console.log(`k8s-contract: ${broken} problem(s) in ${file} (${mode})`);
    process.exit(1);
}
console.log(`k8s-contract: ${objects.length} objects keep the contract (${mode})`);
