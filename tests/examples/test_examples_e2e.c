/* End-to-end test of the example services: the real collector on ephemeral
 * ports with a temporary store, the four services on free ports pointed at
 * it over TCP, a known load with known session IDs, a clean SIGTERM stop of
 * everything, then the stored call trees are checked: one trace per request,
 * parent links, client/server pairs across services, session IDs on every
 * span, the expected services, errors, retries and timeouts marked.
 * A second run does the same through the all-in-one daemon and its HTTP
 * API, as scripts/run.sh does.
 * argv: collector frontend orders inventory payments load [callscope] */
#include <arpa/inet.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store.h"

#define N_SESSIONS 5
#define N_REQUESTS 30
#define MAX_TRACES 256

enum { P_COLLECTOR, P_INVENTORY, P_PAYMENTS, P_ORDERS, P_FRONTEND, P_LOAD, P_COUNT };
static const char *const pname[P_COUNT] = {"collector", "inventory", "payments",
                                          "orders",    "frontend",  "load"};
static pid_t pids[P_COUNT];
static char tmp[256], logs[P_COUNT][512];

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static pid_t spawn(int who, const char *const *argv) {
  snprintf(logs[who], sizeof logs[who], "%s/%s.log", tmp, pname[who]);
  /* Truncated here, not in the child: wait_port must never read a
   * previous run's "listening" line. */
  int fd = open(logs[who], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid == 0) {
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  if (fd >= 0) close(fd);
  pids[who] = pid;
  return pid;
}

/* True when "bin --help" mentions flag: the daemons grow receivers on
 * fixed default ports (OTLP/HTTP, Zipkin, StatsD) that a test must turn
 * off so parallel runs cannot collide. */
static int help_has(const char *bin, const char *flag) {
  char cmd[1100];
  snprintf(cmd, sizeof cmd, "'%s' --help 2>&1", bin);
  FILE *p = popen(cmd, "r");
  if (!p) return 0;
  char line[512];
  int found = 0;
  while (fgets(line, sizeof line, p))
    if (strstr(line, flag)) found = 1;
  pclose(p);
  return found;
}

/* Appends "--<name>-port -1" for each optional receiver bin knows. */
static int receivers_off(const char *bin, const char **argv, int argc) {
  static const char *const flags[] = {"--otlp-http-port", "--zipkin-port", "--statsd-port"};
  for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
    if (help_has(bin, flags[i])) {
      argv[argc++] = flags[i];
      argv[argc++] = "-1";
    }
  argv[argc] = NULL;
  return argc;
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 1 << 16, n = 0, k;
  char *buf = malloc(cap);
  while (buf && (k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += k;
    if (n + 1 == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) break;
      buf = nb;
    }
  }
  if (buf) buf[n] = '\0';
  fclose(f);
  return buf;
}

/* Waits for "needle<port>" on a complete line of the log; returns the port. */
static int wait_port(int who, const char *needle) {
  for (int i = 0; i < 1000; i++) {
    char *log = slurp(logs[who]);
    const char *p = log ? strstr(log, needle) : NULL;
    int port = 0;
    if (p && strchr(p, '\n')) port = (int)strtol(p + strlen(needle), NULL, 10);
    free(log);
    if (port > 0) return port;
    int st;
    if (waitpid(pids[who], &st, WNOHANG) == pids[who]) {
      pids[who] = 0;
      break;
    }
    sleep_ms(10);
  }
  char *log = slurp(logs[who]);
  fprintf(stderr, "%s did not start; log %s:\n%s\n", pname[who], logs[who], log ? log : "");
  free(log);
  return 0;
}

/* SIGTERM (or nothing, for the load generator) and reap; the exit status. */
static int stop(int who, int sig, int timeout_ms) {
  if (pids[who] <= 0) return -1;
  if (sig) kill(pids[who], sig);
  for (int i = 0; i < timeout_ms / 10; i++) {
    int st;
    if (waitpid(pids[who], &st, WNOHANG) == pids[who]) {
      pids[who] = 0;
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    sleep_ms(10);
  }
  fprintf(stderr, "%s did not exit within %d ms\n", pname[who], timeout_ms);
  kill(pids[who], SIGKILL);
  waitpid(pids[who], NULL, 0);
  pids[who] = 0;
  return -1;
}

static void kill_all(void) {
  for (int i = P_COUNT - 1; i >= 0; i--)
    if (pids[i] > 0) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], NULL, 0);
      pids[i] = 0;
    }
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}

/* RUN for tests taking the binaries; whatever a test left running is killed. */
#define RUN_B(test)                                                          \
  do {                                                                       \
    int before_ = cs_check_failures;                                         \
    test(&b);                                                                \
    kill_all();                                                              \
    fprintf(stderr, "%s %s\n", cs_check_failures == before_ ? "ok  " : "FAIL", #test); \
  } while (0)

/* ---- reading the store */

typedef struct ids {
  uint8_t id[MAX_TRACES][16];
  size_t n;
} ids;

static int collect(void *ud, const uint8_t tid[16], uint64_t start_ns) {
  (void)start_ns;
  ids *s = ud;
  for (size_t i = 0; i < s->n; i++)
    if (!memcmp(s->id[i], tid, 16)) return 0;
  if (s->n < MAX_TRACES) memcpy(s->id[s->n++], tid, 16);
  return 0;
}

static int str_is(cs_str s, const char *c) { return s.n == strlen(c) && !memcmp(s.p, c, s.n); }

static const cs_attr *attr(const cs_span *s, const char *key) {
  for (uint32_t i = 0; i < s->n_attrs; i++)
    if (str_is(s->attrs[i].key, key)) return &s->attrs[i];
  return NULL;
}

static int64_t attr_int(const cs_span *s, const char *key) {
  const cs_attr *a = attr(s, key);
  return a && a->type == CS_VAL_INT ? a->v.i : -1;
}

static int same_service(const cs_span *a, const cs_span *b) {
  cs_str x = a->resource->service, y = b->resource->service;
  return x.n == y.n && !memcmp(x.p, y.p, x.n);
}

static const cs_span *find(const cs_span *sp, size_t n, const uint8_t id[8]) {
  for (size_t i = 0; i < n; i++)
    if (!memcmp(sp[i].span_id, id, 8)) return &sp[i];
  return NULL;
}

typedef struct totals {
  int traces, products, checkouts, root_errors, retries, timeouts, server_errors;
  int services_seen[4];
} totals;

static const char *const services[4] = {"frontend", "orders", "inventory", "payments"};

/* Checks one stored trace of session sess; counts into tot. */
static void check_trace(const cs_span *sp, size_t n, const char *sess, totals *tot) {
  CHECK_INT(n, >=, 4);
  const cs_span *root = NULL;
  int seen[4] = {0};
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = &sp[i];
    const cs_str svc = s->resource->service;
    int known = 0;
    for (int k = 0; k < 4; k++)
      if (str_is(svc, services[k])) seen[k] = known = 1;
    CHECK(known);
    /* The session ID on every span, as an attribute and as indexed. */
    const cs_attr *sa = attr(s, "session.id");
    CHECK(sa && sa->type == CS_VAL_STR && str_is(sa->v.s, sess));
    CHECK(str_is(s->session_id, sess));
    int64_t code = attr_int(s, "http.status_code");
    if (cs_span_is_root(s)) {
      CHECK(root == NULL); /* exactly one root per trace */
      root = s;
      continue;
    }
    const cs_span *parent = find(sp, n, s->parent_id);
    CHECK(parent != NULL); /* every parent link resolves inside the trace */
    if (!parent) continue;
    if (s->kind == CS_KIND_SERVER) {
      /* A server span's parent is the calling service's client span. */
      CHECK_EQ(parent->kind, CS_KIND_CLIENT);
      CHECK(!same_service(parent, s));
      CHECK(attr(s, "http.route") && attr(s, "http.method"));
      CHECK_INT(code, >=, 200);
      int64_t pcode = attr_int(parent, "http.status_code");
      if (pcode >= 0) CHECK_EQ(pcode, code); /* the caller saw this answer */
      if (code >= 500) tot->server_errors++;
    } else if (s->kind == CS_KIND_CLIENT) {
      /* A client span lives inside a server span of its own service. */
      CHECK_EQ(parent->kind, CS_KIND_SERVER);
      CHECK(same_service(parent, s));
      if (attr_int(s, "http.resend_count") >= 1) tot->retries++;
      const cs_attr *et = attr(s, "error.type");
      if (et && str_is(et->v.s, "timeout")) {
        tot->timeouts++;
        CHECK_EQ(s->status_code, CS_STATUS_ERROR);
      } else {
        CHECK_INT(code, >=, 200); /* every other call got an answer */
      }
    } else {
      CHECK_EQ(s->kind, CS_KIND_INTERNAL);
      CHECK(same_service(parent, s));
    }
    /* Errors marked: 5xx answers are ERROR on both sides, 2xx never. */
    if (code >= 500) CHECK_EQ(s->status_code, CS_STATUS_ERROR);
    if (code >= 200 && code < 300) CHECK(s->status_code != CS_STATUS_ERROR);
  }
  CHECK(root != NULL);
  if (!root) return;
  CHECK(str_is(root->resource->service, "frontend"));
  CHECK_EQ(root->kind, CS_KIND_SERVER);
  int64_t code = attr_int(root, "http.status_code");
  if (code >= 500) {
    tot->root_errors++;
    CHECK_EQ(root->status_code, CS_STATUS_ERROR);
  }
  /* Every client span that got an answer has exactly one server child. */
  for (size_t i = 0; i < n; i++) {
    if (sp[i].kind != CS_KIND_CLIENT) continue;
    int children = 0;
    for (size_t j = 0; j < n; j++)
      if (!memcmp(sp[j].parent_id, sp[i].span_id, 8)) children += sp[j].kind == CS_KIND_SERVER;
    CHECK_INT(children, <=, 1);
    if (attr_int(&sp[i], "http.status_code") >= 0) CHECK_EQ(children, 1);
  }
  if (str_is(root->name, "GET /product")) {
    tot->products++;
    CHECK(seen[0] && !seen[1] && seen[2] && !seen[3]);
  } else if (str_is(root->name, "POST /checkout")) {
    tot->checkouts++;
    CHECK(seen[0] && seen[1] && seen[2] && seen[3]);
  } else {
    fprintf(stderr, "unexpected root %.*s\n", (int)root->name.n, root->name.p);
    CHECK(0);
  }
  for (int k = 0; k < 4; k++) tot->services_seen[k] += seen[k];
  tot->traces++;
}

static void check_store(const char *data) {
  cs_store_opts so = {.dir = data};
  cs_store *st = NULL;
  char err[256] = "";
  int rc = cs_store_open(&so, &st, err, sizeof err);
  CHECK_EQ(rc, CS_STORE_OK);
  if (rc) {
    fprintf(stderr, "store: %s\n", err);
    return;
  }
  /* One trace per request and nothing else: a broken hop would leave the
   * downstream spans in traces of their own. */
  static ids all;
  all.n = 0;
  cs_index_query q = {.kind = CS_IDX_ALL};
  CHECK_EQ(cs_store_scan_index(st, &q, collect, &all), CS_STORE_OK);
  CHECK_EQ(all.n, N_REQUESTS);

  totals tot;
  memset(&tot, 0, sizeof tot);
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  for (int k = 1; k <= N_SESSIONS; k++) {
    char sess[32];
    snprintf(sess, sizeof sess, "e2e-user-%d", k);
    static ids mine;
    mine.n = 0;
    q = (cs_index_query){.kind = CS_IDX_SESSION, .session = {sess, (uint32_t)strlen(sess)}};
    CHECK_EQ(cs_store_scan_index(st, &q, collect, &mine), CS_STORE_OK);
    CHECK_EQ(mine.n, N_REQUESTS / N_SESSIONS); /* round robin over the sessions */
    for (size_t i = 0; i < mine.n; i++) {
      cs_span *sp;
      size_t n;
      cs_arena_reset(&a);
      CHECK_EQ(cs_store_get_trace(st, mine.id[i], &a, &sp, &n), CS_STORE_OK);
      check_trace(sp, n, sess, &tot);
    }
  }
  cs_arena_release(&a);
  cs_store_close(st);
  fprintf(stderr,
          "traces=%d products=%d checkouts=%d root_errors=%d server_errors=%d retries=%d "
          "timeouts=%d\n",
          tot.traces, tot.products, tot.checkouts, tot.root_errors, tot.server_errors,
          tot.retries, tot.timeouts);
  CHECK_EQ(tot.traces, N_REQUESTS);
  CHECK_EQ(tot.products, N_REQUESTS / 2);
  CHECK_EQ(tot.checkouts, N_REQUESTS / 2);
  /* The faults configured below happened and were recorded as such. */
  CHECK_INT(tot.server_errors, >=, 3);
  CHECK_INT(tot.root_errors, >=, 2);
  CHECK_INT(tot.retries, >=, 2);
  CHECK_INT(tot.timeouts, >=, 1);
}

/* ---- running the services */

typedef struct bins {
  const char *collector, *frontend, *orders, *inventory, *payments, *load, *all_in_one;
} bins;

/* Starts the four services against the collector at tcp port cport with
 * deterministic faults: every 4th stock lookup fails (callers retry), every
 * 5th payment fails and every 7th is slower than orders waits. Writes the
 * frontend's URL to fe_url. Returns 0 when all four listen. */
static int start_services(const bins *b, int cport, char *fe_url, size_t fe_len) {
  char ep[64];
  snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", cport);
  setenv("CALLSCOPE_ENDPOINT", ep, 1);
  setenv("OTEL_METRIC_EXPORT_INTERVAL", "1000", 1);
  const char *inv[] = {b->inventory, "--port", "0", "--fail-every", "4", "--latency-ms", "1",
                       "--jitter-ms", "2", NULL};
  spawn(P_INVENTORY, inv);
  const char *pay[] = {b->payments, "--port", "0", "--fail-every", "5", "--slow-every", "7",
                       "--slow-ms", "600", "--latency-ms", "1", "--jitter-ms", "2", NULL};
  spawn(P_PAYMENTS, pay);
  int inv_port = wait_port(P_INVENTORY, "listening on http://127.0.0.1:");
  int pay_port = wait_port(P_PAYMENTS, "listening on http://127.0.0.1:");
  if (!inv_port || !pay_port) return -1;
  char inv_url[64], pay_url[64], ord_url[64];
  snprintf(inv_url, sizeof inv_url, "http://127.0.0.1:%d", inv_port);
  snprintf(pay_url, sizeof pay_url, "http://127.0.0.1:%d", pay_port);
  const char *ord[] = {b->orders, "--port", "0", "--inventory", inv_url, "--payments", pay_url,
                       "--timeout-ms", "300", "--retries", "2", NULL};
  spawn(P_ORDERS, ord);
  int ord_port = wait_port(P_ORDERS, "listening on http://127.0.0.1:");
  if (!ord_port) return -1;
  snprintf(ord_url, sizeof ord_url, "http://127.0.0.1:%d", ord_port);
  const char *fe[] = {b->frontend, "--port", "0", "--inventory", inv_url, "--orders", ord_url,
                      "--timeout-ms", "300", NULL};
  spawn(P_FRONTEND, fe);
  int fe_port = wait_port(P_FRONTEND, "listening on http://127.0.0.1:");
  if (!fe_port) return -1;
  snprintf(fe_url, fe_len, "http://127.0.0.1:%d", fe_port);
  return 0;
}

/* Drives n requests over s sessions prefix1..prefixS and checks that every
 * request got an answer. */
static void run_load(const bins *b, const char *fe_url, int n, int s, const char *prefix) {
  char nreq[16], nsess[16];
  snprintf(nreq, sizeof nreq, "%d", n);
  snprintf(nsess, sizeof nsess, "%d", s);
  const char *load[] = {b->load, "--url", fe_url, "--requests", nreq, "--sessions", nsess,
                        "--session-prefix", prefix, "--rate", "0", "--concurrency", "2", NULL};
  spawn(P_LOAD, load);
  CHECK_EQ(stop(P_LOAD, 0, 60000), 0);
  char *out = slurp(logs[P_LOAD]);
  char want[64];
  snprintf(want, sizeof want, "cs-examples-load: %d requests", n);
  CHECK(out && strstr(out, want) && strstr(out, " 0 no response"));
  free(out);
}

/* Callers first, so no request is cut off; each flushes its spans on the
 * way out and must have dropped none. */
static void stop_services(void) {
  CHECK_EQ(stop(P_FRONTEND, SIGTERM, 10000), 0);
  CHECK_EQ(stop(P_ORDERS, SIGTERM, 10000), 0);
  CHECK_EQ(stop(P_INVENTORY, SIGTERM, 10000), 0);
  CHECK_EQ(stop(P_PAYMENTS, SIGTERM, 10000), 0);
  for (int who = P_INVENTORY; who <= P_FRONTEND; who++) {
    char *log = slurp(logs[who]);
    CHECK(log && strstr(log, "exit: ") && strstr(log, ", 0 dropped"));
    free(log);
  }
}

/* The collector daemon, then the stored call trees read from its store. */
static void examples_store_call_trees(const bins *b) {
  char data[320], fe_url[64];
  snprintf(data, sizeof data, "%s/data", tmp);
  const char *col[16] = {b->collector, "--tcp-port", "0", "--udp-port", "-1", "--data-dir", data};
  receivers_off(b->collector, col, 7);
  spawn(P_COLLECTOR, col);
  int cport = wait_port(P_COLLECTOR, "listening tcp 127.0.0.1:");
  CHECK(cport > 0);
  if (!cport) return;
  int rc = start_services(b, cport, fe_url, sizeof fe_url);
  CHECK_EQ(rc, 0);
  if (rc) return;
  run_load(b, fe_url, N_REQUESTS, N_SESSIONS, "e2e-user-");
  stop_services();
  /* The collector writes what it acknowledged before it exits. */
  CHECK_EQ(stop(P_COLLECTOR, SIGTERM, 20000), 0);
  check_store(data);
}

/* GET on 127.0.0.1:port; the response (head and body) or NULL. */
static char *http_get(int port, const char *path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return NULL;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
    close(fd);
    return NULL;
  }
  char req[512];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
    close(fd);
    return NULL;
  }
  size_t cap = 1 << 20, got = 0;
  char *buf = malloc(cap + 1);
  ssize_t r;
  while (buf && got < cap && (r = recv(fd, buf + got, cap - got, 0)) > 0) got += (size_t)r;
  close(fd);
  if (buf) buf[got] = '\0';
  return buf;
}

static int count_of(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
  return n;
}

/* The trace ID of a W3C traceresponse header in an HTTP response
 * ("traceresponse: 00-<32 hex>-<16 hex>-<2 hex>"), into id; 0 if none. */
static int traceresponse_id(const char *resp, char id[33]) {
  const char *h = resp ? strstr(resp, "\r\ntraceresponse: ") : NULL;
  if (!h) return 0;
  h += 17;
  if (strlen(h) < 55 || strncmp(h, "00-", 3) || h[35] != '-' || h[52] != '-') return 0;
  for (int i = 3; i < 55; i++)
    if (i != 35 && i != 52 && !strchr("0123456789abcdef", h[i])) return 0;
  memcpy(id, h + 3, 32);
  id[32] = '\0';
  return 1;
}

/* The stored call tree of trace id, read back over the query API: 200,
 * no missing parent, rooted at the frontend. */
static void check_tree(int qport, const char *id) {
  char path[128];
  snprintf(path, sizeof path, "/api/v1/traces/%s/tree", id);
  char *resp = http_get(qport, path);
  CHECK(resp && strstr(resp, " 200 "));
  CHECK(resp && strstr(resp, "\"missingParents\":0"));
  CHECK(resp && strstr(resp, "\"frontend\""));
  free(resp);
}

/* The value of the first line of text that starts with prefix and
 * contains needle; -1 when there is none. */
static double series_value(const char *text, const char *prefix, const char *needle) {
  for (const char *p = text; p && *p;) {
    const char *e = strchr(p, '\n');
    if (!e) e = p + strlen(p);
    char line[1024];
    snprintf(line, sizeof line, "%.*s", (int)(e - p), p);
    const char *sp = strrchr(line, ' ');
    if (!strncmp(line, prefix, strlen(prefix)) && strstr(line, needle) && sp) return strtod(sp + 1, NULL);
    p = *e ? e + 1 : NULL;
  }
  return -1;
}

/* Scraped /metrics after the services exported their last metrics: the
 * latency histogram is in seconds (base unit), libtrace's own health is
 * there per service and none of it was refused as reserved; `promtool
 * check metrics` (when installed) finds nothing to lint. */
static void check_metrics(int qport) {
  char *resp = http_get(qport, "/metrics");
  CHECK(resp && strstr(resp, " 200 "));
  if (!resp) return;
  CHECK(strstr(resp, "http_server_duration_seconds_bucket{"));
  CHECK(!strstr(resp, "_milliseconds"));
  CHECK(strstr(resp, "callscope_trace_spans_exported_total{"));
  CHECK(strstr(resp, "callscope_trace_spans_dropped_total{"));
  CHECK(strstr(resp, "callscope_trace_queue_bytes{"));
  /* The frontend's final export counts the spans it really exported. */
  CHECK(series_value(resp, "callscope_trace_spans_exported_total{", "service=\"frontend\"") > 0);
  CHECK_EQ(series_value(resp, "callscope_metrics_points_rejected_total{reason=\"reserved_name\"}", ""), 0);
  const char *body = strstr(resp, "\r\n\r\n");
  if (body && system("command -v promtool >/dev/null 2>&1") == 0) {
    char path[400];
    snprintf(path, sizeof path, "%s/metrics.txt", tmp);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
      fputs(body + 4, f);
      fclose(f);
      char cmd[600];
      snprintf(cmd, sizeof cmd, "promtool check metrics < %s >&2", path);
      int rc = system(cmd);
      CHECK_EQ(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, 0);
    }
  }
  free(resp);
}

/* The all-in-one daemon, as scripts/run.sh starts it, queried over HTTP
 * the way a user does: a session's traces and one call tree. */
static void examples_all_in_one_http(const bins *b) {
  char data[320], fe_url[64];
  snprintf(data, sizeof data, "%s/data-all", tmp);
  const char *all[16] = {b->all_in_one, "--tcp-port", "0", "--udp-port", "-1", "--query-port", "0",
                         "--data-dir", data};
  receivers_off(b->all_in_one, all, 9);
  spawn(P_COLLECTOR, all);
  int cport = wait_port(P_COLLECTOR, "listening tcp 127.0.0.1:");
  int qport = wait_port(P_COLLECTOR, "query UI and API at http://127.0.0.1:");
  CHECK(cport > 0 && qport > 0);
  if (!cport || !qport) return;
  int rc = start_services(b, cport, fe_url, sizeof fe_url);
  CHECK_EQ(rc, 0);
  if (rc) return;
  /* 9 requests over 3 sessions: user 1 gets requests 0, 3, 6 (product,
   * checkout, product). */
  /* The frontend hands the caller its trace ID (traceresponse). */
  char tr_id[33] = "", load_id[33] = "";
  const char *colon = strrchr(fe_url, ':');
  long fe_port = colon ? strtol(colon + 1, NULL, 10) : 0;
  CHECK(fe_port > 0 && fe_port < 65536);
  char *fresp = http_get((int)fe_port, "/product?item=sku-1&session=tr-user");
  CHECK(fresp && strstr(fresp, " 200 "));
  CHECK(traceresponse_id(fresp, tr_id));
  free(fresp);
  run_load(b, fe_url, 9, 3, "http-user-");
  /* ... and cs-examples-load prints the first few. */
  char *lout = slurp(logs[P_LOAD]);
  CHECK_EQ(count_of(lout, "cs-examples-load: trace "), 3);
  const char *lt = lout ? strstr(lout, "cs-examples-load: trace ") : NULL;
  if (lt && strspn(lt + 24, "0123456789abcdef") == 32) snprintf(load_id, sizeof load_id, "%.32s", lt + 24);
  CHECK(load_id[0]);
  free(lout);
  stop_services(); /* flushed and acknowledged, so stored and queryable */
  if (tr_id[0]) check_tree(qport, tr_id);
  if (load_id[0]) check_tree(qport, load_id);
  check_metrics(qport);

  char *resp = http_get(qport, "/api/v1/sessions/http-user-1");
  CHECK(resp && strstr(resp, " 200 "));
  CHECK_EQ(count_of(resp, "\"traceID\""), 3);
  CHECK_EQ(count_of(resp, "\"rootService\":\"frontend\""), 3);
  CHECK_EQ(count_of(resp, "\"services\":[\"frontend\",\"inventory\",\"orders\",\"payments\"]"), 1);
  const char *id = resp ? strstr(resp, "\"traceID\":\"") : NULL;
  char path[128] = "";
  if (id) snprintf(path, sizeof path, "/api/v1/traces/%.32s/tree", id + 11);
  free(resp);
  CHECK(path[0]);
  if (!path[0]) return;
  resp = http_get(qport, path);
  CHECK(resp && strstr(resp, " 200 "));
  CHECK(resp && strstr(resp, "\"missingParents\":0"));
  CHECK(resp && count_of(resp, "\"parentSpanID\":null") == 1);
  CHECK(resp && count_of(resp, "\"session\":\"http-user-1\"") == count_of(resp, "\"spanID\""));
  free(resp);
  CHECK_EQ(stop(P_COLLECTOR, SIGTERM, 20000), 0);
}

int main(int argc, char **argv) {
  if (argc != 7 && argc != 8) {
    fprintf(stderr, "usage: %s collector frontend orders inventory payments load [callscope]\n",
            argv[0]);
    return 2;
  }
  bins b = {argv[1], argv[2], argv[3], argv[4], argv[5], argv[6], argc == 8 ? argv[7] : NULL};
  const char *base = getenv("TMPDIR");
  snprintf(tmp, sizeof tmp, "%s/cs-examples-test-XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmp)) {
    perror("mkdtemp");
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);
  RUN_B(examples_store_call_trees);
  if (b.all_in_one) RUN_B(examples_all_in_one_http);
  if (cs_check_failures) fprintf(stderr, "logs kept in %s\n", tmp);
  else nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  return CHECK_DONE();
}
