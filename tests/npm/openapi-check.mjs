// Check docs/openapi.json: a valid OpenAPI 3.1 document (swagger-parser),
// every example in it valid against its operation's request schema, and
// every example request the tests send (tests/data/api-examples/*.json)
// valid when the server is to accept it (2xx) and invalid when it is to
// refuse it (4xx), so the document and the server say the same thing.
//   node openapi-check.mjs <openapi.json> <examples dir>
import fs from 'node:fs';
import path from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const [docPath, exDir] = process.argv.slice(2);
if (!docPath || !exDir) {
  console.error('usage: node openapi-check.mjs <openapi.json> <examples dir>');
  process.exit(2);
}
const failures = [];
const fail = (msg) => failures.push(msg);

await SwaggerParser.validate(docPath);
const doc = await SwaggerParser.dereference(docPath);

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

// operationId -> {method, path, its request media types}. A media type
// of lines (NDJSON) carries the schema of one line in x-kujo-line-schema.
const ops = new Map();
for (const [p, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!op || typeof op !== 'object' || !op.operationId) continue;
    const types = new Map();
    for (const [type, media] of Object.entries(op.requestBody?.content ?? {})) {
      const lines = media['x-kujo-line-schema'];
      types.set(type, { media, lines: !!lines,
                        validate: ajv.compile(lines ?? media.schema) });
    }
    ops.set(op.operationId, { method: method.toUpperCase(), path: p, types });
  }
}

// The values a body holds: itself, or each non-blank line of NDJSON.
const values = (t, body) => !t.lines ? [body]
  : typeof body === 'string'
    ? body.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l))
    : body;
const allValid = (t, body) => values(t, body).every((v) => t.validate(v));

let checked = 0;
for (const [id, op] of ops) {
  for (const [type, t] of op.types) {
    for (const [name, ex] of Object.entries(t.media.examples ?? {})) {
      checked++;
      if (!allValid(t, ex.value))
        fail(`${id}: its ${type} example ${name} does not match its schema: ` +
             ajv.errorsText(t.validate.errors));
    }
  }
}

const files = fs.readdirSync(exDir).filter((f) => f.endsWith('.json')).sort();
if (files.length === 0) fail(`no examples in ${exDir}`);
for (const f of files) {
  const ex = JSON.parse(fs.readFileSync(path.join(exDir, f), 'utf8'));
  const op = ops.get(ex.operation);
  checked++;
  if (!op) { fail(`${f}: no operation ${ex.operation} in the document`); continue; }
  if (op.method !== ex.method) fail(`${f}: ${ex.operation} is ${op.method}, not ${ex.method}`);
  const re = new RegExp('^' + op.path.replace(/\{[^}]+\}/g, '[^/]+') + '$');
  if (!re.test(ex.path)) fail(`${f}: ${ex.path} is not ${op.path}`);
  // An example names its Content-Type (default JSON) and sends "lines"
  // (NDJSON, one value a line) or a "body". A type the operation does not
  // take must be refused 415.
  const type = ex.content_type ?? 'application/json';
  const t = op.types.get(type);
  if (!t) {
    if (ex.status !== 415)
      fail(`${f}: ${ex.operation} takes no ${type} body, so the server must answer 415`);
    continue;
  }
  if (t.lines !== ('lines' in ex))
    fail(`${f}: ${type} examples of ${ex.operation} give ${t.lines ? '"lines"' : 'a "body"'}`);
  const ok = allValid(t, t.lines ? ex.lines : ex.body);
  if (ex.status < 300 && !ok)
    fail(`${f}: accepted by the server (${ex.status}) but not by the schema: ` +
         ajv.errorsText(t.validate.errors));
  if (ex.status >= 400 && ok)
    fail(`${f}: refused by the server (${ex.status} ${ex.code}) but valid by the schema`);
  const codes = doc.components.schemas.Error.properties.error.properties.code.enum;
  if (ex.code && !codes.includes(ex.code)) fail(`${f}: error code ${ex.code} is not in the document`);
}

if (failures.length) {
  for (const m of failures) console.error('openapi-check: ' + m);
  process.exit(1);
}
console.log(`openapi-check: ${docPath} is valid OpenAPI ${doc.openapi}; ` +
            `${ops.size} operations, ${checked} examples checked`);
