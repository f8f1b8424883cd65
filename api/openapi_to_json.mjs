// Build step (run by cmake at configure time): converts the OpenAPI YAML document to JSON.
// Usage: node api/openapi_to_json.mjs <in.yaml> <out.json>
// Fails (exit 1, one line on stderr) if the YAML does not parse or is not an OpenAPI 3 object.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node openapi_to_json.mjs <in.yaml> <out.json>');
  process.exit(2);
}
// js-yaml from the repository's node_modules, wherever the script is run from.
const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
let yaml;
try {
  yaml = require('js-yaml');
} catch {
  console.error("openapi_to_json: js-yaml not found; run 'npm ci' at the repository root");
  process.exit(1);
}
let doc;
try {
  doc = yaml.load(readFileSync(input, 'utf8'), { filename: input });
} catch (e) {
  console.error(`openapi_to_json: ${input}: ${e.message.split('\n')[0]}`);
  process.exit(1);
}
if (!doc || typeof doc !== 'object' || !String(doc.openapi || '').startsWith('3.')) {
  console.error(`openapi_to_json: ${input}: not an OpenAPI 3 document`);
  process.exit(1);
}
writeFileSync(output, JSON.stringify(doc, null, 2) + '\n');
