/* Unit tests of the example services' HTTP client (examples/lib/httpc.c)
 * against a scripted loopback server: response parsing and caps, deadlines,
 * retries only for idempotent calls, and context injection per attempt. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "exlib_int.h"

#define MAX_CONNS 8

/* A server that answers connection i with script[i]; NULL = read the
 * request and never answer (until the test ends). */
typedef struct fake {
  int lfd, port;
  const char *script[MAX_CONNS];
  char heads[MAX_CONNS][4096];
  _Atomic int n_conns; /* written by the server thread, read by the test */
  _Atomic int stop;
  pthread_t th;
} fake;

static void *serve(void *arg) {
  fake *f = arg;
  while (!f->stop && f->n_conns < MAX_CONNS) {
    int c = accept(f->lfd, NULL, NULL);
    if (c < 0) break;
    int i = f->n_conns;
    size_t got = 0;
    char *h = f->heads[i];
    while (got < sizeof f->heads[i] - 1) {
      ssize_t r = recv(c, h + got, sizeof f->heads[i] - 1 - got, 0);
      if (r <= 0) break;
      got += (size_t)r;
      h[got] = '\0';
      if (strstr(h, "\r\n\r\n")) break;
    }
    f->n_conns = i + 1;
    const char *resp = f->script[i];
    if (!resp) {
      while (!f->stop) usleep(10000);
    } else {
      send(c, resp, strlen(resp), MSG_NOSIGNAL);
    }
    close(c);
  }
  return NULL;
}

static void fake_start(fake *f) {
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(f->lfd, (struct sockaddr *)&sa, sizeof sa);
  listen(f->lfd, 16);
  socklen_t sl = sizeof sa;
  getsockname(f->lfd, (struct sockaddr *)&sa, &sl);
  f->port = ntohs(sa.sin_port);
  pthread_create(&f->th, NULL, serve, f);
}

static void fake_stop(fake *f) {
  f->stop = 1;
  shutdown(f->lfd, SHUT_RDWR); /* wakes accept */
  pthread_join(f->th, NULL);
  close(f->lfd);
}

static void url_of(const fake *f, char *out, size_t n) {
  snprintf(out, n, "http://127.0.0.1:%d", f->port);
}

static void httpc_parses_status_and_body(void) {
  fake f = {.script = {"HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX: y\r\n\r\nhello"}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_result r;
  CHECK_EQ(ex_http_raw(url, "GET", "/a?b=c", "X-Session-Id: s1\r\n", 2000, &r), 0);
  CHECK_EQ(r.status, 201);
  CHECK_STR(r.body, "hello");
  CHECK_EQ(r.body_len, 5);
  CHECK(strncmp(f.heads[0], "GET /a?b=c HTTP/1.1\r\n", 21) == 0);
  CHECK(strstr(f.heads[0], "\r\nX-Session-Id: s1\r\n") != NULL);
  fake_stop(&f);
}

static void httpc_caps_a_large_body(void) {
  size_t n = 100000;
  char *resp = malloc(n + 128);
  int h = snprintf(resp, 128, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
  memset(resp + h, 'x', n);
  resp[h + (int)n] = '\0';
  fake f = {.script = {resp}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_result r;
  CHECK_EQ(ex_http_raw(url, "GET", "/", NULL, 2000, &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.body_len, sizeof r.body - 1);
  CHECK_EQ(strlen(r.body), sizeof r.body - 1);
  fake_stop(&f);
  free(resp);
}

static void httpc_rejects_garbage(void) {
  fake f = {.script = {"SSH-2.0-OpenSSH\r\n\r\n"}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_result r;
  CHECK_EQ(ex_http_raw(url, "GET", "/", NULL, 2000, &r), -1);
  CHECK_EQ(r.status, 0);
  CHECK(strstr(r.error, "malformed") != NULL);
  CHECK_EQ(ex_http_raw("ftp://x", "GET", "/", NULL, 100, &r), -1);
  CHECK_EQ(ex_http_raw("http://127.0.0.1:99999", "GET", "/", NULL, 100, &r), -1);
  fake_stop(&f);
}

static void httpc_times_out_on_a_silent_server(void) {
  fake f = {.script = {NULL}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_result r;
  double t0 = ex_now_ms();
  CHECK_EQ(ex_http_raw(url, "GET", "/", NULL, 200, &r), -1);
  double ms = ex_now_ms() - t0;
  CHECK_EQ(r.timed_out, 1);
  CHECK_INT(ms, >=, 190);
  CHECK_INT(ms, <, 1500);
  fake_stop(&f);
}

static void httpc_reports_refused_connections(void) {
  fake f = {.script = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  fake_stop(&f); /* the port is now closed */
  ex_result r;
  CHECK_EQ(ex_http_raw(url, "GET", "/", NULL, 500, &r), -1);
  CHECK_EQ(r.timed_out, 0);
  CHECK(strstr(r.error, "connect") != NULL);
}

/* ---- traced calls */

static ex_svc *svc_new(void) {
  ex_svc *svc = calloc(1, sizeof *svc);
  cst_config cfg;
  cst_config_defaults(&cfg);
  cfg.service_name = "test";
  cfg.endpoint = "udp://127.0.0.1:9"; /* discard: spans are not looked at here */
  CHECK_EQ(cst_tracer_new(&cfg, &svc->tracer), CST_OK);
  return svc;
}

static void svc_free(ex_svc *svc) {
  cst_tracer_free(svc->tracer);
  free(svc);
}

/* The value of header name in a request head, copied into out. */
static const char *header(const char *head, const char *name, char *out, size_t n) {
  char key[64];
  snprintf(key, sizeof key, "\r\n%s: ", name);
  const char *p = strstr(head, key);
  out[0] = '\0';
  if (!p) return NULL;
  p += strlen(key);
  size_t len = strcspn(p, "\r");
  if (len >= n) len = n - 1;
  memcpy(out, p, len);
  out[len] = '\0';
  return out;
}

#define R503 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
#define R200 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

static void httpc_retries_idempotent_calls_with_a_span_per_attempt(void) {
  fake f = {.script = {R503, R503, R200}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_svc *svc = svc_new();
  cst_span *parent = cst_span_start(svc->tracer, "GET /x", CST_KIND_SERVER, NULL);
  CHECK_EQ(cst_span_set_session(parent, "sess-42"), CST_OK);
  ex_call c = {.method = "GET", .base_url = url, .path = "/stock/a", .route = "/stock/{item}",
               .timeout_ms = 1000, .max_attempts = 3, .idempotent = 1};
  ex_result r;
  CHECK_EQ(ex_http_call(svc, &c, cst_span_context(parent), &r), 0);
  CHECK_EQ(r.status, 200);
  CHECK_EQ(r.attempts, 3);
  CHECK_EQ(f.n_conns, 3);
  char tid[33];
  cst_context_trace_id_hex(cst_span_context(parent), tid);
  char tp[3][128], bg[256];
  for (int i = 0; i < 3; i++) {
    CHECK(header(f.heads[i], "traceparent", tp[i], sizeof tp[i]) != NULL);
    /* 00-<trace>-<span>-01: same trace as the parent, a new span each time. */
    CHECK_EQ(strlen(tp[i]), 55);
    CHECK(strncmp(tp[i] + 3, tid, 32) == 0);
    for (int j = 0; j < i; j++) CHECK(strncmp(tp[i] + 36, tp[j] + 36, 16) != 0);
    CHECK(header(f.heads[i], "baggage", bg, sizeof bg) && strstr(bg, "session.id=sess-42"));
  }
  cst_span_end(parent);
  svc_free(svc);
  fake_stop(&f);
}

static void httpc_does_not_retry_non_idempotent_calls(void) {
  fake f = {.script = {R503, R200}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_svc *svc = svc_new();
  ex_call c = {.method = "POST", .base_url = url, .path = "/authorize", .timeout_ms = 1000,
               .max_attempts = 3, .idempotent = 0};
  ex_result r;
  CHECK_EQ(ex_http_call(svc, &c, NULL, &r), -1);
  CHECK_EQ(r.status, 503);
  CHECK_EQ(r.attempts, 1);
  CHECK_EQ(f.n_conns, 1);
  svc_free(svc);
  fake_stop(&f);
}

static void httpc_injects_b3_when_asked(void) {
  fake f = {.script = {R200}};
  fake_start(&f);
  char url[64];
  url_of(&f, url, sizeof url);
  ex_svc *svc = svc_new();
  ex_call c = {.method = "GET", .base_url = url, .path = "/", .timeout_ms = 1000,
               .max_attempts = 1, .formats = CST_PROP_B3};
  ex_result r;
  CHECK_EQ(ex_http_call(svc, &c, NULL, &r), 0);
  char v[128];
  CHECK(header(f.heads[0], "b3", v, sizeof v) != NULL);
  CHECK(header(f.heads[0], "traceparent", v, sizeof v) == NULL);
  svc_free(svc);
  fake_stop(&f);
}

int main(void) {
  RUN(httpc_parses_status_and_body);
  RUN(httpc_caps_a_large_body);
  RUN(httpc_rejects_garbage);
  RUN(httpc_times_out_on_a_silent_server);
  RUN(httpc_reports_refused_connections);
  RUN(httpc_retries_idempotent_calls_with_a_span_per_attempt);
  RUN(httpc_does_not_retry_non_idempotent_calls);
  RUN(httpc_injects_b3_when_asked);
  return CHECK_DONE();
}
