/* callscope: the all-in-one daemon users run by default. The collector
 * (on the libuv loop of this thread) and the query server (on its own HTTP
 * threads) share one cs_store, like Jaeger's all-in-one; /metrics serves
 * the metrics registry the collector feeds, plus both roles' own health. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "collector.h"
#include "log.h"
#include "parse.h"
#include "qflags.h"
#include "query.h"
#ifdef CS_HAVE_METRICS
#include "metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#endif

static void usage(FILE *f) {
  fputs("usage: callscope [options]\n"
        "Collector and query server in one process over one store.\n\nCollector:\n",
        f);
  cs_collector_cli_usage(f);
  fputs("Query:\n", f);
  cs_qflags_usage(f, 0);
  fputs("Both:\n", f);
  fputs(cs_cli_common_usage, f);
}

typedef struct flags {
  cs_collector_cli c;
  cs_qflags q;
} flags;

static int apply(void *ud, const char *prog, int opt, const char *arg) {
  flags *f = ud;
  int rc = cs_collector_cli_apply(&f->c, prog, opt, arg);
  return rc ? rc : cs_qflags_apply(&f->q, prog, opt, arg);
}

static cs_collector *g_collector;
static uv_signal_t g_sigterm, g_sigint;

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  cs_log(CS_LOG_INFO, "callscope", "received signal %d: stopping", signum);
  cs_collector_stop(g_collector);
  uv_close((uv_handle_t *)&g_sigterm, NULL);
  uv_close((uv_handle_t *)&g_sigint, NULL);
}

typedef struct app {
  cs_query *q;
#ifdef CS_HAVE_METRICS
  cs_metrics *m;
  cs_collector *c;
  cs_store *st;
#endif
} app;

#ifdef CS_HAVE_METRICS

/* Committed spans feed the RED metrics (latency statistics per operation
 * are the store's own, written with the spans). */
static void on_spans(void *ud, const cs_span *spans, size_t n) {
  app *a = ud;
  cs_metrics_ingest_spans(a->m, spans, n);
}

/* The collector hands one ResourceMetrics at a time; the registry takes a
 * whole request, so wrap it in a request of one. */
static void on_metrics(void *ud, const cs_otlp_resource_metrics *rm, const cs_resource *res) {
  (void)res;
  Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest req =
      OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
  cs_otlp_resource_metrics *one = (cs_otlp_resource_metrics *)rm;
  req.n_resource_metrics = 1;
  req.resource_metrics = &one;
  cs_metrics_ingest_otlp(((app *)ud)->m, &req);
}

/* Collector and store health, published at each scrape. */
static void on_render(cs_metrics *m, void *ud) {
  app *a = ud;
  cs_collector_stats s;
  cs_collector_get_stats(a->c, &s);
  static const char *const gauges[] = {"queue_bytes", "queue_items", "queue_bytes_peak",
                                       "queue_bytes_udp",
                                       "tcp_paused", "conns_open", "write_stalled",
                                       "http_conns_open"};
  /* Nanosecond timers are published in seconds, Prometheus's base unit. */
#define CS_PUBLISH(field)                                                              \
  do {                                                                                 \
    int g = 0;                                                                         \
    if (strstr(#field, "_ns")) break;                                                  \
    for (size_t i = 0; i < sizeof gauges / sizeof gauges[0]; i++)                      \
      if (!strcmp(gauges[i], #field)) g = 1;                                           \
    if (g)                                                                             \
      cs_metrics_gauge_set(m, "callscope_collector_" #field, "collector: " #field, NULL, 0, \
                           (double)s.field);                                           \
    else                                                                               \
      cs_metrics_counter_set(m, "callscope_collector_" #field, "collector: " #field, NULL, \
                             0, (double)s.field);                                      \
  } while (0);
  CS_COLLECTOR_STATS_MAP(CS_PUBLISH)
#undef CS_PUBLISH
  cs_metrics_counter_set(m, "callscope_collector_write_seconds",
                         "collector: time spent writing batches to the store", NULL, 0,
                         (double)s.write_ns_total / 1e9);
  cs_metrics_gauge_set(m, "callscope_collector_write_seconds_max",
                       "collector: longest batch write", NULL, 0, (double)s.write_ns_max / 1e9);
  cs_metrics_gauge_set(m, "callscope_collector_write_seconds_last",
                       "collector: latest batch write", NULL, 0, (double)s.write_ns_last / 1e9);
  for (int r = 0; r < CS_REJ__COUNT; r++) {
    cs_metrics_label l = {"reason", cs_reject_name(r)};
    cs_metrics_counter_set(m, "callscope_collector_spans_rejected_by_reason",
                           "spans rejected by validation, by reason", &l, 1,
                           (double)s.rejected[r]);
  }
  cs_cg_stats qc;
  cs_query_get_conn_stats(a->q, &qc);
  cs_metrics_gauge_set(m, "callscope_query_http_conns_open", "query: HTTP connections open", NULL,
                       0, (double)qc.open);
  cs_metrics_counter_set(m, "callscope_query_http_conns_accepted",
                         "query: HTTP connections admitted", NULL, 0, (double)qc.accepted);
  cs_metrics_counter_set(m, "callscope_query_http_conns_evicted",
                         "query: waiting HTTP connections closed to make room for a newcomer", NULL,
                         0, (double)qc.evicted);
  cs_metrics_counter_set(m, "callscope_query_http_head_timeouts",
                         "query: HTTP connections closed: request head not complete in time", NULL,
                         0, (double)qc.head_timeouts);
  static const char refused_help[] =
      "query: HTTP connections refused: every connection under the cap was busy";
  cs_metrics_label rl = {"cap", "total"};
  cs_metrics_counter_set(m, "callscope_query_http_conns_refused", refused_help, &rl, 1,
                         (double)qc.refused_total);
  rl.value = "per_addr";
  cs_metrics_counter_set(m, "callscope_query_http_conns_refused", refused_help, &rl, 1,
                         (double)qc.refused_per_addr);
  cs_store_stats ss;
  if (cs_store_get_stats(a->st, &ss) == 0) {
    cs_metrics_gauge_set(m, "callscope_store_live_sst_bytes", "RocksDB live SST bytes", NULL, 0,
                         (double)ss.live_sst_bytes);
    cs_metrics_gauge_set(m, "callscope_store_memtable_bytes", "RocksDB memtable bytes", NULL, 0,
                         (double)ss.memtable_bytes);
    cs_metrics_gauge_set(m, "callscope_store_estimated_keys", "RocksDB estimated keys", NULL, 0,
                         (double)ss.estimated_keys);
    cs_metrics_counter_set(m, "callscope_store_spans_written", "spans written to the store",
                           NULL, 0, (double)ss.spans_written);
    cs_metrics_counter_set(m, "callscope_store_batches_written", "write batches committed",
                           NULL, 0, (double)ss.batches_written);
  }
  cs_store_space sp;
  if (cs_store_space_get(a->st, &sp) == 0) {
    cs_metrics_gauge_set(m, "callscope_store_disk_free_bytes",
                         "free space on the data directory's file system", NULL, 0,
                         (double)sp.free_bytes);
    cs_metrics_gauge_set(m, "callscope_store_disk_headroom_bytes",
                         "free space RocksDB needs to resume writes after running out", NULL, 0,
                         (double)sp.headroom_bytes);
    cs_metrics_gauge_set(m, "callscope_store_disk_full",
                         "1 while the last store write failed for lack of space", NULL, 0,
                         (double)sp.full);
  }
}

static int render_metrics(void *ud, const char *accept, char **body, size_t *len,
                          const char **ct) {
  int om = 0;
  *ct = cs_metrics_negotiate(accept, &om);
  return cs_metrics_render(((app *)ud)->m, om, body, len) == 0 ? 0 : -1;
}

static void on_request(void *ud, const char *route, int status, double ms) {
  cs_metrics *m = ((app *)ud)->m;
  char st[16];
  snprintf(st, sizeof st, "%d", status);
  cs_metrics_label l[2] = {{"route", route}, {"status", st}};
  cs_metrics_counter_add(m, "callscope_query_requests", "query HTTP requests", l, 2, 1);
  cs_metrics_histogram_observe(m, "callscope_query_request_duration_seconds",
                               "query HTTP request latency", cs_metrics_latency_bounds,
                               cs_metrics_latency_n_bounds, l, 1, ms / 1000.0);
}
#endif

int main(int argc, char **argv) {
  const struct option *groups[] = {cs_collector_cli_options, cs_qflags_options};
  static flags fl; /* a few KB of option structs: off the stack */
  cs_collector_cli_init(&fl.c);
  cs_qflags_init(&fl.q);
  int prc = cs_cli_parse("callscope", argc, argv, groups, 2, apply, &fl, usage);
  if (prc) return prc == 1 ? 0 : 2;
  cs_collector_cli_finish(&fl.c);
  cs_collector_opts co = fl.c.co;
  cs_store_opts so = fl.c.so;
  cs_query_opts qo = fl.q.qo;
  /* One process, one address and one set of index keys for both roles. */
  qo.listen_addr = co.listen_addr ? co.listen_addr : "127.0.0.1";
  qo.index_keys = so.index_keys;
  qo.n_index_keys = so.n_index_keys;
  signal(SIGPIPE, SIG_IGN);
  /* The HTTP threads must not take SIGTERM/SIGINT: libuv's handler runs on
   * this thread's loop. Block them while the threads start, then unblock. */
  sigset_t sigs, old;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, &old);

  char err[256] = "";
  cs_store *st = NULL;
  int rc = cs_store_open(&so, &st, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "callscope", "cannot open store in %s: %s %s", so.dir,
           cs_store_strerror(rc), err);
    return 1;
  }
  cs_collector *c = cs_collector_new(&co, st);
  cs_query *q = NULL;
  if (!c || cs_query_new(&qo, st, &q, err, sizeof err)) {
    cs_log(CS_LOG_ERROR, "callscope", "cannot create the services: %s", err[0] ? err : "out of memory");
    cs_collector_free(c);
    cs_store_close(st);
    return 1;
  }
  app a = {.q = q};
#ifdef CS_HAVE_METRICS
  a.m = cs_metrics_new(NULL);
  a.c = c;
  a.st = st;
  if (a.m) {
    cs_collector_set_span_observer(c, on_spans, &a);
    cs_collector_set_metrics_sink(c, on_metrics, &a);
    cs_metrics_add_render_hook(a.m, on_render, &a);
    cs_query_set_metrics(q, render_metrics, &a);
    cs_query_set_observer(q, on_request, &a);
  }
#endif
  g_collector = c;
  uv_loop_t *loop = uv_default_loop();
  rc = cs_collector_start(c, loop);
  if (rc == 0 && cs_query_start(q, err, sizeof err)) {
    cs_log(CS_LOG_ERROR, "callscope", "cannot start the query server: %s", err);
    cs_collector_stop(c);
    uv_run(loop, UV_RUN_DEFAULT);
    rc = 1;
  } else if (rc == 0) {
    int tcp = 0, udp = 0;
    cs_collector_ports(c, &tcp, &udp);
    printf("callscope: query UI and API at http://%s:%u/ ; native frames on tcp %d, udp %d; "
           "data in %s\n",
           qo.listen_addr, (unsigned)cs_query_port(q), tcp, udp, so.dir);
    int otlp = 0, zipkin = 0, statsd = 0;
    cs_collector_recv_ports(c, &otlp, &zipkin, &statsd);
    printf("callscope: receivers otlp-http %d, zipkin %d, statsd %d (0 = off)\n", otlp, zipkin, statsd);
    fflush(stdout);
    uv_signal_init(loop, &g_sigterm);
    uv_signal_init(loop, &g_sigint);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
  }
  /* Queries stop first so none reads the store while it closes. */
  cs_query_free(q);
  cs_collector_free(c);
#ifdef CS_HAVE_METRICS
  cs_metrics_free(a.m);
#endif
  cs_store_close(st);
  uv_loop_close(loop);
  cs_log(CS_LOG_INFO, "callscope", rc ? "exit after start failure" : "exit");
  return rc ? 1 : 0;
}
