/* The example services' HTTP/1.1 client on plain sockets: one request per
 * connection, a deadline over connect+send+receive, a capped response. The
 * traced call wraps it with one CLIENT span per attempt, context injection
 * into the request headers, and retries with backoff. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exlib_int.h"

#define EX_REQ_MAX 16384
#define EX_RESP_MAX 65536

/* "http://host:port[/]" or "http://[v6]:port"; port defaults to 80. */
static int parse_url(const char *url, char *host, size_t hn, char *port, size_t pn) {
  if (strncmp(url, "http://", 7) != 0) return -1;
  const char *h = url + 7, *end = h + strcspn(h, "/");
  const char *colon;
  if (*h == '[') {
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (!rb) return -1;
    if ((size_t)(rb - h - 1) >= hn) return -1;
    memcpy(host, h + 1, (size_t)(rb - h - 1));
    host[rb - h - 1] = '\0';
    colon = rb + 1 < end && rb[1] == ':' ? rb + 1 : NULL;
  } else {
    colon = memchr(h, ':', (size_t)(end - h));
    const char *he = colon ? colon : end;
    if (he == h || (size_t)(he - h) >= hn) return -1;
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
  }
  if (colon) {
    size_t n = (size_t)(end - colon - 1);
    if (n == 0 || n >= pn || n > 5) return -1;
    for (size_t i = 0; i < n; i++)
      if (colon[1 + i] < '0' || colon[1 + i] > '9') return -1;
    memcpy(port, colon + 1, n);
    port[n] = '\0';
  } else {
    snprintf(port, pn, "80");
  }
  return 0;
}

static int left_ms(double deadline) {
  double l = deadline - ex_now_ms();
  return l <= 0 ? 0 : (int)l + 1;
}

static int wait_fd(int fd, short ev, double deadline) {
  for (;;) {
    int ms = left_ms(deadline);
    if (ms <= 0) return 0;
    struct pollfd p = {fd, ev, 0};
    int r = poll(&p, 1, ms);
    if (r < 0 && errno == EINTR) continue;
    return r; /* 1 ready, 0 timeout, -1 error */
  }
}

static int fail(ex_result *out, int timed_out, const char *what, int err) {
  out->timed_out = timed_out;
  if (timed_out) snprintf(out->error, sizeof out->error, "timeout during %s", what);
  else snprintf(out->error, sizeof out->error, "%s failed: %s", what, err ? strerror(err) : "peer closed");
  return -1;
}

static int connect_by(const char *host, const char *port, double deadline, ex_result *out) {
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
    snprintf(out->error, sizeof out->error, "cannot resolve %.100s", host);
    return -1;
  }
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    freeaddrinfo(ai);
    return fail(out, 0, "socket", errno);
  }
  int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
  freeaddrinfo(ai);
  if (rc != 0 && errno != EINPROGRESS) {
    int e = errno;
    close(fd);
    return fail(out, 0, "connect", e);
  }
  if (rc != 0) {
    int w = wait_fd(fd, POLLOUT, deadline);
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (w <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
      close(fd);
      return fail(out, w == 0, "connect", soerr ? soerr : errno);
    }
  }
  return fd;
}

/* A traceresponse value: "00-" 32 hex "-" 16 hex "-" 2 hex, lowercase
 * (the traceparent format; other versions are not needed here). */
static int valid_traceresponse(const char *v, size_t n) {
  if (n != 55 || memcmp(v, "00-", 3) != 0 || v[35] != '-' || v[52] != '-') return 0;
  for (size_t i = 3; i < n; i++) {
    if (i == 35 || i == 52) continue;
    if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f'))) return 0;
  }
  return 1;
}

/* Parses "HTTP/1.x NNN ..." and the head; returns the head length or 0
 * while incomplete, -1 on garbage. Sets *clen to Content-Length or -1 and
 * copies a well-formed traceresponse header into tr (else leaves it). */
static long parse_head(const char *buf, size_t n, int *status, long *clen, char tr[56]) {
  const char *end = memmem(buf, n, "\r\n\r\n", 4);
  if (!end) return n > 8192 ? -1 : 0;
  if (n < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ') return -1;
  int st = 0;
  for (int i = 9; i < 12; i++) {
    if (buf[i] < '0' || buf[i] > '9') return -1;
    st = st * 10 + (buf[i] - '0');
  }
  *status = st;
  *clen = -1;
  for (const char *p = buf; p < end;) {
    const char *eol = memmem(p, (size_t)(end - p) + 2, "\r\n", 2);
    if (!eol) break;
    if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0) {
      char *e;
      long v = strtol(p + 15, &e, 10);
      if (v >= 0 && v <= EX_RESP_MAX) *clen = v;
    } else if ((size_t)(eol - p) > 14 && strncasecmp(p, "traceresponse:", 14) == 0) {
      const char *v = p + 14, *ve = eol;
      while (v < ve && (*v == ' ' || *v == '\t')) v++;
      while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      if (valid_traceresponse(v, (size_t)(ve - v))) {
        memcpy(tr, v, 55);
        tr[55] = '\0';
      }
    }
    p = eol + 2;
  }
  return (long)(end - buf) + 4;
}

int ex_http_raw(const char *base_url, const char *method, const char *path,
                const char *extra_headers, uint32_t timeout_ms, ex_result *out) {
  memset(out, 0, sizeof *out);
  char host[256], port[8];
  if (parse_url(base_url, host, sizeof host, port, sizeof port)) {
    snprintf(out->error, sizeof out->error, "bad url %.100s", base_url);
    return -1;
  }
  double deadline = ex_now_ms() + (timeout_ms ? timeout_ms : 1000);
  char *req = malloc(EX_REQ_MAX);
  char *resp = malloc(EX_RESP_MAX + 1);
  int fd = -1, rc = -1;
  if (!req || !resp) {
    snprintf(out->error, sizeof out->error, "out of memory");
    goto done;
  }
  int n = snprintf(req, EX_REQ_MAX,
                   "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: callscope-examples\r\n"
                   "Connection: close\r\nContent-Length: 0\r\n%s\r\n",
                   method, path, host, port, extra_headers ? extra_headers : "");
  if (n < 0 || n >= EX_REQ_MAX) {
    snprintf(out->error, sizeof out->error, "request too large");
    goto done;
  }
  fd = connect_by(host, port, deadline, out);
  if (fd < 0) goto done;
  for (size_t off = 0; off < (size_t)n;) {
    ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
    if (w > 0) {
      off += (size_t)w;
    } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
      int r = wait_fd(fd, POLLOUT, deadline);
      if (r <= 0) {
        fail(out, r == 0, "send", errno);
        goto done;
      }
    } else {
      fail(out, 0, "send", errno);
      goto done;
    }
  }
  size_t got = 0;
  long head = 0, clen = -1;
  int status = 0;
  for (;;) {
    if (head > 0 && clen >= 0 && got >= (size_t)head + (size_t)clen) break;
    if (got == EX_RESP_MAX) break; /* capped: keep what arrived */
    ssize_t r = recv(fd, resp + got, EX_RESP_MAX - got, 0);
    if (r > 0) {
      got += (size_t)r;
      if (head == 0) {
        head = parse_head(resp, got, &status, &clen, out->traceresponse);
        if (head < 0) {
          snprintf(out->error, sizeof out->error, "malformed response");
          goto done;
        }
      }
    } else if (r == 0) {
      break;
    } else if (errno == EAGAIN || errno == EINTR) {
      int w = wait_fd(fd, POLLIN, deadline);
      if (w <= 0) {
        fail(out, w == 0, "receive", errno);
        goto done;
      }
    } else {
      fail(out, 0, "receive", errno);
      goto done;
    }
  }
  if (head <= 0) {
    fail(out, 0, "receive", 0);
    goto done;
  }
  out->status = status;
  size_t blen = got - (size_t)head;
  if (clen >= 0 && blen > (size_t)clen) blen = (size_t)clen;
  if (blen >= sizeof out->body) blen = sizeof out->body - 1;
  memcpy(out->body, resp + head, blen);
  out->body[blen] = '\0';
  out->body_len = blen;
  rc = 0;
done:
  if (fd >= 0) close(fd);
  free(req);
  free(resp);
  return rc;
}

/* ---- traced calls */

/* Outgoing headers as "Name: value\r\n" lines: the carrier's set side. */
typedef struct hdrbuf {
  char buf[12288];
  size_t len;
} hdrbuf;

static int hdr_set(void *user, const char *key, const char *value) {
  hdrbuf *h = user;
  if (strpbrk(key, "\r\n:") || strpbrk(value, "\r\n")) return -1; /* no header injection */
  int n = snprintf(h->buf + h->len, sizeof h->buf - h->len, "%s: %s\r\n", key, value);
  if (n < 0 || (size_t)n >= sizeof h->buf - h->len) {
    h->buf[h->len] = '\0';
    return -1;
  }
  h->len += (size_t)n;
  return 0;
}

static int retryable(const ex_result *r) {
  return r->status == 0 || r->status == 502 || r->status == 503 || r->status == 504;
}

int ex_http_call(ex_svc *svc, const ex_call *c, const cst_context *parent, ex_result *out) {
  cst_tracer *t = svc ? svc->tracer : NULL;
  uint32_t attempts = c->idempotent && c->max_attempts > 1 ? c->max_attempts : 1;
  unsigned formats = c->formats ? c->formats : cst_tracer_propagators(t);
  char name[160], url[512], host[256], port[8];
  snprintf(name, sizeof name, "%s %s", c->method, c->route ? c->route : c->path);
  snprintf(url, sizeof url, "%s%s", c->base_url, c->path);
  if (parse_url(c->base_url, host, sizeof host, port, sizeof port)) host[0] = port[0] = '\0';
  int rc = -1;
  for (uint32_t a = 0; a < attempts; a++) {
    if (a > 0) {
      /* Exponential backoff with equal jitter: 25, 50, 100 ms ... halves
       * randomised so retries from many callers spread out. */
      uint32_t d = 25u << (a - 1 < 6 ? a - 1 : 6);
      ex_sleep_ms(d / 2 + (uint32_t)(ex_rand() % (d / 2 + 1)));
      cst_counter_add(svc ? svc->client_retries : NULL, 1);
    }
    cst_span *s = cst_span_start(t, name, CST_KIND_CLIENT, parent);
    cst_span_set_str(s, "http.method", c->method);
    cst_span_set_str(s, "http.url", url);
    cst_span_set_str(s, "net.peer.name", host);
    cst_span_set_int(s, "net.peer.port", strtol(port, NULL, 10));
    if (c->peer_service) cst_span_set_str(s, "peer.service", c->peer_service);
    if (a > 0) cst_span_set_int(s, "http.resend_count", a);

    hdrbuf h;
    h.len = 0;
    h.buf[0] = '\0';
    cst_carrier carrier = {NULL, hdr_set, &h};
    cst_inject(cst_span_context(s), &carrier, formats);

    double t0 = ex_now_ms();
    int r = ex_http_raw(c->base_url, c->method, c->path, h.buf, c->timeout_ms, out);
    out->attempts = a + 1;
    if (r == 0) {
      cst_span_set_int(s, "http.status_code", out->status);
      if (out->status >= 400) {
        char msg[32];
        snprintf(msg, sizeof msg, "HTTP %d", out->status);
        cst_span_set_status(s, CST_STATUS_ERROR, msg);
      }
    } else {
      cst_span_set_str(s, "error.type", out->timed_out ? "timeout" : "transport");
      cst_span_set_status(s, CST_STATUS_ERROR, out->error);
      if (out->timed_out) cst_counter_add(svc ? svc->client_timeouts : NULL, 1);
    }
    cst_span_end(s);
    ex_log(r == 0 && out->status < 500 ? "info" : "warn",
           "call %s %s%s -> %d%s%s (%.1f ms, attempt %u/%u)", c->method, c->base_url, c->path,
           out->status, r ? " " : "", r ? out->error : "", ex_now_ms() - t0, a + 1, attempts);
    if (r == 0 && !retryable(out)) {
      rc = 0;
      break;
    }
    if (!retryable(out)) break;
  }
  return rc;
}
