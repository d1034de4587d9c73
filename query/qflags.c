/* Query flags (see qflags.h). Each flag has one canonical spelling and
 * the spellings earlier versions used stay accepted: --threads and
 * --timeout (callscope-query's) for --query-threads and --query-timeout
 * (callscope's, matching --query-port). */
#include "qflags.h"

#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "duration.h"
#include "http.h"
#include "params.h"
#include "wire.h"

enum {
  OPT_PORT = CS_CLI_QUERY,
  OPT_UI,
  OPT_THREADS,
  OPT_TIMEOUT,
  OPT_SCAN,
  OPT_DATA,
  OPT_SEC,
  OPT_LISTEN,
  OPT_KEY,
  OPT_CATCH,
  OPT_CONNS,
  OPT_CONNS_ADDR,
  OPT_HEAD,
  OPT_URL,
  OPT_PARAMS,
  OPT_HEADERS,
};

const struct option cs_qflags_options[] = {
    {"query-port", required_argument, 0, OPT_PORT},
    {"ui-dir", required_argument, 0, OPT_UI},
    {"query-threads", required_argument, 0, OPT_THREADS},
    {"threads", required_argument, 0, OPT_THREADS},
    {"query-timeout", required_argument, 0, OPT_TIMEOUT},
    {"timeout", required_argument, 0, OPT_TIMEOUT},
    {"max-scan", required_argument, 0, OPT_SCAN},
    {"query-max-conns", required_argument, 0, OPT_CONNS},
    {"query-max-conns-per-addr", required_argument, 0, OPT_CONNS_ADDR},
    {"query-head-timeout", required_argument, 0, OPT_HEAD},
    {"query-max-url", required_argument, 0, OPT_URL},
    {"query-max-params", required_argument, 0, OPT_PARAMS},
    {"query-max-headers", required_argument, 0, OPT_HEADERS},
    {0, 0, 0, 0},
};

const struct option cs_qflags_standalone_options[] = {
    {"data-dir", required_argument, 0, OPT_DATA},
    {"secondary-dir", required_argument, 0, OPT_SEC},
    {"listen-addr", required_argument, 0, OPT_LISTEN},
    {"index-key", required_argument, 0, OPT_KEY},
    {"catch-up", required_argument, 0, OPT_CATCH},
    {0, 0, 0, 0},
};

void cs_qflags_init(cs_qflags *f) {
  memset(f, 0, sizeof *f);
  cs_query_opts_default(&f->qo);
  f->catch_up_ns = 200000000ull;
  f->qo.allow_hosts = &cs_cli_allow_hosts;
#ifdef CS_DEFAULT_UI_DIR
  if (access(CS_DEFAULT_UI_DIR, R_OK) == 0)
    f->qo.ui_dir = CS_DEFAULT_UI_DIR;
#endif
#ifdef CS_INSTALLED_UI_DIR
  /* Installed daemons serve the UI installed beside them. */
  if (!f->qo.ui_dir && access(CS_INSTALLED_UI_DIR, R_OK) == 0)
    f->qo.ui_dir = CS_INSTALLED_UI_DIR;
#endif
}

/* The first spelling listed is the canonical one. */
static const char *canonical(int opt) {
  const struct option *tables[2] = {cs_qflags_options, cs_qflags_standalone_options};
  for (int t = 0; t < 2; t++)
    for (const struct option *o = tables[t]; o->name; o++)
      if (o->val == opt)
        return o->name;
  return "?";
}

int cs_qflags_apply(cs_qflags *f, const char *prog, int opt, const char *arg) {
  uint64_t v;
  size_t n = strlen(arg);
  int ok = 1;
  switch (opt) {
  case OPT_PORT:
    if ((ok = cs_qp_u64(arg, n, 65535, &v) == 0))
      f->qo.port = (uint16_t)v;
    break;
  case OPT_UI: f->qo.ui_dir = *arg ? arg : NULL; break;
  case OPT_THREADS:
    if ((ok = cs_qp_u64(arg, n, 64, &v) == 0 && v))
      f->qo.threads = (unsigned)v;
    break;
  case OPT_TIMEOUT: /* 1 us to 10 minutes */
    if ((ok = cs_duration_parse(arg, n, &v) == 0 && v >= 1000ull && v <= 600000000000ull))
      f->qo.limits.timeout_us = v / 1000ull;
    break;
  case OPT_SCAN:
    if ((ok = cs_qp_u64(arg, n, 100000000, &v) == 0 && v))
      f->qo.limits.max_scan = (uint32_t)v;
    break;
  case OPT_CONNS:
    if ((ok = cs_qp_u64(arg, n, 100000, &v) == 0 && v))
      f->qo.max_conns = (unsigned)v;
    break;
  case OPT_CONNS_ADDR:
    if ((ok = cs_qp_u64(arg, n, 100000, &v) == 0 && v))
      f->qo.max_conns_per_addr = (unsigned)v;
    break;
  case OPT_HEAD: /* 100 ms to 1 hour */
    if ((ok = cs_duration_parse(arg, n, &v) == 0 && v >= 100000000ull && v <= 3600000000000ull))
      f->qo.head_timeout_ns = v;
    break;
  case OPT_URL:
    if ((ok = cs_qp_u64(arg, n, CS_HTTP_URL_CAP, &v) == 0 && v >= 256))
      f->qo.max_url = (size_t)v;
    break;
  case OPT_PARAMS:
    if ((ok = cs_qp_u64(arg, n, 10000, &v) == 0 && v))
      f->qo.max_params = (unsigned)v;
    break;
  case OPT_HEADERS:
    if ((ok = cs_qp_u64(arg, n, 1000, &v) == 0 && v))
      f->qo.max_headers = (unsigned)v;
    break;
  case OPT_DATA: f->data_dir = arg; break;
  case OPT_SEC: f->secondary_dir = arg; break;
  case OPT_LISTEN: f->qo.listen_addr = arg; break;
  case OPT_KEY:
    if ((ok = f->n_keys < CS_QFLAGS_MAX_INDEX_KEYS && *arg))
      f->keys[f->n_keys++] = arg;
    break;
  case OPT_CATCH: /* 1 ms to 1 minute */
    ok = cs_duration_parse(arg, n, &v) == 0 && v >= 1000000ull && v <= 60000000000ull;
    if (ok)
      f->catch_up_ns = v;
    break;
  default: return 0;
  }
  if (!ok)
    return cs_cli_fail(prog, "invalid value for --%s: %s", canonical(opt), arg), -2;
  return 1;
}

void cs_qflags_usage(FILE *out, int standalone) {
  if (standalone)
    fputs("  --data-dir DIR        the collector's RocksDB directory (required)\n"
          "  --secondary-dir DIR   scratch directory of the secondary instance\n"
          "                        (default /tmp/callscope-query-<pid>)\n"
          "  --listen-addr ADDR    address to bind (default 127.0.0.1)\n"
          "  --index-key K         an attribute key the collector indexes (repeatable;\n"
          "                        must match the collector's --index-key list)\n"
          "  --catch-up D          how often to catch up with the primary (default 200ms)\n",
          out);
  fprintf(out,
          "  --query-port N        HTTP API and UI (default %d; 0 = any free port)\n"
          "  --ui-dir DIR          static UI files served at / (default: the source\n"
          "                        tree's ui-static/, else the installed UI)\n"
          "  --query-threads N     HTTP worker threads (default 4; also --threads)\n"
          "  --query-timeout D     per-request time limit (default 5s; also --timeout)\n"
          "  --max-scan N          traces one query may examine (default 200000)\n"
          "  --query-max-conns N   open HTTP connections; at the cap a newcomer closes the\n"
          "                        oldest one waiting for a request (default 128)\n"
          "  --query-max-conns-per-addr N\n"
          "                        open connections from one address (default 64)\n"
          "  --query-head-timeout D\n"
          "                        a whole request head must arrive within D of the\n"
          "                        connection or the previous answer (default 10s)\n"
          "  --query-max-url N     request URL bytes, else 414 (default 16384, max 65536)\n"
          "  --query-max-params N  query parameters, else 414 (default 256)\n"
          "  --query-max-headers N request headers, else 431 (default 100)\n",
          CS_PORT_QUERY);
}
