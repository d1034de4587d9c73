/* The query port against hostile clients, on the real callscope daemon:
 * slow request heads (one byte a second, 200 connections) do not starve
 * normal queries, a head has a deadline as a whole, and the answers to
 * bad targets, long URLs, thousands of parameters, bodies, too many
 * headers, heads over 128 KiB and foreign Host names are prompt, in the API's JSON error
 * shape, and carry the security headers. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>

#include "check.h"
#include "qhelp.h"

static const char *bin_all;
static char dir[256], log_path[512];
static int port_a, port_b; /* a: default limits; b: 1 s head deadline */

typedef struct resp {
  int status;
  char head[8192];   /* status line and headers */
  char body[262144]; /* /metrics fits */
  double ms;
} resp;

/* Sends req on a new connection and reads until the server closes or
 * timeout_ms passes without data. Returns 0 when a status line came. */
static int request(int port, const char *req, size_t len, int timeout_ms, resp *r) {
  memset(r, 0, sizeof *r);
  uint64_t t0 = qh_mono_ns();
  int fd = qh_connect(port);
  if (fd < 0)
    return -1;
  if (qh_write_all(fd, req, len)) {
    /* The server may answer and close before reading everything. */
  }
  static __thread char buf[sizeof((resp *)0)->body + 8192];
  size_t n = 0;
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, timeout_ms) <= 0)
      break;
    ssize_t k = read(fd, buf + n, sizeof buf - 1 - n);
    if (k <= 0)
      break;
    n += (size_t)k;
    if (n + 1 >= sizeof buf)
      break;
  }
  close(fd);
  buf[n] = '\0';
  r->ms = (double)(qh_mono_ns() - t0) / 1e6;
  char *end = strstr(buf, "\r\n\r\n");
  if (!end || sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1)
    return -1;
  size_t hl = (size_t)(end - buf);
  if (hl >= sizeof r->head)
    hl = sizeof r->head - 1;
  memcpy(r->head, buf, hl);
  snprintf(r->body, sizeof r->body, "%s", end + 4);
  return 0;
}

static int get_host(int port, const char *path, const char *host, resp *r) {
  static __thread char req[70000];
  int n = host ? snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host)
               : snprintf(req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
  if (n < 0 || (size_t)n >= sizeof req)
    return -1;
  return request(port, req, (size_t)n, 5000, r);
}

static void check_shape(const resp *r, const char *what, int code, int jaeger) {
  char want[160];
  if (jaeger)
    snprintf(
        want, sizeof want,
        "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,\"errors\":[{\"code\":%d,\"msg\":\"",
        code);
  else
    snprintf(want, sizeof want, "{\"error\":{\"code\":%d,\"message\":\"", code);
  int ok = r->status == code && strncmp(r->body, want, strlen(want)) == 0 &&
           strcasestr(r->head, "\r\nContent-Type: application/json") != NULL;
  if (!ok)
    fprintf(stderr, "%.80s -> %d %.200s\n", what, r->status, r->body);
  CHECK_EQ(r->status, code);
  CHECK(ok);
}

static void ui_path_with_nul_or_bad_escape_is_400(void) {
  static const struct {
    const char *path;
    int jaeger;
  } bad[] = {{"/index.html%00.png", 0},    {"/index.html%00", 0},   {"/index.html%zz", 0},
             {"/index.html%2", 0},         {"/api/services%00", 1}, {"/api/v1/services?x=%00", 0},
             {"/api/v1/services?x=%g1", 0}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    resp r;
    CHECK_EQ(get_host(port_a, bad[i].path, "127.0.0.1", &r), 0);
    check_shape(&r, bad[i].path, 400, bad[i].jaeger);
    CHECK(strstr(r.body, "callscope ui") == NULL);
  }
  resp r;
  CHECK_EQ(get_host(port_a, "/index.html", "127.0.0.1", &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK(strstr(r.body, "callscope ui") != NULL);
  CHECK_EQ(get_host(port_a, "/index%2ehtml", "127.0.0.1", &r), 0); /* a good escape */
  CHECK_EQ(r.status, 200);
}

static void long_url_is_414_in_the_api_shape(void) {
  static char path[70000];
  static const size_t sizes[] = {40000, 50000, 63000, 65400};
  static const struct {
    const char *prefix;
    int jaeger;
  } bases[] = {{"/api/v1/traces/", 0}, {"/api/traces/", 1}, {"/", 0}};
  for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
      size_t pl = strlen(bases[b].prefix);
      memcpy(path, bases[b].prefix, pl);
      memset(path + pl, 'a', sizes[i] - pl);
      path[sizes[i]] = '\0';
      resp r;
      int rc = get_host(port_a, path, "127.0.0.1", &r);
      if (rc)
        fprintf(stderr, "%zu-byte URL under %s: no HTTP answer\n", sizes[i], bases[b].prefix);
      CHECK_EQ(rc, 0);
      check_shape(&r, bases[b].prefix, 414, bases[b].jaeger);
      CHECK(strstr(r.body, "too long") != NULL);
    }
}

/* Builds "/api/v1/search?" plus n parameters "pI=1" (or bare "p"). */
static void params_path(char *out, size_t cap, size_t n, int bare) {
  size_t k = (size_t)snprintf(out, cap, "/api/v1/search?");
  for (size_t i = 0; i < n && k + 16 < cap; i++)
    k += (size_t)(bare ? snprintf(out + k, cap - k, "%sp", i ? "&" : "")
                       : snprintf(out + k, cap - k, "%sp%zu=1", i ? "&" : "", i));
}

static void many_params_are_refused_promptly(void) {
  static char path[70000];
  static const struct {
    size_t n;
    int bare;
  } cases[] = {{257, 0}, {1000, 0}, {5000, 0}, {20000, 1}, {32000, 1}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    params_path(path, sizeof path, cases[i].n, cases[i].bare);
    resp r;
    int rc = get_host(port_a, path, "127.0.0.1", &r);
    if (rc)
      fprintf(stderr, "%zu parameters (%zu bytes): no answer in 5 s\n", cases[i].n, strlen(path));
    CHECK_EQ(rc, 0);
    CHECK(strlen(path) < 65536);
    check_shape(&r, "many parameters", 414, 0);
    /* Over --query-max-url (16 KiB) the length is named instead. */
    CHECK(strstr(r.body, "too many query parameters") != NULL ||
          strstr(r.body, "too long") != NULL);
  }
  /* At the limit the request is served as usual (an unknown parameter is
   * ignored by search). */
  params_path(path, sizeof path, 256, 0);
  resp r;
  CHECK_EQ(get_host(port_a, path, "127.0.0.1", &r), 0);
  CHECK_EQ(r.status, 200);
}

static void answers_carry_security_headers(void) {
  const char *paths[] = {"/", "/index.html", "/api/v1/services", "/api/services", "/nope.css"};
  for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
    resp r;
    CHECK_EQ(get_host(port_a, paths[i], "127.0.0.1", &r), 0);
    const char *csp = strcasestr(r.head, "\r\nContent-Security-Policy: ");
    CHECK(csp != NULL);
    if (csp) {
      char line[512];
      snprintf(line, sizeof line, "%.*s", (int)strcspn(csp + 2, "\r\n"), csp + 2);
      CHECK(strstr(line, "default-src 'self'") != NULL);
      CHECK(strstr(line, "script-src 'self'") != NULL);
      CHECK(strstr(line, "object-src 'none'") != NULL);
      CHECK(strstr(line, "frame-ancestors 'none'") != NULL);
      CHECK(strstr(line, "unsafe") == NULL);
    }
    CHECK(strcasestr(r.head, "\r\nX-Frame-Options: DENY") != NULL);
    CHECK(strcasestr(r.head, "\r\nX-Content-Type-Options: nosniff") != NULL);
  }
}

static void host_header_is_checked(void) {
  static const struct {
    const char *host;
    int status;
  } cases[] = {
      {"127.0.0.1", 200},
      {"localhost", 200},
      {"localhost:16686", 200},
      {"LOCALHOST.", 200},
      {"[::1]:16686", 200},
      {"127.0.0.1:1", 200},
      {"traces.example.test", 200},
      {"Traces.Example.Test:443", 200},
      {NULL, 200},
      {"evil.example", 421},
      {"evil.example:16686", 421},
      {"localhost.evil.example", 421},
      {"x.traces.example.test", 421},
      {"10.1.2.3", 421},
      {"localhost:bad", 421},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    resp r;
    CHECK_EQ(get_host(port_a, "/api/v1/services", cases[i].host, &r), 0);
    if (r.status != cases[i].status)
      fprintf(stderr, "Host %s -> %d, want %d\n", cases[i].host ? cases[i].host : "(none)",
              r.status, cases[i].status);
    if (cases[i].status == 421)
      check_shape(&r, cases[i].host, 421, 0);
    else
      CHECK_EQ(r.status, cases[i].status);
  }
  resp r;
  CHECK_EQ(get_host(port_a, "/api/services", "evil.example", &r), 0);
  check_shape(&r, "jaeger route, foreign host", 421, 1);
  CHECK_EQ(get_host(port_a, "/", "evil.example", &r), 0);
  check_shape(&r, "UI, foreign host", 421, 0);
  CHECK(strstr(r.body, "callscope ui") == NULL);
}

static void too_many_headers_is_431(void) {
  static char req[16384];
  size_t k = (size_t)snprintf(req, sizeof req,
                              "GET /api/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                              "Connection: close\r\n");
  for (int i = 0; i < 150; i++)
    k += (size_t)snprintf(req + k, sizeof req - k, "X-H%d: 1\r\n", i);
  k += (size_t)snprintf(req + k, sizeof req - k, "\r\n");
  resp r;
  CHECK_EQ(request(port_a, req, k, 5000, &r), 0);
  check_shape(&r, "150 headers", 431, 0);
}

/* Heads libmicrohttpd could not hold (its pool is 128 KiB) are answered
 * by the head gate in front of it, in the API's shape, not MHD's HTML. */
static void oversized_heads_are_431_in_the_api_shape(void) {
  static char req[10 << 20];
  static const struct {
    size_t field_bytes, fields;
    const char *path;
    int jaeger;
  } cases[] = {
      {140000, 1, "/api/v1/services", 0}, /* one field over 128 KiB */
      {100, 1500, "/api/services", 1},    /* 150 KB in many fields */
      {10 << 20 >> 1, 1, "/", 0},         /* 5 MiB */
      {90000, 1, "/api/traces", 1},       /* over the 80 KiB head cap, inside MHD's pool */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t k =
        (size_t)snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", cases[i].path);
    for (size_t f = 0; f < cases[i].fields; f++) {
      k += (size_t)snprintf(req + k, sizeof req - k, "X-F%zu: ", f);
      memset(req + k, 'v', cases[i].field_bytes);
      k += cases[i].field_bytes;
      memcpy(req + k, "\r\n", 2);
      k += 2;
    }
    k += (size_t)snprintf(req + k, sizeof req - k, "\r\n");
    resp r;
    int rc = request(port_a, req, k, 5000, &r);
    if (rc)
      fprintf(stderr, "%zu-byte head: no HTTP answer\n", k);
    CHECK_EQ(rc, 0);
    check_shape(&r, "oversized head", 431, cases[i].jaeger);
    CHECK(strstr(r.body, "request head too large") != NULL);
    CHECK(strcasestr(r.head, "\r\nContent-Security-Policy: ") != NULL);
  }
  /* A request line over 64 KiB is 414, also from the gate. */
  size_t k = (size_t)snprintf(req, sizeof req, "GET /api/v1/traces/");
  memset(req + k, 'a', 70000);
  k += 70000;
  k += (size_t)snprintf(req + k, sizeof req - k, " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  resp r;
  CHECK_EQ(request(port_a, req, k, 5000, &r), 0);
  check_shape(&r, "70 KB request line", 414, 0);
  /* 101 one-byte fields: the count, not the size, is over. */
  k = (size_t)snprintf(req, sizeof req, "GET /api/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\n");
  for (int f = 0; f < 3000; f++)
    k += (size_t)snprintf(req + k, sizeof req - k, "a:b\r\n");
  k += (size_t)snprintf(req + k, sizeof req - k, "\r\n");
  CHECK_EQ(request(port_a, req, k, 5000, &r), 0);
  check_shape(&r, "3000 tiny fields", 431, 0);
  CHECK(strstr(r.body, "too many request headers: 3001, limit 100") != NULL);
  /* A head just under the cap is served. */
  k = (size_t)snprintf(req, sizeof req,
                       "GET /api/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ");
  memset(req + k, 'v', 80000);
  k += 80000;
  k += (size_t)snprintf(req + k, sizeof req - k, "\r\n\r\n");
  CHECK_EQ(request(port_a, req, k, 5000, &r), 0);
  CHECK_EQ(r.status, 200);
}

static void announced_body_is_refused_without_reading_it(void) {
  const char *reqs[] = {
      "GET /api/v1/services HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\nabc",
      "GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
  };
  for (size_t i = 0; i < 2; i++) {
    resp r;
    CHECK_EQ(request(port_a, reqs[i], strlen(reqs[i]), 5000, &r), 0);
    check_shape(&r, reqs[i], 413, (int)i);
    CHECK(r.ms < 4000.0);
  }
}

/* The attack of issue 9: connections that send one byte of a request
 * head per second and reconnect when closed. */
typedef struct slowloris {
  int port, n;
  volatile int stop;
  long reconnects;
} slowloris;

static void *slow_heads(void *arg) {
  slowloris *s = arg;
  static const char head[] = "GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  int *fds = calloc((size_t)s->n, sizeof *fds);
  size_t *pos = calloc((size_t)s->n, sizeof *pos);
  for (int i = 0; i < s->n; i++)
    fds[i] = -1;
  while (!s->stop) {
    for (int i = 0; i < s->n && !s->stop; i++) {
      if (fds[i] < 0) {
        fds[i] = qh_connect(s->port);
        pos[i] = 0;
        if (fds[i] < 0)
          continue;
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
      }
      char c = pos[i] < sizeof head - 1 ? head[pos[i]] : 'a';
      struct pollfd pf = {fds[i], POLLIN, 0};
      char junk[256];
      int closed = poll(&pf, 1, 0) > 0 && read(fds[i], junk, sizeof junk) <= 0;
      if (closed || send(fds[i], &c, 1, MSG_NOSIGNAL) != 1) {
        close(fds[i]);
        fds[i] = -1;
        s->reconnects++;
        continue;
      }
      pos[i]++;
    }
    for (int t = 0; t < 10 && !s->stop; t++)
      usleep(100000);
  }
  for (int i = 0; i < s->n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  free(fds);
  free(pos);
  return NULL;
}

static double metric(int port, const char *name) {
  resp r;
  if (get_host(port, "/metrics", "127.0.0.1", &r))
    return -1;
  const char *p = strstr(r.body, name);
  while (p && p > r.body && p[-1] != '\n')
    p = strstr(p + 1, name);
  return p ? strtod(p + strlen(name), NULL) : -1;
}

static void slow_heads_do_not_starve_queries(void) {
  slowloris s = {.port = port_a, .n = 200};
  pthread_t th;
  pthread_create(&th, NULL, slow_heads, &s);
  sleep(3); /* let all 200 connect and start trickling */
  int ok = 0, failed = 0;
  double worst = 0;
  uint64_t t0 = qh_mono_ns();
  while (qh_mono_ns() - t0 < 12000000000ull) {
    resp r;
    if (get_host(port_a, "/api/services", "127.0.0.1", &r) == 0 && r.status == 200) {
      ok++;
      if (r.ms > worst)
        worst = r.ms;
    } else {
      failed++;
    }
    usleep(200000);
  }
  s.stop = 1;
  pthread_join(th, NULL);
  fprintf(stderr,
          "200 slow heads: %d queries answered, %d not (5 s timeout), slowest %.1f ms, "
          "%ld slow reconnects\n",
          ok, failed, worst, s.reconnects);
  CHECK_EQ(failed, 0);
  CHECK(ok > 20);
  CHECK(metric(port_a, "callscope_query_http_conns_evicted_total ") > 0);
}

/* Bytes every 100 ms keep a per-activity timer alive forever; the head
 * deadline (1 s on daemon b) counts from the connection. */
static void head_deadline_is_for_the_whole_head(void) {
  int fd = qh_connect(port_b);
  CHECK(fd >= 0);
  static const char head[] = "GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  uint64_t t0 = qh_mono_ns();
  int closed = 0;
  for (size_t i = 0; qh_mono_ns() - t0 < 8000000000ull; i++) {
    char c = i < sizeof head - 1 ? head[i] : 'a';
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) {
      closed = 1;
      break;
    }
    struct pollfd pf = {fd, POLLIN, 0};
    char junk[64];
    if (poll(&pf, 1, 100) > 0 && read(fd, junk, sizeof junk) <= 0) {
      closed = 1;
      break;
    }
  }
  double s = (double)(qh_mono_ns() - t0) / 1e9;
  fprintf(stderr, "a head sent at 10 bytes/s was cut after %.2f s (deadline 1 s)\n", s);
  CHECK(closed);
  CHECK(s < 4.0);
  close(fd);
  CHECK(metric(port_b, "callscope_query_http_head_timeouts_total ") >= 1);
  /* An idle keep-alive connection is waiting for a head too. */
  fd = qh_connect(port_b);
  const char *req = "GET /api/services HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  CHECK_EQ(qh_write_all(fd, req, strlen(req)), 0);
  char buf[4096];
  struct pollfd pf = {fd, POLLIN, 0};
  CHECK_EQ(poll(&pf, 1, 5000), 1);
  CHECK(read(fd, buf, sizeof buf) > 0);
  t0 = qh_mono_ns();
  ssize_t k;
  while ((k = read(fd, buf, sizeof buf)) > 0) {
  }
  CHECK_EQ(k, 0);
  CHECK((double)(qh_mono_ns() - t0) / 1e9 < 4.0);
  close(fd);
}

/* Starts callscope on free ports with the receivers off, plus extra
 * flags; returns its query port. */
static int start(qh_proc *p, char *data, char *const extra[]) {
  char *argv[32] = {(char *)bin_all,
                    "--data-dir",
                    data,
                    "--query-port",
                    "0",
                    "--tcp-port",
                    "0",
                    "--udp-port",
                    "-1",
                    "--stats-interval",
                    "0",
                    "--no-otlp-http",
                    "--no-zipkin",
                    "--no-statsd"};
  size_t n = 14;
  for (size_t i = 0; extra[i] && n + 1 < sizeof argv / sizeof argv[0]; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  if (qh_spawn(p, argv, log_path))
    return -1;
  return qh_line_int(p, "127.0.0.1:");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s CALLSCOPE\n", argv[0]);
    return 2;
  }
  bin_all = argv[1];
  signal(SIGPIPE, SIG_IGN);
  snprintf(dir, sizeof dir, "/tmp/cs-hostile-test-XXXXXX");
  if (!mkdtemp(dir))
    return 1;
  char data_a[600], data_b[600], ui[600], f[700];
  snprintf(data_a, sizeof data_a, "%s/a", dir);
  snprintf(data_b, sizeof data_b, "%s/b", dir);
  snprintf(ui, sizeof ui, "%s/ui", dir);
  snprintf(log_path, sizeof log_path, "%s/daemon.log", dir);
  mkdir(ui, 0755);
  snprintf(f, sizeof f, "%s/index.html", ui);
  FILE *fp = fopen(f, "w");
  if (fp) {
    fputs("<html>callscope ui</html>\n", fp);
    fclose(fp);
  }
  char *extra_a[] = {"--ui-dir", ui, "--allow-host", "traces.example.test", NULL};
  char *extra_b[] = {"--query-head-timeout", "1s", NULL};
  qh_proc a, b;
  port_a = start(&a, data_a, extra_a);
  port_b = start(&b, data_b, extra_b);
  CHECK(port_a > 0 && port_b > 0);
  if (port_a <= 0 || port_b <= 0)
    return 1;
  RUN(ui_path_with_nul_or_bad_escape_is_400);
  RUN(long_url_is_414_in_the_api_shape);
  RUN(many_params_are_refused_promptly);
  RUN(answers_carry_security_headers);
  RUN(host_header_is_checked);
  RUN(too_many_headers_is_431);
  RUN(oversized_heads_are_431_in_the_api_shape);
  RUN(announced_body_is_refused_without_reading_it);
  RUN(head_deadline_is_for_the_whole_head);
  RUN(slow_heads_do_not_starve_queries);
  /* Both daemons survived all of it and stop cleanly. */
  resp r;
  CHECK_EQ(get_host(port_a, "/api/services", "127.0.0.1", &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(qh_stop(&a), 0);
  CHECK_EQ(qh_stop(&b), 0);
  if (!cs_check_failures) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd))
      fprintf(stderr, "cannot remove %s\n", dir);
  } else {
    fprintf(stderr, "logs and data kept in %s\n", dir);
  }
  return cs_check_failures != 0;
}
