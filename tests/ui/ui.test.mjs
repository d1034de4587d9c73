// Browser tests of the web UI: starts the real callscope daemon on free
// ports with a temporary data directory, fills it with ui_fill, and drives
// Debian's chromium (headless, through playwright-core) over every page.
// Screenshots of each page are written to $UI_ARTIFACTS.
import {test, before, after} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set: run this test through ctest (tests/ui/CMakeLists.txt)`);
  return v;
};
const CALLSCOPE = env('CALLSCOPE_BIN');
const UI_FILL = env('UI_FILL_BIN');
const UI_DIR = env('UI_DIR');
const ART = process.env.UI_ARTIFACTS || path.join(os.tmpdir(), 'callscope-ui-artifacts');
const OPEN_LIMIT_MS = Number(process.env.UI_OPEN_LIMIT_MS || 10000); // a hang bound on a shared machine; the timing itself belongs to a benchmark
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

const EXAMPLES = process.env.EXAMPLES_DIR || '';
const EX_SESSIONS = 4, EX_REQUESTS = 24;

let daemon, dataDir, profileDir, base, ids, ctx, page;
const consoleErrors = [];

function startDaemon() {
  return new Promise((resolve, reject) => {
    const p = spawn(CALLSCOPE, ['--data-dir', dataDir, '--tcp-port', '0', '--udp-port', '0', '--query-port', '0',
      '--ui-dir', UI_DIR, '--log-level', 'warn'], {stdio: ['ignore', 'pipe', 'inherit']});
    let out = '';
    const timer = setTimeout(() => reject(new Error('callscope did not start within 20 s: ' + out)), 20000);
    p.on('exit', (code) => reject(new Error(`callscope exited with ${code}: ${out}`)));
    p.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/ ; native frames on tcp (\d+), udp (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({proc: p, http: Number(m[1]), tcp: Number(m[2]), udp: Number(m[3])});
      }
    });
  });
}

// Starts one example service on a free port; resolves with its URL.
function startExample(name, args, udp) {
  return new Promise((resolve, reject) => {
    const p = spawn(path.join(EXAMPLES, 'cs-' + name), ['--port', '0', '--latency-ms', '1', '--jitter-ms', '2', ...args],
      {env: {...process.env, CALLSCOPE_ENDPOINT: `udp://127.0.0.1:${udp}`}, stdio: ['ignore', 'ignore', 'pipe']});
    let err = '';
    const timer = setTimeout(() => reject(new Error(`cs-${name} did not start: ${err}`)), 15000);
    p.stderr.on('data', (d) => {
      err += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(err);
      if (m && timer) {
        clearTimeout(timer);
        resolve({proc: p, url: m[1]});
      }
    });
    p.on('exit', (code) => reject(new Error(`cs-${name} exited with ${code}: ${err}`)));
  });
}

function stopProc(p) {
  if (p.exitCode !== null) return Promise.resolve(p.exitCode);
  p.removeAllListeners('exit');
  return new Promise((resolve) => {
    const t = setTimeout(() => p.kill('SIGKILL'), 10000);
    p.on('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    p.kill('SIGTERM');
  });
}

// The example services call each other over HTTP and send their spans to
// the daemon; the load generator drives them with known session IDs. They
// are stopped (which flushes their spans) before the browser starts.
// (Over UDP: libtrace's TCP exporter delivered no spans when this was
// written; the load is small enough that loopback UDP loses nothing.)
async function runExamples(udp) {
  const procs = [];
  try {
    const inv = await startExample('inventory', ['--fail-every', '4'], udp);
    procs.push(inv.proc);
    const pay = await startExample('payments', ['--fail-every', '5'], udp);
    procs.push(pay.proc);
    const ord = await startExample('orders', ['--inventory', inv.url, '--payments', pay.url, '--timeout-ms', '500'], udp);
    procs.push(ord.proc);
    const fe = await startExample('frontend', ['--inventory', inv.url, '--orders', ord.url, '--timeout-ms', '500'], udp);
    procs.push(fe.proc);
    execFileSync(path.join(EXAMPLES, 'cs-examples-load'), ['--url', fe.url, '--requests', String(EX_REQUESTS),
      '--sessions', String(EX_SESSIONS), '--session-prefix', 'ui-user-', '--rate', '0', '--concurrency', '2'],
      {stdio: ['ignore', 'ignore', 'ignore'], timeout: 60000});
  } finally {
    for (const p of procs.reverse()) await stopProc(p);
  }
  // Spans are acknowledged once stored; wait until every trace is searchable.
  for (let i = 0; i < 50; i++) {
    const body = await getJSON('/api/v1/sessions/ui-user-1');
    if (body.count >= EX_REQUESTS / EX_SESSIONS) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the example services\' traces did not all arrive');
}

async function getJSON(p) {
  const res = await fetch(base + p.replace(/^\//, ''));
  assert.equal(res.status, 200, `GET ${p}`);
  return res.json();
}

async function shot(name, pg = page) {
  await pg.screenshot({path: path.join(ART, name + '.png')});
}

// A fresh document each time (the query string changes), so no view state
// carries over from the previous test.
let loads = 0;
async function open(hash, ready = '[data-ready]') {
  await page.goto(`${base}?load=${++loads}${hash}`);
  await page.waitForSelector(ready, {timeout: 15000});
}

const rows = (pg = page) => pg.locator('.wf-row');
const rowByOp = (op, pg = page) => pg.locator('.wf-row', {has: pg.locator('.op', {hasText: new RegExp('^' + op.replace(/[/.*+?^${}()|[\]\\]/g, '\\$&') + '$')})});

before(async () => {
  fs.mkdirSync(ART, {recursive: true});
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-ui-data-'));
  profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-ui-profile-'));
  const d = await startDaemon();
  daemon = d.proc;
  base = `http://127.0.0.1:${d.http}/`;
  ids = JSON.parse(execFileSync(UI_FILL, [String(d.tcp)], {encoding: 'utf8'}));
  if (EXAMPLES) await runExamples(d.udp);
  ctx = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM, headless: true, viewport: {width: 1280, height: 800},
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(`${m.text()} (${page.url()})`));
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message} (${page.url()})`));
});

after(async () => {
  if (ctx) await ctx.close();
  if (daemon && daemon.exitCode === null) {
    daemon.removeAllListeners('exit');
    const done = new Promise((r) => daemon.on('exit', r));
    daemon.kill('SIGTERM');
    await Promise.race([done, new Promise((r) => setTimeout(r, 5000))]);
    if (daemon.exitCode === null) daemon.kill('SIGKILL');
  }
  for (const d of [dataDir, profileDir]) if (d) fs.rmSync(d, {recursive: true, force: true});
});

test('search by session ID lists its traces and opens one', async () => {
  await page.goto(`${base}?load=${++loads}#/search`);
  await page.fill('input[name=session]', 'sess-alice');
  await page.click('button[type=submit]');
  await page.waitForSelector('.result');
  assert.equal(await page.locator('.result').count(), 4);
  assert.equal(await page.locator('.scatter circle').count(), 4);
  assert.match(page.url(), /session=sess-alice/);
  const checkout = page.locator(`.result[data-trace="${ids.aliceCheckout}"]`);
  assert.match(await checkout.innerText(), /POST \/checkout[\s\S]*10 spans[\s\S]*2 errors/);
  await shot('search');
  await checkout.locator('a.title').click();
  await page.waitForSelector('.page-trace[data-ready]');
  assert.equal(await page.locator('h1').innerText(), 'frontend: POST /checkout');
  assert.equal(await rows().count(), 10);
  assert.match(await page.locator('.trace-head').innerText(), /2 errors[\s\S]*1 skew-adjusted/);
  // The back button returns to the same search.
  await page.goBack();
  await page.waitForSelector('.result');
  assert.equal(await page.inputValue('input[name=session]'), 'sess-alice');
});

test('trace view: expand and collapse with the mouse and the keyboard', async () => {
  await open(`#/trace/${ids.aliceCheckout}`);
  const inv = rowByOp('HTTP call inventory');
  assert.equal(await inv.getAttribute('aria-expanded'), 'true');
  await inv.locator('.tog').click();
  assert.equal(await rows().count(), 9);
  assert.equal(await rowByOp('HTTP call inventory').getAttribute('aria-expanded'), 'false');
  assert.equal(await rowByOp('GET /stock').count(), 0);
  assert.match(page.url(), /c=[0-9a-f]{16}/, 'collapsed spans are kept in the URL');
  await rowByOp('HTTP call inventory').locator('.tog').click();
  assert.equal(await rows().count(), 10);
  // Keyboard: select the root, Left collapses it, Right expands it, Down moves.
  await rows().first().click();
  await page.keyboard.press('ArrowLeft');
  assert.equal(await rows().count(), 1);
  await page.keyboard.press('ArrowRight');
  assert.equal(await rows().count(), 10);
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press('ArrowDown');
  assert.equal(await page.locator('.wf-row.sel .op').innerText(), 'POST /checkout');
  assert.equal(await page.locator('.wf-row.sel .svc').innerText(), 'checkout');
  await page.keyboard.press('ArrowLeft'); // collapses checkout's server span
  assert.equal(await rows().count(), 3);
  await page.keyboard.press('ArrowLeft'); // already collapsed: goes to the parent
  assert.equal(await page.locator('.wf-row.sel .op').innerText(), 'HTTP call checkout');
  await page.click('text=Expand all');
  assert.equal(await rows().count(), 10);
  await page.click('text=Collapse to depth 1');
  assert.equal(await rows().count(), 2);
});

test('trace view: a selected span shows attributes, events, status, skew and self time', async () => {
  await open(`#/trace/${ids.aliceCheckout}`);
  await rows().first().click();
  const detail = page.locator('.detail');
  await detail.waitFor();
  const attr = detail.locator('table.kv tr', {hasText: 'http.method'});
  assert.equal(await attr.locator('td').nth(1).innerText(), 'POST');
  assert.match(page.url(), /span=[0-9a-f]{16}/);
  // The failed payment: error status, exception event, clock skew.
  await rowByOp('POST /charge').first().click();
  const text = await detail.innerText();
  assert.match(text, /card processor unavailable/);
  assert.match(text, /Events \(1\)[\s\S]*exception/);
  assert.match(text, /Clock skew adjusted/);
  assert.equal(await detail.locator('.self').innerText(), '18.0 ms');
  // Text filter.
  await page.fill('input[type=search]', 'inventory');
  await page.waitForFunction(() => document.querySelector('.match-count').textContent.includes('2 matching'));
  assert.equal(await page.locator('.wf-row.match').count(), 2);
  await page.fill('input[type=search]', '');
  await page.waitForFunction(() => document.querySelectorAll('.wf-row').length === 10);
  await rowByOp('POST /charge').first().click();
  await shot('trace');
  fs.mkdirSync(path.join(ART, 'readme'), {recursive: true});
  await page.screenshot({path: path.join(ART, 'readme', 'trace-view.png')});
});

// Hue (degrees) of a computed CSS colour "rgb(r, g, b)".
function hueOf(css) {
  const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map((v) => Number(v) / 255);
  const mx = Math.max(r, g, b), d = mx - Math.min(r, g, b);
  if (!d) return null;
  const hh = mx === r ? ((g - b) / d) % 6 : mx === g ? (b - r) / d + 2 : (r - g) / d + 4;
  return (hh * 60 + 360) % 360;
}

test('trace view: services never look red; errors are marked by more than colour', async () => {
  await open(`#/trace/${ids.aliceCheckout}`);
  const bars = await page.locator('.wf-row').evaluateAll((els) => els.map((r) => ({
    svc: r.querySelector('.svc').textContent, bar: getComputedStyle(r.querySelector('.wf-bar')).backgroundColor,
    dot: getComputedStyle(r.querySelector('.dot')).backgroundColor, err: r.querySelector('.wf-bar').classList.contains('err'),
    mark: !!r.querySelector('.mark.err'), durMark: r.querySelector('.wf-dur').textContent.startsWith('⚠'),
    hatched: getComputedStyle(r.querySelector('.wf-bar')).backgroundImage.includes('repeating-linear-gradient'),
  })));
  const colourOf = new Map();
  for (const b of bars) {
    const hue = hueOf(b.dot);
    assert.ok(hue !== null && hue > 35 && hue < 300, `${b.svc}'s colour ${b.dot} is red-like (hue ${hue})`);
    if (!b.err) assert.equal(b.bar, b.dot, `${b.svc}: a bar without error has its service colour`);
    else assert.ok(b.mark && b.durMark && b.hatched, `${b.svc}: an error has the ⚠ mark in its label and beside its bar, and a hatched bar`);
    colourOf.set(b.svc, b.dot);
  }
  assert.equal(bars.filter((b) => b.err).length, 2);
  assert.equal(new Set(colourOf.values()).size, colourOf.size, `each service its own colour: ${JSON.stringify([...colourOf])}`);
});

test('trace view: the minimap zooms into a time range, kept in the URL', async () => {
  await open(`#/trace/${ids.aliceCheckout}`);
  const box = await page.locator('.wf-mini').boundingBox();
  const before = await page.locator('.wf-axis .tick').last().innerText();
  await page.mouse.move(box.x + box.width * 0.5, box.y + 20);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.75, box.y + 20, {steps: 4});
  await page.mouse.up();
  const after = await page.locator('.wf-axis .tick').last().innerText();
  assert.equal(before, '180 ms');
  assert.equal(after, '135 ms');
  assert.match(page.url(), /from=\d+&to=\d+/);
  // Spans wholly outside the window have no bar.
  assert.equal(await rowByOp('SELECT cart').locator('.wf-bar').count(), 0);
  await page.click('text=Reset zoom');
  assert.equal(await page.locator('.wf-axis .tick').last().innerText(), '180 ms');
});

test('search: attribute, duration and time-range conditions; the scatter plot opens traces', async () => {
  await page.goto(`${base}?load=${++loads}#/search`);
  await page.waitForSelector('select[name=service] option[value=frontend]', {state: 'attached'});
  await page.selectOption('select[name=service]', 'frontend');
  await page.fill('input[name=attrs]', 'user.tier=gold');
  await page.fill('input[name=minDuration]', '150ms');
  await page.click('.quick button[data-lookback="15m"]');
  await page.click('button[type=submit]');
  await page.waitForSelector('.result');
  assert.match(page.url(), /lookback=15m/);
  assert.match(page.url(), /minDuration=150ms/);
  assert.deepEqual(await page.locator('.result').evaluateAll((els) => els.map((e) => e.dataset.trace)), [ids.aliceCheckout]);
  await page.locator(`.scatter circle[data-trace="${ids.aliceCheckout}"]`).click();
  await page.waitForSelector('.page-trace[data-ready]');
  assert.match(page.url(), new RegExp('#/trace/' + ids.aliceCheckout));
  await page.goBack();
  await page.waitForSelector('.result');
  assert.equal(await page.inputValue('input[name=minDuration]'), '150ms');
});

test('trace view: missing parents are marked and links open the linked trace', async () => {
  await open(`#/trace/${ids.orphan}`);
  assert.match(await page.locator('.trace-head').innerText(), /1 missing parent/);
  await rowByOp('orphaned work').click();
  assert.match(await page.locator('.detail').innerText(), /never arrived/);
  await open(`#/trace/${ids.mail}`);
  await rowByOp('send receipt').click();
  const link = page.locator('.detail .link a');
  await link.waitFor();
  await link.click();
  // The old trace's page stays until the router swaps views: wait for the
  // linked span to be the selection, not just for the hash to change.
  await page.waitForFunction((id) => location.hash.includes(id) &&
    (document.querySelector('.page-trace[data-ready] .wf-row.sel .op') || {}).textContent === 'POST /checkout', ids.aliceCheckout);
  assert.equal(await page.locator('.wf-row.sel .op').innerText(), 'POST /checkout');
  assert.equal(await page.locator('.wf-row.sel .svc').innerText(), 'checkout');
});

test('a trace without its root span is named after its earliest span, marked', async () => {
  await open(`#/trace/${ids.rootless}`);
  assert.equal(await page.locator('h1').innerText(), 'checkout: late work (missing root)');
  assert.equal(await page.title(), 'checkout: late work (missing root) · Callscope');
  await open(`#/trace/${ids.orphan}`); // a root and an orphan: named after the root
  assert.equal(await page.locator('h1').innerText(), 'frontend: GET /lost');
  // Lists name it from the summary's earliest span: no tree is fetched.
  const trees = [];
  const onReq = (r) => /\/tree(\?|$)/.test(r.url()) && trees.push(r.url());
  page.on('request', onReq);
  await open('#/search?session=12345&run=1', '.result');
  const title = page.locator(`.result[data-trace="${ids.rootless}"] a.title`);
  assert.equal(await title.innerText(), 'checkout: late work (missing root)');
  assert.match(await page.locator('.scatter circle title').textContent(), /^checkout: late work \(missing root\)/);
  await shot('search-rootless');
  await open('#/session/12345');
  assert.match(await page.locator('.sess-head .name').innerText(), /late work · checkout \(missing root\)$/);
  page.off('request', onReq);
  assert.deepEqual(trees, []);
  const sum = (await getJSON('/api/v1/sessions/12345')).traces.find((t) => t.traceID === ids.rootless);
  assert.equal(sum.rootService, '');
  assert.equal(sum.firstService, 'checkout');
  assert.equal(sum.firstOperation, 'late work');
});

test('session page: every trace of the session in order, expandable', async () => {
  await open('#/session/sess-alice');
  const list = page.locator('.sess-row');
  assert.equal(await list.count(), 4);
  const names = await page.locator('.sess-head .name b').allInnerTexts();
  assert.deepEqual(names, ['GET /home', 'POST /cart', 'POST /checkout', 'GET /orders']);
  const slow = page.locator('.sess-row.slowest');
  assert.equal(await slow.getAttribute('data-trace'), ids.aliceCheckout);
  await slow.locator('.sess-head').click();
  await slow.locator('.wf-row').first().waitFor();
  assert.equal(await slow.locator('.wf-row').count(), 10);
  assert.match(page.url(), new RegExp('open=' + ids.aliceCheckout));
  await shot('session');
});

test('the example services\' traffic: a user session and its call trees', {skip: !EXAMPLES && 'examples not built'}, async () => {
  await page.goto(`${base}?load=${++loads}#/search`);
  await page.fill('input[name=session]', 'ui-user-2');
  await page.click('button[type=submit]');
  await page.waitForSelector('.result');
  assert.equal(await page.locator('.result').count(), EX_REQUESTS / EX_SESSIONS);
  await open('#/session/ui-user-2');
  assert.equal(await page.locator('.sess-row').count(), EX_REQUESTS / EX_SESSIONS);
  // A checkout fans out from frontend through orders to inventory and payments.
  const checkout = page.locator('.sess-row', {has: page.locator('.name b', {hasText: /checkout/})}).first();
  await checkout.locator('.sess-head').click();
  await checkout.locator('.wf-row').first().waitFor();
  const services = new Set(await checkout.locator('.wf-row .svc').allInnerTexts());
  for (const svc of ['frontend', 'orders', 'inventory', 'payments']) assert.ok(services.has(svc), `${svc} in ${[...services]}`);
  await shot('examples-session');
  // The same trace in the trace view: every span carries the session.
  const id = await checkout.getAttribute('data-trace');
  await open(`#/trace/${id}`);
  await rows().first().click();
  const attr = page.locator('.detail table.kv tr', {hasText: 'session.id'});
  assert.equal(await attr.locator('td').nth(1).innerText(), 'ui-user-2');
});

test('services page shows the numbers the stats API gives', async () => {
  // Requests are server spans: the frontend's client spans are not counted.
  const api = await getJSON('/api/v1/stats?service=frontend&lookback=1h&step=1m&spanKind=server');
  const all = await getJSON('/api/v1/stats?service=frontend&lookback=1h&step=1m&spanKind=all');
  assert.ok(all.total.count > api.total.count);
  // The API's default is what the page shows for a service with server spans.
  const dflt = await getJSON('/api/v1/stats?service=frontend&lookback=1h&step=1m');
  assert.equal(dflt.total.count, api.total.count);
  await open('#/services?service=frontend&lookback=1h');
  assert.equal(await page.locator('.total-count .v').innerText(), api.total.count.toLocaleString('en-US'));
  assert.equal(await page.locator('.total-count .k').innerText(), 'requests');
  assert.match(await page.locator('.counting').innerText(), /server spans/);
  assert.equal(await page.locator('.kinds button.on').innerText(), 'Requests');
  assert.ok(api.operations.length >= 5);
  assert.ok(!api.operations.some((o) => o.operation === 'HTTP call checkout'));
  for (const op of api.operations) {
    const row = page.locator(`tr[data-op="${op.operation}"]`);
    assert.equal(await row.getAttribute('data-count'), String(op.count), op.operation);
    assert.equal(await row.locator('.c-count').innerText(), op.count.toLocaleString('en-US'));
    assert.equal(await row.getAttribute('data-p99'), String(op.p99Ns));
  }
  assert.equal(await page.locator('tr[data-op="HTTP call checkout"]').count(), 0);
  // One rate unit: the card, the table and the chart say the same, and the
  // card is the window's count over the window's length.
  const seconds = (api.endTimeUs - api.startTimeUs) / 1e6;
  const perMin = api.total.count / seconds < 1;
  const unit = perMin ? 'minute' : 'second';
  assert.match(await page.locator('.total-rate .k').innerText(), new RegExp(`per ${unit}`));
  const rate = (api.total.count / seconds) * (perMin ? 60 : 1);
  assert.equal(await page.locator('.total-rate .v').innerText(), (rate >= 100 ? rate.toFixed(0) : rate >= 10 ? rate.toFixed(1) : rate.toFixed(2)) + (perMin ? '/min' : '/s'));
  assert.match(await page.locator('.charts .chart').first().getAttribute('aria-label'), new RegExp(`^Requests per ${unit}`));
  assert.match(await page.locator('table.ops th').nth(2).innerText(), new RegExp(`per ${unit}`, 'i'));
  for (const r of await page.locator('table.ops .c-rate').allInnerTexts()) assert.ok(r.endsWith(perMin ? '/min' : '/s'), r);
  const home = api.operations.find((o) => o.operation === 'GET /home');
  assert.equal(await page.locator('tr[data-op="GET /home"] .c-p99').innerText(), (home.p99Ns / 1e6).toFixed(0) + ' ms');
  await page.locator('tr[data-op="GET /home"]').click();
  await page.waitForSelector('.op-detail:not([hidden]) .chart .bar');
  assert.match(await page.locator('.op-detail:not([hidden])').innerText(), new RegExp(`histogram of ${home.count} requests`));
  await shot('services');
  // Every span kind on request: all spans count the client spans too.
  await page.click('.kinds button[data-kind="all"]');
  await page.waitForFunction(() => /every span/.test(document.querySelector('.counting')?.textContent || '') && document.querySelector('[data-ready] .total-count'));
  assert.equal(await page.locator('.total-count .v').innerText(), all.total.count.toLocaleString('en-US'));
  assert.match(page.url(), /kind=all/);
  // A service that only receives messages counts its consumer spans.
  await open('#/services?service=mailer&lookback=24h');
  assert.equal(await page.locator('.kinds button.on').innerText(), 'Messages');
  assert.equal(await page.locator('.total-count .k').innerText(), 'messages');
});

test('dependencies page shows the numbers the API gives', async () => {
  const api = await getJSON('/api/v1/dependencies?lookback=1h');
  await open('#/deps?lookback=1h');
  assert.ok(api.edges.length >= 4);
  for (const e of api.edges) {
    const row = page.locator(`.deps-table tr[data-parent="${e.parent}"][data-child="${e.child}"]`);
    assert.equal(await row.locator('.c-calls').innerText(), e.callCount.toLocaleString('en-US'), `${e.parent}->${e.child}`);
    assert.equal(await row.locator('.c-errors').innerText(), e.errorCount.toLocaleString('en-US'));
    assert.equal(await page.locator(`g.edge[data-parent="${e.parent}"][data-child="${e.child}"]`).getAttribute('data-calls'), String(e.callCount));
  }
  // The drawing: no edge runs through a box other than its own two, no
  // label covers a box or another label, every label has its background.
  const geo = await page.locator('svg.graph').evaluate((svg) => {
    const boxes = [...svg.querySelectorAll('g.node')].map((g) => {
      const m = g.transform.baseVal.consolidate().matrix, r = g.querySelector('rect');
      return {name: g.dataset.service, x: m.e, y: m.f, w: r.width.baseVal.value, h: r.height.baseVal.value};
    });
    const inside = (b, x, y, pad = 0) => x > b.x - pad && x < b.x + b.w + pad && y > b.y - pad && y < b.y + b.h + pad;
    const through = [];
    for (const g of svg.querySelectorAll('g.edge')) {
      const path = g.querySelector('path.line'), len = path.getTotalLength();
      for (let t = 0; t <= len; t += 3) {
        const pt = path.getPointAtLength(t);
        for (const b of boxes)
          if (b.name !== g.dataset.parent && b.name !== g.dataset.child && inside(b, pt.x, pt.y)) through.push(`${g.dataset.parent}->${g.dataset.child} through ${b.name}`);
      }
    }
    const labels = [...svg.querySelectorAll('g.edge-label')].map((l) => {
      const r = l.querySelector('rect');
      return {id: l.dataset.parent + '->' + l.dataset.child, x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'), h: +r.getAttribute('height')};
    });
    const overlap = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
    const covered = [];
    labels.forEach((l, i) => {
      for (const b of boxes) if (overlap(l, b)) covered.push(`${l.id} label on ${b.name}`);
      for (const m of labels.slice(i + 1)) if (overlap(l, m)) covered.push(`${l.id} label on ${m.id} label`);
    });
    return {through: [...new Set(through)], covered, labels: labels.length, edges: svg.querySelectorAll('g.edge').length};
  });
  assert.deepEqual(geo.through, []);
  assert.deepEqual(geo.covered, []);
  assert.equal(geo.labels, geo.edges);
  const pay = api.edges.find((e) => e.parent === 'checkout' && e.child === 'payments');
  assert.ok(pay && pay.errorCount > 0);
  await page.locator('g.node[data-service="checkout"]').click();
  await page.waitForSelector('.deps-panel table');
  assert.match(await page.locator('.deps-panel').innerText(), /SELECT cart/);
  await shot('deps');
  await page.locator('.deps-table tr[data-parent="checkout"][data-child="payments"]').click();
  assert.equal(await page.locator('g.edge.sel').getAttribute('data-child'), 'payments');
  await page.click('a.edge-search');
  await page.waitForSelector('.result, .empty-box');
  const shown = await page.locator('.result').count();
  assert.ok(shown > 0, 'the traces behind an edge are found');
});

test('trace comparison: slower, appeared and disappeared spans', async () => {
  await open(`#/compare?a=${ids.aliceCheckout}&b=${ids.bobCheckout}`);
  assert.equal(await page.locator('.c-added').innerText(), '1');
  assert.equal(await page.locator('.c-removed').innerText(), '2');
  assert.equal(await page.locator('tr.added').getAttribute('data-op'), 'apply coupon');
  assert.ok((await page.locator('tr.slower').count()) >= 1);
  // "Biggest changes in self time": the label follows the self-time number.
  const changes = await page.locator('.top-changes li').evaluateAll((els) => els.map((e) => ({...e.dataset, text: e.textContent})));
  assert.ok(changes.length >= 3);
  for (const c of changes) {
    const sign = /self time/.test(c.text) && /(\+|−)[\d.]+ \S+ self time/.exec(c.text)[1];
    const want = c.label === 'appeared' || c.label === 'disappeared' ? c.label : sign === '+' ? 'slower' : 'faster';
    assert.equal(c.label, want, c.text);
    assert.ok(c.text.includes(`(${want})`), c.text);
  }
  // A span whose callee got faster while its own work got slower: its
  // total shrank, its self time grew, and the self-time list says slower.
  const mixed = await page.evaluate(async () => {
    const {selfChanges} = await import('./js/pages/compare.js');
    const sp = (durationNs, selfNs) => ({service: 'frontend', operation: 'POST /orders', durationNs, selfNs});
    return selfChanges([{a: sp(10e6, 1e6), b: sp(8e6, 3.02e6)}]).map((c) => [c.d, c.label, c.total]);
  });
  assert.deepEqual(mixed, [[2.02e6, 'slower', -2e6]]);
  await shot('compare');
  // From a trace: "Compare with…" offers recent traces of the same operation.
  await open(`#/trace/${ids.aliceCheckout}`);
  await page.click('a.compare-with');
  await page.waitForSelector('tr.candidate');
  await page.click(`tr.candidate[data-trace="${ids.bobCheckout}"]`);
  await page.waitForSelector('.cmp-out[data-ready] .cmp-table');
  assert.match(page.url(), new RegExp(`a=${ids.aliceCheckout}&b=${ids.bobCheckout}`));
  assert.equal(await page.locator('.c-added').innerText(), '1');
});

test('a 50,000-span trace opens within the limit and stays virtualised', async () => {
  // From navigation (a fresh document) to the first rows drawn. The machine
  // is shared, so the best of up to three tries is what is held to the limit.
  const times = [];
  for (let k = 0; k < 3 && !(times.length && Math.min(...times) < OPEN_LIMIT_MS); k++) {
    await page.goto(`${base}?load=${++loads}#/search`);
    const t0 = Date.now();
    await page.goto(`${base}?load=${++loads}#/trace/${ids.big}`);
    await page.waitForSelector('.page-trace[data-ready] .wf-row');
    times.push(Date.now() - t0);
  }
  const ms = Math.min(...times);
  console.log(`50,000-span trace opened in ${times.join(', ')} ms (limit ${OPEN_LIMIT_MS} ms)`);
  assert.ok(ms < OPEN_LIMIT_MS, `opened in ${times.join(', ')} ms, limit ${OPEN_LIMIT_MS} ms`);
  assert.match(await page.locator('.fact-spans').innerText(), /50000/);
  assert.ok((await rows().count()) < 150, 'only the visible rows are in the DOM');
  // Scroll to the middle: the rows there are drawn, and quickly.
  const scrollMs = await page.evaluate(async () => {
    const body = document.querySelector('.wf-body');
    const t = performance.now();
    for (let k = 1; k <= 20; k++) {
      body.scrollTop = (body.scrollHeight * k) / 21;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    }
    return (performance.now() - t) / 20;
  });
  console.log(`scroll step: ${scrollMs.toFixed(1)} ms per frame pair`);
  const idx = Number(await rows().first().getAttribute('data-i'));
  assert.ok(idx > 40000, `rows near the end are drawn (first row ${idx})`);
  await page.fill('input[type=search]', 'validate');
  await page.waitForFunction(() => /24950 matching/.test(document.querySelector('.match-count').textContent), null, {timeout: 5000});
  await page.fill('input[type=search]', '');
  await page.waitForFunction(() => document.querySelector('.match-count').textContent === '');
  await page.click('text=Collapse to depth 1');
  assert.equal(await page.locator('.wf-spacer').evaluate((e) => e.style.height), 100 * 24 + 'px');
  await page.locator('.wf-body').evaluate((e) => (e.scrollTop = 0));
  await rowByOp('import batch').nth(1).locator('.tog').click();
  await rowByOp('import item').first().click();
  assert.match(await page.locator('.detail').innerText(), /item\.index\s+499/);
  await shot('trace-50000');
});

test('span text is rendered as text, never as HTML', async () => {
  await open(`#/trace/${ids.xss}`);
  await rows().first().click();
  await page.locator('.detail').waitFor();
  const text = await page.locator('body').innerText();
  assert.ok(text.includes('<script>window.__xss=1</script>'), 'operation name shown literally');
  assert.ok(text.includes('<b>not bold</b><script>window.__xss=5</script>'), 'attribute value shown literally');
  assert.ok(text.includes('<i>status</i>'), 'status message shown literally');
  await shot('xss');
  await open('#/search?session=sess-%3Cxss%3E&run=1', '.result');
  assert.ok((await page.locator('body').innerText()).includes('xss<img src=x onerror="window.__xss=3">: <script>'));
  await open('#/session/sess-%3Cxss%3E');
  await open('#/deps');
  await open('#/services?service=' + encodeURIComponent('xss<img src=x onerror="window.__xss=3">'));
  assert.equal(await page.locator('h1.svc-name').innerText(), 'xss<img src=x onerror="window.__xss=3">');
  const state = await page.evaluate(() => ({
    xss: window.__xss, scripts: document.querySelectorAll('script').length, imgs: document.querySelectorAll('img').length,
  }));
  assert.equal(state.xss, undefined, 'no injected handler ran');
  assert.equal(state.scripts, 1, 'only the app module script exists');
  assert.equal(state.imgs, 0);
  // The source never parses strings as HTML.
  for (const f of walk(UI_DIR)) {
    if (!f.endsWith('.js')) continue;
    assert.doesNotMatch(fs.readFileSync(f, 'utf8'), /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/, f);
  }
});

function* walk(dir) {
  for (const e of fs.readdirSync(dir, {withFileTypes: true})) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) yield* walk(p);
    else yield p;
  }
}

test('API errors and empty results are shown, not a blank page', async () => {
  // A separate page: the failed requests here log network errors on purpose.
  const pg = await ctx.newPage();
  await pg.goto(base + '#/trace/00000000000000000000000000000bad');
  await pg.waitForSelector('.error-box');
  assert.match(await pg.locator('.error-box').innerText(), /404[\s\S]*trace not found/);
  await pg.goto(base + '#/search?service=nosuchservice&run=1');
  await pg.waitForSelector('.empty-box');
  assert.match(await pg.locator('.results .empty-box').innerText(), /No traces match/);
  await pg.goto(base + '#/search?minDuration=abc&run=1');
  await pg.waitForSelector('.results .error-box');
  assert.match(await pg.locator('.results .error-box').innerText(), /bad minDuration/);
  await pg.goto(base + '#/session/nobody');
  await pg.waitForSelector('.empty-box');
  await shot('errors', pg);
  await pg.close();
});

test('the top bar box opens traces by full ID and anything else as a session', async () => {
  // A separate page: the 404 of the trace lookup logs a network error.
  const pg = await ctx.newPage();
  await pg.goto(base + '#/search');
  const jump = async (text) => {
    await pg.fill('#jump-id', text);
    await pg.press('#jump-id', 'Enter');
  };
  await jump('12345'); // hex digits, but not a trace ID's length
  await pg.waitForSelector('.page-session .sess-row');
  assert.equal(new URL(pg.url()).hash, '#/session/12345');
  assert.equal(await pg.locator('.sess-row').count(), 1);
  await jump(ids.aliceCheckout);
  await pg.waitForSelector('.page-trace[data-ready]');
  assert.equal(await pg.locator('h1').innerText(), 'frontend: POST /checkout');
  // 32 hex digits but no such trace: the session of that name.
  await jump('0123456789abcdef0123456789abcdef');
  await pg.waitForSelector('.page-session .sess-row');
  assert.match(pg.url(), /#\/session\/0123456789abcdef0123456789abcdef\?notrace=1$/);
  assert.match(await pg.locator('.notrace').innerText(), /No trace has the ID/);
  assert.equal(await pg.locator('.sess-row').getAttribute('data-trace'), ids.orphan);
  assert.equal(await pg.locator('.error-box').count(), 0);
  // Back skips the failed trace lookup.
  await pg.goBack();
  await pg.waitForSelector('.page-trace[data-ready]');
  assert.match(pg.url(), new RegExp('#/trace/' + ids.aliceCheckout));
  await pg.close();
});

test('dark and light themes follow the system', async () => {
  await page.emulateMedia({colorScheme: 'dark'});
  await open(`#/trace/${ids.aliceCheckout}`);
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await shot('trace-dark');
  await open('#/deps?lookback=1h');
  await shot('deps-dark');
  await page.emulateMedia({colorScheme: 'light'});
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(light, 'rgb(255, 255, 255)');
  assert.equal(dark, 'rgb(20, 23, 28)');
});

test('no console errors on any page', () => {
  assert.deepEqual(consoleErrors, []);
});
