#!/usr/bin/env node
// A scripted fake of the OpenAI Responses API as `codex exec` uses it, for
// driving the real `codex` CLI offline in tests (see tests/fakes/README.md).
//
//   node tests/fakes/fake_openai_responses.js SCRIPT.json [--port N]
//        [--log FILE] [--dump DIR] [--exit-on-eof]
//
// Listens on 127.0.0.1 (port 0 by default) and prints `PORT=<n>` as its first
// line of stdout. Answers `POST /v1/responses` (and `POST /responses`) with an
// SSE stream: response.created, response.in_progress, per output item
// response.output_item.added / (response.output_text.delta ...) /
// response.output_item.done, then response.completed with usage. Codex is
// pointed at it with a custom provider (`base_url=http://127.0.0.1:PORT/v1`,
// `wire_api="responses"`, `supports_websockets=false`).
//
// SCRIPT.json is {"turns": [TURN, ...]}. Each POST /v1/responses takes the
// next turn. A TURN is one of
//   {"type":"text", "text":"...", "usage"?:USAGE}
//   {"type":"function_call", "name":"shell", "arguments":{...} or "json",
//    "text"?:"preface", "usage"?:USAGE}   (a tool call; the arguments are
//                       whatever the named tool of the request takes)
//   {"type":"custom_tool_call", "name":"exec", "input":"<free text>",
//    "text"?:"preface", "usage"?:USAGE}   (a freeform tool call: codex's
//                       default models get a code-mode `exec` tool taking
//                       JavaScript, e.g. `text(await tools.exec_command(
//                       {cmd: "echo hi"}))`)
//   {"type":"error", "status":500, "body"?:{...}}   (an HTTP error answer)
//   {"type":"failed", "code":"...", "message":"..."} (200 + response.failed)
//   {"type":"stall"}   (response.created, then nothing; the connection stays
//                       open until the fake exits)
// and may carry "repeat": N (answer N requests, default 1; -1 = every request
// from then on), "delay_ms" (before the answer starts) and "chunk_delay_ms"
// (between SSE events). USAGE is {"input_tokens", "cached_input_tokens",
// "output_tokens", "reasoning_output_tokens"} (defaults 10, 0, 5, 0); it is
// sent as the API does: input_tokens_details.cached_tokens and
// output_tokens_details.reasoning_tokens. When the script is exhausted, each
// further request gets a 500 whose message says so.
//
// "routes": [{"match": "agent-A", "turns": [...]}, ...] gives a separate
// list of turns to the requests whose user messages contain `match` (the
// first route that matches), so that one fake can serve several agents.
//
// --log FILE appends one JSON line per request: {seq, method, path, stream,
// inputs, tools, tool_names, model, route, turn, kind, last} (`route`: the
// index of the route that answered, null for the top level; `tools` counts the
// top-level array, null when absent; `tool_names` also lists the tools of
// `additional_tools` input items as namespace.name; `last` summarises the
// input items after the last user message: their types and any
// function_call_output texts). --dump DIR writes each body to DIR/<seq>.json.
// --exit-on-eof exits when stdin closes.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const common = require('./fake_common');

const fake = common.loadFake('fake_openai_responses.js', process.argv.slice(2));
const {args, nextId, sequenceFor, writeLog} = fake;

let seq = 0;

function usageOf(turn) {
  const u = turn.usage || {};
  const input = u.input_tokens ?? 10;
  const output = u.output_tokens ?? 5;
  return {
    input_tokens: input,
    input_tokens_details: {cached_tokens: u.cached_input_tokens ?? 0},
    output_tokens: output,
    output_tokens_details: {reasoning_tokens: u.reasoning_output_tokens ?? 0},
    total_tokens: input + output,
  };
}

function summariseInput(body) {
  const items = Array.isArray(body.input) ? body.input : [];
  let lastUser = -1;
  items.forEach((it, i) => {
    if (it.type === 'message' && it.role === 'user') lastUser = i;
  });
  const tail = items.slice(Math.max(0, lastUser));
  const out = {types: tail.map((it) => (it.type === 'message' ? `message:${it.role}` : it.type))};
  const outputs = tail.filter((it) => it.type === 'function_call_output' || it.type === 'custom_tool_call_output')
      .map((it) => ({call_id: it.call_id,
        output: String(typeof it.output === 'string' ? it.output : JSON.stringify(it.output)).slice(0, 500)}));
  if (outputs.length) out.outputs = outputs;
  if (lastUser >= 0) {
    const c = items[lastUser].content;
    const text = typeof c === 'string' ? c : (c || []).filter((x) => x.text).map((x) => x.text).join('\n');
    out.user_text = text.slice(-300);
  }
  return out;
}

// Every input_text of the user messages (prompts; not tool outputs).
function userTextOf(body) {
  const parts = [];
  for (const it of Array.isArray(body.input) ? body.input : []) {
    if (it.type !== 'message' || it.role !== 'user') continue;
    if (typeof it.content === 'string') parts.push(it.content);
    else for (const c of it.content || []) if (typeof c.text === 'string') parts.push(c.text);
  }
  return parts.join('\n');
}

function sendJson(res, status, obj) {
  common.sendJson(res, status, obj, {'x-request-id': nextId('req')});
}

const {sleep} = common;

function responseObject(id, model, status, extra) {
  return Object.assign({id, object: 'response', created_at: Math.floor(Date.now() / 1000), status, model,
    output: []}, extra || {});
}

async function answerStream(res, turn, model) {
  res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'connection': 'keep-alive',
    'x-request-id': nextId('req')});
  const gap = turn.chunk_delay_ms || 0;
  let sequence = 0;
  const send = async (data) => {
    if (res.destroyed) return;
    data.sequence_number = sequence++;
    res.write(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`);
    if (gap) await sleep(gap);
  };
  const respId = nextId('resp');
  await send({type: 'response.created', response: responseObject(respId, model, 'in_progress')});
  if (turn.type === 'stall') return;  // keep the connection open, send nothing more
  if (turn.type === 'failed') {
    await send({type: 'response.failed', response: responseObject(respId, model, 'failed',
      {error: {code: turn.code || 'server_error', message: turn.message || 'fake: response failed'}})});
    res.end();
    return;
  }
  await send({type: 'response.in_progress', response: responseObject(respId, model, 'in_progress')});
  const output = [];
  const texts = [];
  if (turn.type === 'text') texts.push(turn.text ?? '');
  else if (turn.text) texts.push(turn.text);
  for (const text of texts) {
    const idx = output.length;
    const itemId = nextId('msg');
    await send({type: 'response.output_item.added', output_index: idx,
      item: {id: itemId, type: 'message', status: 'in_progress', role: 'assistant', content: []}});
    await send({type: 'response.content_part.added', item_id: itemId, output_index: idx, content_index: 0,
      part: {type: 'output_text', text: '', annotations: []}});
    const n = Math.max(1, turn.chunks || 2);
    const size = Math.max(1, Math.ceil(text.length / n));
    for (let off = 0; off < text.length; off += size) {
      await send({type: 'response.output_text.delta', item_id: itemId, output_index: idx, content_index: 0,
        delta: text.slice(off, off + size)});
    }
    await send({type: 'response.output_text.done', item_id: itemId, output_index: idx, content_index: 0, text});
    const part = {type: 'output_text', text, annotations: []};
    await send({type: 'response.content_part.done', item_id: itemId, output_index: idx, content_index: 0, part});
    const item = {id: itemId, type: 'message', status: 'completed', role: 'assistant', content: [part]};
    await send({type: 'response.output_item.done', output_index: idx, item});
    output.push(item);
  }
  if (turn.type === 'function_call') {
    const idx = output.length;
    const itemId = nextId('fc');
    const callId = turn.call_id || nextId('call');
    const argsText = typeof turn.arguments === 'string' ? turn.arguments : JSON.stringify(turn.arguments || {});
    await send({type: 'response.output_item.added', output_index: idx,
      item: {id: itemId, type: 'function_call', status: 'in_progress', call_id: callId, name: turn.name, arguments: ''}});
    await send({type: 'response.function_call_arguments.delta', item_id: itemId, output_index: idx, delta: argsText});
    await send({type: 'response.function_call_arguments.done', item_id: itemId, output_index: idx, arguments: argsText});
    const item = {id: itemId, type: 'function_call', status: 'completed', call_id: callId, name: turn.name,
      arguments: argsText};
    await send({type: 'response.output_item.done', output_index: idx, item});
    output.push(item);
  }
  if (turn.type === 'custom_tool_call') {
    const idx = output.length;
    const itemId = nextId('ctc');
    const callId = turn.call_id || nextId('call');
    const input = String(turn.input ?? '');
    await send({type: 'response.output_item.added', output_index: idx,
      item: {id: itemId, type: 'custom_tool_call', status: 'in_progress', call_id: callId, name: turn.name, input: ''}});
    await send({type: 'response.custom_tool_call_input.delta', item_id: itemId, output_index: idx, delta: input});
    await send({type: 'response.custom_tool_call_input.done', item_id: itemId, output_index: idx, input});
    const item = {id: itemId, type: 'custom_tool_call', status: 'completed', call_id: callId, name: turn.name, input};
    await send({type: 'response.output_item.done', output_index: idx, item});
    output.push(item);
  }
  await send({type: 'response.completed', response: responseObject(respId, model, 'completed',
    {output, usage: usageOf(turn)})});
  res.end();
}

async function handleResponses(req, res, url, raw) {
  let body;
  try {
    body = JSON.parse(raw || '{}');
  } catch (e) {
    sendJson(res, 400, {error: {type: 'invalid_request_error', code: null, message: 'fake: body is not JSON'}});
    return;
  }
  seq += 1;
  if (args.dump) fs.writeFileSync(path.join(args.dump, `${seq}.json`), JSON.stringify(body, null, 1));
  const chosen = sequenceFor(userTextOf(body));
  const taken = chosen.seq.take();
  const model = body.model || 'gpt-fake';
  const tools = Array.isArray(body.tools) ? body.tools : null;
  // Codex's default models get their tools as an `additional_tools` input
  // item (namespaces of tools) rather than the top-level `tools` array.
  const toolNames = tools ? tools.map((t) => t.name || t.type) : [];
  for (const it of Array.isArray(body.input) ? body.input : []) {
    if (it.type !== 'additional_tools' || !Array.isArray(it.tools)) continue;
    for (const t of it.tools) {
      if (Array.isArray(t.tools)) for (const u of t.tools) toolNames.push(`${t.name}.${u.name}`);
      else toolNames.push(t.name || t.type);
    }
  }
  writeLog({seq, method: req.method, path: url.pathname, stream: body.stream === true,
    inputs: Array.isArray(body.input) ? body.input.length : 0, tools: tools ? tools.length : null,
    tool_names: toolNames, model,
    route: chosen.route, turn: taken ? taken.index : null, kind: taken ? taken.turn.type : 'exhausted', last: summariseInput(body)});
  if (!taken) {
    sendJson(res, 500, {error: {type: 'server_error', code: 'server_error',
      message: `fake_openai_responses: script exhausted (request ${seq})`}});
    return;
  }
  const turn = taken.turn;
  if (turn.delay_ms) await sleep(turn.delay_ms);
  if (turn.type === 'error') {
    const status = turn.status || 500;
    const types = {400: 'invalid_request_error', 401: 'invalid_request_error', 403: 'invalid_request_error',
      404: 'invalid_request_error', 429: 'rate_limit_exceeded'};
    sendJson(res, status, turn.body || {error: {type: types[status] || 'server_error', code: turn.code || null,
      message: turn.message || `fake error ${status}`}});
    return;
  }
  await answerStream(res, turn, model);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'POST' && (url.pathname === '/v1/responses' || url.pathname === '/responses')) {
      handleResponses(req, res, url, raw).catch((e) => {
        process.stderr.write(`fake_openai_responses: ${e.stack}\n`);
        if (!res.headersSent) sendJson(res, 500, {error: {type: 'server_error', message: String(e)}});
        else res.destroy();
      });
      return;
    }
    writeLog({seq: 0, method: req.method, path: url.pathname});
    if (req.method === 'GET' && (url.pathname === '/v1/models' || url.pathname === '/models')) {
      sendJson(res, 200, {object: 'list', data: []});
      return;
    }
    sendJson(res, 404, {error: {type: 'not_found', message: `fake: no ${req.method} ${url.pathname}`}});
  });
});

common.serve(server, args);
