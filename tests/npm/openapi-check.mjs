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

// operationId -> {method, path, schema of the JSON request body}
const ops = new Map();
for (const [p, item] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(item)) {
    if (!op || typeof op !== 'object' || !op.operationId) continue;
    const media = op.requestBody?.content?.['application/json'];
    ops.set(op.operationId, {
      method: method.toUpperCase(), path: p, media,
      validate: media ? ajv.compile(media.schema) : null,
    });
  }
}

let checked = 0;
for (const [id, op] of ops) {
  for (const [name, ex] of Object.entries(op.media?.examples ?? {})) {
    checked++;
    if (!op.validate(ex.value))
      fail(`${id}: its example ${name} does not match its schema: ` +
           ajv.errorsText(op.validate.errors));
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
  if (!op.validate) { fail(`${f}: ${ex.operation} takes no JSON body`); continue; }
  const ok = op.validate(ex.body);
  if (ex.status < 300 && !ok)
    fail(`${f}: accepted by the server (${ex.status}) but not by the schema: ` +
         ajv.errorsText(op.validate.errors));
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
