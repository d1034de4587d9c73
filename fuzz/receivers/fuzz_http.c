/* libFuzzer target for the HTTP request framing of the collector's
 * receivers (collector/http_parse.c), driven the way recv_http.c drives it:
 * the first byte picks how the stream is cut into reads, then requests are
 * framed one after another (pipelining): empty lines skipped, the head
 * found and parsed, the body taken by Content-Length or chunked decoding.
 * Checks: where a head ends does not depend on how the bytes arrived, the
 * parse never reads past the head, bodies never exceed what was sent. */
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct sink_state {
  size_t got, cap;
} sink_state;

static int sink(void *ud, const uint8_t *p, size_t n) {
  sink_state *s = ud;
  (void)p;
  s->got += n;
  return s->got > s->cap; /* the receiver's body cap */
}

/* Finds the end of the head in buf[0..n) as reads of step bytes arrive. */
static long head_end_in_steps(const char *buf, size_t n, size_t step, const cs_http_limits *lim) {
  cs_http_scan scan = {0};
  for (size_t have = step < n ? step : n;; have = have + step < n ? have + step : n) {
    long e = cs_http_head_end(buf, have, &scan, lim);
    if (e || have == n)
      return e;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  size_t step = (size_t)(data[0] % 17) + 1;
  const char *in = (const char *)data + 1;
  size_t n = size - 1;
  cs_http_limits lim;
  cs_http_limits_default(&lim);
  lim.max_line = 512; /* small limits so the fuzzer reaches them */
  lim.max_head = 2048;
  lim.max_fields = 16;
  lim.max_params = 8;
  size_t pos = 0;
  for (int req = 0; req < 64 && pos < n; req++) {
    pos += cs_http_skip_empty_lines(in + pos, n - pos);
    if (pos == n)
      break;
    cs_http_scan scan = {0};
    long e = cs_http_head_end(in + pos, n - pos, &scan, &lim);
    if (e != head_end_in_steps(in + pos, n - pos, step, &lim))
      abort();
    if (e <= 0)
      break; /* incomplete, or refused with 414/431 */
    if ((size_t)e > n - pos)
      abort();
    cs_http_req rq;
    int st = cs_http_parse_head(in + pos, (size_t)e, &lim, &rq);
    if (st) {
      if (st != 400 && st != 414 && st != 417 && st != 431 && st != 501 && st != 505)
        abort();
      if (!rq.err[0])
        abort();
      break; /* the server answers and closes */
    }
    const char *lo = in + pos, *hi = in + pos + e;
    if (rq.path.p && (rq.path.n > 1 || *rq.path.p != '/') &&
        (rq.path.p < lo || rq.path.p + rq.path.n > hi))
      abort();
    if (rq.host.p && (rq.host.p < lo || rq.host.p + rq.host.n > hi))
      abort();
    if (rq.chunked && rq.content_length >= 0)
      abort();
    pos += (size_t)e;
    if (rq.chunked) {
      cs_http_chunked d;
      cs_http_chunked_init(&d);
      sink_state ss = {0, 4096};
      size_t used = 0, start = pos;
      int rc = 0;
      /* In reads of step bytes, as the server feeds it. */
      while (pos < n) {
        size_t len = n - pos < step ? n - pos : step;
        rc = cs_http_chunked_feed(&d, (const uint8_t *)in + pos, len, &used, sink, &ss);
        if (used > len)
          abort();
        pos += used;
        if (rc)
          break;
      }
      if (ss.got > pos - start)
        abort();
      if (rc != 1)
        break;
    } else if (rq.content_length > 0) {
      if ((uint64_t)rq.content_length > n - pos)
        break;
      pos += (size_t)rq.content_length;
    }
    if (!rq.keep_alive)
      break;
  }
  return 0;
}
