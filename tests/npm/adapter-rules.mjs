// Check deploy/k8s/custom-metrics/prometheus-adapter-rules.yaml against
// the HorizontalPodAutoscalers that use it, and write its PromQL (templates
// filled in as the adapter fills them) as a Prometheus rule file, so that
// promtool parses every query:
//   node adapter-rules.mjs ADAPTER_RULES.yaml RENDERED.yaml PROMQL_OUT.yml
// Prints one line per problem and exits 1 if any.
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { loadDocs, idOf } from "./lib/yaml-docs.mjs";

const [rulesFile, renderedFile, promqlOut] = process.argv.slice(2);
if (!rulesFile || !renderedFile || !promqlOut) {
    console.error("usage: adapter-rules.mjs ADAPTER_RULES.yaml RENDERED.yaml PROMQL_OUT.yml");
    process.exit(64);
}

let problems = 0;
function problem(where, text) {
    problems++;
    console.log(`${where}: ${text}`);
}

const docs = loadDocs(rulesFile);
const config = docs.length === 1 ? docs[0].doc : null;
if (!config || typeof config !== "object") {
    problem(rulesFile, "want one YAML document with rules and externalRules");
    process.exit(1);
}

// What the adapter serves: {kind: "rules"|"externalRules", name, rule}.
const served = [];
const recording = [];
for (const kind of ["rules", "externalRules"]) {
    const list = config[kind] || [];
    if (!Array.isArray(list)) {
        problem(rulesFile, `${kind} is not a list`);
        continue;
    }
    list.forEach((rule, i) => {
        const where = `${rulesFile}: ${kind}[${i}]`;
        for (const key of ["seriesQuery", "metricsQuery"]) {
            if (typeof rule[key] !== "string" || rule[key].trim() === "") problem(where, `${key} is missing`);
        }
        const series = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(rule.seriesQuery || "");
        if (!series) {
            problem(where, "seriesQuery does not start with a metric name");
            return;
        }
        const overrides = (rule.resources && rule.resources.overrides) || {};
        const res = (label) => overrides[label] && overrides[label].resource;
        if (res("namespace") !== "namespace") problem(where, "the namespace label is not mapped to the namespace resource");
        if (kind === "rules" && res("pod") !== "pod") problem(where, "the pod label is not mapped to the pod resource (a Pods metric needs it)");
        const name = rule.name || {};
        if (name.matches && !new RegExp(name.matches).test(series[1])) {
            problem(where, `name.matches ${name.matches} does not match ${series[1]}`);
        }
        served.push({ kind, name: name.as || series[1] });
        // The adapter substitutes these templates; the values are what it
        // would use for a namespaced HorizontalPodAutoscaler in kujo.
        const groupBy = kind === "rules" ? "namespace, pod" : "namespace";
        const expr = (rule.metricsQuery || "")
            .replaceAll("<<.Series>>", series[1])
            .replaceAll("<<.LabelMatchers>>", 'namespace="kujo"')
            .replaceAll("<<.GroupBy>>", groupBy);
        if (/<<|>>/.test(expr)) problem(where, `metricsQuery uses a template the adapter does not fill: ${expr}`);
        recording.push({ record: `kujo_adapter_check:${kind}_${i}_series`, expr: rule.seriesQuery });
        recording.push({ record: `kujo_adapter_check:${kind}_${i}_metrics`, expr });
    });
}

// Every custom metric an autoscaler asks for must be served, by the right
// API: Pods and Object metrics by rules, External ones by externalRules.
for (const { doc } of loadDocs(renderedFile)) {
    if (doc.kind !== "HorizontalPodAutoscaler") continue;
    for (const m of doc.spec.metrics || []) {
        let want = null;
        let metric = null;
        if (m.type === "External") [want, metric] = ["externalRules", m.external.metric.name];
        else if (m.type === "Pods") [want, metric] = ["rules", m.pods.metric.name];
        else if (m.type === "Object") [want, metric] = ["rules", m.object.metric.name];
        if (!want) continue;
        if (!served.some((s) => s.kind === want && s.name === metric)) {
            problem(idOf(doc), `${m.type} metric ${metric} is not served by any of the adapter's ${want}`);
        }
    }
}

writeFileSync(promqlOut, stringify({ groups: [{ name: "kujo-adapter-check", rules: recording }] }));
if (problems > 0) {
    console.log(`adapter-rules: ${problems} problem(s)`);
    process.exit(1);
}
console.log(`adapter-rules: ${served.length} rule(s) serve every custom metric the autoscalers use`);
