/* callscope-query: the query server as its own process. It opens the data
 * directory as a RocksDB secondary and catches up with the collector (the
 * primary) every 200 ms, so a span written there is visible here well
 * within a second and a query outage never stops ingest. */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "params.h"
#include "query.h"
#include "wire.h"

#define MAX_INDEX_KEYS 64

static void usage(FILE *f) {
  fprintf(f,
          "usage: callscope-query --data-dir DIR [options]\n"
          "Serves the JSON API and UI over a store another process writes.\n\n"
          "  --data-dir DIR        the collector's RocksDB directory (required)\n"
          "  --secondary-dir DIR   scratch directory of the secondary instance\n"
          "                        (default /tmp/callscope-query-<pid>)\n"
          "  --listen-addr ADDR    address to bind (default 127.0.0.1)\n"
          "  --query-port N        HTTP port (default %d; 0 = any free port)\n"
          "  --ui-dir DIR          static UI files served at / (default ui-static\n"
          "                        next to the source tree, if present)\n"
          "  --index-key K         an attribute key the collector indexes (repeatable;\n"
          "                        must match the collector's --index-key list)\n"
          "  --threads N           HTTP worker threads (default 4)\n"
          "  --timeout D           per-request time limit (default 5s)\n"
          "  --max-scan N          traces one query may examine (default 200000)\n"
          "  --catch-up D          how often to catch up with the primary (default 200ms)\n"
          "  --log-level L         debug, info, warn or error (default info)\n"
          "  --help                this text\n",
          CS_PORT_QUERY);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int bad(const char *flag, const char *val) {
  fprintf(stderr, "invalid value for %s: %s\n", flag, val);
  usage(stderr);
  return 2;
}

int main(int argc, char **argv) {
  enum { OPT_DATA = 1, OPT_SEC, OPT_LISTEN, OPT_PORT, OPT_UI, OPT_KEY, OPT_THREADS, OPT_TIMEOUT, OPT_CATCH, OPT_LOG, OPT_HELP, OPT_SCAN };
  static const struct option longopts[] = {
      {"data-dir", required_argument, 0, OPT_DATA},     {"secondary-dir", required_argument, 0, OPT_SEC},
      {"listen-addr", required_argument, 0, OPT_LISTEN}, {"query-port", required_argument, 0, OPT_PORT},
      {"ui-dir", required_argument, 0, OPT_UI},         {"index-key", required_argument, 0, OPT_KEY},
      {"threads", required_argument, 0, OPT_THREADS},   {"timeout", required_argument, 0, OPT_TIMEOUT},
      {"catch-up", required_argument, 0, OPT_CATCH},    {"log-level", required_argument, 0, OPT_LOG},
      {"max-scan", required_argument, 0, OPT_SCAN},   {"help", no_argument, 0, OPT_HELP},               {0, 0, 0, 0}};
  cs_query_opts qo;
  cs_query_opts_default(&qo);
#ifdef CS_DEFAULT_UI_DIR
  if (access(CS_DEFAULT_UI_DIR, R_OK) == 0) qo.ui_dir = CS_DEFAULT_UI_DIR;
#endif
#ifdef CS_INSTALLED_UI_DIR
  /* Installed daemons serve the UI installed beside them. */
  if (!qo.ui_dir && access(CS_INSTALLED_UI_DIR, R_OK) == 0) qo.ui_dir = CS_INSTALLED_UI_DIR;
#endif
  const char *data_dir = NULL, *sec_dir = NULL;
  const char *keys[MAX_INDEX_KEYS];
  size_t n_keys = 0;
  uint64_t v, catch_ns = 200000000ull;
  int opt;
  while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
    switch (opt) {
    case OPT_DATA: data_dir = optarg; break;
    case OPT_SEC: sec_dir = optarg; break;
    case OPT_LISTEN: qo.listen_addr = optarg; break;
    case OPT_PORT:
      if (cs_qp_u64(optarg, strlen(optarg), 65535, &v)) return bad("--query-port", optarg);
      qo.port = (uint16_t)v;
      break;
    case OPT_UI: qo.ui_dir = *optarg ? optarg : NULL; break;
    case OPT_KEY:
      if (n_keys == MAX_INDEX_KEYS || !*optarg) return bad("--index-key", optarg);
      keys[n_keys++] = optarg;
      break;
    case OPT_THREADS:
      if (cs_qp_u64(optarg, strlen(optarg), 64, &v) || !v) return bad("--threads", optarg);
      qo.threads = (unsigned)v;
      break;
    case OPT_TIMEOUT:
      if (cs_qp_duration(optarg, strlen(optarg), &v) || v < 1000ull || v > 600000000000ull)
        return bad("--timeout", optarg);
      qo.limits.timeout_us = v / 1000ull;
      break;
    case OPT_CATCH:
      if (cs_qp_duration(optarg, strlen(optarg), &catch_ns) || catch_ns < 1000000ull ||
          catch_ns > 60000000000ull)
        return bad("--catch-up", optarg);
      break;
    case OPT_SCAN:
      if (cs_qp_u64(optarg, strlen(optarg), 100000000, &v) || !v) return bad("--max-scan", optarg);
      qo.limits.max_scan = (uint32_t)v;
      break;
    case OPT_LOG: {
      int lvl = cs_log_parse_level(optarg);
      if (lvl < 0) return bad("--log-level", optarg);
      cs_log_min_level = lvl;
      break;
    }
    case OPT_HELP:
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) return bad("argument", argv[optind]);
  if (!data_dir) {
    fprintf(stderr, "--data-dir is required\n");
    usage(stderr);
    return 2;
  }
  char sec_buf[256];
  int own_sec = !sec_dir;
  if (!sec_dir) {
    snprintf(sec_buf, sizeof sec_buf, "/tmp/callscope-query-%ld", (long)getpid());
    sec_dir = sec_buf;
  }
  qo.index_keys = keys;
  qo.n_index_keys = n_keys;

  /* Signals are taken synchronously by this thread (sigtimedwait), which
   * also drives catch-up; the HTTP threads inherit the blocked mask. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  signal(SIGPIPE, SIG_IGN);

  cs_store_opts so = {.dir = data_dir, .secondary = 1, .secondary_dir = sec_dir,
                      .index_keys = keys, .n_index_keys = n_keys};
  char err[256] = "";
  cs_store *st = NULL;
  int rc = cs_store_open(&so, &st, err, sizeof err);
  if (rc) {
    cs_log(CS_LOG_ERROR, "query", "cannot open store %s as secondary: %s %s", data_dir,
           cs_store_strerror(rc), err);
    return 1;
  }
  cs_query *q = NULL;
  if (cs_query_new(&qo, st, &q, err, sizeof err) || cs_query_start(q, err, sizeof err)) {
    cs_log(CS_LOG_ERROR, "query", "cannot start the query server: %s", err);
    cs_query_free(q);
    cs_store_close(st);
    return 1;
  }
  printf("callscope-query: listening on http://%s:%u/ (store %s, secondary)\n",
         qo.listen_addr ? qo.listen_addr : "127.0.0.1", (unsigned)cs_query_port(q), data_dir);
  fflush(stdout);
  cs_log(CS_LOG_INFO, "query", "serving http://%s:%u/ over %s",
         qo.listen_addr ? qo.listen_addr : "127.0.0.1", (unsigned)cs_query_port(q), data_dir);

  struct timespec ts = {(time_t)(catch_ns / 1000000000ull), (long)(catch_ns % 1000000000ull)};
  for (;;) {
    int sig = sigtimedwait(&sigs, NULL, &ts);
    if (sig == SIGTERM || sig == SIGINT) {
      cs_log(CS_LOG_INFO, "query", "received signal %d: stopping", sig);
      break;
    }
    if (sig < 0 && errno != EAGAIN && errno != EINTR) break;
    int crc = cs_store_catch_up(st);
    if (crc) cs_log(CS_LOG_WARN, "query", "catch-up failed: %s", cs_store_strerror(crc));
  }
  cs_query_free(q);
  cs_store_close(st);
  /* The default scratch directory is ours alone: leave nothing behind. */
  if (own_sec) nftw(sec_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  cs_log(CS_LOG_INFO, "query", "exit");
  return 0;
}
