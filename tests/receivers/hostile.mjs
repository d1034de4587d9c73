// Hostile connections against the live daemon's HTTP receivers (issue 9):
// hundreds of clients trickling one byte a second, requests whose framing
// could be read two ways, pipelined requests, over-long request lines and
// header blocks, and Host names that are not ours. Each gets a prompt, clear
// answer, counted, while normal clients keep being served.
// Usage: node hostile.mjs /path/to/callscope
import http from 'node:http';
import net from 'node:net';
import { startCallscope, getText, getJSON, waitFor, eq, ok, runTests } from './lib.mjs';

const bin = process.argv[2];
const JSON_CT = { 'Content-Type': 'application/json' };
const nowNs = () => BigInt(Date.now()) * 1000000n;
const spanBody = (traceId) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{
  traceId, spanId: 'eee19b7ec3c1b174', name: 'x', startTimeUnixNano: String(nowNs() - 1000n),
  endTimeUnixNano: String(nowNs()) }] }] }] });

function post(port, path, body, headers, localAddress = '127.0.0.1') {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false,
      timeout: 5000, localAddress }, (res) => {
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body: data }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, body: String(e) }));
    req.end(body);
  });
}

// Sends raw bytes on a fresh connection and collects everything until the
// server closes (or timeoutMs). Returns the text and how long it took.
function raw(port, bytes, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.setEncoding('latin1');
    s.on('data', (d) => { got += d; });
    s.on('error', () => {});
    const timer = setTimeout(() => s.destroy(), timeoutMs);
    s.on('close', () => { clearTimeout(timer); resolve({ text: got, ms: Date.now() - t0 }); });
  });
}

// Like raw, but resolves as soon as n answers have arrived (the server
// keeps the connection open).
function rawAnswers(port, bytes, n, timeoutMs = 5000) {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.setEncoding('latin1');
    const done = () => { clearTimeout(timer); s.destroy(); resolve({ text: got, ms: Date.now() - t0 }); };
    s.on('data', (d) => {
      got += d;
      const bodies = [...got.matchAll(/Content-Length: (\d+)\r\n(?:.*\r\n)*?\r\n/g)];
      const last = bodies[bodies.length - 1];
      if (bodies.length >= n && got.length >= last.index + last[0].length + Number(last[1])) done();
    });
    s.on('error', () => {});
    s.on('close', done);
    const timer = setTimeout(done, timeoutMs);
  });
}

const statuses = (text) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => +m[1]);

function counter(text, name) {
  const m = new RegExp(`^callscope_collector_${name}_total (\\S+)`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

// A client that sends a request head one byte per second and, like
// slowloris tools, opens a new connection a second after one is closed,
// until stopped.
function trickler(port, stop) {
  const head = 'POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n';
  let closes = 0;
  const open = () => {
    if (stop.done) return;
    const s = net.connect(port, '127.0.0.1');
    let i = 0;
    const timer = setInterval(() => { if (!s.destroyed) s.write(head[i++ % head.length]); }, 1000);
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => { clearInterval(timer); closes++; setTimeout(open, 1000); });
    stop.socks.add(s);
  };
  open();
  return () => closes;
}

async function slowClientsDoNotStarveNormalOnes(cs) {
  const p = cs.ports.otlp;
  const stop = { done: false, socks: new Set() };
  for (let i = 0; i < 300; i++) trickler(p, stop);
  await new Promise((res) => setTimeout(res, 2500));
  let okCount = 0;
  const failures = [];
  // Half of the normal clients share the trickling clients' address (they
  // get in by displacing the connection stuck longest), half come from
  // another one (the per-address cap keeps room for them).
  for (let i = 0; i < 12; i++) {
    const from = i % 2 ? '127.0.0.2' : '127.0.0.1';
    const r = await post(p, '/v1/traces', spanBody(`6b8efff798038103d269b633813fc6${(16 + i).toString(16)}`), JSON_CT, from);
    if (r.status === 200) okCount++;
    else failures.push(`from ${from}: ${r.status} ${r.body.slice(0, 80)}`);
  }
  stop.done = true;
  for (const s of stop.socks) s.destroy();
  eq(okCount, 12, `normal POSTs served among 300 trickling clients (${failures.join('; ')})`);
  const m = await getText(cs.ports.query, '/metrics');
  ok(counter(m, 'http_conns_evicted') > 0, `evictions counted: ${counter(m, 'http_conns_evicted')}`);
}

// --http-head-timeout 2s: a head trickled one byte per 300 ms (never silent
// for the 10 s idle timeout) gets 408 after about 2 s; a body likewise.
async function deadlinesForWholeHeadAndBody(cs) {
  const p = cs.ports.otlp;
  const trickle = (first, unit) => new Promise((resolve) => {
    const t0 = Date.now();
    let got = '';
    const s = net.connect(p, '127.0.0.1', () => s.write(first));
    s.setEncoding('latin1');
    const timer = setInterval(() => { if (!s.destroyed) s.write(unit); }, 300);
    s.on('data', (d) => { got += d; });
    s.on('error', () => {});
    const kill = setTimeout(() => s.destroy(), 12000);
    s.on('close', () => { clearInterval(timer); clearTimeout(kill); resolve({ text: got, ms: Date.now() - t0 }); });
  });
  const [head, body] = await Promise.all([
    trickle('POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 'a'),
    trickle('POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{', ' '),
  ]);
  eq(statuses(head.text), [408], `trickled head: ${head.text.slice(0, 60)}`);
  ok(head.ms < 5000, `trickled head cut after ${head.ms} ms (deadline 2 s)`);
  eq(statuses(body.text), [408], `trickled body: ${body.text.slice(0, 60)}`);
  ok(body.ms < 5000, `trickled body cut after ${body.ms} ms (deadline 2 s)`);
  ok(/not complete within 2s/.test(body.text), `408 says why: ${body.text.slice(-60)}`);
}

async function ambiguousFramingIsRefused(cs) {
  const p = cs.ports.otlp;
  const pre = 'POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n';
  const cases = [
    ['two different Content-Length', `${pre}Content-Length: 2\r\nContent-Length: 3\r\n\r\n{} `, 400],
    ['Content-Length list that disagrees', `${pre}Content-Length: 2, 3\r\n\r\n{} `, 400],
    ['Content-Length with chunked', `${pre}Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`, 400],
    ['Content-Length not a number', `${pre}Content-Length: +2\r\n\r\n{}`, 400],
    ['obs-fold', `${pre}X-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['header without colon', `${pre}NoColonHere\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['NUL in a header value', `${pre}X-A: a\0b\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['space before the colon', `${pre}Content-Length : 2\r\n\r\n{}`, 400],
    ['bare CR', `${pre}X-A: a\rb\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['two Host headers', `${pre}Host: localhost\r\nContent-Length: 2\r\n\r\n{}`, 400],
    ['HTTP/1.1 without Host', 'POST /v1/traces HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}', 400],
    ['bad chunk size', `${pre}Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, 400],
    ['gzip transfer coding', `${pre}Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n`, 501],
    ['HTTP/2.0', 'POST /v1/traces HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n', 505],
    ['garbage request line', 'HELLO\r\n\r\n', 400],
  ];
  for (const [what, text, want] of cases) {
    const r = await raw(p, Buffer.from(text, 'latin1'));
    eq(statuses(r.text), [want], `${what}: ${JSON.stringify(r.text.slice(0, 50))}`);
    ok(/Connection: close/i.test(r.text), `${what}: closes after the answer`);
  }
  // Repeating one value is allowed, and chunked alone works.
  let r = await raw(p, `${pre}Content-Length: 2\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`);
  eq(statuses(r.text), [200], 'the same Content-Length twice');
  r = await raw(p, `${pre}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n1;ext=1\r\n{\r\n1\r\n}\r\n0\r\nX-Trailer: 1\r\n\r\n`);
  eq(statuses(r.text), [200], 'chunked with an extension and a trailer');
  const m = await getText(cs.ports.query, '/metrics');
  ok(counter(m, 'otlp_http_bad_requests') >= 12, `400s counted: ${counter(m, 'otlp_http_bad_requests')}`);
}

async function pipelinedRequestsAreAnsweredInOrder(cs) {
  const p = cs.ports.otlp;
  const ids = ['7b8efff798038103d269b633813fc601', '7b8efff798038103d269b633813fc602', '7b8efff798038103d269b633813fc603'];
  const one = (id, last) => {
    const b = spanBody(id);
    return `POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${last ? 'Connection: close\r\n' : ''}\r\n${b}`;
  };
  // Two on a kept-alive connection: both answered at once.
  const two = await rawAnswers(p, one('7b8efff798038103d269b633813fc600') + one(ids[0]), 2);
  eq(statuses(two.text), [200, 200], `two pipelined POSTs: ${JSON.stringify(two.text.slice(0, 80))}`);
  ok(two.ms < 3000, `both answered without waiting for a timeout (${two.ms} ms)`);
  const r = await raw(p, one(ids[1]) + one(ids[2]) + one(ids[0], true));
  eq(statuses(r.text), [200, 200, 200], `three pipelined POSTs: ${JSON.stringify(r.text.slice(0, 80))}`);
  ok(r.ms < 3000, `answered without waiting for a timeout (${r.ms} ms)`);
  for (const id of ids) {
    await waitFor(async () => (await getJSON(cs.ports.query, `/api/traces/${id}`)).status === 200, `trace ${id} stored`);
  }
  // A refused request in the middle ends the connection: the answer says so
  // and nothing after it is taken.
  const bad = 'POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nx';
  const r2 = await raw(p, one('7b8efff798038103d269b633813fc604') + bad + one('7b8efff798038103d269b633813fc605'));
  eq(statuses(r2.text), [200, 400], `pipelined, second refused: ${JSON.stringify(r2.text.slice(0, 80))}`);
}

async function overlongHeadsGet414Or431(cs) {
  const p = cs.ports.otlp;
  const params = Array.from({ length: 1000 }, (_, i) => `p${i}=v`).join('&');
  const tail = 'HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}';
  const cases = [
    ['1,000 query parameters in 8 KB', `POST /v1/traces?${params} ${tail}`, 414],
    ['1,000 short parameters in 2 KB', `POST /v1/traces?${'a&'.repeat(1000)} ${tail}`, 414],
    ['a 40 KB URL', `POST /v1/traces?x=${'a'.repeat(40000)} ${tail}`, 414],
    ['a 63 KB URL', `POST /v1/${'a'.repeat(63000)} ${tail}`, 414],
    ['a 40 KB header', `POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(40000)}\r\n\r\n`, 431],
    ['200 header fields', `POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\n${'X-A: 1\r\n'.repeat(200)}\r\n`, 431],
  ];
  for (const [what, text, want] of cases) {
    const r = await raw(p, text);
    eq(statuses(r.text), [want], `${what}: ${JSON.stringify(r.text.slice(0, 50))}`);
    ok(r.ms < 3000, `${what}: answered in ${r.ms} ms`);
  }
  const z = await raw(cs.ports.zipkin, `POST /api/v2/spans?${params} ${tail}`);
  eq(statuses(z.text), [414], `Zipkin, 1,000 parameters: ${z.text.slice(0, 50)}`);
  const m = await getText(cs.ports.query, '/metrics');
  ok(counter(m, 'otlp_http_heads_too_large') >= 6, `counted: ${counter(m, 'otlp_http_heads_too_large')}`);
}

async function foreignHostIsRefused(cs) {
  const body = spanBody('8b8efff798038103d269b633813fc601');
  let r = await post(cs.ports.otlp, '/v1/traces', body, { ...JSON_CT, Host: 'evil.example' });
  eq(r.status, 421, 'OTLP, foreign Host');
  ok(/host not allowed/.test(JSON.parse(r.body).message), `OTLP Status body: ${r.body}`);
  r = await post(cs.ports.zipkin, '/api/v2/spans', '[]', { ...JSON_CT, Host: `evil.example:${cs.ports.zipkin}` });
  eq(r.status, 421, 'Zipkin, foreign Host');
  ok(/^text\/plain/.test(r.type) && /host not allowed/.test(r.body), `Zipkin text body: ${r.body}`);
  r = await post(cs.ports.otlp, '/v1/traces', body, { ...JSON_CT, Host: `localhost:${cs.ports.otlp}` });
  eq(r.status, 200, 'localhost');
  r = await post(cs.ports.otlp, '/v1/traces', body, { ...JSON_CT, Host: 'traces.example:4318' });
  eq(r.status, 200, 'a name given with --allow-host');
  const a = await raw(cs.ports.otlp, `POST http://evil.example/v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  eq(statuses(a.text), [421], 'the host of an absolute-form target counts');
}

let cs, cs2;
await runTests([
  ['start', async () => {
    cs = await startCallscope(bin, ['--allow-host', 'traces.example']); /* default limits */
  }],
  ['otlp_http_300_trickling_clients_do_not_starve_normal_ones', () => slowClientsDoNotStarveNormalOnes(cs)],
  ['otlp_http_deadline_for_a_whole_head_and_a_whole_body', async () => {
    cs2 = await startCallscope(bin, ['--http-head-timeout', '2s', '--http-body-timeout', '2s']);
    try {
      await deadlinesForWholeHeadAndBody(cs2);
    } finally {
      await cs2.stop();
    }
  }],
  ['otlp_http_ambiguous_framing_gets_400', () => ambiguousFramingIsRefused(cs)],
  ['otlp_http_pipelined_requests_answered_in_order', () => pipelinedRequestsAreAnsweredInOrder(cs)],
  ['otlp_http_overlong_heads_get_414_or_431', () => overlongHeadsGet414Or431(cs)],
  ['http_receivers_refuse_a_foreign_host', () => foreignHostIsRefused(cs)],
  ['daemon_still_serving', async () => {
    const r = await post(cs.ports.otlp, '/v1/traces', spanBody('9b8efff798038103d269b633813fc6ff'), JSON_CT);
    eq(r.status, 200, 'still serving');
  }],
  ['stop', async () => { await cs.stop(); }],
]);
