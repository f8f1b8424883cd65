#!/usr/bin/env node
// Contract check: validates captured HTTP responses against api/openapi.yaml.
//
// Usage: node tests/contract/validate.mjs [--spec api/openapi.yaml] [--quiet] CAPTURE.jsonl...
//
// Each line of a capture is one response:
//   {"method":"GET","path":"/api/jobs/j_1","route":"/api/jobs/{id}","status":200,
//    "content_type":"application/json","body":"{...}"}
// `route` is the OpenAPI path template (null or "" for a path that matched no route);
// `body` is the raw body text (a JSON value is accepted as already parsed). Optional:
// `body_valid_utf8` (false when the raw body bytes were not well-formed UTF-8; the capture
// then holds them decoded with U+FFFD), `request_body` (the JSON text sent) and
// `request_invalid` (true for a request the document says is refused).
//
// A record passes when its status is documented for that route and method, its media type
// is one the response lists, and (for JSON) its body validates against the response schema
// (ajv, OpenAPI 3.0 `nullable` turned into JSON Schema null types; response objects are
// closed in the document, so an undocumented field fails). A method the path does not have
// must be a 405 METHOD_NOT_ALLOWED error; a record without a route must be an error body,
// and one whose route the document does not have must be a 404 error. A JSON body must be
// well-formed UTF-8 (SPEC §3), whatever the request held.
// Request side, for a record with `request_body` on an operation with a JSON request body:
// a 2xx answer means the code took the body, so the document's request schema must accept
// it; a record marked `request_invalid` must be a 400 whose body the schema rejects too (the
// boundary cases: the document is neither looser nor stricter than the code there).
// Prints failures, the operations never exercised (for information), and a last line
// "N passed, M failed". Exits 1 if anything failed or there was nothing to check.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'package.json'));
const yaml = require('js-yaml');
const Ajv = require('ajv').default;
const addFormats = require('ajv-formats').default;

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

function parseArgs(argv) {
  const opts = { spec: join(root, 'api', 'openapi.yaml'), quiet: false, files: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--spec') opts.spec = argv[++i];
    else if (argv[i] === '--quiet') opts.quiet = true;
    else if (argv[i] === '-h' || argv[i] === '--help') {
      console.log('usage: node tests/contract/validate.mjs [--spec FILE] [--quiet] CAPTURE.jsonl...');
      process.exit(0);
    } else opts.files.push(argv[i]);
  }
  if (opts.files.length === 0) {
    console.error('validate: no capture file given');
    process.exit(2);
  }
  return opts;
}

// OpenAPI 3.0 schema -> JSON Schema: `nullable: true` adds null to `type` (and to `enum`).
function toJsonSchema(node) {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (node === null || typeof node !== 'object') return node;
  const out = {};
  for (const [k, v] of Object.entries(node)) out[k] = toJsonSchema(v);
  if (out.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
  }
  delete out.nullable;
  return out;
}

function resolveRef(doc, obj) {
  let cur = obj;
  for (let hops = 0; cur && cur.$ref && hops < 10; hops++) {
    if (!cur.$ref.startsWith('#/')) throw new Error(`external $ref not supported: ${cur.$ref}`);
    cur = cur.$ref
      .slice(2)
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
      .reduce((o, key) => (o == null ? undefined : o[key]), doc);
  }
  return cur;
}

function mediaTypeOf(contentType) {
  return String(contentType || '').split(';')[0].trim().toLowerCase();
}

function isJsonMedia(mt) {
  return mt === 'application/json' || mt.endsWith('+json');
}

class Checker {
  constructor(doc) {
    this.doc = doc;
    this.components = toJsonSchema(doc.components || {});
    this.ajv = new Ajv({ strict: false, allErrors: true, logger: false });
    addFormats(this.ajv);
    this.ajv.addFormat('binary', true);
    this.cache = new Map();
    this.seen = new Set();
    // Generic error body (for 405 on a method the path lacks, and for unrouted paths).
    this.errorSchema = { $ref: '#/components/schemas/Error' };
  }

  // A validator for an OpenAPI schema object, with #/components refs resolved.
  compile(key, schema) {
    let fn = this.cache.get(key);
    if (!fn) {
      fn = this.ajv.compile({ ...toJsonSchema(schema), components: this.components });
      this.cache.set(key, fn);
    }
    return fn;
  }

  // Returns a list of problems (empty: passed).
  check(rec) {
    const problems = [];
    const method = String(rec.method || '').toLowerCase();
    const status = Number(rec.status);
    const route = rec.route || null;
    const mt = mediaTypeOf(rec.content_type);
    let body = rec.body ?? '';

    if (rec.body_valid_utf8 === false && isJsonMedia(mt)) {
      problems.push('body is not well-formed UTF-8');
    }
    this.checkRequest(rec, route, method, status, problems);

    const parseJson = () => {
      if (typeof body !== 'string') return { ok: true, value: body };
      try {
        return { ok: true, value: JSON.parse(body) };
      } catch (e) {
        return { ok: false, error: `body is not JSON: ${e.message}` };
      }
    };
    const validateAgainst = (key, schema) => {
      const parsed = parseJson();
      if (!parsed.ok) return problems.push(parsed.error);
      const fn = this.compile(key, schema);
      if (!fn(parsed.value)) {
        for (const err of fn.errors) {
          const where = err.instancePath || '(body)';
          const extra =
            err.keyword === 'additionalProperties'
              ? ` '${err.params.additionalProperty}'`
              : err.keyword === 'enum'
                ? ` ${JSON.stringify(err.params.allowedValues)}`
                : '';
          problems.push(`${where} ${err.message}${extra}`);
        }
      }
    };

    if (!route) {
      if (status < 400) problems.push(`status ${status} for a path that matched no route`);
      else if (!isJsonMedia(mt)) problems.push(`error answered as ${mt || 'no content type'}`);
      else validateAgainst('#error', this.errorSchema);
      return problems;
    }
    const pathItem = this.doc.paths?.[route];
    if (!pathItem) {
      // A path the document does not have (a route of SPEC not served yet) may only be a 404.
      if (status !== 404) return [`route ${route} is not in the document (status ${status})`];
      if (!isJsonMedia(mt)) return [`error answered as ${mt || 'no content type'}`];
      validateAgainst('#error', this.errorSchema);
      return problems;
    }
    const opMethod = method === 'head' && !pathItem.head ? 'get' : method;
    const op = pathItem[opMethod];
    if (!op || !HTTP_METHODS.includes(opMethod)) {
      if (status !== 405) return [`${method.toUpperCase()} ${route} is not documented (status ${status})`];
      validateAgainst('#error', this.errorSchema);
      const parsed = parseJson();
      if (parsed.ok && parsed.value?.error?.code !== 'METHOD_NOT_ALLOWED') {
        problems.push(`405 with code ${parsed.value?.error?.code}, expected METHOD_NOT_ALLOWED`);
      }
      return problems;
    }
    const responses = op.responses || {};
    const statusKey = [String(status), `${String(status)[0]}XX`, 'default'].find((k) => k in responses);
    if (!statusKey) {
      return [`status ${status} is not documented for ${opMethod.toUpperCase()} ${route} (documented: ${Object.keys(responses).join(', ')})`];
    }
    this.seen.add(`${opMethod.toUpperCase()} ${route} ${statusKey}`);
    const response = resolveRef(this.doc, responses[statusKey]);
    const content = response?.content;
    if (!content) {
      if (body !== '' && body != null) problems.push('a body where the document has none');
      return problems;
    }
    if (method === 'head') return problems;  // headers only
    const mediaKey = Object.keys(content).find((k) => k.toLowerCase() === mt);
    if (!mediaKey) {
      return [`content type ${mt || '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`];
    }
    const schema = content[mediaKey].schema;
    if (!schema) return problems;
    if (isJsonMedia(mt)) {
      validateAgainst(`${opMethod} ${route} ${statusKey} ${mediaKey}`, schema);
    } else if (typeof body !== 'string') {
      problems.push(`expected a text body for ${mt}`);
    }
    return problems;
  }

  // The request-side checks (see the top of this file); appends to `problems`.
  checkRequest(rec, route, method, status, problems) {
    if (typeof rec.request_body !== 'string' || !route) return;
    const took = status >= 200 && status < 300;
    if (!took && rec.request_invalid !== true) return;  // refused for another reason (415, 409, ...)
    const op = this.doc.paths?.[route]?.[method];
    const rb = op && resolveRef(this.doc, op.requestBody);
    const schema = rb?.content?.['application/json']?.schema;
    if (!schema) {
      problems.push(`a request body was recorded but ${method.toUpperCase()} ${route} documents none`);
      return;
    }
    let value;
    try {
      value = JSON.parse(rec.request_body);
    } catch (e) {
      if (rec.request_invalid === true && status === 400) return;  // not JSON: refused by any schema
      problems.push(`the request body is not JSON: ${e.message}`);
      return;
    }
    const fn = this.compile(`request ${method} ${route}`, schema);
    const accepted = fn(value);
    if (rec.request_invalid === true) {
      if (status !== 400) problems.push(`a request the document refuses was answered ${status}, not 400`);
      if (accepted) problems.push('the document accepts a request body the daemon refuses (400)');
    } else if (!accepted) {
      const why = fn.errors.map((e) => `${e.instancePath || '(body)'} ${e.message}`).slice(0, 5);
      problems.push(`the daemon took a request body the document refuses: ${why.join('; ')}`);
    }
  }

  // Documented (method, route, status) triples that no record exercised.
  unexercised() {
    const out = [];
    for (const [route, item] of Object.entries(this.doc.paths || {})) {
      for (const m of HTTP_METHODS) {
        if (!item[m]) continue;
        for (const s of Object.keys(item[m].responses || {})) {
          const key = `${m.toUpperCase()} ${route} ${s}`;
          if (!this.seen.has(key)) out.push(key);
        }
      }
    }
    return out;
  }
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const doc = yaml.load(readFileSync(opts.spec, 'utf8'));
  const checker = new Checker(doc);
  let passed = 0;
  let failed = 0;
  for (const file of opts.files) {
    const lines = readFileSync(file, 'utf8').split('\n');
    lines.forEach((line, i) => {
      if (!line.trim()) return;
      let rec;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        failed++;
        console.log(`FAIL ${file}:${i + 1}: not a JSON line: ${e.message}`);
        return;
      }
      const problems = checker.check(rec);
      const label = `${String(rec.method).toUpperCase()} ${rec.path} -> ${rec.status}`;
      if (problems.length === 0) {
        passed++;
        if (!opts.quiet) console.log(`ok   ${label}`);
      } else {
        failed++;
        console.log(`FAIL ${label} (${file}:${i + 1}, route ${rec.route})`);
        for (const p of problems.slice(0, 20)) console.log(`       ${p}`);
      }
    });
  }
  if (!opts.quiet) {
    const missing = checker.unexercised();
    if (missing.length > 0) {
      console.log(`not exercised (${missing.length}): ${missing.join('; ')}`);
    }
  }
  if (passed + failed === 0) {
    console.log('validate: the capture holds no record');
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
}

main();
