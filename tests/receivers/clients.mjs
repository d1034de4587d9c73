// Other existing clients, unmodified, against callscope: the OpenTelemetry
// Zipkin exporter (Zipkin v2 JSON), hot-shots (StatsD/DogStatsD over UDP)
// and the OpenTelemetry metrics SDK with its OTLP/HTTP exporter. Traces
// are checked through the query API, metrics on /metrics.
// Usage: node clients.mjs /path/to/callscope
import { context, propagation, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ZipkinExporter } from '@opentelemetry/exporter-zipkin';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import StatsD from 'hot-shots';
import { startCallscope, getJSON, getText, waitFor, eq, ok, tagMap, runTests } from './lib.mjs';

const bin = process.argv[2];
const T0 = Date.now() - 30000;

class BaggageToAttributes {
  onStart(span, parentContext) {
    const bag = propagation.getBaggage(parentContext);
    if (bag) for (const [k, v] of bag.getAllEntries()) span.setAttribute(k, v.value);
  }
  onEnd() {}
  forceFlush() { return Promise.resolve(); }
  shutdown() { return Promise.resolve(); }
}

async function zipkinScenario(ports) {
  const url = `http://127.0.0.1:${ports.zipkin}/api/v2/spans`;
  const mk = (service) => new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new BaggageToAttributes(), new SimpleSpanProcessor(new ZipkinExporter({ url }))],
  });
  const web = mk('zweb'), api = mk('zapi');
  const bag = propagation.setBaggage(context.active(),
    propagation.createBaggage({ sessionId: { value: 'sess-zipkin-7' } }));
  const root = web.getTracer('w').startSpan('GET /home', { kind: SpanKind.SERVER, startTime: T0 }, bag);
  const cl = web.getTracer('w').startSpan('GET api', { kind: SpanKind.CLIENT, startTime: T0 + 1,
    attributes: { 'peer.service': 'zapi', 'retries': 3 } }, trace.setSpan(bag, root));
  const srv = api.getTracer('a').startSpan('GET /items', { kind: SpanKind.SERVER, startTime: T0 + 2,
    attributes: { 'http.route': '/items', 'cache.hit': false } }, trace.setSpan(bag, cl));
  srv.addEvent('cache.miss', T0 + 3);
  srv.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream timeout' });
  srv.end(T0 + 6);
  cl.end(T0 + 7);
  root.end(T0 + 8);
  await web.forceFlush();
  await api.forceFlush();
  await web.shutdown();
  await api.shutdown();
  return { traceId: root.spanContext().traceId, root: root.spanContext().spanId,
    cl: cl.spanContext().spanId, srv: srv.spanContext().spanId };
}

async function zipkinTest() {
  const cs = await startCallscope(bin);
  try {
    const sc = await zipkinScenario(cs.ports);
    const r = await waitFor(async () => {
      const x = await getJSON(cs.ports.query, `/api/traces/${sc.traceId}`);
      return x.status === 200 && x.body.data[0].spans.length === 3 ? x : null;
    }, 'the zipkin trace');
    const t = r.body.data[0];
    const by = {};
    for (const s of t.spans) by[s.spanID] = s;
    const parent = (s) => (s.references.find((x) => x.refType === 'CHILD_OF') || {}).spanID;
    eq(parent(by[sc.root]), undefined, 'root parent');
    eq(parent(by[sc.cl]), sc.root, 'client parent');
    eq(parent(by[sc.srv]), sc.cl, 'server parent');
    eq(t.processes[by[sc.root].processID].serviceName, 'zweb', 'root service');
    eq(t.processes[by[sc.srv].processID].serviceName, 'zapi', 'server service');
    eq(by[sc.srv].operationName, 'GET /items', 'server name (Zipkin lowercases nothing here)');
    eq(by[sc.srv].startTime, (T0 + 2) * 1000, 'start µs');
    eq(by[sc.srv].duration, 4000, 'duration µs');
    const st = tagMap(by[sc.srv].tags);
    eq(st['http.route'], { type: 'string', value: '/items' }, 'tag');
    eq(st['cache.hit'], { type: 'string', value: 'false' }, 'bool attribute as Zipkin string tag');
    eq(st['span.kind'].value, 'server', 'kind');
    eq(st.sessionId, { type: 'string', value: 'sess-zipkin-7' }, 'session tag');
    eq(st['otel.status_code'].value, 'ERROR', 'error status from the error tag');
    eq(st['otel.status_description'].value, 'upstream timeout', 'error message');
    eq(by[sc.srv].logs.map((l) => [l.timestamp, tagMap(l.fields).event.value]),
      [[(T0 + 3) * 1000, 'cache.miss']], 'annotation as event');
    const ct = tagMap(by[sc.cl].tags);
    eq(ct['span.kind'].value, 'client', 'client kind');
    eq(ct['peer.service'].value, 'zapi', 'remote endpoint service');
    eq(ct.retries.value, '3', 'int attribute as Zipkin string tag');
    // sessionId is one of the spellings that index as the session.
    const sess = await getJSON(cs.ports.query, '/api/v1/sessions/sess-zipkin-7');
    eq(sess.body.traces.map((x) => x.traceID), [sc.traceId], 'session search');
  } finally {
    await cs.stop();
  }
}

function metricValue(text, re) {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
}

async function statsdTest() {
  const cs = await startCallscope(bin);
  try {
    const client = new StatsD({ host: '127.0.0.1', port: cs.ports.statsd, prefix: 'shop.',
      globalTags: { env: 'test' }, maxBufferSize: 0 });
    client.increment('orders', 3, { region: 'eu' });
    client.increment('orders', 2, { region: 'eu' });
    client.gauge('queue.depth', 17);
    client.gauge('queue.depth', 20);
    client.timing('checkout.time', 42, { route: 'pay' });
    client.timing('checkout.time', 420, { route: 'pay' });
    client.histogram('basket.size', 4);
    await new Promise((res) => client.close(res));
    const text = await waitFor(async () => {
      const t = await getText(cs.ports.query, '/metrics');
      return /shop_basket_size_count\{[^}]*\} 1/.test(t) ? t : null;
    }, 'statsd series on /metrics');
    eq(metricValue(text, /shop_orders_total\{env="test",region="eu",service="statsd"\} (\S+)/), 5, 'counter');
    eq(metricValue(text, /shop_queue_depth\{env="test",service="statsd"\} (\S+)/), 20, 'gauge');
    eq(metricValue(text, /shop_checkout_time_count\{env="test",route="pay",service="statsd"\} (\S+)/), 2, 'timer count');
    eq(metricValue(text, /shop_checkout_time_sum\{env="test",route="pay",service="statsd"\} (\S+)/), 462, 'timer sum');
    eq(metricValue(text, /shop_checkout_time_bucket\{env="test",route="pay",service="statsd",le="50"\} (\S+)/), 1, 'timer bucket le=50');
    ok(metricValue(text, /^callscope_collector_statsd_lines_total (\S+)/m) >= 7, 'statsd lines counted');
  } finally {
    await cs.stop();
  }
}

async function otelMetricsTest() {
  const cs = await startCallscope(bin);
  try {
    const exporter = new OTLPMetricExporter({ url: `http://127.0.0.1:${cs.ports.otlp}/v1/metrics` });
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60000 });
    const mp = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'meter-svc' }), readers: [reader] });
    const meter = mp.getMeter('m');
    const c = meter.createCounter('jobs.done');
    c.add(4, { queue: 'q1' });
    c.add(1, { queue: 'q1' });
    const h = meter.createHistogram('job.latency', { unit: 'ms' });
    h.record(12, { queue: 'q1' });
    h.record(30, { queue: 'q1' });
    await mp.forceFlush();
    await mp.shutdown();
    const text = await waitFor(async () => {
      const t = await getText(cs.ports.query, '/metrics');
      return /jobs_done_total\{/.test(t) ? t : null;
    }, 'OTLP metrics on /metrics');
    eq(metricValue(text, /jobs_done_total\{[^}]*queue="q1"[^}]*service="meter-svc"[^}]*\} (\S+)/), 5, 'OTLP counter');
    ok(/job_latency(_milliseconds)?_count\{[^}]*queue="q1"[^}]*\} 2/.test(text), 'OTLP histogram count');
    ok(metricValue(text, /^callscope_collector_otlp_http_metric_points_total (\S+)/m) >= 2, 'points counted');
  } finally {
    await cs.stop();
  }
}

await runTests([
  ['zipkin_exporter_round_trip', zipkinTest],
  ['statsd_hot_shots_values_on_metrics', statsdTest],
  ['otel_metrics_sdk_otlp_http_on_metrics', otelMetricsTest],
]);
