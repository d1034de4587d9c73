/* callscope-query: the query server as its own process. It opens the data
 * directory as a RocksDB secondary and catches up with the collector (the
 * primary) every 200 ms, so a span written there is visible here well
 * within a second and a query outage never stops ingest. */
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "log.h"
#include "qflags.h"
#include "query.h"

static void usage(FILE *f) {
  fputs("usage: callscope-query --data-dir DIR [options]\n"
        "Serves the JSON API and UI over a store another process writes.\n\n",
        f);
  cs_qflags_usage(f, 1);
  fputs(cs_cli_common_usage, f);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int apply(void *ud, const char *prog, int opt, const char *arg) {
  return cs_qflags_apply(ud, prog, opt, arg);
}

int main(int argc, char **argv) {
  static const char prog[] = "callscope-query";
  const struct option *groups[] = {cs_qflags_standalone_options, cs_qflags_options};
  cs_qflags fl;
  cs_qflags_init(&fl);
  int prc = cs_cli_parse(prog, argc, argv, groups, 2, apply, &fl, usage);
  if (prc) return prc == 1 ? 0 : 2;
  if (!fl.data_dir) return cs_cli_fail(prog, "--data-dir is required");
  cs_query_opts qo = fl.qo;
  const char *data_dir = fl.data_dir, *sec_dir = fl.secondary_dir;
  const char *const *keys = fl.keys;
  size_t n_keys = fl.n_keys;
  uint64_t catch_ns = fl.catch_up_ns;
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
  /* One announcement, on stdout where scripts and tests read the port. */
  printf("callscope-query: listening on http://%s:%u/ (store %s, secondary)\n",
         qo.listen_addr ? qo.listen_addr : "127.0.0.1", (unsigned)cs_query_port(q), data_dir);
  fflush(stdout);

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
