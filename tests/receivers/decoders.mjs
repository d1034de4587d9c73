// Decoder regressions against the live daemon: byte fields whose decoded
// size differs from what a decoder assumed. Each request must get a clear
// answer (200 with the span stored, or 400), the daemon must keep running,
// and stored spans must read back through the query API unchanged.
// Usage: node decoders.mjs /path/to/callscope
import http from 'node:http';
import { startCallscope, getJSON, waitFor, eq, ok, runTests } from './lib.mjs';

const bin = process.argv[2];

function post(port, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false,
      headers: { 'Content-Type': 'application/json' } }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.end(body);
  });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// The request from issue 9, with the trace ID and attribute value given.
function request(traceId, value) {
  const now = BigInt(Date.now()) * 1000000n;
  const span = { traceId, spanId: 'eee19b7ec3c1b174', name: 'x', kind: 1,
    startTimeUnixNano: String(now - 1000000n), endTimeUnixNano: String(now),
    attributes: [{ key: 'blob', value: { bytesValue: value } }] };
  return JSON.stringify({ resourceSpans: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: 'svc' } }] },
    scopeSpans: [{ spans: [span] }] }] });
}

// Posts one span with bytesValue value; on 200 reads it back and checks
// the tag holds the same bytes (the query API gives binary tags as base64).
async function roundTrip(cs, traceId, value) {
  const r = await post(cs.ports.otlp, '/v1/traces', request(traceId, value));
  ok(alive(cs.pid), `daemon still running after bytesValue of ${value.length} chars`);
  ok(r.status === 200 || r.status === 400, `clear answer for ${value.length} chars: ${r.status} ${r.body}`);
  if (r.status !== 200) return r.status;
  eq(r.body, '{}', `span of ${value.length} chars fully accepted`);
  const t = await waitFor(async () => {
    const x = await getJSON(cs.ports.query, `/api/traces/${traceId}`);
    return x.status === 200 ? x.body : null;
  }, `trace ${traceId} stored`);
  const tag = t.data[0].spans[0].tags.find((g) => g.key === 'blob');
  ok(tag, `blob tag present: ${JSON.stringify(t.data[0].spans[0].tags)}`);
  eq(tag.type, 'binary', 'tag type');
  eq(Buffer.from(tag.value, 'base64').toString('hex'), Buffer.from(value, 'base64').toString('hex'),
    `bytes of ${value.length} chars read back`);
  return r.status;
}

// 1. The issue's request: 120 base64 characters (90 bytes) on a span
// attribute overflowed a 64-byte stack buffer sized for hex.
async function issueRequest() {
  const cs = await startCallscope(bin);
  try {
    eq(await roundTrip(cs, '5b8efff798038103d269b633813fc60c', 'QUFB'.repeat(30)), 200, 'issue request');
  } finally {
    await cs.stop();
  }
}

// 2. Sizes around the stack buffer's edge and well past it, with and
// without padding, in both base64 alphabets.
async function sizesAroundTheEdge() {
  const cs = await startCallscope(bin);
  try {
    let id = 0;
    for (const bytes of [0, 1, 2, 46, 47, 48, 60, 61, 62, 63, 64, 65, 85, 86, 87, 96, 4096]) {
      const raw = Buffer.alloc(bytes);
      for (let i = 0; i < bytes; i++) raw[i] = (i * 151 + 7) & 0xff;
      for (const text of [raw.toString('base64'), raw.toString('base64url')]) {
        const traceId = `6b8efff798038103d269b6338${(++id).toString(16).padStart(7, '0')}`;
        eq(await roundTrip(cs, traceId, text), 200, `${bytes} bytes as ${text.length} chars`);
      }
    }
    const bad = await post(cs.ports.otlp, '/v1/traces', request('7b8efff798038103d269b633813fc60c', '!'.repeat(200)));
    eq(bad.status, 400, 'bytesValue that is not base64');
    ok(alive(cs.pid), 'daemon still running');
  } finally {
    await cs.stop();
  }
}

runTests([
  ['otlp_json_bytes_value_of_the_issue_is_stored', issueRequest],
  ['otlp_json_bytes_values_of_every_size_round_trip', sizesAroundTheEdge],
]);
