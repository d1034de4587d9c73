/* callscope-collector: flags, the store, the collector on the default
 * loop, and signals. Everything else lives in the cs_collector library so
 * an all-in-one binary can host the collector next to the query server. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collector.h"
#include "log.h"
#include "parse.h"

static void usage(FILE *f) {
  fprintf(f, "usage: callscope-collector [options]\n"
             "Receives native frames (docs/wire.md) over UDP and TCP and stores spans.\n\n");
  cs_collector_cli_usage(f);
  fputs(cs_cli_common_usage, f);
}

static cs_collector *g_collector;
static uv_signal_t g_sigterm, g_sigint;

static void close_signals(void) {
  if (!uv_is_closing((uv_handle_t *)&g_sigterm))
    uv_close((uv_handle_t *)&g_sigterm, NULL);
  if (!uv_is_closing((uv_handle_t *)&g_sigint))
    uv_close((uv_handle_t *)&g_sigint, NULL);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  cs_log(CS_LOG_INFO, "collector", "received signal %d: stopping", signum);
  cs_collector_stop(g_collector);
  /* Without them the loop ends once the collector has drained. */
  close_signals();
}

static int apply(void *ud, const char *prog, int opt, const char *arg) {
  return cs_collector_cli_apply(ud, prog, opt, arg);
}

int main(int argc, char **argv) {
  const struct option *groups[] = {cs_collector_cli_options};
  cs_collector_cli cli;
  cs_collector_cli_init(&cli);
  int prc = cs_cli_parse("callscope-collector", argc, argv, groups, 1, apply, &cli, usage);
  if (prc)
    return prc == 1 ? 0 : 2;
  cs_collector_cli_finish(&cli);
  cs_collector_opts co = cli.co;
  cs_store_opts so = cli.so;
  size_t n_keys = cli.n_keys;
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
  /* Handlers first: the "listening" lines tell a supervisor (or a test)
   * that we are up, and a SIGTERM right after them must stop us cleanly,
   * not kill us while the receivers are still starting. */
  uv_signal_init(loop, &g_sigterm);
  uv_signal_init(loop, &g_sigint);
  uv_signal_start(&g_sigterm, on_signal, SIGTERM);
  uv_signal_start(&g_sigint, on_signal, SIGINT);
  rc = cs_collector_start(c, loop);
  if (rc)
    close_signals();
  uv_run(loop, UV_RUN_DEFAULT);
  cs_collector_free(c);
  cs_store_close(st);
  uv_loop_close(loop);
  cs_log(CS_LOG_INFO, "collector", rc ? "exit after start failure" : "exit");
  return rc ? 1 : 0;
}
