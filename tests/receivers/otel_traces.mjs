// The OpenTelemetry JavaScript SDK, unmodified, exporting to callscope:
// "frontend" through the OTLP/HTTP protobuf exporter, "backend" through
// the OTLP/HTTP JSON exporter with gzip, one trace across both with
// attributes of every type, events, links, an error status and a session
// ID carried in baggage. The query API must give all of it back exactly.
// Usage: node otel_traces.mjs /path/to/callscope
import { context, propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { W3CBaggagePropagator } from '@opentelemetry/core';
import { startCallscope, getJSON, waitFor, eq, ok, tagMap, runTests } from './lib.mjs';

const bin = process.argv[2];

// The JS SDK does not put baggage on spans by itself; this is the usual
// processor services add for it.
class BaggageToAttributes {
  onStart(span, parentContext) {
    const bag = propagation.getBaggage(parentContext);
    if (bag) for (const [k, v] of bag.getAllEntries()) span.setAttribute(k, v.value);
  }
  onEnd() {}
  forceFlush() { return Promise.resolve(); }
  shutdown() { return Promise.resolve(); }
}

function provider(service, exporter) {
  return new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.version': '1.2.3', 'host.name': 'h-' + service }),
    spanProcessors: [new BaggageToAttributes(), new SimpleSpanProcessor(exporter)],
  });
}

// Millisecond timestamps keep the expected microseconds exact.
const T0 = Date.now() - 60000;

async function scenario(ports) {
  const front = provider('frontend', new ProtoExporter({ url: `http://127.0.0.1:${ports.otlp}/v1/traces` }));
  // The JSON exporter gzips its bodies, as many deployments configure it.
  const back = provider('backend', new JsonExporter({ url: `http://127.0.0.1:${ports.otlp}/v1/traces`, compression: 'gzip' }));
  const ft = front.getTracer('shop-frontend', '0.1.0');
  const bt = back.getTracer('shop-backend', '0.2.0');

  // An unrelated trace to link to.
  const other = ft.startSpan('nightly-job', { kind: SpanKind.INTERNAL, startTime: T0 }, context.active());
  other.end(T0 + 5);

  const bag = propagation.createBaggage({ 'session.id': { value: 'sess-otel-42' } });
  const base = propagation.setBaggage(context.active(), bag);
  const root = ft.startSpan('GET /checkout', { kind: SpanKind.SERVER, startTime: T0 + 10,
    attributes: { 'http.method': 'GET', 'http.status_code': 200 } }, base);
  const rootCtx = trace.setSpan(base, root);
  const client = ft.startSpan('POST backend/charge', { kind: SpanKind.CLIENT, startTime: T0 + 12 }, rootCtx);
  // The backend extracts the context from headers, as a real service would.
  const headers = {};
  const clientCtx = trace.setSpan(rootCtx, client);
  propagation.setGlobalPropagator(new W3CBaggagePropagator());
  propagation.inject(clientCtx, headers);
  const backCtx = trace.setSpan(propagation.extract(context.active(), headers), client);
  const server = bt.startSpan('POST /charge', {
    kind: SpanKind.SERVER, startTime: T0 + 14,
    attributes: {
      's': 'text ü', 'b': true, 'i': 42, 'neg': -7, 'd': 3.25,
      'sa': ['x', 'y'], 'ba': [true, false], 'ia': [1, 2, 3], 'da': [1.5, 2.5],
    },
    links: [{ context: other.spanContext(), attributes: { 'link.reason': 'batch' } }],
  }, backCtx);
  server.addEvent('card.checked', { 'card.brand': 'visa', 'attempt': 2 }, T0 + 15);
  server.addEvent('retry', T0 + 16);
  const srvCtx = trace.setSpan(backCtx, server);
  const db = bt.startSpan('SELECT accounts', { kind: SpanKind.INTERNAL, startTime: T0 + 17 }, srvCtx);
  db.setStatus({ code: SpanStatusCode.ERROR, message: 'deadlock detected' });
  db.end(T0 + 19);
  server.end(T0 + 20);
  client.end(T0 + 21);
  root.end(T0 + 22);
  await front.forceFlush();
  await back.forceFlush();
  await front.shutdown();
  await back.shutdown();
  return {
    traceId: root.spanContext().traceId,
    ids: { root: root.spanContext().spanId, client: client.spanContext().spanId,
      server: server.spanContext().spanId, db: db.spanContext().spanId },
    other: other.spanContext(),
  };
}

async function check(ports, sc) {
  const r = await waitFor(async () => {
    const x = await getJSON(ports.query, `/api/traces/${sc.traceId}`);
    return x.status === 200 && x.body.data[0].spans.length === 4 ? x : null;
  }, 'the trace with 4 spans');
  const t = r.body.data[0];
  eq(t.traceID, sc.traceId, 'trace ID');
  const byId = {};
  for (const s of t.spans) byId[s.spanID] = s;
  const parentOf = (s) => (s.references.find((x) => x.refType === 'CHILD_OF') || {}).spanID;
  const { root, client, server, db } = sc.ids;
  eq(parentOf(byId[root]), undefined, 'root has no parent');
  eq(parentOf(byId[client]), root, 'client parent');
  eq(parentOf(byId[server]), client, 'server parent');
  eq(parentOf(byId[db]), server, 'db parent');
  eq(t.processes[byId[root].processID].serviceName, 'frontend', 'root service');
  eq(t.processes[byId[server].processID].serviceName, 'backend', 'server service');
  const ptags = tagMap(t.processes[byId[server].processID].tags);
  eq(ptags['service.version'], { type: 'string', value: '1.2.3' }, 'resource attribute');
  eq(byId[root].operationName, 'GET /checkout', 'root name');
  eq(byId[root].startTime, (sc.t0 + 10) * 1000, 'root start µs');
  eq(byId[root].duration, 12000, 'root duration µs');
  eq(byId[server].startTime, (sc.t0 + 14) * 1000, 'server start µs');
  eq(byId[server].duration, 6000, 'server duration µs');

  const st = tagMap(byId[server].tags);
  eq(st.s, { type: 'string', value: 'text ü' }, 'string attribute');
  eq(st.b, { type: 'bool', value: true }, 'bool attribute');
  eq(st.i, { type: 'int64', value: 42 }, 'int attribute');
  eq(st.neg, { type: 'int64', value: -7 }, 'negative int attribute');
  eq(st.d, { type: 'float64', value: 3.25 }, 'double attribute');
  eq(JSON.parse(st.sa.value), ['x', 'y'], 'string array');
  eq(JSON.parse(st.ba.value), [true, false], 'bool array');
  eq(JSON.parse(st.ia.value), [1, 2, 3], 'int array');
  eq(JSON.parse(st.da.value), [1.5, 2.5], 'double array');
  eq(st['span.kind'], { type: 'string', value: 'server' }, 'server kind');
  eq(st['otel.scope.name'], { type: 'string', value: 'shop-backend' }, 'scope name');
  eq(st['session.id'], { type: 'string', value: 'sess-otel-42' }, 'session from baggage (backend)');
  eq(tagMap(byId[root].tags)['session.id'].value, 'sess-otel-42', 'session from baggage (frontend)');
  eq(tagMap(byId[client].tags)['span.kind'].value, 'client', 'client kind');

  eq(byId[server].logs.length, 2, 'events');
  const ev = byId[server].logs.find((l) => tagMap(l.fields).event.value === 'card.checked');
  ok(ev, 'event card.checked present');
  eq(ev.timestamp, (sc.t0 + 15) * 1000, 'event time µs');
  eq(tagMap(ev.fields)['card.brand'], { type: 'string', value: 'visa' }, 'event attribute');
  eq(tagMap(ev.fields).attempt, { type: 'int64', value: 2 }, 'event int attribute');

  const link = byId[server].references.find((x) => x.refType === 'FOLLOWS_FROM');
  ok(link, 'link present as FOLLOWS_FROM');
  eq([link.traceID, link.spanID], [sc.other.traceId, sc.other.spanId], 'link target');

  const dt = tagMap(byId[db].tags);
  eq(dt['otel.status_code'], { type: 'string', value: 'ERROR' }, 'error status');
  eq(dt['otel.status_description'], { type: 'string', value: 'deadlock detected' }, 'status message');
  eq(dt.error, { type: 'bool', value: true }, 'error tag');

  // Callscope's own tree shape keeps what Jaeger's drops: link attributes,
  // scope versions, the session.
  const tree = await getJSON(ports.query, `/api/v1/traces/${sc.traceId}/tree`);
  eq(tree.status, 200, 'tree status');
  const tn = {};
  for (const x of tree.body.spans) tn[x.spanID] = x;
  eq(tree.body.roots, [root], 'one root');
  eq(tn[server].links, [{ traceID: sc.other.traceId, spanID: sc.other.spanId, attributes: { 'link.reason': 'batch' } }],
    'link with its attributes');
  eq([tn[server].scopeName, tn[server].scopeVersion], ['shop-backend', '0.2.0'], 'scope');
  eq([tn[root].scopeName, tn[root].scopeVersion], ['shop-frontend', '0.1.0'], 'frontend scope');
  eq(tn[server].session, 'sess-otel-42', 'session on the tree span');
  eq(tn[db].statusMessage, 'deadlock detected', 'status message in the tree');
  eq(tn[server].events.map((e) => e.name), ['card.checked', 'retry'], 'event names in order');

  const sess = await getJSON(ports.query, '/api/v1/sessions/sess-otel-42');
  eq(sess.status, 200, 'session search status');
  eq(sess.body.traces.map((x) => x.traceID), [sc.traceId], 'session search finds the trace');
  const search = await getJSON(ports.query, `/api/traces?service=backend&tags=${encodeURIComponent('{"session.id":"sess-otel-42"}')}&limit=10`);
  eq(search.body.data.map((x) => x.traceID), [sc.traceId], 'Jaeger search by session tag');
}

let cs;
await runTests([
  ['otel_js_sdk_proto_and_json_exporters_round_trip', async () => {
    cs = await startCallscope(bin);
    try {
      const sc = await scenario(cs.ports);
      sc.t0 = T0;
      await check(cs.ports, sc);
    } finally {
      await cs.stop();
    }
  }],
]);
