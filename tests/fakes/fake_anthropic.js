#!/usr/bin/env node
// A scripted fake of the Anthropic Messages API, for driving the real `claude`
// CLI offline in tests (see tests/fakes/README.md).
//
//   node tests/fakes/fake_anthropic.js SCRIPT.json [--port N] [--log FILE]
//        [--dump DIR] [--exit-on-eof]
//
// Listens on 127.0.0.1 (port 0 by default) and prints `PORT=<n>` as its first
// line of stdout. Answers `HEAD /` (the CLI's connectivity probe), `POST
// /v1/messages[?beta=true]` both as SSE (`"stream": true`) and as plain JSON
// (the CLI re-sends a cut turn without streaming), and `POST
// /v1/messages/count_tokens`.
//
// SCRIPT.json is {"turns": [TURN, ...], "model"?: "...", "side": SIDE?}. Each
// POST /v1/messages takes the next turn. A TURN is one of
//   {"type":"text", "text":"...", "usage"?:USAGE}
//   {"type":"tool_use", "name":"Bash", "input":{...}, "text"?:"preface",
//    "usage"?:USAGE}
//   {"type":"error", "status":500, "body"?:{...}}     (JSON error answer)
//   {"type":"stall"}   (streaming: message_start, then nothing; the connection
//                       stays open until the fake exits. Plain: no answer.)
//   {"type":"cut", "text":"..."}  (streaming: message_start and a text delta,
//                       then the socket is destroyed; plain: like "text")
// and may carry "repeat": N (answer N requests, default 1; -1 = every request
// from then on), "delay_ms" (before the answer starts) and "chunk_delay_ms"
// (between SSE events). USAGE is {"input_tokens", "output_tokens",
// "cache_read_input_tokens", "cache_creation_input_tokens"} (defaults 10, 5,
// 0, 0). When the script is exhausted, each further request gets a 500 whose
// message says so, so a test that sends more turns than it scripted fails.
//
// "routes": [{"match": "agent-A", "turns": [...]}, ...] gives a separate
// list of turns to the requests whose user text (prompts, not tool results)
// contains `match` (the first route that matches), so that one fake can serve
// several agents at once (a tree of workers) whatever order they ask in;
// requests no route matches take the top-level turns.
//
// SIDE, when given, is a TURN answering "side" requests (those without a
// `tools` array: the CLI's small helper queries) without consuming a script
// turn; without it, side requests take turns like any other.
//
// --log FILE appends one JSON line per request: {seq, method, path, stream,
// messages, roles, tools, model, max_tokens, route, turn, kind, last}, where
// `route` is the index of the route that answered (null: the top level), `roles`
// lists the messages' roles and `last` summarises the last user or assistant
// message (role, block types, tool_result texts, text tail) so a test can
// check what the CLI sent back. --dump DIR writes each request body
// to DIR/<seq>.json. --exit-on-eof exits when stdin closes (so a fake started
// with a pipe dies with its parent).
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const common = require('./fake_common');

const fake = common.loadFake('fake_anthropic.js', process.argv.slice(2));
const {args, script, nextId, sequenceFor, writeLog} = fake;
const defaultModel = script.model || 'claude-sonnet-4-5-20250929';
const sideTurn = script.side || null;
let seq = 0;

function usageOf(turn) {
  const u = turn.usage || {};
  return {
    input_tokens: u.input_tokens ?? 10,
    cache_creation_input_tokens: u.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: u.cache_read_input_tokens ?? 0,
    output_tokens: u.output_tokens ?? 5,
  };
}

// The content blocks of a reply, as the final message holds them.
function contentOf(turn) {
  const blocks = [];
  if (turn.type === 'text' || turn.type === 'cut') {
    blocks.push({type: 'text', text: turn.text ?? ''});
  } else if (turn.type === 'tool_use') {
    if (turn.text) blocks.push({type: 'text', text: turn.text});
    blocks.push({type: 'tool_use', id: turn.id || nextId('toolu'), name: turn.name, input: turn.input || {}});
  }
  return blocks;
}

function stopReasonOf(turn) {
  return turn.type === 'tool_use' ? 'tool_use' : (turn.stop_reason || 'end_turn');
}

function summariseLast(body) {
  // Claude Code 2.1.197 appends a `role: "system"` message (agent types)
  // after the conversation: summarise the last user/assistant message.
  const msgs = (Array.isArray(body.messages) ? body.messages : []).filter((x) => x.role !== 'system');
  if (msgs.length === 0) return null;
  const m = msgs[msgs.length - 1];
  const content = typeof m.content === 'string' ? [{type: 'text', text: m.content}] : (m.content || []);
  const out = {role: m.role, blocks: content.map((b) => b.type)};
  const results = content.filter((b) => b.type === 'tool_result').map((b) => {
    const c = typeof b.content === 'string' ? b.content :
        (b.content || []).filter((x) => x.type === 'text').map((x) => x.text).join('');
    return {tool_use_id: b.tool_use_id, is_error: !!b.is_error, content: String(c).slice(0, 500)};
  });
  if (results.length) out.tool_results = results;
  const texts = content.filter((b) => b.type === 'text').map((b) => b.text);
  if (texts.length) out.text = texts.join('\n').slice(-500);
  return out;
}

// Every text block of the user messages (prompts; not tool results).
function userTextOf(body) {
  const parts = [];
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    if (m.role !== 'user') continue;
    if (typeof m.content === 'string') parts.push(m.content);
    else for (const b of m.content || []) if (b.type === 'text') parts.push(b.text);
  }
  return parts.join('\n');
}

function sendJson(res, status, obj) {
  common.sendJson(res, status, obj, {'request-id': nextId('req')});
}

function errorBody(turn) {
  if (turn.body) return turn.body;
  const types = {400: 'invalid_request_error', 401: 'authentication_error', 403: 'permission_error',
    404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error',
    529: 'overloaded_error'};
  return {type: 'error', error: {type: types[turn.status] || 'api_error', message: turn.message || `fake error ${turn.status}`}};
}

const {sleep} = common;

async function answerStream(req, res, turn, model) {
  res.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'connection': 'keep-alive',
    'request-id': nextId('req')});
  const gap = turn.chunk_delay_ms || 0;
  const send = async (event, data) => {
    if (res.destroyed) return;
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (gap) await sleep(gap);
  };
  const usage = usageOf(turn);
  const msgId = nextId('msg');
  await send('message_start', {type: 'message_start', message: {id: msgId, type: 'message', role: 'assistant', model,
    content: [], stop_reason: null, stop_sequence: null,
    usage: {input_tokens: usage.input_tokens, cache_creation_input_tokens: usage.cache_creation_input_tokens,
      cache_read_input_tokens: usage.cache_read_input_tokens, output_tokens: 1}}});
  if (turn.type === 'stall') return;  // keep the connection open, send nothing more
  if (turn.type === 'cut') {
    await send('content_block_start', {type: 'content_block_start', index: 0, content_block: {type: 'text', text: ''}});
    await send('content_block_delta', {type: 'content_block_delta', index: 0, delta: {type: 'text_delta', text: String(turn.text ?? '').slice(0, 8)}});
    res.destroy();
    return;
  }
  await send('ping', {type: 'ping'});
  const blocks = contentOf(turn);
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b.type === 'text') {
      await send('content_block_start', {type: 'content_block_start', index: i, content_block: {type: 'text', text: ''}});
      const text = b.text;
      const n = Math.max(1, turn.chunks || 2);
      const size = Math.max(1, Math.ceil(text.length / n));
      for (let off = 0; off < text.length || off === 0; off += size) {
        await send('content_block_delta', {type: 'content_block_delta', index: i, delta: {type: 'text_delta', text: text.slice(off, off + size)}});
        if (text.length === 0) break;
      }
    } else {
      await send('content_block_start', {type: 'content_block_start', index: i, content_block: {type: 'tool_use', id: b.id, name: b.name, input: {}}});
      const json = JSON.stringify(b.input);
      const half = Math.ceil(json.length / 2);
      await send('content_block_delta', {type: 'content_block_delta', index: i, delta: {type: 'input_json_delta', partial_json: json.slice(0, half)}});
      await send('content_block_delta', {type: 'content_block_delta', index: i, delta: {type: 'input_json_delta', partial_json: json.slice(half)}});
    }
    await send('content_block_stop', {type: 'content_block_stop', index: i});
  }
  await send('message_delta', {type: 'message_delta', delta: {stop_reason: stopReasonOf(turn), stop_sequence: null}, usage});
  await send('message_stop', {type: 'message_stop'});
  res.end();
}

function answerPlain(res, turn, model) {
  if (turn.type === 'stall') return;  // never answer
  sendJson(res, 200, {id: nextId('msg'), type: 'message', role: 'assistant', model, content: contentOf(turn),
    stop_reason: stopReasonOf(turn), stop_sequence: null, usage: usageOf(turn)});
}

async function handleMessages(req, res, url, raw) {
  let body;
  try {
    body = JSON.parse(raw || '{}');
  } catch (e) {
    sendJson(res, 400, {type: 'error', error: {type: 'invalid_request_error', message: 'fake: body is not JSON'}});
    return;
  }
  seq += 1;
  if (args.dump) fs.writeFileSync(path.join(args.dump, `${seq}.json`), JSON.stringify(body, null, 1));
  const stream = body.stream === true;
  const isSide = !Array.isArray(body.tools);
  let taken;
  let route = null;
  if (isSide && sideTurn) {
    taken = {turn: sideTurn, index: -1};
  } else {
    const chosen = sequenceFor(userTextOf(body));
    route = chosen.route;
    taken = chosen.seq.take();
  }
  const model = body.model || defaultModel;
  writeLog({seq, method: req.method, path: url.pathname, query: url.search || '', stream,
    messages: Array.isArray(body.messages) ? body.messages.length : 0,
    roles: Array.isArray(body.messages) ? body.messages.map((x) => x.role) : [],
    tools: Array.isArray(body.tools) ? body.tools.length : null, model, max_tokens: body.max_tokens ?? null,
    route, turn: taken ? taken.index : null, kind: taken ? taken.turn.type : 'exhausted', last: summariseLast(body)});
  if (!taken) {
    sendJson(res, 500, {type: 'error', error: {type: 'api_error', message: `fake_anthropic: script exhausted (request ${seq})`}});
    return;
  }
  const turn = taken.turn;
  if (turn.delay_ms) await sleep(turn.delay_ms);
  if (turn.type === 'error') {
    sendJson(res, turn.status || 500, errorBody(turn));
    return;
  }
  if (stream) await answerStream(req, res, turn, model);
  else answerPlain(res, turn, model);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks).toString('utf8');
    if (req.method === 'POST' && url.pathname === '/v1/messages') {
      handleMessages(req, res, url, raw).catch((e) => {
        process.stderr.write(`fake_anthropic: ${e.stack}\n`);
        if (!res.headersSent) sendJson(res, 500, {type: 'error', error: {type: 'api_error', message: String(e)}});
        else res.destroy();
      });
      return;
    }
    if (req.method === 'POST' && url.pathname === '/v1/messages/count_tokens') {
      writeLog({seq: 0, method: req.method, path: url.pathname, query: url.search || ''});
      sendJson(res, 200, {input_tokens: 100});
      return;
    }
    writeLog({seq: 0, method: req.method, path: url.pathname, query: url.search || ''});
    if (req.method === 'HEAD' || (req.method === 'GET' && url.pathname === '/')) {
      res.writeHead(200, {'content-type': 'text/plain'});
      res.end();
      return;
    }
    sendJson(res, 404, {type: 'error', error: {type: 'not_found_error', message: `fake: no ${req.method} ${url.pathname}`}});
  });
});

common.serve(server, args);
