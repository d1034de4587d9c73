/* Metrics: values recorded through bound handles (from two threads) arrive
 * as cumulative OTLP metrics with the right type, labels, buckets, sum,
 * min and max; the library's own health metrics are exported too. */
#include <math.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "callscope/trace.h"
#include "check.h"
#include "fake_collector.h"

static fake_collector fc;
static cst_counter *req;
static cst_histogram *lat;
static cst_updown *inflight;

static void *work(void *arg) {
  for (int i = 0; i < 50000; i++) {
    cst_counter_add(req, 1);
    cst_updown_add(inflight, 1);
    cst_histogram_record(lat, (double)(i % 4) * 10); /* 0, 10, 20, 30 */
    cst_updown_add(inflight, -1);
  }
  return NULL;
}

static void instruments_export_cumulative_values(void) {
  char ep[64];
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = fc_endpoint(&fc, ep, sizeof ep);
  cfg.metrics_interval_ms = 60000; /* only the flushes export */
  cst_tracer *t;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  cst_label l[] = {{"route", "/orders"}, {"code", "200"}};
  req = cst_counter_new(t, "http.requests", "1", "requests served", l, 2);
  inflight = cst_updown_new(t, "http.inflight", "1", NULL, l, 1);
  cst_gauge *temp = cst_gauge_new(t, "temp", "Cel", NULL, NULL, 0);
  cst_gauge *unset = cst_gauge_new(t, "never.set", NULL, NULL, NULL, 0);
  double bounds[] = {5, 15, 25};
  lat = cst_histogram_new(t, "latency", "ms", NULL, l, 1, bounds, 3);
  cst_histogram *dflt = cst_histogram_new(t, "latency.default", "s", NULL, NULL, 0, NULL, 0);
  CHECK(req && inflight && temp && lat && dflt && unset);
  CHECK(cst_counter_new(t, "9bad", NULL, NULL, NULL, 0) == NULL);
  double bad_bounds[] = {2, 1};
  CHECK(cst_histogram_new(t, "h", NULL, NULL, NULL, 0, bad_bounds, 2) == NULL);
  cst_counter_add(NULL, 1); /* NULL handles are no-ops */
  pthread_t a, b;
  pthread_create(&a, NULL, work, NULL);
  pthread_create(&b, NULL, work, NULL);
  pthread_join(a, NULL);
  pthread_join(b, NULL);
  cst_updown_add(inflight, 3);
  cst_gauge_set(temp, 21.5);
  cst_histogram_record(dflt, 0.007); /* 7 ms, in seconds */
  cst_histogram_record(lat, NAN); /* ignored */
  cst_span_end(cst_span_start(t, "one", CST_KIND_INTERNAL, NULL));
  CHECK_EQ(cst_tracer_flush(t, 5000), CST_OK);
  CHECK(fc_wait(&fc, 1, 2000));
  usleep(100 * 1000);
  fc_metric m;
  CHECK(fc_find_metric(&fc, "http.requests", "route=/orders,code=200", &m));
  CHECK_EQ(m.kind, 7);
  CHECK_EQ(m.monotonic, 1);
  CHECK_EQ(m.temporality, 2);
  CHECK_EQ(m.ival, 100000);
  CHECK(fc_find_metric(&fc, "http.inflight", "route=/orders", &m));
  CHECK_EQ(m.monotonic, 0);
  CHECK_EQ(m.ival, 3);
  CHECK(fc_find_metric(&fc, "temp", "", &m));
  CHECK_EQ(m.kind, 5);
  CHECK(m.dval == 21.5);
  CHECK(!fc_find_metric(&fc, "never.set", NULL, &m));
  CHECK(fc_find_metric(&fc, "latency", "route=/orders", &m));
  CHECK_EQ(m.kind, 9);
  CHECK_EQ(m.temporality, 2);
  CHECK_EQ(m.count, 100000);
  CHECK(m.sum == 25000 * 60.0);
  CHECK(m.min == 0 && m.max == 30);
  CHECK_EQ(m.nb, 4);
  /* (-inf,5]: 0; (5,15]: 10; (15,25]: 20; (25,inf): 30 */
  CHECK_EQ(m.buckets[0], 25000);
  CHECK_EQ(m.buckets[1], 25000);
  CHECK_EQ(m.buckets[2], 25000);
  CHECK_EQ(m.buckets[3], 25000);
  CHECK(m.bounds[0] == 5 && m.bounds[2] == 25);
  CHECK(fc_find_metric(&fc, "latency.default", "", &m));
  CHECK_EQ(m.nb, 16);
  CHECK_EQ(m.buckets[2], 1); /* 0.007 is in (0.005,0.01]: the defaults are in seconds */
  CHECK(m.bounds[1] == 0.005 && m.bounds[14] == 10);
  /* Cumulative: a second export carries the totals, not deltas. */
  cst_counter_add(req, 5);
  CHECK_EQ(cst_tracer_flush(t, 5000), CST_OK);
  usleep(100 * 1000);
  CHECK(fc_find_metric(&fc, "http.requests", NULL, &m));
  CHECK_EQ(m.ival, 100005);
  /* health */
  CHECK(fc_find_metric(&fc, "callscope.trace.spans.started", NULL, &m));
  CHECK_EQ(m.ival, 1);
  CHECK(fc_find_metric(&fc, "callscope.trace.spans.dropped", "reason=queue_full", &m));
  CHECK_EQ(m.ival, 0);
  CHECK(fc_find_metric(&fc, "callscope.trace.spans.dropped", "reason=rejected", &m));
  CHECK_EQ(m.ival, 0);
  CHECK(fc_find_metric(&fc, "callscope.trace.reconnects", NULL, &m));
  CHECK(fc_find_metric(&fc, "callscope.trace.queue.bytes", NULL, &m));
  cst_counter_free(req);
  cst_gauge_free(temp);
  cst_tracer_free(t); /* frees the handles not freed */
}

/* More live threads than owned slots: the rest share the atomic slot, and
 * nothing is lost either way; slots of exited threads are reused. */
enum { MANY = 72, PER = 50000 };
static pthread_barrier_t many_bar;
static cst_counter *many_c;
static cst_histogram *many_h;
static void *many_work(void *arg) {
  pthread_barrier_wait(&many_bar); /* all alive at once */
  for (int i = 0; i < PER; i++) {
    cst_counter_add(many_c, 1);
    cst_histogram_record(many_h, 1.5);
  }
  pthread_barrier_wait(&many_bar);
  return NULL;
}

static void more_threads_than_slots_lose_nothing(void) {
  char ep[64];
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.endpoint = fc_endpoint(&fc, ep, sizeof ep);
  cfg.metrics_interval_ms = 60000;
  cst_tracer *t;
  CHECK_EQ(cst_tracer_new(&cfg, &t), CST_OK);
  many_c = cst_counter_new(t, "many.count", NULL, NULL, NULL, 0);
  many_h = cst_histogram_new(t, "many.hist", NULL, NULL, NULL, 0, NULL, 0);
  for (int round = 0; round < 2; round++) { /* round 2 reuses released slots */
    pthread_t th[MANY];
    pthread_barrier_init(&many_bar, NULL, MANY);
    for (int i = 0; i < MANY; i++)
      pthread_create(&th[i], NULL, many_work, NULL);
    for (int i = 0; i < MANY; i++)
      pthread_join(th[i], NULL);
    pthread_barrier_destroy(&many_bar);
  }
  CHECK_EQ(cst_tracer_flush(t, 5000), CST_OK);
  usleep(100 * 1000);
  fc_metric m;
  CHECK(fc_find_metric(&fc, "many.count", NULL, &m));
  CHECK_EQ(m.ival, 2 * MANY * PER);
  CHECK(fc_find_metric(&fc, "many.hist", NULL, &m));
  CHECK_EQ(m.count, 2 * MANY * PER);
  CHECK(m.sum == 2 * MANY * PER * 1.5);
  CHECK(m.min == 1.5 && m.max == 1.5);
  cst_tracer_free(t);
}

int main(void) {
  if (fc_start(&fc, 0, 0) != 0)
    return 2;
  RUN(instruments_export_cumulative_values);
  RUN(more_threads_than_slots_lose_nothing);
  fc_free(&fc);
  return CHECK_DONE();
}
