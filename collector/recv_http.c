/* The HTTP side shared by the OTLP/HTTP and Zipkin receivers, request by
 * request (see recv_http.h; connections are recv_http_conn.c): the checks a
 * complete head allows (Host, path, method, encoding, size), the body under
 * its cap and the receivers' shared budget, gzip inflated under a second
 * cap, the receiver's handler on a worker, and answers in the shape the
 * protocol uses for errors. A 2xx only once the store has the data. */
#include "recv_http_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hostcheck.h"
#include "inflate.h"
#include "log.h"

void __cs_recv_warn(cs_collector *c, const char *fmt, ...) {
  if (CS_LOG_WARN < cs_log_min_level || !c->recv)
    return;
  /* A shared per-second budget, refilled by the statsd flush timer or,
   * without it, by wall-clock seconds. */
  uint64_t sec = __cs_now_ms() / 1000;
  uint64_t was = atomic_load_explicit(&c->recv->warn_sec, memory_order_relaxed);
  if (was != sec && atomic_compare_exchange_strong(&c->recv->warn_sec, &was, sec))
    atomic_store(&c->recv->warn_left, 20);
  if (atomic_fetch_sub(&c->recv->warn_left, 1) <= 0)
    return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cs_log_write(CS_LOG_WARN, "collector", "%s", msg);
}

void __cs_rh_text(cs_rh_resp *rs, int status, const char *fmt, ...) {
  rs->status = status;
  rs->content_type = "text/plain; charset=utf-8";
  char *b = malloc(512);
  if (!b)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, 511, fmt, ap);
  va_end(ap);
  if (n < 0)
    n = 0;
  if (n > 510)
    n = 510;
  b[n++] = '\n';
  b[n] = '\0';
  free(rs->body);
  rs->body = b;
  rs->len = (size_t)n;
}

/* ---- waiting for the writer ---- */

typedef struct rh_wait {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done, failed, refs;
} rh_wait;

static void wait_unref(rh_wait *w) {
  int last = --w->refs == 0;
  pthread_mutex_unlock(&w->mu);
  if (last) {
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
  }
}

static void on_item_done(void *ud, int failed) {
  rh_wait *w = ud;
  pthread_mutex_lock(&w->mu);
  w->done = 1;
  w->failed = failed;
  pthread_cond_signal(&w->cv);
  wait_unref(w);
}

int __cs_rh_submit(cs_collector *c, cs_item *it) {
  if (atomic_load(&c->recv->stopping) || !__cs_admit(c, CS_ADMIT_ACKED)) {
    __cs_item_free(it);
    return CS_RH_BUSY;
  }
  rh_wait *w = calloc(1, sizeof *w);
  if (!w) {
    __cs_item_free(it);
    return CS_RH_BUSY;
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->refs = 2;
  it->on_done = on_item_done;
  it->done_ud = w;
  it->bytes = sizeof *it + it->arena.reserved;
  __cs_queue_push(c, it);
  /* The writer always reaches the item (stop drains the queue, free calls
   * on_done for leftovers); the deadline only guards against a store that
   * hangs, and the reference count keeps w alive for the late callback. */
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += 60;
  pthread_mutex_lock(&w->mu);
  while (!w->done)
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts))
      break;
  int rc = !w->done || w->failed ? CS_RH_FAILED : CS_RH_DURABLE;
  wait_unref(w);
  return rc;
}

/* ---- aggregate memory: body budget and decode slots ---- */

/* Takes n more bytes from the budget shared by every request being read
 * (the collector's max_conn_buffer_bytes, as for TCP). */
static int budget_take(cs_collector *c, rh_txn *st, size_t n) {
  size_t limit = c->o.max_conn_buffer_bytes ? c->o.max_conn_buffer_bytes : ((size_t)64 << 20);
  size_t was = atomic_fetch_add(&c->recv->body_bytes, n);
  if (was + n > limit) {
    atomic_fetch_sub(&c->recv->body_bytes, n);
    return -1;
  }
  st->reserved += n;
  return 0;
}

static void slot_take(cs_collector *c) {
  cs_recv *r = c->recv;
  pthread_mutex_lock(&r->slot_mu);
  while (r->slots_busy >= CS_RH_DECODE_SLOTS)
    pthread_cond_wait(&r->slot_cv, &r->slot_mu);
  r->slots_busy++;
  pthread_mutex_unlock(&r->slot_mu);
}

void __cs_rh_slot_release(cs_collector *c, const cs_rh_req *rq) {
  if (!rq->slot_held || !*rq->slot_held)
    return;
  *rq->slot_held = 0;
  cs_recv *r = c->recv;
  pthread_mutex_lock(&r->slot_mu);
  r->slots_busy--;
  pthread_cond_signal(&r->slot_cv);
  pthread_mutex_unlock(&r->slot_mu);
}

/* ---- answers ---- */

/* Browser exporters (OTel JS web, zipkin-js) need CORS: an allowed Origin
 * is echoed back ("*" when the wildcard is configured), as the OTel
 * Collector's confighttp does; without --cors-origin nothing is added. */
static void cors_origin(const cs_collector *c, cs_http_slice origin, rh_txn *tx) {
  tx->allow_origin[0] = '\0';
  if (!origin.p || !origin.n || origin.n >= sizeof tx->allow_origin)
    return;
  for (size_t i = 0; i < c->o.n_cors_origins; i++) {
    const char *o = c->o.cors_origins[i];
    if (!strcmp(o, "*")) {
      snprintf(tx->allow_origin, sizeof tx->allow_origin, "*");
      return;
    }
    if (strlen(o) == origin.n && !strncasecmp(o, origin.p, origin.n)) {
      snprintf(tx->allow_origin, sizeof tx->allow_origin, "%.*s", (int)origin.n, origin.p);
      return;
    }
  }
}

void __cs_rh_count_status(cs_rh_server *s, int status) {
  switch (status) {
  case 400:
  case 421: RH_ADD(s, bad_requests); break;
  case 408: RH_ADD(s, timeouts); break;
  case 413: RH_ADD(s, too_large); break;
  case 414:
  case 431: RH_ADD(s, heads_too_large); break;
  case 404:
  case 405:
  case 415:
  case 417:
  case 501:
  case 505: RH_ADD(s, unsupported); break;
  case 429:
  case 503: RH_ADD(s, throttled); break;
  default: break;
  }
}

/* OTLP/HTTP answers errors with a google.rpc.Status in the request's
 * encoding when that encoding is known (code 3 INVALID_ARGUMENT for 4xx,
 * message as given). */
static int status_body(cs_rh_resp *rs, const char *ctype, const char *msg) {
  size_t n = strlen(msg) > 300 ? 300 : strlen(msg);
  char *b = malloc(n * 6 + 64);
  if (!b)
    return -1;
  size_t o = 0;
  if (!strcmp(ctype, "application/json")) {
    o = (size_t)snprintf(b, 64, "{\"code\":3,\"message\":\"");
    for (size_t i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)msg[i];
      if (ch == '"' || ch == '\\')
        b[o++] = '\\', b[o++] = (char)ch;
      else if (ch < 0x20)
        o += (size_t)snprintf(b + o, 7, "\\u%04x", ch);
      else
        b[o++] = (char)ch;
    }
    b[o++] = '"';
    b[o++] = '}';
    rs->content_type = "application/json";
  } else if (!strcmp(ctype, "application/x-protobuf") || !strcmp(ctype, "application/protobuf")) {
    b[o++] = 0x08; /* code */
    b[o++] = 3;
    b[o++] = 0x12; /* message */
    size_t v = n;
    while (v >= 0x80)
      b[o++] = (char)(v | 0x80), v >>= 7;
    b[o++] = (char)v;
    memcpy(b + o, msg, n);
    o += n;
    rs->content_type = "application/x-protobuf";
  } else {
    free(b);
    return -1;
  }
  free(rs->body);
  rs->body = b;
  rs->len = o;
  return 0;
}

void __cs_rh_txn_free(cs_collector *c, rh_txn *tx) {
  if (!tx)
    return;
  if (tx->reserved)
    atomic_fetch_sub(&c->recv->body_bytes, tx->reserved);
  free(tx->body);
  free(tx->rs.body);
  free(tx);
}

/* An answer decided on the loop thread (before or instead of the body):
 * plain text, or an OTLP Status in the request's encoding on OTLP. */
void __cs_rh_answer(rh_conn *conn, int status, const char *msg, int close_after) {
  cs_rh_server *s = conn->s;
  rh_txn *tx = conn->tx;
  __cs_rh_text(&tx->rs, status, "%s", msg);
  if (s->kind == 0 && tx->ctype[0])
    status_body(&tx->rs, tx->ctype, msg);
  if (status == 429)
    tx->rs.retry_after_s = 1;
  if (close_after)
    conn->close_after = 1;
  __cs_rh_count_status(s, status);
  __cs_rh_send(conn);
}

/* ---- requests ---- */

static void media_type(cs_http_slice h, char *out, size_t cap) {
  size_t i = 0, k = 0;
  while (k < h.n && h.p[k] == ' ')
    k++;
  for (; k < h.n && h.p[k] != ';' && h.p[k] != ' ' && i + 1 < cap; k++)
    out[i++] = (char)tolower((unsigned char)h.p[k]);
  out[i] = '\0';
}

/* A head that cannot be parsed or broke a limit: answered, then closed. */
void __cs_rh_head_error(rh_conn *conn, int status, const char *msg) {
  cs_rh_server *s = conn->s;
  if (!conn->tx)
    conn->tx = calloc(1, sizeof *conn->tx);
  if (!conn->tx) {
    __cs_rh_conn_close(conn);
    return;
  }
  RH_ADD(s, requests);
  __cs_recv_warn(s->c, "%s request refused (%d): %s", s->name, status, msg);
  __cs_rh_answer(conn, status, msg, 1);
}

/* The head is complete: checks that need no body. Returns 0 to read the
 * body, 1 when the request was answered already. */
int __cs_rh_begin(rh_conn *conn, const cs_http_req *h) {
  cs_rh_server *s = conn->s;
  cs_collector *c = s->c;
  rh_txn *tx = calloc(1, sizeof *tx);
  if (!tx) {
    __cs_rh_conn_close(conn);
    return 1;
  }
  conn->tx = tx;
  tx->start_ms = conn->pe.since_ms;
  tx->keep_alive = h->keep_alive;
  tx->head_only = h->method.n == 4 && !memcmp(h->method.p, "HEAD", 4);
  tx->chunked = h->chunked;
  tx->cl_left = h->content_length > 0 ? (uint64_t)h->content_length : 0;
  snprintf(tx->path, sizeof tx->path, "%.*s", (int)h->path.n, h->path.p);
  int has_body = tx->chunked || tx->cl_left;
  RH_ADD(s, requests);
  char msg[200];
  char host[CS_HOST_NAME_MAX + 16];
  if (h->host.p)
    snprintf(host, sizeof host, "%.*s", (int)h->host.n, h->host.p);
  if (h->host.p &&
      (h->host.n >= sizeof host || !cs_host_allowed(host, c->listen_addr, c->o.allow_hosts))) {
    snprintf(msg, sizeof msg, "host not allowed: %.100s (see --allow-host)", host);
    __cs_recv_warn(c, "%s request refused: %s", s->name, msg);
    media_type(h->content_type, tx->ctype, sizeof tx->ctype);
    __cs_rh_answer(conn, 421, msg, has_body);
    return 1;
  }
  int known = s->kind == 0 ? !strcmp(tx->path, "/v1/traces") || !strcmp(tx->path, "/v1/metrics")
                           : !strcmp(tx->path, "/api/v2/spans");
  if (!known || h->path.n >= sizeof tx->path) {
    snprintf(msg, sizeof msg, "no such endpoint: %.100s", tx->path);
    __cs_rh_answer(conn, 404, msg, has_body);
    return 1;
  }
  cors_origin(c, h->origin, tx);
  int is_options = h->method.n == 7 && !memcmp(h->method.p, "OPTIONS", 7);
  if (is_options && c->o.n_cors_origins) {
    /* A preflight: 204, with the CORS headers only for an allowed origin
     * (the browser then refuses the POST by itself). */
    tx->preflight = 1;
    tx->rs.status = 204;
    if (has_body)
      conn->close_after = 1;
    __cs_rh_send(conn);
    return 1;
  }
  if (h->method.n != 4 || memcmp(h->method.p, "POST", 4)) {
    snprintf(msg, sizeof msg, "method not allowed: %.*s (use POST)",
             (int)(h->method.n > 40 ? 40 : h->method.n), h->method.p);
    __cs_rh_answer(conn, 405, msg, has_body);
    return 1;
  }
  media_type(h->content_type, tx->ctype, sizeof tx->ctype);
  cs_http_slice enc = h->content_encoding;
  if (enc.n == 4 && !strncasecmp(enc.p, "gzip", 4)) {
    tx->gzip = 1;
  } else if (enc.n && !(enc.n == 8 && !strncasecmp(enc.p, "identity", 8))) {
    snprintf(msg, sizeof msg, "unsupported content encoding: %.*s (gzip or identity)",
             (int)(enc.n > 60 ? 60 : enc.n), enc.p);
    __cs_rh_answer(conn, 415, msg, has_body);
    return 1;
  }
  if (tx->cl_left > c->o.http_max_body) {
    snprintf(msg, sizeof msg, "body of %llu bytes over the limit of %zu",
             (unsigned long long)tx->cl_left, c->o.http_max_body);
    __cs_rh_answer(conn, 413, msg, 1);
    return 1;
  }
  if (tx->cl_left && budget_take(c, tx, (size_t)tx->cl_left)) {
    /* Too many bodies in flight at once: come back later. */
    __cs_recv_warn(c, "%s request refused: body budget of %zu bytes in use", s->name,
                   c->o.max_conn_buffer_bytes);
    __cs_rh_answer(conn, 429, "too many request bodies in flight, retry later", 1);
    return 1;
  }
  if (tx->chunked)
    cs_http_chunked_init(&tx->ch);
  if (h->expect_continue && has_body) {
    static char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    uv_buf_t b = uv_buf_init(cont, sizeof cont - 1);
    uv_try_write((uv_stream_t *)&conn->h, &b, 1); /* 25 bytes into an empty socket buffer */
  }
  return 0;
}

/* Appends body bytes under the body cap and the shared budget. */
static int body_sink(void *ud, const uint8_t *p, size_t n) {
  rh_conn *conn = ud;
  rh_txn *tx = conn->tx;
  cs_collector *c = conn->s->c;
  if (!n)
    return 0;
  if (n > c->o.http_max_body - tx->len) {
    /* A chunked body (no Content-Length to refuse up front) crossed the
     * cap: answered 413 at once; the lingering close then reads and drops
     * what the client still sends, so it gets to read the answer. */
    __cs_recv_warn(c, "%s request body over %zu bytes", conn->s->name, c->o.http_max_body);
    tx->too_large = 1;
    return 1;
  }
  if (tx->len + n > tx->reserved && budget_take(c, tx, tx->len + n - tx->reserved)) {
    tx->over_budget = 1;
    return 1;
  }
  if (tx->len + n > tx->cap) {
    size_t cap = tx->cap ? tx->cap * 2 : 65536;
    while (cap < tx->len + n)
      cap *= 2;
    if (cap > c->o.http_max_body)
      cap = c->o.http_max_body;
    uint8_t *nb = realloc(tx->body, cap);
    if (!nb) {
      tx->over_budget = 1;
      return 1;
    }
    tx->body = nb;
    tx->cap = cap;
  }
  memcpy(tx->body + tx->len, p, n);
  tx->len += n;
  return 0;
}

/* Feeds buffered bytes to the body. Returns 1 when it is complete, 0 when
 * more is needed, -1 when the request was answered (and is closing). */
int __cs_rh_body_feed(rh_conn *conn) {
  rh_txn *tx = conn->tx;
  size_t used = 0;
  int rc;
  if (tx->chunked) {
    rc = cs_http_chunked_feed(&tx->ch, conn->in, conn->in_len, &used, body_sink, conn);
  } else {
    used = conn->in_len < tx->cl_left ? conn->in_len : (size_t)tx->cl_left;
    rc = body_sink(conn, conn->in, used) ? -2 : 0;
    tx->cl_left -= used;
    if (rc == 0 && tx->cl_left == 0)
      rc = 1;
  }
  memmove(conn->in, conn->in + used, conn->in_len - used);
  conn->in_len -= used;
  if (rc == -1) {
    __cs_rh_answer(conn, 400, tx->ch.err, 1);
    return -1;
  }
  if (rc == -2 && tx->too_large) {
    char msg[96];
    snprintf(msg, sizeof msg, "body over the limit of %zu bytes", conn->s->c->o.http_max_body);
    __cs_rh_answer(conn, 413, msg, 1);
    return -1;
  }
  if (rc == -2) {
    __cs_recv_warn(conn->s->c, "%s request refused: body budget of %zu bytes in use", conn->s->name,
                   conn->s->c->o.max_conn_buffer_bytes);
    __cs_rh_answer(conn, 429, "too many request bodies in flight, retry later", 1);
    return -1;
  }
  return rc;
}

/* On a worker: inflate, decode, queue and wait for the store. */
void __cs_rh_finish(cs_rh_server *s, rh_txn *tx) {
  cs_collector *c = s->c;
  cs_rh_resp *rs = &tx->rs;
  const uint8_t *body = tx->body ? tx->body : (const uint8_t *)"";
  size_t len = tx->len;
  uint8_t *inflated = NULL;
  int slot = 1;
  cs_rh_req rq = {.path = tx->path, .content_type = tx->ctype, .slot_held = &slot};
  slot_take(c);
  if (tx->gzip) {
    size_t ilen = 0;
    int status = cs_inflate_capped(body, len, c->o.http_max_inflated, &inflated, &ilen);
    if (status) {
      char msg[128];
      if (status == 413)
        snprintf(msg, sizeof msg, "gzip body inflates past the limit of %zu bytes",
                 c->o.http_max_inflated);
      else if (status == 400)
        snprintf(msg, sizeof msg, "body is not valid gzip (sent with Content-Encoding: gzip)");
      else
        snprintf(msg, sizeof msg, "out of memory inflating the gzip body, retry later");
      __cs_rh_text(rs, status, "%s", msg);
      if (s->kind == 0)
        status_body(rs, tx->ctype, msg); /* OTLP: a Status, as for any error */
      if (status == 503)
        rs->retry_after_s = 5;
      __cs_recv_warn(c, "%s request rejected: %s", s->name,
                     status == 413 ? "gzip body over the inflate cap" : "corrupt gzip body");
      __cs_rh_slot_release(c, &rq);
      return;
    }
    body = inflated;
    len = ilen;
  }
  rq.body = body;
  rq.len = len;
  s->handler(c, &rq, rs);
  __cs_rh_slot_release(c, &rq);
  free(inflated);
  if (!rs->status)
    __cs_rh_text(rs, 503, "%s", "out of memory");
}
