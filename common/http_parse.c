/* See http_parse.h: HTTP/1.1 request heads and chunked bodies, refusing
 * whatever could be framed two ways. */
#include "http_parse.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hexb64.h"

void cs_http_limits_default(cs_http_limits *l) {
  l->max_line = 8u << 10;
  l->max_head = 32u << 10;
  l->max_fields = 128;
  l->max_params = 256;
}

size_t cs_http_skip_empty_lines(const char *buf, size_t n) {
  size_t i = 0;
  while (i < n && (buf[i] == '\r' || buf[i] == '\n'))
    i++;
  return i;
}

long cs_http_head_end(const char *buf, size_t n, cs_http_scan *scan, const cs_http_limits *lim) {
  /* Bytes past the head limit are never searched, so the answer does not
   * depend on how the bytes arrived. */
  size_t end = n < lim->max_head + 4 ? n : lim->max_head + 4;
  for (size_t i = scan->pos; i < end; i++) {
    if (buf[i] != '\n')
      continue;
    size_t len = i - scan->ls;
    if (len && buf[i - 1] == '\r')
      len--;
    if (!scan->line_done) {
      scan->line_done = 1;
      if (len > lim->max_line)
        return -414;
    } else if (len == 0) {
      scan->pos = i + 1;
      return (long)(i + 1);
    }
    scan->ls = i + 1;
  }
  scan->pos = end;
  /* +2: the request line's own CRLF is not part of its limit. */
  if (!scan->line_done && n > lim->max_line + 2)
    return -414;
  if (n > lim->max_head + 4)
    return -431;
  return 0;
}

static int is_tchar(unsigned char ch) {
  if ((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'))
    return 1;
  return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

static int slice_is(cs_http_slice s, const char *lit) {
  size_t n = strlen(lit);
  if (s.n != n)
    return 0;
  for (size_t i = 0; i < n; i++) {
    char a = s.p[i], b = lit[i];
    if (a >= 'A' && a <= 'Z')
      a = (char)(a - 'A' + 'a');
    if (a != b)
      return 0;
  }
  return 1;
}

static cs_http_slice trim(const char *p, size_t n) {
  while (n && (*p == ' ' || *p == '\t'))
    p++, n--;
  while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
    n--;
  return (cs_http_slice){p, n};
}

int64_t cs_http_parse_length(const char *p, size_t n) {
  if (n == 0 || n > 15)
    return -1;
  int64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9')
      return -1;
    v = v * 10 + (p[i] - '0');
  }
  return v;
}

static int fail(cs_http_req *rq, int status, const char *fmt, const char *arg) {
  snprintf(rq->err, sizeof rq->err, fmt, arg);
  return status;
}

/* Calls fn for each non-empty element of a comma-separated list. */
typedef int (*list_fn)(cs_http_req *rq, cs_http_slice el);

static int each_element(cs_http_req *rq, cs_http_slice v, list_fn fn) {
  size_t start = 0;
  for (size_t i = 0; i <= v.n; i++) {
    if (i < v.n && v.p[i] != ',')
      continue;
    cs_http_slice el = trim(v.p + start, i - start);
    start = i + 1;
    if (el.n) {
      int rc = fn(rq, el);
      if (rc)
        return rc;
    }
  }
  return 0;
}

static int on_length(cs_http_req *rq, cs_http_slice el) {
  int64_t v = cs_http_parse_length(el.p, el.n);
  if (v < 0)
    return fail(rq, 400, "bad Content-Length: %s", "not a decimal number");
  if (rq->content_length >= 0 && rq->content_length != v)
    return fail(rq, 400, "%s", "conflicting Content-Length values");
  rq->content_length = v;
  return 0;
}

static int on_coding(cs_http_req *rq, cs_http_slice el) {
  if (rq->chunked)
    return fail(rq, 400, "%s", "chunked must be the last transfer coding, once");
  if (!slice_is(el, "chunked"))
    return fail(rq, 501, "%s", "unsupported transfer coding (only chunked)");
  rq->chunked = 1;
  return 0;
}

static int on_connection(cs_http_req *rq, cs_http_slice el) {
  if (slice_is(el, "close"))
    rq->keep_alive = 0;
  else if (slice_is(el, "keep-alive") && rq->keep_alive != 0)
    rq->keep_alive = 1;
  return 0;
}

static int single(cs_http_req *rq, cs_http_slice *dst, cs_http_slice v, const char *name) {
  if (dst->p)
    return fail(rq, 400, "more than one %s header", name);
  *dst = v;
  return 0;
}

static int on_field(cs_http_req *rq, cs_http_slice name, cs_http_slice v, int *te_seen,
                    int *conn_close, int *conn_keep) {
  if (slice_is(name, "content-length")) {
    if (!v.n)
      return fail(rq, 400, "bad Content-Length: %s", "empty");
    return each_element(rq, v, on_length);
  }
  if (slice_is(name, "transfer-encoding")) {
    *te_seen = 1;
    return each_element(rq, v, on_coding);
  }
  if (slice_is(name, "connection")) {
    cs_http_req probe = *rq;
    probe.keep_alive = -1;
    each_element(&probe, v, on_connection);
    if (probe.keep_alive == 0)
      *conn_close = 1;
    if (probe.keep_alive == 1)
      *conn_keep = 1;
    return 0;
  }
  if (slice_is(name, "expect")) {
    if (!slice_is(v, "100-continue"))
      return fail(rq, 417, "%s", "unsupported expectation");
    rq->expect_continue = 1;
    return 0;
  }
  if (slice_is(name, "host"))
    return single(rq, &rq->host, v, "Host");
  if (slice_is(name, "content-type"))
    return single(rq, &rq->content_type, v, "Content-Type");
  if (slice_is(name, "content-encoding"))
    return single(rq, &rq->content_encoding, v, "Content-Encoding");
  if (slice_is(name, "origin") && !rq->origin.p)
    rq->origin = v;
  return 0;
}

/* method SP request-target SP HTTP-version */
static int request_line(const char *p, size_t n, const cs_http_limits *lim, cs_http_req *rq) {
  if (n > lim->max_line)
    return fail(rq, 414, "%s", "request line too long");
  size_t i = 0;
  while (i < n && is_tchar((unsigned char)p[i]))
    i++;
  if (i == 0 || i > 32 || i >= n || p[i] != ' ')
    return fail(rq, 400, "%s", "malformed request line");
  rq->method = (cs_http_slice){p, i};
  size_t t = ++i;
  while (i < n && (unsigned char)p[i] > 0x20 && p[i] != 0x7f)
    i++;
  if (i == t || i >= n || p[i] != ' ')
    return fail(rq, 400, "%s", "malformed request target");
  rq->target = (cs_http_slice){p + t, i - t};
  cs_http_slice ver = {p + i + 1, n - i - 1};
  if (ver.n == 8 && !memcmp(ver.p, "HTTP/1.1", 8))
    rq->minor = 1;
  else if (ver.n == 8 && !memcmp(ver.p, "HTTP/1.0", 8))
    rq->minor = 0;
  else if (ver.n == 8 && !memcmp(ver.p, "HTTP/", 5) && ver.p[5] >= '0' && ver.p[5] <= '9' &&
           ver.p[6] == '.' && ver.p[7] >= '0' && ver.p[7] <= '9')
    return fail(rq, 505, "%s", "only HTTP/1.0 and HTTP/1.1 are supported");
  else
    return fail(rq, 400, "%s", "malformed HTTP version");
  return 0;
}

/* The path of the target (origin-form, absolute-form or "*"), the host of
 * an absolute-form target, and the query's parameter count. */
static int target_parts(cs_http_req *rq, const cs_http_limits *lim) {
  cs_http_slice t = rq->target;
  const char *p = t.p, *end = t.p + t.n;
  if (t.n == 1 && *p == '*') {
    rq->path = t;
    return 0;
  }
  if (*p != '/') {
    size_t skip = t.n >= 7 && !strncasecmp(p, "http://", 7)    ? 7
                  : t.n >= 8 && !strncasecmp(p, "https://", 8) ? 8
                                                               : 0;
    if (!skip)
      return fail(rq, 400, "%s", "malformed request target");
    const char *a = p + skip, *e = a;
    while (e < end && *e != '/' && *e != '?')
      e++;
    if (e == a)
      return fail(rq, 400, "%s", "absolute target without a host");
    rq->host = (cs_http_slice){a, (size_t)(e - a)}; /* it overrides a Host header */
    p = e;
  }
  const char *q = p;
  while (q < end && *q != '?')
    q++;
  rq->path = p == q ? (cs_http_slice){"/", 1} : (cs_http_slice){p, (size_t)(q - p)};
  if (q < end && q + 1 < end) {
    uint32_t params = 1;
    for (const char *x = q + 1; x < end; x++)
      params += *x == '&';
    if (params > lim->max_params) {
      snprintf(rq->err, sizeof rq->err, "too many query parameters: %u, limit %u", params,
               lim->max_params);
      return 414;
    }
  }
  return 0;
}

int cs_http_parse_head(const char *buf, size_t n, const cs_http_limits *lim, cs_http_req *rq) {
  memset(rq, 0, sizeof *rq);
  rq->content_length = -1;
  if (n > lim->max_head + 4)
    return fail(rq, 431, "%s", "request header fields too large");
  int te_seen = 0, conn_close = 0, conn_keep = 0, ended = 0, rc;
  size_t ls = 0, line_no = 0;
  for (size_t i = 0; i < n; i++) {
    if (buf[i] != '\n') {
      if (buf[i] == '\r' && (i + 1 >= n || buf[i + 1] != '\n'))
        return fail(rq, 400, "%s", "bare CR in the request head");
      continue;
    }
    const char *l = buf + ls;
    size_t len = i - ls;
    if (len && l[len - 1] == '\r')
      len--;
    ls = i + 1;
    if (line_no++ == 0) {
      if ((rc = request_line(l, len, lim, rq)))
        return rc;
      continue;
    }
    if (len == 0) { /* the empty line: end of the head */
      ended = 1;
      break;
    }
    if (*l == ' ' || *l == '\t')
      return fail(rq, 400, "%s", "obsolete line folding in a header");
    if (++rq->n_fields > lim->max_fields) {
      snprintf(rq->err, sizeof rq->err, "more than %u header fields", lim->max_fields);
      return 431;
    }
    size_t c = 0;
    while (c < len && is_tchar((unsigned char)l[c]))
      c++;
    if (c == len || l[c] != ':') {
      if (c < len && (l[c] == ' ' || l[c] == '\t'))
        return fail(rq, 400, "%s", "whitespace between a header name and its colon");
      return fail(rq, 400, "%s",
                  c == len ? "header line without a colon" : "bad byte in a header name");
    }
    if (c == 0)
      return fail(rq, 400, "%s", "empty header name");
    for (size_t k = c + 1; k < len; k++) {
      unsigned char ch = (unsigned char)l[k];
      if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
        return fail(rq, 400, "%s", "control byte in a header value");
    }
    if ((rc = on_field(rq, (cs_http_slice){l, c}, trim(l + c + 1, len - c - 1), &te_seen,
                       &conn_close, &conn_keep)))
      return rc;
  }
  if (!ended)
    return fail(rq, 400, "%s", "incomplete request head");
  if (te_seen && !rq->chunked)
    return fail(rq, 400, "%s", "empty Transfer-Encoding");
  if (rq->chunked && rq->content_length >= 0)
    return fail(rq, 400, "%s", "both Content-Length and Transfer-Encoding");
  if (rq->chunked && rq->minor == 0)
    return fail(rq, 400, "%s", "Transfer-Encoding in an HTTP/1.0 request");
  if (rq->minor == 1 && !rq->host.p)
    return fail(rq, 400, "%s", "HTTP/1.1 request without Host");
  if ((rc = target_parts(rq, lim)))
    return rc;
  if (rq->minor == 0)
    rq->expect_continue = 0;
  rq->keep_alive = conn_close ? 0 : rq->minor == 1 ? 1 : conn_keep;
  return 0;
}

/* ---- chunked bodies ---- */

enum {
  C_SIZE,
  C_SIZE_MORE,
  C_EXT,
  C_SIZE_LF,
  C_DATA,
  C_DATA_CR,
  C_DATA_LF,
  C_TRAILER,
  C_TRAILER_LINE,
  C_TRAILER_LF,
  C_END_LF,
  C_DONE,
};

#define CHUNK_LINE_MAX 1024
#define TRAILER_MAX (8u << 10)
#define CHUNK_SIZE_MAX ((uint64_t)1 << 40)

void cs_http_chunked_init(cs_http_chunked *d) {
  memset(d, 0, sizeof *d);
}

static int cfail(cs_http_chunked *d, const char *why) {
  snprintf(d->err, sizeof d->err, "bad chunked body: %s", why);
  return -1;
}

int cs_http_chunked_feed(cs_http_chunked *d, const uint8_t *in, size_t n, size_t *used,
                         cs_http_sink sink, void *ud) {
  size_t i = 0;
  int rc = 0;
  while (i < n && d->state != C_DONE) {
    unsigned char ch = in[i];
    switch (d->state) {
    case C_SIZE:
    case C_SIZE_MORE: {
      int h = cs_hexval(ch);
      if (h >= 0) {
        d->left = d->left * 16 + (uint64_t)h;
        if (d->left > CHUNK_SIZE_MAX)
          return *used = i, cfail(d, "chunk size too large");
        d->state = C_SIZE_MORE;
      } else if (d->state == C_SIZE) {
        return *used = i, cfail(d, "chunk size is not hexadecimal");
      } else if (ch == ';') {
        d->state = C_EXT;
      } else if (ch == '\r') {
        d->state = C_SIZE_LF;
      } else {
        return *used = i, cfail(d, "bad byte after the chunk size");
      }
      if (++d->line > CHUNK_LINE_MAX)
        return *used = i, cfail(d, "chunk size line too long");
      i++;
      break;
    }
    case C_EXT:
      if (ch == '\r')
        d->state = C_SIZE_LF;
      else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
        return *used = i, cfail(d, "control byte in a chunk extension");
      if (++d->line > CHUNK_LINE_MAX)
        return *used = i, cfail(d, "chunk size line too long");
      i++;
      break;
    case C_SIZE_LF:
      if (ch != '\n')
        return *used = i, cfail(d, "chunk size line not ended by CRLF");
      d->line = 0;
      d->state = d->left ? C_DATA : C_TRAILER;
      i++;
      break;
    case C_DATA: {
      size_t take = n - i;
      if (take > d->left)
        take = (size_t)d->left;
      if (sink(ud, in + i, take))
        return *used = i, -2;
      i += take;
      d->left -= take;
      if (!d->left)
        d->state = C_DATA_CR;
      break;
    }
    case C_DATA_CR:
      if (ch != '\r')
        return *used = i, cfail(d, "chunk data not followed by CRLF");
      d->state = C_DATA_LF;
      i++;
      break;
    case C_DATA_LF:
      if (ch != '\n')
        return *used = i, cfail(d, "chunk data not followed by CRLF");
      d->state = C_SIZE;
      i++;
      break;
    case C_TRAILER:
      d->state = ch == '\r' ? C_END_LF : C_TRAILER_LINE;
      if (d->state == C_END_LF)
        i++;
      break;
    case C_TRAILER_LINE:
      if (ch == '\r')
        d->state = C_TRAILER_LF;
      else if (ch == '\n' || ch == 0)
        return *used = i, cfail(d, "bad byte in a trailer");
      if (++d->trailer > TRAILER_MAX)
        return *used = i, cfail(d, "trailer too large");
      i++;
      break;
    case C_TRAILER_LF:
      if (ch != '\n')
        return *used = i, cfail(d, "trailer line not ended by CRLF");
      d->state = C_TRAILER;
      i++;
      break;
    case C_END_LF:
      if (ch != '\n')
        return *used = i, cfail(d, "last chunk not ended by CRLF");
      d->state = C_DONE;
      i++;
      break;
    }
  }
  *used = i;
  if (d->state == C_DONE)
    rc = 1;
  return rc;
}
