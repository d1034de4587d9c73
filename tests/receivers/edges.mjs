// Receiver edge cases found by a user test, each against the live daemons:
// the standalone collector (no metrics sink) must refuse metrics openly,
// spans outside the retention window are rejected and reported, chunked
// bodies over the cap get 413, CORS preflights, Zipkin's error tag, and
// the answer to a body that claims gzip but is not.
// Usage: node edges.mjs /path/to/callscope /path/to/callscope-collector
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCallscope, getJSON, getText, eq, ok, runTests } from './lib.mjs';

const [bin, collectorBin] = process.argv.slice(2);

// One request on a fresh connection. chunks: an array of Buffers sent
// without Content-Length (chunked), or a single body with its length.
function request(port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('latin1');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    if (Array.isArray(body)) {
      for (const c of body) req.write(c);
      req.end();
    } else {
      req.end(body);
    }
  });
}

// Starts the standalone callscope-collector on ephemeral ports; resolves
// once its HTTP receivers are listening (read from its log).
async function startCollector(extraArgs = []) {
  const dir = mkdtempSync(join(tmpdir(), 'cs-edges-'));
  const proc = spawn(collectorBin, ['--data-dir', join(dir, 'data'), '--tcp-port', '0', '--udp-port', '0',
    '--otlp-http-port', '0', '--zipkin-port', '0', '--statsd-port', '0', '--stats-interval', '0', ...extraArgs],
  { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector did not start:\n${log}`)), 15000);
    proc.on('exit', (code) => reject(new Error(`collector exited ${code}:\n${log}`)));
    const onData = (d) => {
      log += d;
      const o = /listening otlp-http \S+:(\d+)/.exec(log), z = /listening zipkin \S+:(\d+)/.exec(log);
      const t = /listening tcp \S+:(\d+)/.exec(log);
      if (o && z) {
        clearTimeout(timer);
        resolve({ otlp: +o[1], zipkin: +z[1], tcp: t ? +t[1] : 0 });
      }
    };
    proc.stderr.on('data', onData);
    proc.stdout.on('data', onData);
  });
  proc.removeAllListeners('exit');
  const stop = async () => {
    const done = new Promise((res) => proc.on('exit', (c) => res(c)));
    proc.kill('SIGTERM');
    const code = await done;
    rmSync(dir, { recursive: true, force: true });
    if (code !== 0 || /Sanitizer|runtime error/.test(log)) ok(false, `collector exit ${code}:\n${log}`);
  };
  return { ports, stop, log: () => log };
}

const JSON_CT = { 'Content-Type': 'application/json' };
const PROTO_CT = { 'Content-Type': 'application/x-protobuf' };
const nowNs = () => BigInt(Date.now()) * 1000000n;
const otlpSpan = (traceId, spanId, endNs) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{
  traceId, spanId, name: 'x', startTimeUnixNano: String(endNs - 1000n), endTimeUnixNano: String(endNs) }] }] }] });

function counter(text, name, label) {
  const re = new RegExp(`^callscope_collector_${name}_total${label ? `\\{${label}\\}` : ''} (\\S+)`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : NaN;
}

// 1. Without a metrics sink the collector says so instead of acking.
async function standaloneRefusesMetrics() {
  const cs = await startCollector();
  try {
    const metrics = JSON.stringify({ resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm',
      gauge: { dataPoints: [{ asDouble: 1, timeUnixNano: String(nowNs()) }] } }] }] }] });
    let r = await request(cs.ports.otlp, 'POST', '/v1/metrics', JSON_CT, metrics);
    eq(r.status, 501, 'standalone /v1/metrics status');
    ok(r.headers['content-type'].startsWith('application/json'), `JSON Status: ${r.headers['content-type']}`);
    const st = JSON.parse(r.body);
    eq(st.code, 12, 'UNIMPLEMENTED');
    ok(/callscope/.test(st.message) && /metrics/.test(st.message), `message names the fix: ${st.message}`);
    r = await request(cs.ports.otlp, 'POST', '/v1/metrics', PROTO_CT, Buffer.alloc(0));
    eq(r.status, 501, 'protobuf too');
    eq(r.headers['content-type'], 'application/x-protobuf', 'protobuf Status');
    // Traces still work.
    r = await request(cs.ports.otlp, 'POST', '/v1/traces', JSON_CT,
      otlpSpan('5b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs()));
    eq(r.status, 200, 'traces accepted');
    const log = cs.log();
    ok(!/listening statsd/.test(log), `no StatsD listener without a metrics sink:\n${log}`);
    eq((log.match(/warn.*no metrics sink/g) || []).length, 1, `one warning line at startup:\n${log}`);
  } finally {
    await cs.stop();
  }
}

// 2. Spans outside the retention window: rejected, reported, counted.
async function retentionWindow() {
  const cs = await startCallscope(bin, ['--retention', '1h']);
  try {
    const p = cs.ports.otlp;
    const hour = 3600n * 1000000000n;
    let r = await request(p, 'POST', '/v1/traces', JSON_CT,
      otlpSpan('6b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs() - 2n * hour));
    eq(r.status, 200, 'old span: partial success');
    let ps = JSON.parse(r.body).partialSuccess;
    eq(ps.rejectedSpans, '1', 'old span rejected');
    ok(/expired=1/.test(ps.errorMessage), `reason named: ${ps.errorMessage}`);
    r = await request(p, 'POST', '/v1/traces', JSON_CT,
      otlpSpan('7b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs() + 2n * hour));
    ps = JSON.parse(r.body).partialSuccess;
    ok(ps && ps.rejectedSpans === '1' && /future=1/.test(ps.errorMessage), `future span rejected: ${r.body}`);
    r = await request(p, 'POST', '/v1/traces', JSON_CT,
      otlpSpan('8b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs() - hour / 2n));
    eq(r.body, '{}', 'span inside the window accepted');
    const m = await getText(cs.ports.query, '/metrics');
    eq(counter(m, 'spans_rejected_by_reason', 'reason="expired"'), 1, 'expired counter');
    eq(counter(m, 'spans_rejected_by_reason', 'reason="future"'), 1, 'future counter');
    eq(counter(m, 'spans_written'), 1, 'only the fresh span written');
    const t = await getJSON(cs.ports.query, '/api/traces/6b8efff798038103d269b633813fc60c');
    eq(t.status, 404, 'expired trace not stored');
    ok(/rejected.*expired|expired.*rejected/.test(cs.log()), `logged:\n${cs.log()}`);
  } finally {
    await cs.stop();
  }
}

// 3. Chunked bodies over the cap: 413 with the documented body, not a reset.
async function chunkedOverCap() {
  const cs = await startCallscope(bin, ['--http-max-body-mb', '1']);
  try {
    const chunk = Buffer.alloc(256 << 10, 0x20);
    const chunks = Array.from({ length: 8 }, () => chunk); // 2 MiB
    let r = await request(cs.ports.otlp, 'POST', '/v1/traces', JSON_CT, chunks);
    eq(r.status, 413, 'OTLP chunked over the cap');
    eq(JSON.parse(r.body).code, 3, `OTLP Status body: ${r.body}`);
    r = await request(cs.ports.zipkin, 'POST', '/api/v2/spans', JSON_CT, chunks);
    eq(r.status, 413, 'Zipkin chunked over the cap');
    ok(/limit/.test(r.body), `Zipkin body: ${r.body}`);
    // Under the cap, chunked still works.
    r = await request(cs.ports.otlp, 'POST', '/v1/traces', JSON_CT,
      [Buffer.from(otlpSpan('9b8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs()))]);
    eq(r.status, 200, 'chunked under the cap');
  } finally {
    await cs.stop();
  }
}

// 4. CORS for browser exporters, off by default.
async function cors() {
  const origin = 'http://app.example';
  const pre = { Origin: origin, 'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'content-type' };
  const cs = await startCallscope(bin, ['--cors-origin', origin, '--cors-origin', 'http://other.example']);
  try {
    for (const [port, path] of [[cs.ports.otlp, '/v1/traces'], [cs.ports.zipkin, '/api/v2/spans']]) {
      let r = await request(port, 'OPTIONS', path, pre);
      eq(r.status, 204, `preflight ${path}`);
      eq(r.headers['access-control-allow-origin'], origin, 'allowed origin echoed');
      ok(/POST/.test(r.headers['access-control-allow-methods']), 'methods');
      ok(/content-type/i.test(r.headers['access-control-allow-headers']) &&
         /content-encoding/i.test(r.headers['access-control-allow-headers']), 'headers');
      r = await request(port, 'OPTIONS', path, { ...pre, Origin: 'http://evil.example' });
      eq(r.headers['access-control-allow-origin'], undefined, 'other origin: no CORS headers');
    }
    let r = await request(cs.ports.otlp, 'POST', '/v1/traces', { ...JSON_CT, Origin: origin },
      otlpSpan('ab8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs()));
    eq(r.status, 200, 'POST with Origin');
    eq(r.headers['access-control-allow-origin'], origin, 'POST answer carries the origin');
    r = await request(cs.ports.otlp, 'POST', '/v1/traces', { ...JSON_CT, Origin: origin }, '{');
    eq(r.headers['access-control-allow-origin'], origin, 'error answers too');
  } finally {
    await cs.stop();
  }
  const plain = await startCallscope(bin);
  try {
    const r = await request(plain.ports.otlp, 'OPTIONS', '/v1/traces', pre);
    eq(r.headers['access-control-allow-origin'], undefined, 'no CORS by default');
  } finally {
    await plain.stop();
  }
  const col = await startCollector(['--cors-origin', '*']);
  try {
    const r = await request(col.ports.otlp, 'OPTIONS', '/v1/traces', pre);
    eq(r.status, 204, 'standalone preflight');
    eq(r.headers['access-control-allow-origin'], '*', 'wildcard');
  } finally {
    await col.stop();
  }
}

// 5. Zipkin's error tag becomes the status once, and rejects name a reason.
async function zipkinErrorTag() {
  const cs = await startCallscope(bin);
  try {
    const us = Date.now() * 1000;
    const span = { traceId: 'cb8efff798038103d269b633813fc60c', id: 'eee19b7ec3c1b174', name: 'get',
      timestamp: us, duration: 10, localEndpoint: { serviceName: 'zsvc' }, tags: { error: 'boom' } };
    let r = await request(cs.ports.zipkin, 'POST', '/api/v2/spans', JSON_CT, JSON.stringify([span]));
    eq(r.status, 202, 'accepted');
    const t = await getJSON(cs.ports.query, `/api/traces/${span.traceId}`);
    const tags = t.body.data[0].spans[0].tags;
    const errs = tags.filter((x) => x.key === 'error');
    eq(errs, [{ key: 'error', type: 'string', value: 'boom' }], 'one error tag, as sent');
    eq(tags.filter((x) => x.key === 'otel.status_code').map((x) => x.value), ['ERROR'], 'status');
    eq(tags.filter((x) => x.key === 'otel.status_description').map((x) => x.value), ['boom'], 'message');
    r = await request(cs.ports.zipkin, 'POST', '/api/v2/spans', JSON_CT,
      JSON.stringify([{ ...span, traceId: 'abc' }]));
    eq(r.status, 202, 'bad ID: 202');
    ok(/1 spans? rejected: trace_id_len=1/.test(r.body), `reason named: ${r.body}`);
  } finally {
    await cs.stop();
  }
}

// 6. A body sent as gzip that is not gzip: 400 in the documented shape.
async function notGzip() {
  const cs = await startCallscope(bin);
  try {
    const body = otlpSpan('db8efff798038103d269b633813fc60c', 'eee19b7ec3c1b174', nowNs());
    let r = await request(cs.ports.otlp, 'POST', '/v1/traces', { ...JSON_CT, 'Content-Encoding': 'gzip' }, body);
    eq(r.status, 400, 'OTLP plain body as gzip');
    ok(r.headers['content-type'].startsWith('application/json'), `OTLP Status: ${r.headers['content-type']}`);
    const st = JSON.parse(r.body);
    eq(st.code, 3, 'INVALID_ARGUMENT');
    ok(/not valid gzip/.test(st.message) && !/limit/.test(st.message), `message: ${st.message}`);
    r = await request(cs.ports.otlp, 'POST', '/v1/traces', { ...PROTO_CT, 'Content-Encoding': 'gzip' }, 'xx');
    eq(r.headers['content-type'], 'application/x-protobuf', 'protobuf Status');
    r = await request(cs.ports.zipkin, 'POST', '/api/v2/spans', { ...JSON_CT, 'Content-Encoding': 'gzip' }, '[]');
    eq(r.status, 400, 'Zipkin plain body as gzip');
    ok(/not valid gzip/.test(r.body) && !/limit/.test(r.body), `Zipkin message: ${r.body}`);
  } finally {
    await cs.stop();
  }
}

const all = [
  ['standalone collector refuses metrics openly', standaloneRefusesMetrics],
  ['spans outside the retention window are rejected', retentionWindow],
  ['chunked bodies over the cap get 413', chunkedOverCap],
  ['CORS preflight and origin headers', cors],
  ['zipkin error tag becomes the status once', zipkinErrorTag],
  ['gzip that is not gzip gets a clear 400', notGzip],
];
const only = process.env.EDGES_ONLY;
await runTests(only ? all.filter(([n]) => n.includes(only)) : all);
