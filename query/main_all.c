/* callscope: the all-in-one daemon users run by default. The collector
 * (on the libuv loop of this thread) and the query server (on its own HTTP
 * threads) share one cs_store, like Jaeger's all-in-one; /metrics serves
 * the metrics registry the collector feeds, plus both roles' own health. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "log.h"
#include "params.h"
#include "parse.h"
#include "query.h"
#include "wire.h"
#ifdef CS_HAVE_METRICS
#include "metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#endif

#define MAX_INDEX_KEYS 64

static void usage(FILE *f) {
  fprintf(f,
          "usage: callscope [options]\n"
          "Collector and query server in one process over one store.\n\n"
          "Collector:\n"
          "  --listen-addr ADDR    address for every listener (default 127.0.0.1)\n"
          "  --tcp-port N          native frames over TCP (default %d; 0 = any; -1 = off)\n"
          "  --udp-port N          native frames over UDP (default %d; 0 = any; -1 = off)\n"
          "  --data-dir DIR        RocksDB directory (default ./data)\n"
          "  --retention D         keep spans for D (e.g. 30m, 72h; default forever)\n"
          "  --sync                fsync every write batch\n"
          "  --max-queue-mb N      decoded frames waiting for the store (default 128)\n"
          "  --max-conns N         open TCP connections (default 1024)\n"
          "  --index-key K         also index span attribute K (repeatable)\n"
          "  --stall-timeout D     close a TCP peer silent mid-frame for D (default 10s)\n"
          "  --idle-timeout D      close a TCP peer silent for D (default 300s)\n"
          "  --http-max-body-mb N  receivers: largest request body (default 8)\n"
          "  --stats-interval D    log a collector stats line every D (default 10s)\n"
          "  --otlp-http-port N    OTLP/HTTP receiver (default 4318; 0 = any; -1 = off)\n"
          "  --zipkin-port N       Zipkin v2 receiver (default 9411; 0 = any; -1 = off)\n"
          "  --statsd-port N       StatsD UDP receiver (default 8125; 0 = any; -1 = off)\n"
          "  --no-otlp-http, --no-zipkin, --no-statsd   turn a receiver off (a default\n"
          "                        port already in use only warns)\n"
          "  --http-timeout D      receivers: idle HTTP connection timeout (default 10s)\n"
          "Query:\n"
          "  --query-port N        HTTP API and UI (default %d; 0 = any free port)\n"
          "  --ui-dir DIR          static UI files served at / (default: the source\n"
          "                        tree's ui-static/)\n"
          "  --query-threads N     HTTP worker threads (default 4)\n"
          "  --query-timeout D     per-request time limit (default 5s)\n"
          "Both:\n"
          "  --log-level L         debug, info, warn or error (default info)\n"
          "  --help                this text\n",
          CS_PORT_NATIVE, CS_PORT_NATIVE, CS_PORT_QUERY);
}

static int bad(const char *flag, const char *val) {
  fprintf(stderr, "invalid value for %s: %s\n", flag, val);
  usage(stderr);
  return 2;
}

/* Seconds, in the shared duration syntax (cs_parse_duration_s); "0" is
 * allowed here since it turns the stats line off. */
static int parse_secs(const char *s, uint64_t *out) {
  if (!strcmp(s, "0")) {
    *out = 0;
    return 0;
  }
  return cs_parse_duration_s(s, out);
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
                                       "tcp_paused", "conns_open"};
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
  enum { OPT_LISTEN = 1, OPT_TCP, OPT_UDP, OPT_DATA, OPT_RET, OPT_SYNC, OPT_QUEUE, OPT_CONNS, OPT_KEY, OPT_STATS,
         OPT_QPORT, OPT_UI, OPT_QTHREADS, OPT_QTIMEOUT, OPT_LOG, OPT_HELP, OPT_OTLP, OPT_ZIPKIN,
         OPT_STATSD, OPT_NO_OTLP, OPT_NO_ZIPKIN, OPT_NO_STATSD, OPT_HTTP_TIMEOUT,
         OPT_STALL, OPT_IDLE, OPT_HTTP_BODY };
  static const struct option longopts[] = {
      {"listen-addr", required_argument, 0, OPT_LISTEN}, {"tcp-port", required_argument, 0, OPT_TCP},
      {"udp-port", required_argument, 0, OPT_UDP},       {"data-dir", required_argument, 0, OPT_DATA},
      {"retention", required_argument, 0, OPT_RET},      {"sync", no_argument, 0, OPT_SYNC},
      {"max-queue-mb", required_argument, 0, OPT_QUEUE}, {"max-conns", required_argument, 0, OPT_CONNS},
      {"index-key", required_argument, 0, OPT_KEY},      {"stats-interval", required_argument, 0, OPT_STATS},
      {"query-port", required_argument, 0, OPT_QPORT},   {"ui-dir", required_argument, 0, OPT_UI},
      {"query-threads", required_argument, 0, OPT_QTHREADS},
      {"query-timeout", required_argument, 0, OPT_QTIMEOUT},
      {"log-level", required_argument, 0, OPT_LOG},      {"help", no_argument, 0, OPT_HELP},
      {"otlp-http-port", required_argument, 0, OPT_OTLP}, {"zipkin-port", required_argument, 0, OPT_ZIPKIN},
      {"statsd-port", required_argument, 0, OPT_STATSD}, {"no-otlp-http", no_argument, 0, OPT_NO_OTLP},
      {"no-zipkin", no_argument, 0, OPT_NO_ZIPKIN},      {"no-statsd", no_argument, 0, OPT_NO_STATSD},
      {"stall-timeout", required_argument, 0, OPT_STALL}, {"idle-timeout", required_argument, 0, OPT_IDLE},
      {"http-max-body-mb", required_argument, 0, OPT_HTTP_BODY},
      {"http-timeout", required_argument, 0, OPT_HTTP_TIMEOUT},
      {0, 0, 0, 0}};
  cs_collector_opts co;
  cs_collector_opts_default(&co);
  cs_query_opts qo;
  cs_query_opts_default(&qo);
#ifdef CS_DEFAULT_UI_DIR
  if (access(CS_DEFAULT_UI_DIR, R_OK) == 0) qo.ui_dir = CS_DEFAULT_UI_DIR;
#endif
#ifdef CS_INSTALLED_UI_DIR
  /* Installed daemons serve the UI installed beside them. */
  if (!qo.ui_dir && access(CS_INSTALLED_UI_DIR, R_OK) == 0) qo.ui_dir = CS_INSTALLED_UI_DIR;
#endif
  cs_store_opts so = {.dir = "./data"};
  const char *keys[MAX_INDEX_KEYS];
  size_t n_keys = 0;
  uint64_t v;
  int opt;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case OPT_LISTEN: co.listen_addr = qo.listen_addr = optarg; break;
    case OPT_TCP:
    case OPT_UDP: {
      int port;
      if (!strcmp(optarg, "-1")) port = -1;
      else if (cs_qp_u64(optarg, strlen(optarg), 65535, &v) == 0) port = (int)v;
      else return bad(opt == OPT_TCP ? "--tcp-port" : "--udp-port", optarg);
      *(opt == OPT_TCP ? &co.tcp_port : &co.udp_port) = port;
      break;
    }
    case OPT_DATA: so.dir = optarg; break;
    case OPT_RET:
      if (parse_secs(optarg, &so.retention_s)) return bad("--retention", optarg);
      break;
    case OPT_SYNC: so.sync = 1; break;
    case OPT_QUEUE:
      if (cs_qp_u64(optarg, strlen(optarg), 1 << 20, &v) || !v) return bad("--max-queue-mb", optarg);
      co.max_queue_bytes = (size_t)v << 20;
      break;
    case OPT_CONNS:
      if (cs_qp_u64(optarg, strlen(optarg), 1000000, &v) || !v) return bad("--max-conns", optarg);
      co.max_conns = (uint32_t)v;
      break;
    case OPT_KEY:
      if (n_keys == MAX_INDEX_KEYS || !*optarg) return bad("--index-key", optarg);
      keys[n_keys++] = optarg;
      break;
    case OPT_STATS:
      if (parse_secs(optarg, &v) || v > 86400) return bad("--stats-interval", optarg);
      co.stats_interval_ms = (uint32_t)(v * 1000);
      break;
    case OPT_QPORT:
      if (cs_qp_u64(optarg, strlen(optarg), 65535, &v)) return bad("--query-port", optarg);
      qo.port = (uint16_t)v;
      break;
    case OPT_UI: qo.ui_dir = *optarg ? optarg : NULL; break;
    case OPT_QTHREADS:
      if (cs_qp_u64(optarg, strlen(optarg), 64, &v) || !v) return bad("--query-threads", optarg);
      qo.threads = (unsigned)v;
      break;
    case OPT_QTIMEOUT:
      if (cs_qp_duration(optarg, strlen(optarg), &v) || v < 1000ull || v > 600000000000ull)
        return bad("--query-timeout", optarg);
      qo.limits.timeout_us = v / 1000ull;
      break;
    case OPT_LOG: {
      int lvl = cs_log_parse_level(optarg);
      if (lvl < 0) return bad("--log-level", optarg);
      cs_log_min_level = lvl;
      break;
    }
    case OPT_OTLP:
    case OPT_ZIPKIN:
    case OPT_STATSD: {
      int *port = opt == OPT_OTLP ? &co.otlp_http_port : opt == OPT_ZIPKIN ? &co.zipkin_port : &co.statsd_port;
      if (!strcmp(optarg, "-1")) *port = -1;
      else if (cs_qp_u64(optarg, strlen(optarg), 65535, &v) == 0) *port = (int)v;
      else return bad(opt == OPT_OTLP ? "--otlp-http-port" : opt == OPT_ZIPKIN ? "--zipkin-port" : "--statsd-port", optarg);
      break;
    }
    case OPT_STALL:
    case OPT_IDLE:
      if (parse_secs(optarg, &v) || v > 86400)
        return bad(opt == OPT_STALL ? "--stall-timeout" : "--idle-timeout", optarg);
      *(opt == OPT_STALL ? &co.stall_timeout_ms : &co.idle_timeout_ms) = (uint32_t)(v * 1000);
      break;
    case OPT_HTTP_BODY:
      if (cs_qp_u64(optarg, strlen(optarg), 1024, &v) || !v) return bad("--http-max-body-mb", optarg);
      co.http_max_body = (size_t)v << 20;
      if (co.http_max_inflated < co.http_max_body) co.http_max_inflated = co.http_max_body;
      break;
    case OPT_NO_OTLP: co.otlp_http_port = -1; break;
    case OPT_NO_ZIPKIN: co.zipkin_port = -1; break;
    case OPT_NO_STATSD: co.statsd_port = -1; break;
    case OPT_HTTP_TIMEOUT:
      if (parse_secs(optarg, &v) || !v || v > 3600) return bad("--http-timeout", optarg);
      co.http_idle_timeout_s = (uint32_t)v;
      co.http_request_timeout_s = (uint32_t)v * 3;
      break;
    case OPT_HELP:
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) return bad("argument", argv[optind]);
  so.index_keys = keys;
  so.n_index_keys = n_keys;
  qo.index_keys = keys;
  qo.n_index_keys = n_keys;
  if (so.retention_s) {
    uint64_t every = so.retention_s * 100;
    co.expire_interval_ms = (uint32_t)(every > 60000 ? 60000 : every < 1000 ? 1000 : every);
  }
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
