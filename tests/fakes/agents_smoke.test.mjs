// End-to-end smoke of the fake model servers with the REAL agent CLIs
// (node_modules/.bin/claude and .bin/codex, pinned in package-lock.json),
// fully offline. Run from the repository root:
//
//   node --test tests/fakes/agents_smoke.test.mjs
//   UPDATE_FIXTURES=1 node --test tests/fakes/agents_smoke.test.mjs   # rewrite
//                                       # tests/fixtures/agents/*.jsonl
//
// CLAUDE_BIN / CODEX_BIN override the executables. Every case runs in a fresh
// HOME under one temp dir, with a clean environment (nothing is inherited; PATH
// is node's directory and the system's), and prints its wall and CPU time.
import {test, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {randomUUID} from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const claudeBin = process.env.CLAUDE_BIN || path.join(root, 'node_modules/.bin/claude');
const codexBin = process.env.CODEX_BIN || path.join(root, 'node_modules/.bin/codex');
const fixturesDir = path.join(root, 'tests/fixtures/agents');
const update = process.env.UPDATE_FIXTURES === '1';
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'agents-smoke-'));
const timings = [];
const liveFakes = new Set();

after(async () => {
  // A failed assertion skips a case's stop(): end what is left.
  for (const stop of [...liveFakes]) await stop();
  for (const t of timings) {
    console.log(`# timing ${t.name}: wall ${t.wallMs} ms, cpu ${t.cpuMs ?? '?'} ms (user+sys of the CLI)`);
  }
  if (!process.env.KEEP_TMP) fs.rmSync(tmp, {recursive: true, force: true});
  else console.log(`# kept ${tmp}`);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(pred, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Starts a fake (anthropic | openai_responses) on a script; returns its port,
// a reader of its request log, and stop().
async function startFake(kind, dir, scriptObj) {
  fs.mkdirSync(dir, {recursive: true});
  const scriptPath = path.join(dir, `${kind}-script.json`);
  const logPath = path.join(dir, `${kind}-requests.jsonl`);
  fs.writeFileSync(scriptPath, JSON.stringify(scriptObj, null, 1));
  const file = path.join(here, kind === 'anthropic' ? 'fake_anthropic.js' : 'fake_openai_responses.js');
  const child = spawn(process.execPath, [file, scriptPath, '--log', logPath, '--exit-on-eof'],
      {stdio: ['pipe', 'pipe', 'inherit']});
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  const port = await waitFor(() => (out.match(/^PORT=(\d+)\n/) || [])[1], `${kind} fake to listen`);
  const exited = new Promise((r) => child.on('exit', r));
  const stop = async () => {
    liveFakes.delete(stop);
    child.kill('SIGTERM');
    await exited;
  };
  liveFakes.add(stop);
  return {
    port: Number(port),
    requests: () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').trim().split('\n').filter(Boolean)
        .map((l) => JSON.parse(l)) : []),
    posts: function() { return this.requests().filter((r) => r.method === 'POST'); },
    stop,
  };
}

// Runs a CLI under bash so that `times` reports its CPU use; resolves with the
// exit code, the stdout lines parsed as JSON, and timings.
// With `stdinOpenMs`, the CLI's stdin is a pipe closed only after that many ms
// (else /dev/null). With `freeze: {when, ms}`, the run's whole process group
// gets SIGSTOP once when(stdout) holds, and SIGCONT `ms` later.
function runCli({name, bin, args, env, cwd, killWhen, stdinOpenMs, freeze}) {
  const timesFile = path.join(tmp, `${name}.times`);
  const redirect = stdinOpenMs ? '' : ' </dev/null';
  const script = `"$@"${redirect}; rc=$?; times >"$TIMES_FILE"; exit $rc`;
  const start = process.hrtime.bigint();
  const child = spawn('bash', ['-c', script, 'run', bin, ...args],
      {cwd, env: {...env, TIMES_FILE: timesFile}, stdio: [stdinOpenMs ? 'pipe' : 'ignore', 'pipe', 'pipe'],
        detached: true});
  const stdinTimer = stdinOpenMs ? setTimeout(() => child.stdin.end(), stdinOpenMs) : null;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => { stderr += d; });
  // Whatever goes wrong, no run outlives its case: SIGKILL the process group.
  let failure = null;
  const killAll = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
  const watchdog = setTimeout(() => { failure = new Error(`${name}: still running after 60 s`); killAll(); }, 60000);
  const guard = (p) => p.catch((e) => { failure = e; killAll(); });
  let killer = null;
  if (killWhen) {
    killer = guard((async () => {
      await waitFor(() => killWhen(stdout), `${name}: the moment to kill`, 30000);
      // SIGTERM to the CLI only (bash waits and reports its status).
      const pids = fs.readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/);
      for (const p of pids) if (p) process.kill(Number(p), 'SIGTERM');
    })());
  }
  let freezer = null;
  if (freeze) {
    freezer = guard((async () => {
      await waitFor(() => freeze.when(stdout), `${name}: the moment to freeze`, 30000);
      process.kill(-child.pid, 'SIGSTOP');
      await sleep(freeze.ms);
      process.kill(-child.pid, 'SIGCONT');
    })());
  }
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', async (code, signal) => {
      if (stdinTimer) clearTimeout(stdinTimer);
      clearTimeout(watchdog);
      if (killer) await killer;
      if (freezer) await freezer;
      if (failure) {
        reject(failure);
        return;
      }
      const wallMs = Number((process.hrtime.bigint() - start) / 1000000n);
      let cpuMs = null;
      try {
        // `times` prints the shell's then its children's "XmY.YYYs XmY.YYYs".
        const lines = fs.readFileSync(timesFile, 'utf8').trim().split('\n');
        const secs = (s) => { const m = s.match(/(\d+)m([\d.]+)s/); return Number(m[1]) * 60 + Number(m[2]); };
        const [u, s] = lines[1].trim().split(/\s+/);
        cpuMs = Math.round((secs(u) + secs(s)) * 1000);
      } catch { /* killed before `times` ran */ }
      timings.push({name, wallMs, cpuMs});
      fs.writeFileSync(path.join(tmp, `${name}.stdout`), stdout);
      fs.writeFileSync(path.join(tmp, `${name}.stderr`), stderr);
      const lines = stdout.split('\n').filter((l) => l.trim() !== '');
      resolve({code, signal, stdout, stderr, wallMs, cpuMs, lines, events: lines.map((l) => JSON.parse(l))});
    });
  });
}

function saveFixture(name, run) {
  if (!update) return;
  fs.mkdirSync(fixturesDir, {recursive: true});
  // Temp paths vary per run: make them stable (also in the form Claude Code
  // names its project dirs with, every non-alphanumeric as '-').
  const stable = run.stdout.split(tmp).join('/tmp/agents-smoke')
      .split(tmp.replace(/[^A-Za-z0-9]/g, '-')).join('-tmp-agents-smoke');
  fs.writeFileSync(path.join(fixturesDir, `${name}.jsonl`), stable);
}

function baseEnv(home) {
  return {PATH: `${path.dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: home, LANG: 'C.UTF-8'};
}

// ---------------------------------------------------------------- claude --

function claudeEnv(home, port, extra = {}) {
  return {
    ...baseEnv(home),
    ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}`,
    ANTHROPIC_API_KEY: 'sk-ant-fake-key',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    CLAUDE_CODE_MAX_RETRIES: '1',
    ...extra,
  };
}

function claudeArgs(prompt, sessionId, extra = []) {
  return ['-p', prompt, '--output-format', 'stream-json', '--verbose', '--include-partial-messages',
    '--session-id', sessionId, ...extra];
}

// A fresh case dir: HOME and a working directory.
function caseDirs(name) {
  const dir = path.join(tmp, name);
  const home = path.join(dir, 'home');
  const cwd = path.join(dir, 'work');
  fs.mkdirSync(home, {recursive: true});
  fs.mkdirSync(cwd, {recursive: true});
  return {dir, home, cwd};
}

const byType = (run, type, subtype) => run.events.filter((e) => e.type === type && (!subtype || e.subtype === subtype));
const resultOf = (run) => {
  const r = byType(run, 'result');
  assert.equal(r.length, 1, `one result line in:\n${run.stdout}\n${run.stderr}`);
  return r[0];
};

test('claude: plain text reply', async () => {
  const {dir, home, cwd} = caseDirs('claude_text');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'text', text: 'Hello from the fake model.',
      usage: {input_tokens: 120, output_tokens: 7, cache_read_input_tokens: 30, cache_creation_input_tokens: 40}}]});
  const sid = randomUUID();
  const run = await runCli({name: 'claude_text', bin: claudeBin, args: claudeArgs('hi', sid), env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const init = byType(run, 'system', 'init')[0];
  assert.equal(init.session_id, sid);
  const r = resultOf(run);
  assert.equal(r.subtype, 'success');
  assert.equal(r.is_error, false);
  assert.equal(r.result, 'Hello from the fake model.');
  assert.equal(r.session_id, sid);
  assert.equal(r.num_turns, 1);
  assert.deepEqual([r.usage.input_tokens, r.usage.output_tokens, r.usage.cache_read_input_tokens,
    r.usage.cache_creation_input_tokens], [120, 7, 30, 40]);
  assert.ok(r.total_cost_usd > 0);
  const deltas = byType(run, 'stream_event').filter((e) => e.event.type === 'message_delta');
  assert.equal(deltas.length, 1);
  assert.equal(deltas[0].event.usage.output_tokens, 7);
  const posts = fake.posts();
  assert.equal(posts.length, 1);
  assert.equal(posts[0].stream, true);
  assert.equal(posts[0].query, '?beta=true');
  assert.ok(fake.requests().some((q) => q.method === 'HEAD' && q.path === '/'));
  saveFixture('claude_text', run);
});

test('claude: Bash tool call (echo hi), then a final text', async () => {
  const {dir, home, cwd} = caseDirs('claude_tool_bash');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'tool_use', text: 'I will run it.', name: 'Bash', input: {command: 'echo hi', description: 'Print hi'},
      usage: {input_tokens: 200, output_tokens: 30}},
    {type: 'text', text: 'The command printed hi.', usage: {input_tokens: 260, output_tokens: 9, cache_read_input_tokens: 200}}]});
  const sid = randomUUID();
  const run = await runCli({name: 'claude_tool_bash', bin: claudeBin,
    args: claudeArgs('run echo hi', sid, ['--allowedTools', 'Bash']), env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const r = resultOf(run);
  assert.equal(r.subtype, 'success');
  assert.equal(r.is_error, false);
  assert.equal(r.num_turns, 2);
  assert.equal(r.result, 'The command printed hi.');
  assert.deepEqual(r.permission_denials, []);
  assert.equal(r.usage.input_tokens, 460);
  assert.equal(r.usage.output_tokens, 39);
  const toolUse = byType(run, 'assistant').flatMap((e) => e.message.content).find((b) => b.type === 'tool_use');
  assert.equal(toolUse.name, 'Bash');
  assert.equal(toolUse.input.command, 'echo hi');
  const toolResult = byType(run, 'user').flatMap((e) => e.message.content).find((b) => b.type === 'tool_result');
  assert.equal(toolResult.tool_use_id, toolUse.id);
  assert.match(JSON.stringify(toolResult.content), /hi/);
  const posts = fake.posts();
  assert.equal(posts.length, 2);
  assert.deepEqual(posts[1].last.tool_results.map((t) => [t.is_error, t.content.trim()]), [[false, 'hi']]);
  saveFixture('claude_tool_bash', run);
});

test('claude: a tool not allowed is denied, not hung', async () => {
  const {dir, home, cwd} = caseDirs('claude_permission_denied');
  const fake = await startFake('anthropic', dir, {turns: [
    // Not `echo hi`: the CLI runs read-only commands like echo without asking.
    {type: 'tool_use', name: 'Bash', input: {command: 'touch made-by-agent.txt', description: 'Create a file'}},
    {type: 'text', text: 'I was not allowed to run it.'}]});
  const run = await runCli({name: 'claude_permission_denied', bin: claudeBin,
    args: claudeArgs('create a file', randomUUID()), env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const r = resultOf(run);
  assert.equal(r.subtype, 'success');
  assert.equal(r.is_error, false);
  assert.equal(r.permission_denials.length, 1);
  assert.equal(r.permission_denials[0].tool_name, 'Bash');
  assert.equal(r.permission_denials[0].tool_input.command, 'touch made-by-agent.txt');
  assert.equal(fake.posts()[1].last.tool_results[0].is_error, true);
  assert.equal(fs.existsSync(path.join(cwd, 'made-by-agent.txt')), false);
  saveFixture('claude_permission_denied', run);
});

test('claude: API error 500 exits 1 with is_error', async () => {
  const {dir, home, cwd} = caseDirs('claude_api_error_500');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'error', status: 500, message: 'fake: the model is down', repeat: -1}]});
  const run = await runCli({name: 'claude_api_error_500', bin: claudeBin, args: claudeArgs('hi', randomUUID()),
    env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  assert.equal(run.code, 1);
  const r = resultOf(run);
  assert.equal(r.is_error, true);
  assert.equal(r.api_error_status, 500);
  assert.equal(r.subtype, 'success');  // sic: FIELD-NOTES "exit codes lie"
  const retries = byType(run, 'system', 'api_retry');
  assert.equal(retries.length, 1);
  assert.equal(retries[0].error_status, 500);
  assert.equal(fake.posts().length, 2);  // CLAUDE_CODE_MAX_RETRIES=1: one retry
  saveFixture('claude_api_error_500', run);
});

test('claude: --max-turns 1 with a tool_use reply ends error_max_turns', async () => {
  const {dir, home, cwd} = caseDirs('claude_max_turns');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'tool_use', name: 'Bash', input: {command: 'echo hi', description: 'Print hi'}, repeat: -1}]});
  const run = await runCli({name: 'claude_max_turns', bin: claudeBin,
    args: claudeArgs('run echo hi', randomUUID(), ['--max-turns', '1', '--allowedTools', 'Bash']),
    env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  const r = resultOf(run);
  assert.equal(r.subtype, 'error_max_turns');
  assert.equal(r.is_error, true);
  assert.equal(r.terminal_reason, 'max_turns');
  assert.deepEqual(r.errors, ['Reached maximum number of turns (1)']);
  // Measured with 2.1.197: the tool of the last allowed turn still runs (a
  // `user` tool_result line) and num_turns counts one more than --max-turns.
  assert.equal(r.num_turns, 2);
  assert.equal(byType(run, 'user').length, 1);
  assert.equal(fake.posts().length, 1);
  assert.equal(run.code, 1);
  saveFixture('claude_max_turns', run);
});

test('claude: --max-budget-usd ends error_max_budget_usd after the reply that crossed it', async () => {
  const {dir, home, cwd} = caseDirs('claude_max_budget');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'tool_use', name: 'Bash', input: {command: 'echo hi', description: 'Print hi'},
      usage: {input_tokens: 100000, output_tokens: 500}, repeat: -1}]});
  const run = await runCli({name: 'claude_max_budget', bin: claudeBin,
    args: claudeArgs('run echo hi', randomUUID(), ['--max-budget-usd', '0.01', '--allowedTools', 'Bash']),
    env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  const r = resultOf(run);
  assert.equal(r.subtype, 'error_max_budget_usd');
  assert.equal(r.is_error, true);
  assert.ok(r.total_cost_usd > 0.01, `cost ${r.total_cost_usd}`);
  assert.deepEqual(r.errors, ['Reached maximum budget ($0.01)']);
  // Unlike --max-turns, the tool of the reply that crossed the budget is not run.
  assert.equal(byType(run, 'user').length, 0);
  assert.equal(fake.posts().length, 1);
  assert.equal(run.code, 1);
  saveFixture('claude_max_budget', run);
});

test('claude: --resume of a finished session from the same cwd', async () => {
  const {dir, home, cwd} = caseDirs('claude_resume');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'text', text: 'First answer.'},
    {type: 'text', text: 'Second answer, with the history.', usage: {input_tokens: 50, output_tokens: 6}}]});
  const sid = randomUUID();
  const first = await runCli({name: 'claude_resume_first', bin: claudeBin, args: claudeArgs('first question', sid),
    env: claudeEnv(home, fake.port), cwd});
  assert.equal(first.code, 0, first.stderr);
  const resumeArgs = ['-p', 'second question', '--output-format', 'stream-json', '--verbose',
    '--include-partial-messages', '--resume', sid];
  const second = await runCli({name: 'claude_resume', bin: claudeBin, args: resumeArgs,
    env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  assert.equal(second.code, 0, second.stderr);
  const r = resultOf(second);
  assert.equal(r.subtype, 'success');
  assert.equal(r.result, 'Second answer, with the history.');
  assert.equal(r.session_id, sid);
  // The resumed run's result counts only its own requests.
  assert.deepEqual([r.usage.input_tokens, r.usage.output_tokens], [50, 6]);
  const posts = fake.posts();
  assert.equal(posts.length, 2);
  assert.ok(posts[1].roles.filter((x) => x === 'assistant').length >= 1, 'the resumed request carries the first reply');
  assert.match(posts[1].last.text, /second question/);
  // The transcript lives under $HOME/.claude/projects/<cwd, / as ->/<id>.jsonl.
  const projects = fs.readdirSync(path.join(home, '.claude/projects'));
  assert.ok(projects.some((p) => fs.existsSync(path.join(home, '.claude/projects', p, `${sid}.jsonl`))));
  saveFixture('claude_resume', second);
});

test('claude: a stalled stream keeps the CLI waiting; SIGTERM exits 143 with no result', async () => {
  const {dir, home, cwd} = caseDirs('claude_stall_killed');
  const fake = await startFake('anthropic', dir, {turns: [{type: 'stall', repeat: -1}]});
  const run = await runCli({name: 'claude_stall_killed', bin: claudeBin, args: claudeArgs('hi', randomUUID()),
    env: claudeEnv(home, fake.port, {API_TIMEOUT_MS: '2000'}), cwd,
    // Kill 3 s after message_start arrived (longer than API_TIMEOUT_MS).
    killWhen: (() => { let seen = 0; return (out) => {
      if (!seen && out.includes('"message_start"')) seen = Date.now();
      return seen && Date.now() - seen > 3000;
    }; })()});
  await fake.stop();
  assert.equal(byType(run, 'result').length, 0);
  assert.equal(run.code, 143);
  assert.equal(fake.posts().length, 1);
  saveFixture('claude_stall_killed', run);
});

test('claude: a cut stream is re-sent without streaming (plain JSON answer)', async () => {
  const {dir, home, cwd} = caseDirs('claude_stream_cut');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'cut', text: 'Partial answer'},
    {type: 'text', text: 'Answer from the non-streaming retry.', usage: {input_tokens: 80, output_tokens: 11}}]});
  const run = await runCli({name: 'claude_stream_cut', bin: claudeBin, args: claudeArgs('hi', randomUUID()),
    env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  const posts = fake.posts();
  assert.deepEqual(posts.map((p) => p.stream), [true, false]);
  assert.equal(run.code, 0, run.stderr);
  const r = resultOf(run);
  assert.equal(r.is_error, false);
  assert.equal(r.result, 'Answer from the non-streaming retry.');
  // Measured with 2.1.197: after the plain-JSON fallback, result.usage is all
  // zeros; the tokens are only in modelUsage and on the assistant line (no
  // stream_event carries them, and the cut stream's message_start did).
  assert.equal(r.usage.output_tokens, 0);
  assert.equal(r.usage.input_tokens, 0);
  const mu = Object.values(r.modelUsage);
  assert.equal(mu.length, 1);
  assert.deepEqual([mu[0].inputTokens, mu[0].outputTokens], [80, 11]);
  const assistant = byType(run, 'assistant');
  assert.equal(assistant.length, 1);
  assert.equal(assistant[0].message.usage.output_tokens, 11);
  const starts = byType(run, 'stream_event').filter((e) => e.event.type === 'message_start');
  assert.equal(starts.length, 1);  // the cut stream's
  assert.equal(byType(run, 'stream_event').filter((e) => e.event.type === 'message_delta').length, 0);
  saveFixture('claude_stream_cut', run);
});

test('claude: an open stdin pipe delays the start by 3 s, then it goes on', async () => {
  const {dir, home, cwd} = caseDirs('claude_stdin_open');
  const fake = await startFake('anthropic', dir, {turns: [{type: 'text', text: 'Hello.'}]});
  const run = await runCli({name: 'claude_stdin_open', bin: claudeBin, args: claudeArgs('hi', randomUUID()),
    env: claudeEnv(home, fake.port), cwd, stdinOpenMs: 8000});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  assert.equal(resultOf(run).result, 'Hello.');
  assert.match(run.stderr, /no stdin data received in 3s/);
  assert.ok(run.wallMs >= 3000, `took ${run.wallMs} ms`);
});

test('claude: one fake serves two agents by route, whatever order they ask in', async () => {
  const {dir, home, cwd} = caseDirs('claude_routes');
  const fake = await startFake('anthropic', dir, {routes: [
    {match: 'agent-A', turns: [{type: 'text', text: 'I am A.'}]},
    {match: 'agent-B', turns: [{type: 'text', text: 'I am B.'}]}]});
  const b = await runCli({name: 'claude_routes_b', bin: claudeBin, args: claudeArgs('agent-B: who are you?', randomUUID()),
    env: claudeEnv(home, fake.port), cwd});
  const a = await runCli({name: 'claude_routes_a', bin: claudeBin, args: claudeArgs('agent-A: who are you?', randomUUID()),
    env: claudeEnv(home, fake.port), cwd});
  await fake.stop();
  assert.equal(resultOf(b).result, 'I am B.');
  assert.equal(resultOf(a).result, 'I am A.');
  assert.deepEqual(fake.posts().map((p) => p.route), [1, 0]);
});

test('claude: frozen (SIGSTOP) mid-stream for 4 s, then thawed, it finishes', async () => {
  const {dir, home, cwd} = caseDirs('claude_freeze_thaw');
  const fake = await startFake('anthropic', dir, {turns: [
    {type: 'text', text: 'one two three four five six seven eight', chunks: 8, chunk_delay_ms: 200,
      usage: {input_tokens: 90, output_tokens: 12}}]});
  const run = await runCli({name: 'claude_freeze_thaw', bin: claudeBin, args: claudeArgs('count', randomUUID()),
    env: claudeEnv(home, fake.port), cwd,
    freeze: {when: (out) => out.includes('"content_block_delta"'), ms: 4000}});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const r = resultOf(run);
  assert.equal(r.is_error, false);
  assert.equal(r.result, 'one two three four five six seven eight');
  assert.equal(r.usage.output_tokens, 12);
  assert.ok(run.wallMs >= 4000, `took ${run.wallMs} ms`);
  assert.equal(fake.posts().length, 1);  // no retry: the stream just resumed
  saveFixture('claude_freeze_thaw', run);
});

// ----------------------------------------------------------------- codex --

function codexEnv(home) {
  return {...baseEnv(home), OPENAI_API_KEY: 'sk-fake-key'};
}

function codexConfig(port, providerExtra = '') {
  return ['-c', 'model_provider=fake',
    '-c', `model_providers.fake={name="fake",base_url="http://127.0.0.1:${port}/v1",env_key="OPENAI_API_KEY",` +
        `wire_api="responses",supports_websockets=false,request_max_retries=0,stream_max_retries=0${providerExtra}}`,
    '-c', 'analytics.enabled=false', '-c', 'check_for_update_on_startup=false',
    '--disable', 'apps', '--disable', 'plugins', '--skip-git-repo-check'];
}

test('codex: plain text reply', async () => {
  const {dir, home, cwd} = caseDirs('codex_text');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'text', text: 'Hello from the fake codex model.',
      usage: {input_tokens: 200, cached_input_tokens: 50, output_tokens: 9, reasoning_output_tokens: 3}}]});
  const run = await runCli({name: 'codex_text', bin: codexBin, args: ['exec', '--json', ...codexConfig(fake.port), 'hi'],
    env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const types = run.events.map((e) => e.type);
  assert.deepEqual(types, ['thread.started', 'turn.started', 'item.completed', 'turn.completed']);
  assert.match(run.events[0].thread_id, /^[0-9a-f-]{36}$/);
  assert.deepEqual(run.events[2].item, {id: 'item_0', type: 'agent_message', text: 'Hello from the fake codex model.'});
  const u = run.events[3].usage;
  assert.deepEqual([u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_output_tokens], [200, 50, 9, 3]);
  assert.equal(fake.posts().length, 1);
  saveFixture('codex_text', run);
});

test('codex: a shell command through the code-mode exec tool, then a final text', async () => {
  const {dir, home, cwd} = caseDirs('codex_tool_exec');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'custom_tool_call', name: 'exec', input: 'const r = await tools.exec_command({cmd: "echo hi"});\ntext(r);\n',
      usage: {input_tokens: 300, output_tokens: 20}},
    {type: 'text', text: 'The command printed hi.', usage: {input_tokens: 400, cached_input_tokens: 300, output_tokens: 8}}]});
  const run = await runCli({name: 'codex_tool_exec', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'run echo hi'], env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const cmd = run.events.filter((e) => e.type === 'item.completed' && e.item.type === 'command_execution');
  assert.equal(cmd.length, 1);
  assert.equal(cmd[0].item.exit_code, 0);
  assert.equal(cmd[0].item.aggregated_output, 'hi\n');
  const last = run.events[run.events.length - 1];
  assert.equal(last.type, 'turn.completed');
  assert.equal(last.usage.input_tokens, 700);  // summed over the turn's two requests
  assert.equal(last.usage.output_tokens, 28);
  const posts = fake.posts();
  assert.equal(posts.length, 2);
  assert.ok(posts[0].tool_names.includes('functions.exec'));
  assert.match(posts[1].last.outputs[0].output, /hi\\\\n/);
  saveFixture('codex_tool_exec', run);
});

test('codex: API error 500 ends turn.failed, exit 1', async () => {
  const {dir, home, cwd} = caseDirs('codex_api_error_500');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'error', status: 500, message: 'fake: the model is down', repeat: -1}]});
  const run = await runCli({name: 'codex_api_error_500', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'hi'], env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 1);
  const failed = run.events.filter((e) => e.type === 'turn.failed');
  assert.equal(failed.length, 1);
  assert.ok(failed[0].error.message.length > 0);
  assert.equal(fake.posts().length, 1);  // request_max_retries=0, stream_max_retries=0
  saveFixture('codex_api_error_500', run);
});

test('codex: API error 400 carries the server message', async () => {
  const {dir, home, cwd} = caseDirs('codex_api_error_400');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'error', status: 400, message: 'fake: bad request body', repeat: -1}]});
  const run = await runCli({name: 'codex_api_error_400', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'hi'], env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 1);
  const failed = run.events.filter((e) => e.type === 'turn.failed');
  assert.equal(failed.length, 1);
  assert.match(failed[0].error.message, /fake: bad request body/);
  saveFixture('codex_api_error_400', run);
});

test('codex: response.failed in the stream ends turn.failed with its message', async () => {
  const {dir, home, cwd} = caseDirs('codex_response_failed');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'failed', code: 'server_error', message: 'fake: response failed', repeat: -1}]});
  const run = await runCli({name: 'codex_response_failed', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'hi'], env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 1);
  const failed = run.events.filter((e) => e.type === 'turn.failed');
  assert.equal(failed.length, 1);
  assert.match(failed[0].error.message, /fake: response failed/);
  saveFixture('codex_response_failed', run);
});

test('codex: exec resume <thread_id> continues the thread', async () => {
  const {dir, home, cwd} = caseDirs('codex_resume');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'text', text: 'First answer.'},
    {type: 'text', text: 'Second answer, with the history.', usage: {input_tokens: 50, output_tokens: 6}}]});
  const first = await runCli({name: 'codex_resume_first', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'first question'], env: codexEnv(home), cwd});
  assert.equal(first.code, 0, first.stderr);
  const threadId = first.events[0].thread_id;
  const second = await runCli({name: 'codex_resume', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'resume', threadId, 'second question'], env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(second.code, 0, second.stderr);
  assert.equal(second.events[0].type, 'thread.started');
  assert.equal(second.events[0].thread_id, threadId);
  const msgs = second.events.filter((e) => e.type === 'item.completed' && e.item.type === 'agent_message');
  assert.deepEqual(msgs.map((e) => e.item.text), ['Second answer, with the history.']);
  // Measured with 0.171.0: turn.completed.usage is the thread's running
  // total, so a resumed run reports the first run's tokens again (10+50 in,
  // 5+6 out): charge the difference, not the sum.
  const u = second.events.find((e) => e.type === 'turn.completed').usage;
  assert.deepEqual([u.input_tokens, u.output_tokens], [60, 11]);
  const posts = fake.posts();
  assert.equal(posts.length, 2);
  assert.ok(posts[1].inputs > posts[0].inputs, 'the resumed request carries the history');
  assert.match(posts[1].last.user_text, /second question/);
  saveFixture('codex_resume', second);
});

test('codex: a stalled stream; SIGTERM ends the CLI with no turn.completed', async () => {
  const {dir, home, cwd} = caseDirs('codex_stall_killed');
  const fake = await startFake('openai_responses', dir, {turns: [{type: 'stall', repeat: -1}]});
  let posted = 0;
  const run = await runCli({name: 'codex_stall_killed', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'hi'], env: codexEnv(home), cwd,
    killWhen: (out) => {
      if (!posted && fake.posts().length > 0) posted = Date.now();
      return posted && Date.now() - posted > 3000 && out.includes('turn.started');
    }});
  await fake.stop();
  assert.equal(run.events.filter((e) => e.type === 'turn.completed' || e.type === 'turn.failed').length, 0);
  assert.equal(run.code, 143);
  assert.equal(fake.posts().length, 1);
  saveFixture('codex_stall_killed', run);
});

test('codex: an open stdin pipe blocks the run until stdin closes', async () => {
  const {dir, home, cwd} = caseDirs('codex_stdin_open');
  const fake = await startFake('openai_responses', dir, {turns: [{type: 'text', text: 'Hello.'}]});
  const run = await runCli({name: 'codex_stdin_open', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'hi'], env: codexEnv(home), cwd, stdinOpenMs: 5000});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  // Nothing at all (not even thread.started) before stdin closed at 5 s.
  assert.ok(run.wallMs >= 5000, `took ${run.wallMs} ms`);
  const msgs = run.events.filter((e) => e.type === 'item.completed' && e.item.type === 'agent_message');
  assert.deepEqual(msgs.map((e) => e.item.text), ['Hello.']);
});

test('codex: one fake serves two agents by route', async () => {
  const {dir, home, cwd} = caseDirs('codex_routes');
  const fake = await startFake('openai_responses', dir, {routes: [
    {match: 'agent-A', turns: [{type: 'text', text: 'I am A.'}]},
    {match: 'agent-B', turns: [{type: 'text', text: 'I am B.'}]}]});
  const b = await runCli({name: 'codex_routes_b', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'agent-B: who are you?'], env: codexEnv(home), cwd});
  const a = await runCli({name: 'codex_routes_a', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'agent-A: who are you?'], env: codexEnv(home), cwd});
  await fake.stop();
  const text = (run) => run.events.filter((e) => e.type === 'item.completed' && e.item.type === 'agent_message')
      .map((e) => e.item.text);
  assert.deepEqual(text(b), ['I am B.']);
  assert.deepEqual(text(a), ['I am A.']);
  assert.deepEqual(fake.posts().map((p) => p.route), [1, 0]);
});

test('codex: frozen (SIGSTOP) mid-stream for 4 s, then thawed, it finishes', async () => {
  const {dir, home, cwd} = caseDirs('codex_freeze_thaw');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'text', text: 'one two three four five six seven eight', chunks: 8, chunk_delay_ms: 200,
      usage: {input_tokens: 90, output_tokens: 12}}]});
  const run = await runCli({name: 'codex_freeze_thaw', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), 'count'], env: codexEnv(home), cwd,
    // codex --json prints nothing per delta: freeze once the request is in.
    freeze: {when: (out) => out.includes('turn.started') && fake.posts().length > 0, ms: 4000}});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const msgs = run.events.filter((e) => e.type === 'item.completed' && e.item.type === 'agent_message');
  assert.deepEqual(msgs.map((e) => e.item.text), ['one two three four five six seven eight']);
  assert.equal(run.events[run.events.length - 1].usage.output_tokens, 12);
  assert.ok(run.wallMs >= 4000, `took ${run.wallMs} ms`);
  assert.equal(fake.posts().length, 1);
  saveFixture('codex_freeze_thaw', run);
});

test('codex: stream_idle_timeout_ms ends a stalled stream with turn.failed', async () => {
  const {dir, home, cwd} = caseDirs('codex_stall_idle_timeout');
  const fake = await startFake('openai_responses', dir, {turns: [{type: 'stall', repeat: -1}]});
  const run = await runCli({name: 'codex_stall_idle_timeout', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port, ',stream_idle_timeout_ms=2000'), 'hi'], env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 1);
  assert.ok(run.wallMs >= 2000 && run.wallMs < 10000, `took ${run.wallMs} ms`);
  const failed = run.events.filter((e) => e.type === 'turn.failed');
  assert.equal(failed.length, 1);
  assert.match(failed[0].error.message, /idle timeout/);
  assert.equal(fake.posts().length, 1);
  saveFixture('codex_stall_idle_timeout', run);
});

test('codex: a model unknown to codex gets function tools (exec_command) and a non-fatal error item', async () => {
  const {dir, home, cwd} = caseDirs('codex_unknown_model_tool');
  const fake = await startFake('openai_responses', dir, {turns: [
    {type: 'function_call', name: 'exec_command', arguments: {cmd: 'echo hi'}, usage: {input_tokens: 100, output_tokens: 12}},
    {type: 'text', text: 'Done: it printed hi.', usage: {input_tokens: 140, output_tokens: 6}}]});
  const run = await runCli({name: 'codex_unknown_model_tool', bin: codexBin,
    args: ['exec', '--json', ...codexConfig(fake.port), '-m', 'my-gateway-model', 'run echo hi'],
    env: codexEnv(home), cwd});
  await fake.stop();
  assert.equal(run.code, 0, run.stderr);
  const errors = run.events.filter((e) => e.type === 'item.completed' && e.item.type === 'error');
  assert.equal(errors.length, 1);
  assert.match(errors[0].item.message, /my-gateway-model/);
  const cmd = run.events.filter((e) => e.type === 'item.completed' && e.item.type === 'command_execution');
  assert.equal(cmd.length, 1);
  assert.equal(cmd[0].item.aggregated_output, 'hi\n');
  const last = run.events[run.events.length - 1];
  assert.equal(last.type, 'turn.completed');
  assert.equal(last.usage.input_tokens, 240);
  const posts = fake.posts();
  assert.equal(posts[0].model, 'my-gateway-model');
  assert.ok(posts[0].tool_names.includes('exec_command'));
  assert.ok(posts[1].last.outputs.length === 1);
  saveFixture('codex_unknown_model_tool', run);
});
