/* See parse.h: value parsers and the collector's flags. */
#include "parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "duration.h"
#include "wire.h"

int cs_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return -1;
  *out = v;
  return 0;
}

int cs_parse_duration_s(const char *s, uint64_t *out) {
  if (!s || *s < '0' || *s > '9') return -1;
  size_t n = strlen(s);
  uint64_t v, ns;
  /* A bare number is seconds; anything else is the shared duration syntax
   * (the query API's too), so "7d", "72h" and "1h30m" all work. */
  if (cs_parse_u64(s, 0, UINT64_MAX, &v) == 0) {
    if (v > UINT64_MAX / 1000000000ull) return -1;
    ns = v * 1000000000ull;
  } else if (cs_duration_parse(s, n, &ns)) {
    return -1;
  }
  v = ns / 1000000000ull;
  /* Anything past a century is a typo; under a second is no interval. */
  if (v == 0 || v > 100ull * 365 * 86400) return -1;
  *out = v;
  return 0;
}

enum {
  OPT_LISTEN = CS_CLI_COLLECTOR, OPT_TCP, OPT_UDP, OPT_DATA, OPT_RET, OPT_SYNC, OPT_QUEUE,
  OPT_CONNS, OPT_KEY, OPT_STALL, OPT_IDLE, OPT_STATS, OPT_OTLP, OPT_ZIPKIN, OPT_STATSD,
  OPT_NO_OTLP, OPT_NO_ZIPKIN, OPT_NO_STATSD, OPT_HTTP_BODY, OPT_HTTP_TIMEOUT, OPT_CORS,
  OPT_CONNS_IP, OPT_WBUF, OPT_HTTP_CONNS, OPT_HTTP_CONNS_IP, OPT_HTTP_HEAD_TIMEOUT,
  OPT_HTTP_BODY_TIMEOUT, OPT_HTTP_HEAD_KB, OPT_UDP_QUEUE,
};

const struct option cs_collector_cli_options[] = {
    {"listen-addr", required_argument, 0, OPT_LISTEN},
    {"tcp-port", required_argument, 0, OPT_TCP},
    {"udp-port", required_argument, 0, OPT_UDP},
    {"data-dir", required_argument, 0, OPT_DATA},
    {"retention", required_argument, 0, OPT_RET},
    {"sync", no_argument, 0, OPT_SYNC},
    {"max-queue-mb", required_argument, 0, OPT_QUEUE},
    {"max-udp-queue-mb", required_argument, 0, OPT_UDP_QUEUE},
    {"max-conns", required_argument, 0, OPT_CONNS},
    {"max-conns-per-ip", required_argument, 0, OPT_CONNS_IP},
    {"index-key", required_argument, 0, OPT_KEY},
    {"stall-timeout", required_argument, 0, OPT_STALL},
    {"idle-timeout", required_argument, 0, OPT_IDLE},
    {"stats-interval", required_argument, 0, OPT_STATS},
    {"otlp-http-port", required_argument, 0, OPT_OTLP},
    {"zipkin-port", required_argument, 0, OPT_ZIPKIN},
    {"statsd-port", required_argument, 0, OPT_STATSD},
    {"no-otlp-http", no_argument, 0, OPT_NO_OTLP},
    {"no-zipkin", no_argument, 0, OPT_NO_ZIPKIN},
    {"no-statsd", no_argument, 0, OPT_NO_STATSD},
    {"http-max-body-mb", required_argument, 0, OPT_HTTP_BODY},
    {"http-timeout", required_argument, 0, OPT_HTTP_TIMEOUT},
    {"cors-origin", required_argument, 0, OPT_CORS},
    {"write-buffer-mb", required_argument, 0, OPT_WBUF},
    {"http-max-conns", required_argument, 0, OPT_HTTP_CONNS},
    {"http-max-conns-per-ip", required_argument, 0, OPT_HTTP_CONNS_IP},
    {"http-head-timeout", required_argument, 0, OPT_HTTP_HEAD_TIMEOUT},
    {"http-body-timeout", required_argument, 0, OPT_HTTP_BODY_TIMEOUT},
    {"http-max-head-kb", required_argument, 0, OPT_HTTP_HEAD_KB},
    {0, 0, 0, 0},
};

void cs_collector_cli_init(cs_collector_cli *c) {
  memset(c, 0, sizeof *c);
  cs_collector_opts_default(&c->co);
  c->so.dir = "./data";
}

/* A port flag: 0..65535, or -1 for off. */
static int port_arg(const char *arg, int *port) {
  uint64_t v;
  if (!strcmp(arg, "-1")) *port = -1;
  else if (cs_parse_u64(arg, 0, 65535, &v) == 0) *port = (int)v;
  else return -1;
  return 0;
}

static const char *flag_name(int opt) {
  for (const struct option *o = cs_collector_cli_options; o->name; o++)
    if (o->val == opt) return o->name;
  return "?";
}

int cs_collector_cli_apply(cs_collector_cli *c, const char *prog, int opt, const char *arg) {
  cs_collector_opts *co = &c->co;
  uint64_t v;
  int ok = 1;
  switch (opt) {
  case OPT_LISTEN: co->listen_addr = arg; break;
  case OPT_TCP: ok = port_arg(arg, &co->tcp_port) == 0; break;
  case OPT_UDP: ok = port_arg(arg, &co->udp_port) == 0; break;
  case OPT_OTLP: ok = port_arg(arg, &co->otlp_http_port) == 0; break;
  case OPT_ZIPKIN: ok = port_arg(arg, &co->zipkin_port) == 0; break;
  case OPT_STATSD: ok = port_arg(arg, &co->statsd_port) == 0; break;
  case OPT_NO_OTLP: co->otlp_http_port = -1; break;
  case OPT_NO_ZIPKIN: co->zipkin_port = -1; break;
  case OPT_NO_STATSD: co->statsd_port = -1; break;
  case OPT_DATA: c->so.dir = arg; break;
  case OPT_RET: ok = cs_parse_duration_s(arg, &c->so.retention_s) == 0; break;
  case OPT_SYNC: c->so.sync = 1; break;
  case OPT_WBUF:
    if ((ok = cs_parse_u64(arg, 1, 4096, &v) == 0)) c->so.write_buffer_mb = (size_t)v;
    break;
  case OPT_QUEUE:
    if ((ok = cs_parse_u64(arg, 1, 1 << 20, &v) == 0)) co->max_queue_bytes = (size_t)v << 20;
    break;
  case OPT_UDP_QUEUE: /* above --max-queue-mb it is that (cs_collector_new) */
    if ((ok = cs_parse_u64(arg, 1, 1 << 20, &v) == 0)) co->max_udp_queue_bytes = (size_t)v << 20;
    break;
  case OPT_CONNS:
    if ((ok = cs_parse_u64(arg, 1, 1000000, &v) == 0)) co->max_conns = (uint32_t)v;
    break;
  case OPT_CONNS_IP:
    if ((ok = cs_parse_u64(arg, 0, 1000000, &v) == 0)) co->max_conns_per_source = (uint32_t)v;
    break;
  case OPT_HTTP_CONNS:
    if ((ok = cs_parse_u64(arg, 1, 100000, &v) == 0)) co->http_max_conns = (uint32_t)v;
    break;
  case OPT_HTTP_CONNS_IP:
    if ((ok = cs_parse_u64(arg, 0, 100000, &v) == 0)) co->http_max_conns_per_source = (uint32_t)v;
    break;
  case OPT_HTTP_HEAD_TIMEOUT:
    if ((ok = cs_parse_duration_s(arg, &v) == 0 && v <= 3600)) co->http_head_timeout_s = (uint32_t)v;
    break;
  case OPT_HTTP_BODY_TIMEOUT:
    if ((ok = cs_parse_duration_s(arg, &v) == 0 && v <= 3600)) {
      co->http_request_timeout_s = (uint32_t)v;
      c->body_timeout_set = 1;
    }
    break;
  case OPT_HTTP_HEAD_KB:
    if ((ok = cs_parse_u64(arg, 1, 64, &v) == 0)) co->http_max_head = (uint32_t)v << 10;
    break;
  case OPT_KEY:
    if ((ok = c->n_keys < CS_CLI_MAX_INDEX_KEYS && *arg)) c->keys[c->n_keys++] = arg;
    break;
  case OPT_STALL:
  case OPT_IDLE:
    if ((ok = cs_parse_duration_s(arg, &v) == 0 && v <= 86400))
      *(opt == OPT_STALL ? &co->stall_timeout_ms : &co->idle_timeout_ms) = (uint32_t)(v * 1000);
    break;
  case OPT_STATS: /* "0" turns the stats line off */
    v = 0;
    if ((ok = !strcmp(arg, "0") || (cs_parse_duration_s(arg, &v) == 0 && v <= 86400)))
      co->stats_interval_ms = (uint32_t)(v * 1000);
    break;
  case OPT_HTTP_BODY:
    if ((ok = cs_parse_u64(arg, 1, 1024, &v) == 0)) {
      co->http_max_body = (size_t)v << 20;
      if (co->http_max_inflated < co->http_max_body) co->http_max_inflated = co->http_max_body;
    }
    break;
  case OPT_HTTP_TIMEOUT:
    if ((ok = cs_parse_duration_s(arg, &v) == 0 && v <= 3600)) {
      co->http_idle_timeout_s = (uint32_t)v;
      if (!c->body_timeout_set) co->http_request_timeout_s = (uint32_t)v * 3;
    }
    break;
  case OPT_CORS:
    if ((ok = co->n_cors_origins < CS_CORS_MAX_ORIGINS && *arg && strlen(arg) < 256))
      co->cors_origins[co->n_cors_origins++] = arg;
    break;
  default: return 0;
  }
  if (!ok) return cs_cli_fail(prog, "invalid value for --%s: %s", flag_name(opt), arg), -2;
  return 1;
}

void cs_collector_cli_finish(cs_collector_cli *c) {
  c->so.index_keys = c->keys;
  c->so.n_index_keys = c->n_keys;
  c->co.allow_hosts = &cs_cli_allow_hosts; /* --allow-host, a common flag (cli.c) */
  c->co.retention_s = c->so.retention_s; /* the collector rejects what the store would drop */
  if (c->so.retention_s) {
    /* Expire ten times per retention period, at most once a minute. */
    uint64_t every = c->so.retention_s * 100;
    c->co.expire_interval_ms = (uint32_t)(every > 60000 ? 60000 : every < 1000 ? 1000 : every);
  }
}

void cs_collector_cli_usage(FILE *f) {
  fprintf(f,
          "  --listen-addr ADDR    address for every listener (default 127.0.0.1)\n"
          "  --tcp-port N          native frames over TCP (default %d; 0 = any free port;\n"
          "                        -1 = off)\n"
          "  --udp-port N          native frames over UDP (default %d; 0 = any; -1 = off)\n"
          "  --data-dir DIR        RocksDB directory (default ./data)\n"
          "  --retention D         keep spans for D (e.g. 30m, 72h, 7d; default forever)\n"
          "  --sync                fsync every write batch (default: WAL, no fsync)\n"
          "  --write-buffer-mb N   RocksDB memtable size (default 64); after the disk\n"
          "                        fills up, writes resume once this much is free\n"
          "  --max-queue-mb N      decoded frames waiting for the store (default 128)\n"
          "  --max-udp-queue-mb N  UDP's share of them (default a quarter of\n"
          "                        --max-queue-mb); above it datagrams are dropped and\n"
          "                        counted, TCP and HTTP keep the rest\n"
          "  --max-conns N         open TCP connections (default 1024); at the cap a\n"
          "                        newcomer displaces the connection quiet longest\n"
          "  --max-conns-per-ip N  open TCP connections from one address (default 256;\n"
          "                        0 = no cap); at it, that address's quietest goes\n"
          "  --index-key K         also index span attribute K (repeatable; the\n"
          "                        session ID is always indexed)\n"
          "  --stall-timeout D     close a TCP peer silent mid-frame for D (default 10s)\n"
          "  --idle-timeout D      close a TCP peer silent for D (default 300s)\n"
          "  --stats-interval D    log a stats line every D (default 10s; 0 = never)\n"
          "  --otlp-http-port N    OTLP/HTTP receiver (default %d; 0 = any; -1 = off)\n"
          "  --zipkin-port N       Zipkin v2 receiver (default %d; 0 = any; -1 = off)\n"
          "  --statsd-port N       StatsD UDP receiver (default %d; 0 = any; -1 = off)\n"
          "  --no-otlp-http, --no-zipkin, --no-statsd   turn a receiver off\n"
          "                        (a default port already in use only warns)\n"
          "  --http-max-body-mb N  OTLP/HTTP and Zipkin body cap (default 8)\n"
          "  --http-timeout D      close an idle HTTP connection after D (default 10s);\n"
          "                        a request body must arrive within 3*D\n"
          "  --http-head-timeout D a request line and headers must arrive within D\n"
          "                        (default 10s; 408 after)\n"
          "  --http-body-timeout D a whole request body must arrive within D (default\n"
          "                        3 x --http-timeout = 30s; 408 after)\n"
          "  --http-max-head-kb N  request line and headers cap in KiB (default 32, at\n"
          "                        most 64; 431 above; a request line over 8 KiB gets\n"
          "                        414)\n"
          "  --http-max-conns N    connections per HTTP receiver (default 256)\n"
          "  --http-max-conns-per-ip N  ... from one address (default 64; 0 = no cap);\n"
          "                        at a cap a newcomer displaces the connection idle\n"
          "                        or stuck in a request longest\n"
          "  --cors-origin ORIGIN  allow browser exporters from ORIGIN on OTLP/HTTP and\n"
          "                        Zipkin (repeatable, at most 16; * = any; default none:\n"
          "                        no CORS headers)\n",
          CS_PORT_NATIVE, CS_PORT_NATIVE, CS_PORT_OTLP_HTTP, CS_PORT_ZIPKIN, CS_PORT_STATSD);
}
