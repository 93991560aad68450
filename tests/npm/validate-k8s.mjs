// Validate Kubernetes objects against the Kubernetes API's OpenAPI schema
// with kubernetes-models (JSON schema validators generated from the
// upstream OpenAPI spec, run by ajv).
//   node validate-k8s.mjs [--label NAME] FILE...    ("-" reads stdin)
// Prints one line per problem, "FILE:LINE: Kind/name: /path message",
// and exits 1 if there was any; an apiVersion/kind without a schema is a
// problem too, so a misspelled kind cannot pass unchecked.
import { loadDocs, idOf } from "./lib/yaml-docs.mjs";

const args = process.argv.slice(2);
let label = null;
const files = [];
for (let i = 0; i < args.length; i++) {
    if (args[i] === "--label") label = args[++i];
    else files.push(args[i]);
}
if (files.length === 0) {
    console.error("usage: validate-k8s.mjs [--label NAME] FILE...");
    process.exit(64);
}

// apiVersion "apps/v1" is module "kubernetes-models/apps/v1"; core "v1"
// is "kubernetes-models/v1". The module's classes carry kind and
// apiVersion as static fields.
const modules = new Map();
async function modelFor(apiVersion, kind) {
    if (typeof apiVersion !== "string" || !/^[a-z0-9.-]*\/?v[0-9a-z]+$/.test(apiVersion)) {
        return null;
    }
    if (!modules.has(apiVersion)) {
        let mod = null;
        try {
            mod = await import(`kubernetes-models/${apiVersion}`);
        } catch {
            mod = null;
        }
        modules.set(apiVersion, mod);
    }
    const mod = modules.get(apiVersion);
    if (!mod) return null;
    for (const value of Object.values(mod)) {
        if (typeof value === "function" && value.kind === kind && value.apiVersion === apiVersion) {
            return value;
        }
    }
    return null;
}

let problems = 0;
let checked = 0;
function problem(where, id, text) {
    problems++;
    console.log(`${where}: ${id}: ${text}`);
}

for (const file of files) {
    const name = label || file;
    let docs;
    try {
        docs = loadDocs(file);
    } catch (e) {
        problems++;
        console.log(e.message);
        continue;
    }
    for (const { doc, line, lineAt } of docs) {
        const where = `${name}:${line}`;
        const id = idOf(doc);
        if (typeof doc !== "object" || Array.isArray(doc)) {
            problem(where, id, "not a Kubernetes object (a mapping)");
            continue;
        }
        const Model = await modelFor(doc.apiVersion, doc.kind);
        if (!Model) {
            problem(where, id, `no Kubernetes schema for apiVersion "${doc.apiVersion}" kind "${doc.kind}"`);
            continue;
        }
        if (!doc.metadata || !doc.metadata.name) {
            problem(where, id, "metadata.name is missing");
        }
        checked++;
        try {
            new Model(doc).validate();
        } catch (e) {
            const errors = Array.isArray(e.errors) && e.errors.length > 0 ? e.errors : null;
            if (!errors) {
                problem(where, id, e.message);
                continue;
            }
            for (const err of errors) {
                const at = `${name}:${lineAt(err.instancePath || "")}`;
                const extra = err.params && err.params.allowedValues
                    ? ` (${err.params.allowedValues.join(", ")})` : "";
                problem(at, id, `${err.instancePath || "/"} ${err.message}${extra}`);
            }
        }
    }
}

if (problems > 0) {
    console.log(`validate-k8s: ${problems} problem(s) in ${files.join(" ")}`);
    process.exit(1);
}
console.log(`validate-k8s: ${checked} object(s) valid in ${label || files.join(" ")}`);
