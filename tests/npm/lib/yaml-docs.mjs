// Load every YAML document of a file (or of stdin, "-") the way the
// Kubernetes API reads manifests: YAML 1.1, where an unquoted yes/no/on/off
// is a boolean, so a value that would change type on the server changes
// type here too.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

// Returns [{doc, index, line, lineAt}] for the non-empty documents of one
// file, where lineAt("/spec/replicas") is the line of that value (or of
// the document); throws an Error naming the file and line of the first
// syntax error.
export function loadDocs(path) {
    const text = readFileSync(path === "-" ? 0 : path, "utf8");
    const out = [];
    const docs = parseAllDocuments(text, { version: "1.1", prettyErrors: true });
    docs.forEach((d, index) => {
        if (d.errors.length > 0) {
            const e = d.errors[0];
            const line = e.linePos ? e.linePos[0].line : "?";
            throw new Error(`${path}:${line}: YAML: ${e.message.split("\n")[0]}`);
        }
        const doc = d.toJS({ maxAliasCount: 100 });
        if (doc === null || doc === undefined) return;
        const line = d.contents ? lineOf(text, d.contents.range[0]) : 1;
        const lineAt = (pointer) => {
            const path = pointer.split("/").slice(1).map((p) =>
                p.replace(/~1/g, "/").replace(/~0/g, "~")).map((p) =>
                /^[0-9]+$/.test(p) ? Number(p) : p);
            for (let n = path.length; n > 0; n--) {
                const node = d.getIn(path.slice(0, n), true);
                if (node && node.range) return lineOf(text, node.range[0]);
            }
            return line;
        };
        out.push({ doc, index, line, lineAt });
    });
    return out;
}

function lineOf(text, offset) {
    let n = 1;
    for (let i = 0; i < offset && i < text.length; i++) {
        if (text.charCodeAt(i) === 10) n++;
    }
    return n;
}

// "Kind/name" for messages.
export function idOf(doc) {
    const name = doc && doc.metadata && doc.metadata.name;
    return `${(doc && doc.kind) || "?"}/${name || "?"}`;
}
