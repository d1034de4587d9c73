/* HTTP plumbing of the OTLP/HTTP and Zipkin receivers over libmicrohttpd
 * (see recv_http.h): body caps enforced while receiving, gzip inflated
 * under its own cap, a deadline per request body against slow senders, an
 * idle timeout and a connection limit, and a 2xx only once the store has
 * the data. */
#include "recv_http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inflate.h"
#include "log.h"
#include "recv_int.h"

struct cs_rh_server {
  cs_collector *c;
  struct MHD_Daemon *d;
  char name[16];
  int kind; /* 0 OTLP/HTTP, 1 Zipkin: selects the stats */
  cs_rh_handler handler;
};

/* Per-request state, from the first call of the access handler until
 * MHD reports the request complete. */
typedef struct rh_state {
  uint64_t start_ms;
  uint8_t *body;
  size_t len, cap;
  int gzip;
  int answered; /* a response was queued early: discard the rest */
  int too_large; /* a chunked body crossed the cap: discard, then 413 */
  size_t reserved; /* bytes held in the receivers' body budget */
  char ctype[64];
  /* CORS (--cors-origin): the Access-Control-Allow-Origin value for this
   * request's Origin, empty when CORS is off or the origin not allowed. */
  char allow_origin[256];
  int preflight; /* an OPTIONS preflight being answered */
} rh_state;

/* Stats of one receiver kind. */
#define RH_STAT(s, field) \
  ((s)->kind == 0 ? &(s)->c->st.otlp_http_##field : &(s)->c->st.zipkin_##field)
#define RH_ADD(s, field) atomic_fetch_add_explicit(RH_STAT(s, field), 1, memory_order_relaxed)

void __cs_recv_warn(cs_collector *c, const char *fmt, ...) {
  if (CS_LOG_WARN < cs_log_min_level || !c->recv) return;
  /* A shared per-second budget, refilled by the statsd flush timer or,
   * without it, by wall-clock seconds. */
  uint64_t sec = __cs_now_ms() / 1000;
  uint64_t was = atomic_load_explicit(&c->recv->warn_sec, memory_order_relaxed);
  if (was != sec && atomic_compare_exchange_strong(&c->recv->warn_sec, &was, sec))
    atomic_store(&c->recv->warn_left, 20);
  if (atomic_fetch_sub(&c->recv->warn_left, 1) <= 0) return;
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
  if (!b) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(b, 511, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > 510) n = 510;
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
  if (atomic_load(&c->recv->stopping) || !__cs_admit(c, 1)) {
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
    if (pthread_cond_timedwait(&w->cv, &w->mu, &ts)) break;
  int rc = !w->done || w->failed ? CS_RH_FAILED : CS_RH_DURABLE;
  wait_unref(w);
  return rc;
}

/* ---- aggregate memory: body budget and decode slots ---- */

/* Takes n more bytes from the budget shared by every request being read
 * (the collector's max_conn_buffer_bytes, as for TCP). */
static int budget_take(cs_collector *c, rh_state *st, size_t n) {
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
  while (r->slots_busy >= CS_RH_DECODE_SLOTS) pthread_cond_wait(&r->slot_cv, &r->slot_mu);
  r->slots_busy++;
  pthread_mutex_unlock(&r->slot_mu);
}

void __cs_rh_slot_release(cs_collector *c, const cs_rh_req *rq) {
  if (!rq->slot_held || !*rq->slot_held) return;
  *rq->slot_held = 0;
  cs_recv *r = c->recv;
  pthread_mutex_lock(&r->slot_mu);
  r->slots_busy--;
  pthread_cond_signal(&r->slot_cv);
  pthread_mutex_unlock(&r->slot_mu);
}

/* ---- libmicrohttpd ---- */

/* Browser exporters (OTel JS web, zipkin-js) need CORS: an allowed Origin
 * is echoed back ("*" when the wildcard is configured), as the OTel
 * Collector's confighttp does; without --cors-origin nothing is added. */
static void cors_origin(const cs_collector *c, const char *origin, rh_state *st) {
  st->allow_origin[0] = '\0';
  if (!origin || !*origin || strlen(origin) >= sizeof st->allow_origin) return;
  for (size_t i = 0; i < c->o.n_cors_origins; i++) {
    const char *o = c->o.cors_origins[i];
    if (!strcmp(o, "*")) {
      snprintf(st->allow_origin, sizeof st->allow_origin, "*");
      return;
    }
    if (!strcasecmp(o, origin)) {
      snprintf(st->allow_origin, sizeof st->allow_origin, "%s", origin);
      return;
    }
  }
}

static void cors_headers(struct MHD_Response *r, const rh_state *st) {
  if (!st || !st->allow_origin[0]) return;
  MHD_add_response_header(r, "Access-Control-Allow-Origin", st->allow_origin);
  if (strcmp(st->allow_origin, "*")) MHD_add_response_header(r, "Vary", "Origin");
  if (st->preflight) {
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            "Content-Type, Content-Encoding, X-Requested-With");
    MHD_add_response_header(r, "Access-Control-Max-Age", "7200");
  }
}

static enum MHD_Result respond(struct MHD_Connection *conn, cs_rh_resp *rs, const rh_state *st) {
  struct MHD_Response *r;
  if (rs->body)
    r = MHD_create_response_from_buffer(rs->len, rs->body, MHD_RESPMEM_MUST_FREE);
  else
    r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!r) {
    free(rs->body);
    rs->body = NULL;
    return MHD_NO;
  }
  rs->body = NULL; /* owned by the response now */
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          rs->content_type ? rs->content_type : "text/plain; charset=utf-8");
  if (rs->retry_after_s > 0) {
    char v[16];
    snprintf(v, sizeof v, "%d", rs->retry_after_s);
    MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
  }
  if (rs->status == MHD_HTTP_METHOD_NOT_ALLOWED) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
  cors_headers(r, st);
  enum MHD_Result ok = MHD_queue_response(conn, (unsigned)rs->status, r);
  MHD_destroy_response(r);
  return ok;
}

static void count_status(cs_rh_server *s, int status) {
  switch (status) {
  case 400: RH_ADD(s, bad_requests); break;
  case 408: RH_ADD(s, timeouts); break;
  case 413: RH_ADD(s, too_large); break;
  case 404:
  case 405:
  case 415:
  case 501: RH_ADD(s, unsupported); break;
  case 429:
  case 503: RH_ADD(s, throttled); break;
  default: break;
  }
}

/* Queues an error answer before the body was read; MHD then discards the
 * rest of the body and closes the connection. */
/* OTLP/HTTP answers errors with a google.rpc.Status in the request's
 * encoding when that encoding is known (code 3 INVALID_ARGUMENT for 4xx,
 * message as given). */
static int status_body(cs_rh_resp *rs, const char *ctype, const char *msg) {
  size_t n = strlen(msg) > 300 ? 300 : strlen(msg);
  char *b = malloc(n * 6 + 64);
  if (!b) return -1;
  size_t o = 0;
  if (!strcmp(ctype, "application/json")) {
    o = (size_t)snprintf(b, 64, "{\"code\":3,\"message\":\"");
    for (size_t i = 0; i < n; i++) {
      unsigned char ch = (unsigned char)msg[i];
      if (ch == '"' || ch == '\\') b[o++] = '\\', b[o++] = (char)ch;
      else if (ch < 0x20) o += (size_t)snprintf(b + o, 7, "\\u%04x", ch);
      else b[o++] = (char)ch;
    }
    b[o++] = '"';
    b[o++] = '}';
    rs->content_type = "application/json";
  } else if (!strcmp(ctype, "application/x-protobuf") || !strcmp(ctype, "application/protobuf")) {
    b[o++] = 0x08; /* code */
    b[o++] = 3;
    b[o++] = 0x12; /* message */
    size_t v = n;
    while (v >= 0x80) b[o++] = (char)(v | 0x80), v >>= 7;
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

static enum MHD_Result early(cs_rh_server *s, struct MHD_Connection *conn, rh_state *st,
                             int status, const char *msg) {
  cs_rh_resp rs = {0};
  __cs_rh_text(&rs, status, "%s", msg);
  if (s->kind == 0) status_body(&rs, st->ctype, msg);
  count_status(s, status);
  st->answered = 1;
  return respond(conn, &rs, st);
}

static enum MHD_Result early_busy(cs_rh_server *s, struct MHD_Connection *conn, rh_state *st) {
  cs_rh_resp rs = {0};
  const char *msg = "too many request bodies in flight, retry later";
  __cs_rh_text(&rs, 429, "%s", msg);
  if (s->kind == 0) status_body(&rs, st->ctype, msg);
  rs.retry_after_s = 1;
  count_status(s, 429);
  st->answered = 1;
  __cs_recv_warn(s->c, "%s request refused: body budget of %zu bytes in use", s->name,
                 s->c->o.max_conn_buffer_bytes);
  return respond(conn, &rs, st);
}

static int path_known(const cs_rh_server *s, const char *url) {
  if (s->kind == 0) return !strcmp(url, "/v1/traces") || !strcmp(url, "/v1/metrics");
  return !strcmp(url, "/api/v2/spans");
}

static void media_type(const char *h, char *out, size_t cap) {
  size_t i = 0;
  if (h)
    for (; *h == ' '; h++) {
    }
  for (; h && *h && *h != ';' && *h != ' ' && i + 1 < cap; h++)
    out[i++] = (char)tolower((unsigned char)*h);
  out[i] = '\0';
}

static enum MHD_Result finish_request(cs_rh_server *s, struct MHD_Connection *conn, rh_state *st,
                                      const char *url) {
  cs_collector *c = s->c;
  cs_rh_resp rs = {0};
  const uint8_t *body = st->body ? st->body : (const uint8_t *)"";
  size_t len = st->len;
  uint8_t *inflated = NULL;
  int slot = 1;
  cs_rh_req rq = {.path = url, .content_type = st->ctype, .slot_held = &slot};
  slot_take(c);
  if (st->gzip) {
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
      __cs_rh_text(&rs, status, "%s", msg);
      if (s->kind == 0) status_body(&rs, st->ctype, msg); /* OTLP: a Status, as for any error */
      if (status == 503) rs.retry_after_s = 5;
      __cs_recv_warn(c, "%s request rejected: %s", s->name,
                     status == 413 ? "gzip body over the inflate cap" : "corrupt gzip body");
      count_status(s, status);
      __cs_rh_slot_release(c, &rq);
      return respond(conn, &rs, st);
    }
    body = inflated;
    len = ilen;
  }
  rq.body = body;
  rq.len = len;
  s->handler(c, &rq, &rs);
  __cs_rh_slot_release(c, &rq);
  free(inflated);
  count_status(s, rs.status);
  return respond(conn, &rs, st);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size, void **con_cls) {
  cs_rh_server *s = cls;
  cs_collector *c = s->c;
  rh_state *st = *con_cls;
  (void)version;
  if (!st) {
    st = calloc(1, sizeof *st);
    if (!st) return MHD_NO;
    *con_cls = st;
    st->start_ms = __cs_now_ms();
    RH_ADD(s, requests);
    char msg[160];
    if (!path_known(s, url)) {
      snprintf(msg, sizeof msg, "no such endpoint: %.100s", url);
      return early(s, conn, st, 404, msg);
    }
    cors_origin(c, MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin"), st);
    if (!strcmp(method, "OPTIONS") && c->o.n_cors_origins) {
      /* A preflight: 204, with the CORS headers only for an allowed
       * origin (the browser then refuses the POST by itself). */
      cs_rh_resp rs = {.status = 204};
      st->preflight = 1;
      st->answered = 1;
      return respond(conn, &rs, st);
    }
    if (strcmp(method, "POST")) {
      snprintf(msg, sizeof msg, "method not allowed: %.40s (use POST)", method);
      return early(s, conn, st, 405, msg);
    }
    media_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type"), st->ctype,
               sizeof st->ctype);
    const char *enc = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Encoding");
    if (enc && *enc && !strcasecmp(enc, "gzip")) st->gzip = 1;
    else if (enc && *enc && strcasecmp(enc, "identity")) {
      snprintf(msg, sizeof msg, "unsupported content encoding: %.60s (gzip or identity)", enc);
      return early(s, conn, st, 415, msg);
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
      char *end;
      unsigned long long v = strtoull(cl, &end, 10);
      if (end != cl && v > c->o.http_max_body) {
        snprintf(msg, sizeof msg, "body of %llu bytes over the limit of %zu", v, c->o.http_max_body);
        return early(s, conn, st, 413, msg);
      }
      if (end != cl && v && budget_take(c, st, (size_t)v)) {
        /* Too many bodies in flight at once: come back later. */
        return early_busy(s, conn, st);
      }
    }
    return MHD_YES;
  }
  if (st->answered) { /* early answer queued: drop whatever still arrives */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size) {
    size_t n = *upload_data_size;
    *upload_data_size = 0;
    if (__cs_now_ms() - st->start_ms > (uint64_t)c->o.http_request_timeout_s * 1000) {
      __cs_recv_warn(c, "%s request body too slow: %zu bytes in %us", s->name, st->len,
                     c->o.http_request_timeout_s);
      RH_ADD(s, timeouts);
      return MHD_NO; /* closes the connection */
    }
    if (st->too_large) return MHD_YES; /* discarding, bounded by the deadline above */
    if (n > c->o.http_max_body - st->len) {
      /* A chunked body (no Content-Length to refuse up front) crossed the
       * cap. MHD cannot queue an answer mid-body (it would just close: the
       * client sees an empty reply), so drop the body we have, discard the
       * rest as it arrives and answer 413 once it is complete. */
      __cs_recv_warn(c, "%s request body over %zu bytes", s->name, c->o.http_max_body);
      st->too_large = 1;
      free(st->body);
      st->body = NULL;
      st->len = st->cap = 0;
      return MHD_YES;
    }
    if (st->len + n > st->reserved && budget_take(c, st, st->len + n - st->reserved))
      return early_busy(s, conn, st); /* chunked, or more than announced */
    if (st->len + n > st->cap) {
      size_t cap = st->cap ? st->cap * 2 : 65536;
      while (cap < st->len + n) cap *= 2;
      if (cap > c->o.http_max_body) cap = c->o.http_max_body;
      uint8_t *nb = realloc(st->body, cap);
      if (!nb) return MHD_NO;
      st->body = nb;
      st->cap = cap;
    }
    memcpy(st->body + st->len, upload_data, n);
    st->len += n;
    return MHD_YES;
  }
  if (st->too_large) {
    char msg[96];
    snprintf(msg, sizeof msg, "body over the limit of %zu bytes", c->o.http_max_body);
    return early(s, conn, st, 413, msg);
  }
  return finish_request(s, conn, st, url);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  (void)conn, (void)toe;
  rh_state *st = *con_cls;
  if (!st) return;
  cs_rh_server *s = cls;
  if (st->reserved) atomic_fetch_sub(&s->c->recv->body_bytes, st->reserved);
  free(st->body);
  free(st);
  *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  cs_rh_server *s = cls;
  char msg[256];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
  cs_log(CS_LOG_DEBUG, "collector", "%s http: %s", s->name, msg);
}

int __cs_rh_start(cs_collector *c, const char *name, int port, cs_rh_handler h, cs_rh_server **out,
                  int *bound) {
  *out = NULL;
  *bound = 0;
  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof sa);
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                   MHD_USE_ERROR_LOG | MHD_USE_POLL;
  struct sockaddr_in *s4 = (struct sockaddr_in *)&sa;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&sa;
  if (inet_pton(AF_INET, c->listen_addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
  } else if (inet_pton(AF_INET6, c->listen_addr, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((uint16_t)port);
    flags |= MHD_USE_IPv6;
  } else {
    cs_log(CS_LOG_ERROR, "collector", "bad listen address: %s", c->listen_addr);
    return UV_EINVAL;
  }
  cs_rh_server *s = calloc(1, sizeof *s);
  if (!s) return UV_ENOMEM;
  s->c = c;
  snprintf(s->name, sizeof s->name, "%s", name);
  s->kind = strcmp(name, "otlp-http") ? 1 : 0;
  s->handler = h;
  s->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access, s,
                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                          MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->o.http_max_conns,
                          MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->o.http_idle_timeout_s,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64u << 10),
                          MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                          MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                          MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1u << 20), MHD_OPTION_END);
  if (!s->d) {
    free(s);
    return UV_EADDRINUSE;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  *bound = info ? info->port : port;
  *out = s;
  cs_log(CS_LOG_INFO, "collector", "listening %s %s:%d", name, c->listen_addr, *bound);
  return 0;
}

void __cs_rh_stop(cs_rh_server *s) {
  if (!s) return;
  MHD_stop_daemon(s->d);
  free(s);
}
