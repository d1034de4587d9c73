/* cs-examples-load: drives cs-frontend like a handful of users would. Each
 * request belongs to one of N sessions (round robin) and alternates between
 * a product page and a checkout; the session ID travels in the X-Session-Id
 * header, or in ?session= on every third request, so both edge paths are
 * used. Runs for a number of requests or seconds, at a fixed rate. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exlib.h"

typedef struct load {
  const char *url, *prefix;
  uint32_t sessions, requests, seconds, concurrency, timeout_ms, items, show_traces;
  double rate; /* requests per second over all workers; 0 = as fast as possible */
  double t0;
  atomic_uint_fast64_t next, ok, client_err, server_err, no_response, shown;
} load;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { (void)sig; g_stop = 1; }

static void *worker(void *arg) {
  load *l = arg;
  for (;;) {
    uint64_t i = atomic_fetch_add(&l->next, 1);
    if (g_stop || (l->requests && i >= l->requests)) break;
    if (l->rate > 0) { /* pace: request i is due at t0 + i / rate */
      double due = l->t0 + (double)i * 1000.0 / l->rate, now = ex_now_ms();
      if (due > now) ex_sleep_ms((uint32_t)(due - now));
    }
    if (g_stop || (l->seconds && ex_now_ms() - l->t0 >= l->seconds * 1000.0)) break;
    char session[96], path[256], hdr[160] = "";
    snprintf(session, sizeof session, "%s%llu", l->prefix,
             (unsigned long long)(i % l->sessions) + 1);
    unsigned item = (unsigned)(ex_rand() % l->items) + 1;
    int checkout = i % 2 == 1;
    int in_query = i % 3 == 2;
    snprintf(path, sizeof path, "%s?item=sku-%u%s%s", checkout ? "/checkout" : "/product", item,
             in_query ? "&session=" : "", in_query ? session : "");
    if (!in_query) snprintf(hdr, sizeof hdr, "X-Session-Id: %s\r\n", session);
    ex_result r;
    int rc = ex_http_raw(l->url, checkout ? "POST" : "GET", path, hdr, l->timeout_ms, &r);
    if (rc) atomic_fetch_add(&l->no_response, 1);
    else if (r.status >= 500) atomic_fetch_add(&l->server_err, 1);
    else if (r.status >= 400) atomic_fetch_add(&l->client_err, 1);
    else atomic_fetch_add(&l->ok, 1);
    /* The trace ID from the frontend's traceresponse header (W3C Trace
     * Context Level 2): what a user quotes to find their request. */
    char trace[33] = "-";
    if (!rc && r.traceresponse[0]) snprintf(trace, sizeof trace, "%.32s", r.traceresponse + 3);
    ex_log(rc || r.status >= 500 ? "warn" : "info", "%s %s session=%s -> %d trace=%s%s%s",
           checkout ? "POST" : "GET", path, session, r.status, trace, rc ? " " : "",
           rc ? r.error : "");
    if (trace[0] != '-' && atomic_fetch_add(&l->shown, 1) < l->show_traces) {
      printf("cs-examples-load: trace %s  %s %s session=%s -> %d\n", trace,
             checkout ? "POST" : "GET", path, session, r.status);
      fflush(stdout);
    }
  }
  return NULL;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: cs-examples-load [options]\n"
          "Drives cs-frontend with a handful of user sessions.\n\n"
          "  --url URL           frontend (default http://127.0.0.1:8080)\n"
          "  --sessions N        distinct session IDs (default 5)\n"
          "  --session-prefix S  session IDs are S1..SN (default user-)\n"
          "  --requests N        stop after N requests (default 0 = no limit)\n"
          "  --duration S        stop after S seconds (default 0 = no limit)\n"
          "  --rate R            requests per second in total (default 5; 0 = no pacing)\n"
          "  --concurrency N     parallel clients (default 2)\n"
          "  --items N           distinct items sku-1..sku-N (default 8)\n"
          "  --timeout-ms N      per request (default 10000)\n"
          "  --show-traces N     print the trace IDs (from the traceresponse header)\n"
          "                      of the first N answered requests (default 3)\n"
          "  --help              this text\n"
          "Without --requests and --duration it runs until SIGTERM/SIGINT. Prints a\n"
          "summary line at the end; exits 1 when no request got a response.\n");
}

static int num(const char *s, double max, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= 0 && v <= max)) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  load l = {.url = "http://127.0.0.1:8080", .prefix = "user-", .sessions = 5, .rate = 5,
            .concurrency = 2, .timeout_ms = 10000, .items = 8, .show_traces = 3};
  static const struct option lo[] = {
      {"url", required_argument, 0, 'u'},      {"sessions", required_argument, 0, 's'},
      {"session-prefix", required_argument, 0, 'p'},
      {"requests", required_argument, 0, 'n'}, {"duration", required_argument, 0, 'd'},
      {"rate", required_argument, 0, 'r'},     {"concurrency", required_argument, 0, 'c'},
      {"items", required_argument, 0, 'i'},    {"timeout-ms", required_argument, 0, 't'},
      {"show-traces", required_argument, 0, 'T'},
      {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
  int opt;
  double v;
  while ((opt = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
    int bad = 0;
    switch (opt) {
    case 'u': l.url = optarg; break;
    case 'p': bad = strlen(optarg) > 64; l.prefix = optarg; break;
    case 's': bad = num(optarg, 10000, &v) || v < 1; l.sessions = (uint32_t)v; break;
    case 'n': bad = num(optarg, 1e9, &v); l.requests = (uint32_t)v; break;
    case 'd': bad = num(optarg, 1e7, &v); l.seconds = (uint32_t)v; break;
    case 'r': bad = num(optarg, 100000, &l.rate); break;
    case 'c': bad = num(optarg, 64, &v) || v < 1; l.concurrency = (uint32_t)v; break;
    case 'i': bad = num(optarg, 100000, &v) || v < 1; l.items = (uint32_t)v; break;
    case 't': bad = num(optarg, 600000, &v) || v < 1; l.timeout_ms = (uint32_t)v; break;
    case 'T': bad = num(optarg, 1e6, &v); l.show_traces = (uint32_t)v; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
    if (bad) {
      fprintf(stderr, "cs-examples-load: invalid value %s\n", optarg);
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "cs-examples-load: unexpected argument %s\n", argv[optind]);
    return 2;
  }
  ex_log_init("load");
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  l.t0 = ex_now_ms();
  pthread_t th[64];
  uint32_t n = 0;
  for (; n < l.concurrency; n++)
    if (pthread_create(&th[n], NULL, worker, &l) != 0) break;
  for (uint32_t i = 0; i < n; i++) pthread_join(th[i], NULL);
  uint64_t ok = atomic_load(&l.ok), ce = atomic_load(&l.client_err),
           se = atomic_load(&l.server_err), nr = atomic_load(&l.no_response);
  double secs = (ex_now_ms() - l.t0) / 1000.0;
  printf("cs-examples-load: %llu requests in %.1f s: %llu ok, %llu 4xx, %llu 5xx, %llu no "
         "response\n",
         (unsigned long long)(ok + ce + se + nr), secs, (unsigned long long)ok,
         (unsigned long long)ce, (unsigned long long)se, (unsigned long long)nr);
  fflush(stdout);
  return ok + ce + se > 0 ? 0 : 1;
}
