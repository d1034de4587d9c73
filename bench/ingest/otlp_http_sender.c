/* cs-otlp-http-sender: the ingest benchmark's OTLP/HTTP client. Sends the
 * benchmark workload (bench/common/workload.h) as ExportTraceServiceRequest
 * bodies, protobuf or OTLP JSON, over keep-alive HTTP/1.1 connections, one
 * request in flight per connection, and prints a "result" line in the same
 * shape as cs-loadgen's so run_otlp.sh can put the protocols side by side.
 * A 200 means the spans are durable (the receiver answers after the store
 * commit), like an acknowledged native TCP frame. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "otlp_encode.h"
#include "workload.h"

typedef struct cfg {
  int port, conns, json;
  uint64_t spans;
  uint32_t batch;
  uint64_t seed;
} cfg;

typedef struct thr {
  const cfg *c;
  int index;
  uint64_t quota;
  uint64_t acked, requests, bytes, throttled, errors;
} thr;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a growable output buffer ---- */

typedef struct obuf {
  char *p;
  size_t n, cap;
} obuf;

static void ob_need(obuf *b, size_t more) {
  if (b->n + more <= b->cap) return;
  size_t cap = b->cap ? b->cap : 1 << 16;
  while (cap < b->n + more) cap *= 2;
  char *np = realloc(b->p, cap);
  if (!np) {
    fprintf(stderr, "out of memory\n");
    exit(1);
  }
  b->p = np;
  b->cap = cap;
}

static void ob_put(obuf *b, const char *s, size_t n) {
  ob_need(b, n);
  memcpy(b->p + b->n, s, n);
  b->n += n;
}

static void ob_puts(obuf *b, const char *s) { ob_put(b, s, strlen(s)); }

static void ob_fmt_u64(obuf *b, uint64_t v) {
  char t[24];
  int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
  ob_put(b, t, (size_t)n);
}

static void ob_jstr(obuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  ob_need(b, n * 6 + 2);
  b->p[b->n++] = '"';
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      b->p[b->n++] = '\\';
      b->p[b->n++] = (char)c;
    } else if (c < 0x20) {
      char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
      memcpy(b->p + b->n, e, 6);
      b->n += 6;
    } else {
      b->p[b->n++] = (char)c;
    }
  }
  b->p[b->n++] = '"';
}

static void ob_hex(obuf *b, const uint8_t *p, size_t n) {
  static const char hex[] = "0123456789abcdef";
  ob_need(b, n * 2 + 2);
  b->p[b->n++] = '"';
  for (size_t i = 0; i < n; i++) {
    b->p[b->n++] = hex[p[i] >> 4];
    b->p[b->n++] = hex[p[i] & 15];
  }
  b->p[b->n++] = '"';
}

/* ---- OTLP JSON encoding of the span model ---- */

static void j_attrs(obuf *b, const cs_attr *a, uint32_t n) {
  ob_puts(b, "[");
  for (uint32_t i = 0; i < n; i++) {
    if (i) ob_puts(b, ",");
    ob_puts(b, "{\"key\":");
    ob_jstr(b, a[i].key.p, a[i].key.n);
    ob_puts(b, ",\"value\":{");
    char t[40];
    switch (a[i].type) {
    case CS_VAL_BOOL: ob_puts(b, a[i].v.b ? "\"boolValue\":true" : "\"boolValue\":false"); break;
    case CS_VAL_INT:
      ob_puts(b, "\"intValue\":\"");
      snprintf(t, sizeof t, "%lld", (long long)a[i].v.i);
      ob_puts(b, t);
      ob_puts(b, "\"");
      break;
    case CS_VAL_DOUBLE:
      snprintf(t, sizeof t, "%.17g", a[i].v.d);
      ob_puts(b, "\"doubleValue\":");
      ob_puts(b, t);
      break;
    default: /* strings; arrays and maps travel as their JSON text */
      ob_puts(b, "\"stringValue\":");
      ob_jstr(b, a[i].v.s.p, a[i].v.s.n);
    }
    ob_puts(b, "}}");
  }
  ob_puts(b, "]");
}

static void j_span(obuf *b, const cs_span *s) {
  static const uint8_t zero[8];
  ob_puts(b, "{\"traceId\":");
  ob_hex(b, s->trace_id, 16);
  ob_puts(b, ",\"spanId\":");
  ob_hex(b, s->span_id, 8);
  if (memcmp(s->parent_id, zero, 8)) {
    ob_puts(b, ",\"parentSpanId\":");
    ob_hex(b, s->parent_id, 8);
  }
  ob_puts(b, ",\"name\":");
  ob_jstr(b, s->name.p, s->name.n);
  ob_puts(b, ",\"kind\":");
  ob_fmt_u64(b, s->kind);
  ob_puts(b, ",\"startTimeUnixNano\":\"");
  ob_fmt_u64(b, s->start_ns);
  ob_puts(b, "\",\"endTimeUnixNano\":\"");
  ob_fmt_u64(b, s->end_ns);
  ob_puts(b, "\",\"attributes\":");
  j_attrs(b, s->attrs, s->n_attrs);
  if (s->n_events) {
    ob_puts(b, ",\"events\":[");
    for (uint32_t i = 0; i < s->n_events; i++) {
      if (i) ob_puts(b, ",");
      ob_puts(b, "{\"timeUnixNano\":\"");
      ob_fmt_u64(b, s->events[i].time_ns);
      ob_puts(b, "\",\"name\":");
      ob_jstr(b, s->events[i].name.p, s->events[i].name.n);
      ob_puts(b, ",\"attributes\":");
      j_attrs(b, s->events[i].attrs, s->events[i].n_attrs);
      ob_puts(b, "}");
    }
    ob_puts(b, "]");
  }
  if (s->status_code) {
    ob_puts(b, ",\"status\":{\"code\":");
    ob_fmt_u64(b, s->status_code);
    ob_puts(b, ",\"message\":");
    ob_jstr(b, s->status_msg.p, s->status_msg.n);
    ob_puts(b, "}");
  }
  ob_puts(b, "}");
}

/* Spans grouped by resource (the workload has a handful of services). */
static void j_request(obuf *b, const cs_span *spans, size_t n) {
  const cs_resource *seen[64];
  size_t n_seen = 0;
  ob_puts(b, "{\"resourceSpans\":[");
  for (size_t i = 0; i < n; i++) {
    const cs_resource *r = spans[i].resource;
    size_t k = 0;
    while (k < n_seen && seen[k] != r) k++;
    if (k < n_seen) continue;
    if (n_seen < 64) seen[n_seen++] = r;
    if (n_seen > 1) ob_puts(b, ",");
    ob_puts(b, "{\"resource\":{\"attributes\":");
    j_attrs(b, r->attrs, r->n_attrs);
    ob_puts(b, "},\"scopeSpans\":[{\"scope\":{\"name\":");
    ob_jstr(b, spans[i].scope_name.p, spans[i].scope_name.n);
    ob_puts(b, "},\"spans\":[");
    int first = 1;
    for (size_t j = i; j < n; j++) {
      if (spans[j].resource != r) continue;
      if (!first) ob_puts(b, ",");
      first = 0;
      j_span(b, &spans[j]);
    }
    ob_puts(b, "]}]}");
  }
  ob_puts(b, "]}");
}

/* ---- HTTP ---- */

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    if (fd >= 0) close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

static int write_all(int fd, struct iovec *iov, int cnt) {
  while (cnt) {
    ssize_t w = writev(fd, iov, cnt);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    while (cnt && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      cnt--;
    }
    if (cnt) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

/* Reads one response; returns its status or -1. Bodies are small. */
static int read_response(int fd) {
  char buf[8192];
  size_t n = 0;
  char *end = NULL;
  while (!end) {
    if (n == sizeof buf - 1) return -1;
    ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
    if (r <= 0) return -1;
    n += (size_t)r;
    buf[n] = '\0';
    end = strstr(buf, "\r\n\r\n");
  }
  int status = 0;
  if (sscanf(buf, "HTTP/1.%*d %d", &status) != 1) return -1;
  size_t clen = 0;
  for (char *h = buf; h < end; h++)
    if ((*h == 'C' || *h == 'c') && !strncasecmp(h, "Content-Length:", 15)) clen = strtoul(h + 15, NULL, 10);
  size_t have = n - (size_t)(end + 4 - buf);
  while (have < clen) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r <= 0) return -1;
    have += (size_t)r;
  }
  return status;
}

static void *run(void *arg) {
  thr *t = arg;
  const cfg *c = t->c;
  cs_workload w;
  cs_workload_init(&w, c->seed + (uint64_t)t->index * 7919, 0);
  cs_arena a;
  cs_arena_init(&a, 1 << 20, 512u << 20);
  obuf body = {0};
  int fd = connect_to(c->port);
  if (fd < 0) {
    fprintf(stderr, "connect to 127.0.0.1:%d failed: %s\n", c->port, strerror(errno));
    t->errors++;
    return NULL;
  }
  while (t->acked < t->quota) {
    cs_arena_reset(&a);
    cs_span *spans;
    size_t want = t->quota - t->acked < c->batch ? t->quota - t->acked : c->batch;
    size_t n = cs_workload_batch(&w, &a, want, &spans);
    if (!n) break;
    body.n = 0;
    if (c->json) {
      j_request(&body, spans, n);
    } else {
      ob_need(&body, n * 2048 + 4096);
      size_t len;
      while (cs_otlp_encode_traces(spans, n, (uint8_t *)body.p, body.cap, &len) == CS_OTLP_ENOSPC)
        ob_need(&body, body.cap * 2);
      body.n = len;
    }
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      c->json ? "application/json" : "application/x-protobuf", body.n);
    for (;;) {
      struct iovec iov[2] = {{head, (size_t)hn}, {body.p, body.n}};
      int status = write_all(fd, iov, 2) ? -1 : read_response(fd);
      t->requests++;
      if (status == 200) {
        t->acked += n;
        t->bytes += body.n;
        break;
      }
      if (status == 429 || status == 503) { /* back pressure: wait and resend */
        t->throttled++;
        usleep(10000);
        continue;
      }
      t->errors++;
      fprintf(stderr, "request failed with status %d\n", status);
      close(fd);
      fd = connect_to(c->port);
      if (fd < 0 || t->errors > 10) goto out;
    }
  }
out:
  if (fd >= 0) close(fd);
  free(body.p);
  cs_arena_release(&a);
  return NULL;
}

static int num(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s ? s : "", &end, 10);
  if (!s || !*s || *end || errno) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  cfg c = {.port = 4318, .conns = 4, .spans = 200000, .batch = 1000, .seed = 1};
  uint64_t v;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    int ok = 1;
    if (!strcmp(a, "--port")) ok = !num(val, &v) && v < 65536 && (c.port = (int)v, 1);
    else if (!strcmp(a, "--conns")) ok = !num(val, &v) && v && v <= 256 && (c.conns = (int)v, 1);
    else if (!strcmp(a, "--spans")) ok = !num(val, &v) && v && (c.spans = v, 1);
    else if (!strcmp(a, "--batch")) ok = !num(val, &v) && v && v <= 100000 && (c.batch = (uint32_t)v, 1);
    else if (!strcmp(a, "--seed")) ok = !num(val, &v) && (c.seed = v, 1);
    else if (!strcmp(a, "--format") && val && (!strcmp(val, "json") || !strcmp(val, "proto")))
      c.json = !strcmp(val, "json");
    else {
      fprintf(stderr, "usage: cs-otlp-http-sender [--port N] [--format proto|json] [--conns N] "
                      "[--spans N] [--batch N] [--seed N]\n");
      return 2;
    }
    if (!ok) {
      fprintf(stderr, "bad value for %s\n", a);
      return 2;
    }
    i++;
  }
  thr *t = calloc((size_t)c.conns, sizeof *t);
  pthread_t *tid = calloc((size_t)c.conns, sizeof *tid);
  double t0 = now_s();
  for (int i = 0; i < c.conns; i++) {
    t[i] = (thr){.c = &c, .index = i, .quota = c.spans / (uint64_t)c.conns + (i == 0 ? c.spans % (uint64_t)c.conns : 0)};
    pthread_create(&tid[i], NULL, run, &t[i]);
  }
  uint64_t acked = 0, req = 0, bytes = 0, thr_n = 0, err = 0;
  for (int i = 0; i < c.conns; i++) {
    pthread_join(tid[i], NULL);
    acked += t[i].acked;
    req += t[i].requests;
    bytes += t[i].bytes;
    thr_n += t[i].throttled;
    err += t[i].errors;
  }
  double secs = now_s() - t0;
  printf("result mode=otlp-http-%s conns=%d secs=%.3f acked_spans=%llu requests=%llu sent_bytes=%llu "
         "throttled=%llu errors=%llu spans_per_s=%.0f\n",
         c.json ? "json" : "proto", c.conns, secs, (unsigned long long)acked, (unsigned long long)req,
         (unsigned long long)bytes, (unsigned long long)thr_n, (unsigned long long)err,
         secs > 0 ? (double)acked / secs : 0);
  free(t);
  free(tid);
  return acked >= c.spans ? 0 : 1; /* whole traces: a little over is normal */
}
