/* StatsD parsing and aggregation (collector/statsd.c): every line type,
 * sample rates, DogStatsD tags, gauge deltas, bad lines, the series cap,
 * and the OTLP request a flush builds. */
#include "check.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "statsd.h"

static void statsd_parses_lines(void) {
  cs_statsd_line l;
  CHECK_EQ(cs_statsd_parse_line("a.b:1.5|c|@0.1|#env:prod,canary", 32, &l), 0);
  CHECK_STRN(l.name.p, l.name.n, "a.b");
  CHECK(l.value == 1.5 && l.type == CS_STATSD_COUNTER && l.rate == 0.1);
  CHECK_EQ(l.n_tags, 2);
  CHECK_STRN(l.tag_keys[0].p, l.tag_keys[0].n, "env");
  CHECK_STRN(l.tag_vals[0].p, l.tag_vals[0].n, "prod");
  CHECK_STRN(l.tag_vals[1].p, l.tag_vals[1].n, "true");
  const char *g = "q:-3|g";
  CHECK_EQ(cs_statsd_parse_line(g, strlen(g), &l), 0);
  CHECK(l.type == CS_STATSD_GAUGE && l.gauge_delta && l.value == -3);
  g = "t:12|ms|#a:b|c:123abc|T1700000000";
  CHECK_EQ(cs_statsd_parse_line(g, strlen(g), &l), 0);
  CHECK(l.type == CS_STATSD_TIMER && l.n_tags == 1);
  static const char *bad[] = {"nocolon", ":1|c", "a:1", "a:x|c", "a:1|s", "a:1|zz", "a:1|c|@2",
                              "a:1|c|@0", "a:-1|c", "a:1|c||", "a b:1|c", "a:1|c|#:v", "a:nan|g",
                              "a:1|ms|@abc", "a:0x10|c"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = cs_statsd_parse_line(bad[i], strlen(bad[i]), &l);
    if (rc != -1) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK_EQ(rc, -1);
  }
}

static const Opentelemetry__Proto__Metrics__V1__Metric *find(const cs_otlp_metrics *m, const char *name) {
  const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = m->resource_metrics[0]->scope_metrics[0];
  for (size_t i = 0; i < sm->n_metrics; i++)
    if (!strcmp(sm->metrics[i]->name, name)) return sm->metrics[i];
  return NULL;
}

static void statsd_aggregates_and_flushes(void) {
  cs_statsd_agg *g = cs_statsd_agg_new(100);
  const char *dg = "hits:1|c\nhits:2|c|@0.5\nhits:1|c|#b:2,a:1\nhits:1|c|#a:1,b:2\n"
                   "depth:10|g\ndepth:+5|g\ndepth:-3|g\nlat:3|ms\nlat:300|ms|@0.5\nsize:7|h\n"
                   "garbage\n\nx:1|s\r\n";
  uint64_t ok = 0, bad = 0, dropped = 0;
  cs_statsd_agg_datagram(g, dg, strlen(dg), 1000, &ok, &bad, &dropped);
  CHECK_EQ(ok, 10);
  CHECK_EQ(bad, 2);
  CHECK_EQ(dropped, 0);
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_otlp_metrics *m;
  cs_resource *res;
  size_t points;
  CHECK_EQ(cs_statsd_agg_flush(g, &a, 2000, 1000000, &m, &res, &points), 0);
  CHECK_EQ(points, 5); /* hits, hits{a,b} (tag order merged), depth, lat, size */
  CHECK_STRN(res->service.p, res->service.n, "statsd");
  const Opentelemetry__Proto__Metrics__V1__Metric *x = m ? find(m, "depth") : NULL;
  CHECK(x && x->gauge && x->gauge->data_points[0]->as_double == 12);
  x = m ? find(m, "lat") : NULL;
  CHECK(x && x->histogram);
  if (x && x->histogram) {
    const Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p = x->histogram->data_points[0];
    CHECK_EQ(p->count, 3); /* 1 + 1/0.5 */
    CHECK(p->sum == 603);
    CHECK(p->time_unix_nano == 2000);
    CHECK_EQ(p->n_bucket_counts, p->n_explicit_bounds + 1);
  }
  size_t plain = 0, tagged = 0;
  const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = m->resource_metrics[0]->scope_metrics[0];
  for (size_t i = 0; i < sm->n_metrics; i++) {
    if (strcmp(sm->metrics[i]->name, "hits")) continue;
    const Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p = sm->metrics[i]->sum->data_points[0];
    CHECK(sm->metrics[i]->sum->is_monotonic);
    if (p->n_attributes == 0) {
      plain++;
      CHECK(p->as_double == 5); /* 1 + 2/0.5 */
    } else {
      tagged++;
      CHECK(p->as_double == 2 && p->n_attributes == 2);
    }
  }
  CHECK_EQ(plain, 1);
  CHECK_EQ(tagged, 1);
  cs_arena_release(&a);
  /* Nothing new: nothing to send; gauges keep their value for deltas. */
  cs_arena_init(&a, 4096, 1 << 20);
  CHECK_EQ(cs_statsd_agg_flush(g, &a, 3000, 1000000, &m, &res, &points), 0);
  CHECK(m == NULL && points == 0);
  cs_statsd_agg_datagram(g, "depth:+1|g", 10, 3500, &ok, &bad, &dropped);
  CHECK_EQ(cs_statsd_agg_flush(g, &a, 4000, 1000000, &m, &res, &points), 0);
  x = m ? find(m, "depth") : NULL;
  CHECK(x && x->gauge->data_points[0]->as_double == 13);
  cs_arena_release(&a);
  cs_statsd_agg_free(g);
}

static void statsd_caps_series(void) {
  cs_statsd_agg *g = cs_statsd_agg_new(3);
  uint64_t ok = 0, bad = 0, dropped = 0;
  const char *dg = "a:1|c\nb:1|c\nc:1|c\nd:1|c\na:1|c";
  cs_statsd_agg_datagram(g, dg, strlen(dg), 1, &ok, &bad, &dropped);
  CHECK_EQ(ok, 4);
  CHECK_EQ(dropped, 1);
  /* Idle series are forgotten, which makes room again. */
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_otlp_metrics *m;
  cs_resource *res;
  size_t points;
  cs_statsd_agg_flush(g, &a, 10, 100, &m, &res, &points);
  cs_statsd_agg_flush(g, &a, 1000, 100, &m, &res, &points);
  cs_statsd_agg_datagram(g, "d:1|c", 5, 1000, &ok, &bad, &dropped);
  CHECK_EQ(dropped, 1);
  CHECK_EQ(ok, 5);
  cs_arena_release(&a);
  cs_statsd_agg_free(g);
}

int main(void) {
  RUN(statsd_parses_lines);
  RUN(statsd_aggregates_and_flushes);
  RUN(statsd_caps_series);
  return CHECK_DONE();
}
