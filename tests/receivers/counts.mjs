// Counters against what really happened, on the live daemon: OTLP/HTTP and
// Zipkin under overload (a 1 MiB queue, fsync per batch, many concurrent
// senders) answer some requests 429; the spans counters must equal the
// spans of the requests answered 2xx, which must be the spans the query API
// finds, and the refused counters the spans of the 429s. Then the daemon's
// own /metrics, holding OTLP histograms with negative bounds and without a
// sum, must pass the strict OpenMetrics parser of python3-prometheus-client.
// Usage: node counts.mjs /path/to/callscope
import http from 'node:http';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startCallscope, getText, eq, ok, fail, runTests, waitFor } from './lib.mjs';

const bin = process.argv[2];
const SPANS = 500; // per request, each request one trace

function post(port, path, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function counter(text, name) {
  const m = new RegExp(`^callscope_collector_${name}_total (\\S+)`, 'm').exec(text);
  if (!m) fail(`no counter ${name} on /metrics`);
  return Number(m[1]);
}

function otlpTrace(traceId) {
  const now = BigInt(Date.now()) * 1000000n;
  const spans = [];
  for (let i = 0; i < SPANS; i++)
    spans.push({ traceId, spanId: (i + 1).toString(16).padStart(16, '0'), name: `op${i % 7}`, kind: 2,
      startTimeUnixNano: String(now - 1000000n), endTimeUnixNano: String(now),
      attributes: [{ key: 'i', value: { intValue: String(i) } }] });
  return JSON.stringify({ resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'counts' } }] },
    scopeSpans: [{ spans }] }] });
}

function zipkinTrace(traceId) {
  const ts = Date.now() * 1000;
  const spans = [];
  for (let i = 0; i < SPANS; i++)
    spans.push({ traceId, id: (i + 1).toString(16).padStart(16, '0'), name: `op${i % 7}`, timestamp: ts - 1000,
      duration: 1000, localEndpoint: { serviceName: 'counts-zipkin' } });
  return JSON.stringify(spans);
}

// Senders in parallel until at least `want429` requests were refused (or
// the round limit is reached). Returns the trace IDs by status.
async function overload(port, path, build, okStatus, want429) {
  const byStatus = new Map();
  for (let round = 0; round < 20; round++) {
    const bodies = [];
    for (let i = 0; i < 64; i++) {
      const id = randomBytes(16).toString('hex');
      bodies.push([id, build(id)]);
    }
    const statuses = await Promise.all(bodies.map(([, b]) => post(port, path, b, { 'Content-Type': 'application/json' })));
    statuses.forEach((s, i) => {
      if (!byStatus.has(s)) byStatus.set(s, []);
      byStatus.get(s).push(bodies[i][0]);
    });
    if ((byStatus.get(429) || []).length >= want429 && (byStatus.get(okStatus) || []).length > 0) break;
  }
  for (const s of byStatus.keys()) ok(s === okStatus || s === 429, `only ${okStatus} and 429 expected, got ${s}`);
  return { ok: byStatus.get(okStatus) || [], refused: byStatus.get(429) || [] };
}

async function storedSpans(queryPort, traceId) {
  const r = await fetch(`http://127.0.0.1:${queryPort}/api/traces/${traceId}`);
  if (r.status === 404) return 0;
  eq(r.status, 200, `GET trace ${traceId}`);
  return (await r.json()).data[0].spans.length;
}

async function countsMatchStore(receiver, path, build, okStatus, spansName) {
  const cs = await startCallscope(bin, ['--max-queue-mb', '1', '--sync']);
  try {
    const port = receiver === 'otlp' ? cs.ports.otlp : cs.ports.zipkin;
    const r = await overload(port, path, build, okStatus, 2);
    console.log(`  ${receiver}: ${r.ok.length} requests answered ${okStatus}, ${r.refused.length} answered 429`);
    ok(r.refused.length > 0, 'the overload produced no 429: nothing was tested');
    let stored = 0, storedRefused = 0;
    for (const id of r.ok) stored += await storedSpans(cs.ports.query, id);
    for (const id of r.refused) storedRefused += await storedSpans(cs.ports.query, id);
    eq(stored, r.ok.length * SPANS, `spans stored of the requests answered ${okStatus}`);
    eq(storedRefused, 0, 'spans stored of the requests answered 429');
    const text = await getText(cs.ports.query, '/metrics');
    eq(counter(text, spansName), stored, `${spansName} against the spans stored`);
    eq(counter(text, `${spansName}_refused`), r.refused.length * SPANS, `${spansName}_refused`);
    eq(counter(text, `${spansName}_rejected`), 0, `${spansName}_rejected`);
  } finally {
    await cs.stop();
  }
}

// OTLP histograms OpenMetrics is strict about: negative bounds with a
// negative sum, no sum at all (the field is optional), a negative sum.
function awkwardHistograms() {
  const now = String(BigInt(Date.now()) * 1000000n);
  const point = (bounds, counts, sum) => {
    const p = { timeUnixNano: now, count: String(counts.reduce((a, b) => a + b, 0)), bucketCounts: counts.map(String),
      explicitBounds: bounds, attributes: [{ key: 'room', value: { stringValue: 'a' } }] };
    if (sum !== undefined) p.sum = sum;
    return p;
  };
  const hist = (name, p) => ({ name, histogram: { aggregationTemporality: 2, dataPoints: [p] } });
  return JSON.stringify({ resourceMetrics: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'om' } }] },
    scopeMetrics: [{ metrics: [
      hist('temperature.delta', point([-10, 0, 10], [1, 2, 3, 4], -4.5)),
      hist('queue.wait', point([0.1, 1], [1, 2, 3], undefined)),
      hist('refund.amount', point([1, 10], [1, 1, 1], -3)),
      hist('plain.latency', point([1, 10], [1, 1, 1], 7.5)),
    ] }] }] });
}

function strictParse(text) {
  const py = `
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as f
fams = list(f(sys.stdin.read()))
print(len(fams), sum(len(m.samples) for m in fams))
`;
  return spawnSync('/usr/bin/python3', ['-c', py], { input: text, encoding: 'utf8' });
}

async function openMetricsPageParsesStrictly() {
  if (spawnSync('/usr/bin/python3', ['-c', 'import prometheus_client']).status !== 0) {
    console.log('  skip: python3-prometheus-client missing (scripts/setup-deps.sh installs it)');
    return;
  }
  const cs = await startCallscope(bin);
  try {
    eq(await post(cs.ports.otlp, '/v1/metrics', awkwardHistograms(), { 'Content-Type': 'application/json' }), 200, 'metrics POST');
    const id = randomBytes(16).toString('hex');
    eq(await post(cs.ports.otlp, '/v1/traces', otlpTrace(id), { 'Content-Type': 'application/json' }), 200, 'traces POST');
    const text = await waitFor(async () => {
      const r = await fetch(`http://127.0.0.1:${cs.ports.query}/metrics`,
        { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });
      ok(r.headers.get('content-type').startsWith('application/openmetrics-text'), 'OpenMetrics content type');
      const t = await r.text();
      return /temperature_delta_bucket/.test(t) && /callscope_span_duration_seconds_bucket/.test(t) ? t : null;
    }, 'histograms on /metrics');
    ok(!/temperature_delta_(sum|count)/.test(text), 'negative buckets: neither _sum nor _count');
    ok(!/queue_wait_(sum|count)/.test(text), 'no sum: neither _sum nor _count');
    ok(/plain_latency_sum\{/.test(text) && /plain_latency_count\{/.test(text), 'ordinary histogram keeps both');
    const p = strictParse(text);
    if (p.status !== 0) fail(`strict OpenMetrics parser rejected /metrics:\n${p.stderr.split('\n').slice(-4).join('\n')}`);
    console.log(`  families, samples parsed: ${p.stdout.trim()}`);
    // The parser can fail: the same page without its # EOF is refused.
    ok(strictParse(text.replace(/# EOF\n$/, '')).status !== 0, 'parser accepted a page without # EOF');
  } finally {
    await cs.stop();
  }
}

// The UDP share flag reaches the daemon, and its gauge and the UDP drop
// counters (datagrams, bytes, spans, the kernel's) are on /metrics.
async function udpShareAndDropCountersOnMetrics() {
  const cs = await startCallscope(bin, ['--max-udp-queue-mb', '1']);
  try {
    const text = await getText(cs.ports.query, '/metrics');
    ok(/^# TYPE callscope_collector_queue_bytes_udp gauge$/m.test(text), 'queue_bytes_udp gauge');
    ok(/^callscope_collector_queue_bytes_udp 0$/m.test(text), 'queue_bytes_udp is 0 when idle');
    for (const c of ['udp_dropped', 'udp_dropped_bytes', 'udp_dropped_spans', 'udp_kernel_drops'])
      ok(new RegExp(`^callscope_collector_${c}_total 0$`, 'm').test(text), `counter ${c}_total`);
  } finally {
    await cs.stop();
  }
}

await runTests([
  ['daemon_udp_share_flag_and_udp_drop_counters', udpShareAndDropCountersOnMetrics],
  ['otlp_http_spans_counter_equals_spans_stored_under_429', () =>
    countsMatchStore('otlp', '/v1/traces', otlpTrace, 200, 'otlp_http_spans')],
  ['zipkin_spans_counter_equals_spans_stored_under_429', () =>
    countsMatchStore('zipkin', '/api/v2/spans', zipkinTrace, 202, 'zipkin_spans')],
  ['daemon_openmetrics_page_parses_strictly', openMetricsPageParsesStrictly],
]);
