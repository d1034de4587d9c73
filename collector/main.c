/* callscope-collector: flags, the store, the collector on the default
 * loop, and signals. Everything else lives in the cs_collector library so
 * an all-in-one binary can host the collector next to the query server. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "log.h"
#include "parse.h"
#include "wire.h"

#define MAX_INDEX_KEYS 64

static void usage(FILE *f) {
  fprintf(f,
          "usage: callscope-collector [options]\n"
          "Receives native frames (docs/wire.md) over UDP and TCP and stores spans.\n\n"
          "  --listen-addr ADDR    address for both listeners (default 127.0.0.1)\n"
          "  --tcp-port N          TCP port (default %d; 0 = any free port; -1 = off)\n"
          "  --udp-port N          UDP port (default %d; 0 = any free port; -1 = off)\n"
          "  --data-dir DIR        RocksDB directory (default ./data)\n"
          "  --retention D         keep spans for D (e.g. 30m, 72h, 7d; default forever)\n"
          "  --sync                fsync every write batch (default: WAL, no fsync)\n"
          "  --max-queue-mb N      decoded frames waiting for the store (default 128)\n"
          "  --max-conns N         open TCP connections (default 1024)\n"
          "  --index-key K         also index span attribute K (repeatable; the\n"
          "                        session ID is always indexed)\n"
          "  --stall-timeout D     close a TCP peer silent mid-frame for D (default 10s)\n"
          "  --idle-timeout D      close a TCP peer silent for D (default 300s)\n"
          "  --stats-interval D    log a stats line every D (default 10s)\n"
          "  --otlp-http-port N    OTLP/HTTP receiver (default %d; 0 = any; -1 = off)\n"
          "  --zipkin-port N       Zipkin v2 receiver (default %d; 0 = any; -1 = off)\n"
          "  --statsd-port N       StatsD UDP receiver (default %d; 0 = any; -1 = off)\n"
          "  --no-otlp-http, --no-zipkin, --no-statsd   turn a receiver off\n"
          "                        (a default port already in use only warns)\n"
          "  --http-max-body-mb N  OTLP/HTTP and Zipkin body cap (default 8)\n"
          "  --http-timeout D      close an idle HTTP connection after D (default 10s);\n"
          "                        a request body must arrive within 3*D\n"
          "  --log-level L         debug, info, warn or error (default info)\n"
          "  --help                this text\n",
          CS_PORT_NATIVE, CS_PORT_NATIVE, CS_PORT_OTLP_HTTP, CS_PORT_ZIPKIN, CS_PORT_STATSD);
}

static cs_collector *g_collector;
static uv_signal_t g_sigterm, g_sigint;

static void close_signals(void) {
  if (!uv_is_closing((uv_handle_t *)&g_sigterm)) uv_close((uv_handle_t *)&g_sigterm, NULL);
  if (!uv_is_closing((uv_handle_t *)&g_sigint)) uv_close((uv_handle_t *)&g_sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  cs_log(CS_LOG_INFO, "collector", "received signal %d: stopping", signum);
  cs_collector_stop(g_collector);
  /* Without them the loop ends once the collector has drained. */
  close_signals();
}

static int bad(const char *flag, const char *val) {
  fprintf(stderr, "invalid value for %s: %s\n", flag, val);
  usage(stderr);
  return 2;
}

int main(int argc, char **argv) {
  enum { OPT_LISTEN = 1, OPT_TCP, OPT_UDP, OPT_DATA, OPT_RET, OPT_SYNC, OPT_QUEUE, OPT_CONNS, OPT_KEY, OPT_STALL,
         OPT_IDLE, OPT_STATS, OPT_LOG, OPT_HELP, OPT_OTLP, OPT_ZIPKIN, OPT_STATSD, OPT_NO_OTLP,
         OPT_NO_ZIPKIN, OPT_NO_STATSD, OPT_HTTP_BODY, OPT_HTTP_TIMEOUT };
  static const struct option longopts[] = {
      {"listen-addr", required_argument, 0, OPT_LISTEN}, {"tcp-port", required_argument, 0, OPT_TCP},
      {"udp-port", required_argument, 0, OPT_UDP},       {"data-dir", required_argument, 0, OPT_DATA},
      {"retention", required_argument, 0, OPT_RET},      {"sync", no_argument, 0, OPT_SYNC},
      {"max-queue-mb", required_argument, 0, OPT_QUEUE}, {"max-conns", required_argument, 0, OPT_CONNS},
      {"index-key", required_argument, 0, OPT_KEY},      {"stall-timeout", required_argument, 0, OPT_STALL},
      {"idle-timeout", required_argument, 0, OPT_IDLE},  {"stats-interval", required_argument, 0, OPT_STATS},
      {"log-level", required_argument, 0, OPT_LOG},      {"help", no_argument, 0, OPT_HELP},
      {"otlp-http-port", required_argument, 0, OPT_OTLP}, {"zipkin-port", required_argument, 0, OPT_ZIPKIN},
      {"statsd-port", required_argument, 0, OPT_STATSD}, {"no-otlp-http", no_argument, 0, OPT_NO_OTLP},
      {"no-zipkin", no_argument, 0, OPT_NO_ZIPKIN},      {"no-statsd", no_argument, 0, OPT_NO_STATSD},
      {"http-max-body-mb", required_argument, 0, OPT_HTTP_BODY},
      {"http-timeout", required_argument, 0, OPT_HTTP_TIMEOUT},
      {0, 0, 0, 0}};
  cs_collector_opts co;
  cs_collector_opts_default(&co);
  cs_store_opts so = {.dir = "./data"};
  const char *keys[MAX_INDEX_KEYS];
  size_t n_keys = 0;
  uint64_t v;
  int opt;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case OPT_LISTEN: co.listen_addr = optarg; break;
    case OPT_TCP:
    case OPT_UDP: {
      int port;
      if (!strcmp(optarg, "-1")) port = -1;
      else if (cs_parse_u64(optarg, 0, 65535, &v) == 0) port = (int)v;
      else return bad(opt == OPT_TCP ? "--tcp-port" : "--udp-port", optarg);
      *(opt == OPT_TCP ? &co.tcp_port : &co.udp_port) = port;
      break;
    }
    case OPT_DATA: so.dir = optarg; break;
    case OPT_RET:
      if (cs_parse_duration_s(optarg, &so.retention_s)) return bad("--retention", optarg);
      break;
    case OPT_SYNC: so.sync = 1; break;
    case OPT_QUEUE:
      if (cs_parse_u64(optarg, 1, 1 << 20, &v)) return bad("--max-queue-mb", optarg);
      co.max_queue_bytes = (size_t)v << 20;
      break;
    case OPT_CONNS:
      if (cs_parse_u64(optarg, 1, 1000000, &v)) return bad("--max-conns", optarg);
      co.max_conns = (uint32_t)v;
      break;
    case OPT_KEY:
      if (n_keys == MAX_INDEX_KEYS || !*optarg) return bad("--index-key", optarg);
      keys[n_keys++] = optarg;
      break;
    case OPT_STALL:
    case OPT_IDLE:
    case OPT_STATS:
      if (cs_parse_duration_s(optarg, &v) || v > 86400)
        return bad(opt == OPT_STALL ? "--stall-timeout" : opt == OPT_IDLE ? "--idle-timeout"
                                                                      : "--stats-interval",
                   optarg);
      *(opt == OPT_STALL ? &co.stall_timeout_ms
                       : opt == OPT_IDLE ? &co.idle_timeout_ms : &co.stats_interval_ms) =
          (uint32_t)(v * 1000);
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
      else if (cs_parse_u64(optarg, 0, 65535, &v) == 0) *port = (int)v;
      else return bad(opt == OPT_OTLP ? "--otlp-http-port" : opt == OPT_ZIPKIN ? "--zipkin-port" : "--statsd-port", optarg);
      break;
    }
    case OPT_NO_OTLP: co.otlp_http_port = -1; break;
    case OPT_NO_ZIPKIN: co.zipkin_port = -1; break;
    case OPT_NO_STATSD: co.statsd_port = -1; break;
    case OPT_HTTP_BODY:
      if (cs_parse_u64(optarg, 1, 1024, &v)) return bad("--http-max-body-mb", optarg);
      co.http_max_body = (size_t)v << 20;
      if (co.http_max_inflated < co.http_max_body) co.http_max_inflated = co.http_max_body;
      break;
    case OPT_HTTP_TIMEOUT:
      if (cs_parse_duration_s(optarg, &v) || v > 3600) return bad("--http-timeout", optarg);
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
  if (so.retention_s) {
    /* Expire ten times per retention period, at most once a minute. */
    uint64_t every = so.retention_s * 100;
    co.expire_interval_ms = (uint32_t)(every > 60000 ? 60000 : every < 1000 ? 1000 : every);
  }
  signal(SIGPIPE, SIG_IGN);

  char err[256] = "";
  cs_store *st = NULL;
  int rc = cs_store_open(&so, &st, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "collector", "cannot open store in %s: %s %s", so.dir,
           cs_store_strerror(rc), err);
    return 1;
  }
  cs_log(CS_LOG_INFO, "collector", "store open in %s (sync=%d, retention=%llus, %zu index keys)",
         so.dir, so.sync, (unsigned long long)so.retention_s, n_keys);
  cs_collector *c = cs_collector_new(&co, st);
  if (!c) {
    cs_store_close(st);
    return 1;
  }
  g_collector = c;
  uv_loop_t *loop = uv_default_loop();
  rc = cs_collector_start(c, loop);
  if (rc == 0) {
    uv_signal_init(loop, &g_sigterm);
    uv_signal_init(loop, &g_sigint);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  cs_collector_free(c);
  cs_store_close(st);
  uv_loop_close(loop);
  cs_log(CS_LOG_INFO, "collector", rc ? "exit after start failure" : "exit");
  return rc ? 1 : 0;
}
