'use strict';
// What the two fake model servers (fake_anthropic.js, fake_openai_responses.js)
// share: their command line, the script and its sequences of turns (with
// routes by a marker in the user's text), ids, the request log, JSON answers,
// and serving on 127.0.0.1 (PORT=<n> on the first stdout line; SIGTERM,
// SIGINT and, with --exit-on-eof, stdin's end stop it and drop open sockets).

const fs = require('fs');

function parseArgs(argv, name) {
  const args = {script: null, port: 0, log: null, dump: null, exitOnEof: false};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--port') args.port = Number(argv[++i]);
    else if (a === '--log') args.log = argv[++i];
    else if (a === '--dump') args.dump = argv[++i];
    else if (a === '--exit-on-eof') args.exitOnEof = true;
    else if (!args.script && !a.startsWith('--')) args.script = a;
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.script) {
    throw new Error(`usage: ${name} SCRIPT.json [--port N] [--log FILE] [--dump DIR] [--exit-on-eof]`);
  }
  return args;
}

// A list of turns and how far the requests have got through it.
class Sequence {
  constructor(list) {
    this.turns = Array.isArray(list) ? list : [];
    this.index = 0;  // the turn the next request takes
    this.used = 0;   // how many requests that turn has answered
  }

  // The next turn, or null when the list is exhausted.
  take() {
    while (this.index < this.turns.length) {
      const t = this.turns[this.index];
      const repeat = t.repeat === undefined ? 1 : t.repeat;
      if (repeat < 0 || this.used < repeat) {
        this.used += 1;
        return {turn: t, index: this.index};
      }
      this.index += 1;
      this.used = 0;
    }
    return null;
  }
}

// The command line and script of the fake `name`, with what every handler uses.
function loadFake(name, argv) {
  const args = parseArgs(argv, name);
  const script = JSON.parse(fs.readFileSync(args.script, 'utf8'));
  const turns = Array.isArray(script) ? script : (script.turns || []);
  const mainSequence = new Sequence(turns);
  const routes = (Array.isArray(script.routes) ? script.routes : []).map((r) => ({match: String(r.match),
    seq: new Sequence(r.turns)}));
  let idCounter = 0;
  return {
    args,
    script,
    turns,
    nextId(prefix) {
      idCounter += 1;
      return `${prefix}_fake${String(process.pid)}${String(idCounter).padStart(6, '0')}`;
    },
    // The sequence a request belongs to: the first route whose `match` occurs
    // in the text the user wrote (prompts, not tool results), else the main one.
    sequenceFor(userText) {
      for (let i = 0; i < routes.length; i++) {
        if (userText.includes(routes[i].match)) return {seq: routes[i].seq, route: i};
      }
      return {seq: mainSequence, route: null};
    },
    writeLog(entry) {
      if (!args.log) return;
      fs.appendFileSync(args.log, JSON.stringify(entry) + '\n');
    },
  };
}

function sendJson(res, status, obj, headers) {
  const body = JSON.stringify(obj);
  res.writeHead(status, {'content-type': 'application/json', 'content-length': Buffer.byteLength(body),
    ...headers});
  res.end(body);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Serves `server` as the command line says, until it is told to stop.
function serve(server, args) {
  const openSockets = new Set();
  server.on('connection', (s) => {
    openSockets.add(s);
    s.on('close', () => openSockets.delete(s));
  });
  function shutdown() {
    server.close();
    for (const s of openSockets) s.destroy();
    process.exit(0);
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  if (args.exitOnEof) {
    process.stdin.on('end', shutdown);
    process.stdin.on('close', shutdown);
    process.stdin.resume();
  }
  server.listen(args.port, '127.0.0.1', () => {
    process.stdout.write(`PORT=${server.address().port}\n`);
  });
}

module.exports = {loadFake, sendJson, sleep, serve};
