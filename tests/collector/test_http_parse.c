/* http_parse.c: where a head ends however the bytes arrive, what a head
 * says, which heads are refused with which status, and chunked bodies
 * decoded across reads. */
#include <string.h>

#include "check.h"
#include "http_parse.h"

static cs_http_limits lim;

static int parse(const char *head, cs_http_req *rq) {
  return cs_http_parse_head(head, strlen(head), &lim, rq);
}

static void http_head_end_is_found_byte_by_byte(void) {
  const char *h = "POST /v1/traces HTTP/1.1\r\nHost: a\r\n\r\nBODY";
  cs_http_scan scan = {0};
  long e = 0;
  size_t n = 0;
  while (!e && n < strlen(h))
    e = cs_http_head_end(h, ++n, &scan, &lim);
  CHECK_EQ(e, (long)(strlen(h) - 4));
  memset(&scan, 0, sizeof scan);
  CHECK_EQ(cs_http_head_end(h, strlen(h), &scan, &lim), (long)(strlen(h) - 4));
  memset(&scan, 0, sizeof scan);
  CHECK_EQ(cs_http_head_end("GET / HTTP/1.0\n\n", 16, &scan, &lim), 16); /* bare LF */
  CHECK_EQ(cs_http_skip_empty_lines("\r\n\r\nPOST", 8), 4);
}

static void http_head_over_the_limits_is_refused_early(void) {
  char buf[40000];
  memset(buf, 'a', sizeof buf);
  memcpy(buf, "POST /", 6);
  cs_http_scan scan = {0};
  CHECK_EQ(cs_http_head_end(buf, lim.max_line + 3, &scan, &lim), -414);
  memcpy(buf, "POST / HTTP/1.1\r\nX: ", 20);
  memset(&scan, 0, sizeof scan);
  CHECK_EQ(cs_http_head_end(buf, 1000, &scan, &lim), 0);
  CHECK_EQ(cs_http_head_end(buf, sizeof buf, &scan, &lim), -431);
}

static void http_head_fields_and_keep_alive(void) {
  cs_http_req rq;
  CHECK_EQ(parse("POST /v1/traces?x=1 HTTP/1.1\r\nHost: h:1\r\nContent-Type:  application/json \r\n"
                 "Content-Length: 12\r\nOrigin: o\r\nExpect: 100-continue\r\n\r\n",
                 &rq),
           0);
  CHECK_STRN(rq.path.p, rq.path.n, "/v1/traces");
  CHECK_STRN(rq.host.p, rq.host.n, "h:1");
  CHECK_STRN(rq.content_type.p, rq.content_type.n, "application/json");
  CHECK_EQ(rq.content_length, 12);
  CHECK_EQ(rq.keep_alive, 1);
  CHECK_EQ(rq.expect_continue, 1);
  CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n", &rq), 0);
  CHECK_EQ(rq.keep_alive, 0);
  CHECK_EQ(parse("POST / HTTP/1.0\r\n\r\n", &rq), 0);
  CHECK_EQ(rq.keep_alive, 0);
  CHECK_EQ(parse("POST / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq), 0);
  CHECK_EQ(rq.keep_alive, 1);
  CHECK_EQ(parse("POST http://a.example:9/v1/traces HTTP/1.1\r\nHost: b\r\n\r\n", &rq), 0);
  CHECK_STRN(rq.host.p, rq.host.n, "a.example:9");
  CHECK_STRN(rq.path.p, rq.path.n, "/v1/traces");
  CHECK_EQ(
      parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\nContent-Length: 5\r\n\r\n", &rq),
      0);
  CHECK_EQ(rq.content_length, 5);
  CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n", &rq), 0);
  CHECK_EQ(rq.chunked, 1);
}

static void http_ambiguous_heads_are_refused(void) {
  static const struct {
    const char *head;
    int status;
  } cases[] = {
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 2\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
       400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
      {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost : h\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nHost: i\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nHost: h\r\nExpect: magic\r\n\r\n", 417},
      {"POST / HTTP/2.0\r\n\r\n", 505},
      {"POST  / HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"POST relative HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"POST /?a&b&c&d&e&f&g&h&i HTTP/1.1\r\nHost: h\r\n\r\n", 414},
  };
  cs_http_limits small = lim;
  small.max_params = 8;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cs_http_req rq;
    int st = cs_http_parse_head(cases[i].head, strlen(cases[i].head), &small, &rq);
    if (st != cases[i].status)
      fprintf(stderr, "  case %zu: %s\n", i, cases[i].head);
    CHECK_EQ(st, cases[i].status);
    CHECK(rq.err[0] != '\0');
  }
  cs_http_req rq;
  const char nul[] = "POST / HTTP/1.1\r\nHost: h\r\nX: a\0b\r\n\r\n";
  CHECK_EQ(cs_http_parse_head(nul, sizeof nul - 1, &lim, &rq), 400);
  char many[4000];
  int o = snprintf(many, sizeof many, "POST / HTTP/1.1\r\nHost: h\r\n");
  for (int i = 0; i < 130; i++)
    o += snprintf(many + o, sizeof many - (size_t)o, "X: 1\r\n");
  snprintf(many + o, sizeof many - (size_t)o, "\r\n");
  CHECK_EQ(parse(many, &rq), 431);
}

typedef struct got {
  char buf[64];
  size_t n;
} got;

static int take(void *ud, const uint8_t *p, size_t n) {
  got *g = ud;
  if (g->n + n > sizeof g->buf)
    return 1;
  memcpy(g->buf + g->n, p, n);
  g->n += n;
  return 0;
}

static void http_chunked_body_across_reads(void) {
  const char *b = "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\nNEXT";
  size_t n = strlen(b);
  for (size_t step = 1; step <= n; step++) {
    cs_http_chunked d;
    cs_http_chunked_init(&d);
    got g = {.n = 0};
    size_t pos = 0, used;
    int rc = 0;
    while (pos < n && rc == 0) {
      size_t len = n - pos < step ? n - pos : step;
      rc = cs_http_chunked_feed(&d, (const uint8_t *)b + pos, len, &used, take, &g);
      pos += used;
    }
    CHECK_EQ(rc, 1);
    CHECK_EQ(pos, n - 4); /* NEXT is the next request's */
    CHECK_STRN(g.buf, g.n, "hello world");
  }
  static const char *bad[] = {"x\r\n", "5\r\nhelloXX", "5\nhello", "10000000000000\r\n",
                              "0\r\nT: 1\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cs_http_chunked d;
    cs_http_chunked_init(&d);
    got g = {.n = 0};
    size_t used;
    CHECK_EQ(cs_http_chunked_feed(&d, (const uint8_t *)bad[i], strlen(bad[i]), &used, take, &g),
             -1);
    CHECK(d.err[0] != '\0');
  }
}

int main(void) {
  cs_http_limits_default(&lim);
  RUN(http_head_end_is_found_byte_by_byte);
  RUN(http_head_over_the_limits_is_refused_early);
  RUN(http_head_fields_and_keep_alive);
  RUN(http_ambiguous_heads_are_refused);
  RUN(http_chunked_body_across_reads);
  return CHECK_DONE();
}
