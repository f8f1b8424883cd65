// Browser test of the Swagger UI page (/docs): a real daemon, a real Chromium (Debian's
// /usr/bin/chromium driven by playwright-core), a user who authorizes with a token minted by
// `overseer token create` and runs "Try it out" -> Execute on GET /api/supervisor/workers.
//
// Run: OVERSEER_BINARY=build/ci/overseer node --test tests/browser/
// Needs: chromium (apt-get install chromium), node_modules (npm ci). On failure a screenshot
// is written to $OVERSEER_ARTIFACTS_DIR (default: the test's temp dir, which is then kept).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BINARY = process.env.OVERSEER_BINARY;
const CHROMIUM = process.env.OVERSEER_CHROMIUM || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let tmp;
let daemon;
let daemonExit;
let stderr = '';
let baseUrl;
let token;
let keepTmp = false;

// Resolves with the daemon's base URL once it prints "overseer listening on http://...".
function startDaemon(env) {
  daemon = spawn(
    BINARY,
    ['serve', '--listen', '127.0.0.1:0', '--state-dir', join(tmp, 'data')],
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  daemonExit = new Promise((resolve) => daemon.once('exit', resolve));
  daemon.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`daemon not listening after 30 s: ${stderr}`)), 30000);
    daemon.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    daemon.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`daemon exited (${code}) before listening: ${stderr}`));
    });
  });
}

before(async () => {
  assert.ok(BINARY, 'set OVERSEER_BINARY to the overseer binary');
  assert.ok(existsSync(BINARY), `no overseer binary at ${BINARY}`);
  assert.ok(existsSync(CHROMIUM), `no Chromium at ${CHROMIUM} (apt-get install chromium)`);
  tmp = mkdtempSync(join(tmpdir(), 'overseer-browser-'));
  const secretFile = join(tmp, 'secret');
  writeFileSync(secretFile, randomBytes(48).toString('base64'));
  const env = { ...process.env, OVERSEER_JWT_SECRET_FILE: secretFile };
  token = execFileSync(
    BINARY,
    ['token', 'create', '--sub', 'browser', '--workspace', 'default',
     '--scopes', 'supervisor:read,supervisor:write,jobs:read,jobs:write', '--ttl', '1h'],
    { env, encoding: 'utf8' },
  ).trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'token create printed a JWT');
  baseUrl = await startDaemon(env);
});

after(async () => {
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    daemon.kill('SIGTERM');
    await daemonExit;
  }
  if (tmp && !keepTmp) rmSync(tmp, { recursive: true, force: true });
});

// Runs `body(page)` in a fresh Chromium profile; screenshots the page if it throws.
async function withPage(name, body) {
  const profile = mkdtempSync(join(tmp, 'profile-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 1000 },
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  try {
    await body(page, problems);
  } catch (e) {
    const dir = process.env.OVERSEER_ARTIFACTS_DIR || tmp;
    mkdirSync(dir, { recursive: true });
    const shot = join(dir, `${name}-failure.png`);
    await page.screenshot({ path: shot, fullPage: true }).catch(() => {});
    if (!process.env.OVERSEER_ARTIFACTS_DIR) keepTmp = true;
    e.message += `\nscreenshot: ${shot}\nbrowser problems: ${problems.join('; ') || 'none'}`;
    throw e;
  } finally {
    await context.close();
  }
}

// Expands GET /api/supervisor/workers, presses "Try it out" (if shown) and "Execute", and
// returns the rendered status code and response body text.
async function executeListWorkers(page) {
  const op = page.locator('#operations-supervisor-listWorkers');
  await op.waitFor({ state: 'visible' });
  if (!(await op.locator('.opblock-body').isVisible())) {
    await op.locator('.opblock-summary').first().click();
  }
  const tryOut = op.locator('button.try-out__btn');
  if ((await tryOut.textContent())?.trim() === 'Try it out') await tryOut.click();
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table .response .response-col_status').first();
  await status.waitFor({ state: 'visible', timeout: 15000 });
  const body = await op.locator('.live-responses-table .response-col_description pre').first().textContent();
  return { status: (await status.textContent()).trim(), body };
}

test('Swagger UI: authorize with a token, Try it out on GET /api/supervisor/workers answers 200', { timeout: 120000 }, async () => {
  // A worker to see in the list.
  const created = await fetch(`${baseUrl}/api/jobs`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'browser-test', task: { runtime: 'command', command: ['sleep', '30'] } }),
  });
  assert.equal(created.status, 201);
  const job = await created.json();

  await withPage('authorize-execute', async (page, problems) => {
    const res = await page.goto(`${baseUrl}/docs`);
    assert.equal(res.status(), 200);
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'overseer' }).waitFor();

    // Without authorizing, the same call is a 401: the page really talks to the daemon.
    const anonymous = await executeListWorkers(page);
    assert.equal(anonymous.status, '401', `anonymous call rendered ${anonymous.status}`);

    // Authorize: the top button, the bearer field, Authorize, Close.
    await page.locator('.scheme-container button.authorize').click();
    const dialog = page.locator('.dialog-ux .modal-ux');
    await dialog.waitFor({ state: 'visible' });
    await dialog.locator('input').first().fill(token);
    await dialog.locator('button.modal-btn.auth.authorize').click();
    await dialog.locator('button.modal-btn.btn-done, button.btn-done').first().click();
    await dialog.waitFor({ state: 'hidden' });

    const authorized = await executeListWorkers(page);
    assert.equal(authorized.status, '200', `authorized call rendered ${authorized.status}: ${authorized.body}`);
    assert.match(authorized.body, new RegExp(job.id), 'the rendered workers include the new job\'s worker');

    // persistAuthorization: after a reload the token is still there.
    await page.reload();
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'overseer' }).waitFor();
    const again = await executeListWorkers(page);
    assert.equal(again.status, '200', `after reload the call rendered ${again.status}`);

    assert.deepEqual(problems.filter((p) => !/401 \(Unauthorized\)/.test(p)), [],
      'no script errors or Content-Security-Policy violations in the page');
  });
});

test('the page loads its assets from the daemon with their content types', { timeout: 60000 }, async () => {
  for (const [path, type] of [
    ['/docs', 'text/html'],
    ['/docs/swagger-ui-bundle.js', 'text/javascript'],
    ['/docs/swagger-ui.css', 'text/css'],
    ['/docs/favicon-32x32.png', 'image/png'],
    ['/openapi.json', 'application/json'],
    ['/openapi.yaml', 'application/yaml'],
  ]) {
    const r = await fetch(`${baseUrl}${path}`);
    assert.equal(r.status, 200, path);
    assert.ok(r.headers.get('content-type').startsWith(type), `${path}: ${r.headers.get('content-type')}`);
    assert.ok((await r.arrayBuffer()).byteLength > 0, `${path} has a body`);
  }
  const doc = await (await fetch(`${baseUrl}/openapi.json`)).json();
  assert.equal(doc.openapi, '3.0.3');
  assert.ok(doc.paths['/api/supervisor/workers'], 'the served document lists the workers route');
  const missing = await fetch(`${baseUrl}/docs/nothing.js`);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.code, 'NOT_FOUND');
});
