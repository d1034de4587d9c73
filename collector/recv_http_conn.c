/* The HTTP/1.1 server of the OTLP/HTTP and Zipkin receivers, connection by
 * connection (requests are recv_http.c). Each receiver has a libuv loop on
 * a thread of its own for its connections, framing requests with
 * http_parse.c, and up to RH_MAX_WORKERS worker threads that decode complete
 * bodies and wait for the store. Against hostile peers: caps in total and
 * per source address where a newcomer displaces the connection idle or stuck
 * in a request longest (connpool.c); deadlines for a whole head and a whole
 * body, not per byte; requests on one connection answered in order; errors
 * answered, then a lingering close so the peer reads the answer. */
#include "recv_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static const char *reason(int status) {
  switch (status) {
  case 200: return "OK";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return status < 300 ? "OK" : status < 500 ? "Bad Request" : "Internal Server Error";
  }
}

typedef struct rh_write {
  uv_write_t req;
  rh_conn *conn;
  char *head;
  char *body;
} rh_write;

static void maybe_finish(cs_rh_server *s);
static void linger(rh_conn *conn);
static void process(rh_conn *conn);
static void read_on(rh_conn *conn);

static void on_written(uv_write_t *req, int status) {
  rh_write *w = (rh_write *)req;
  rh_conn *conn = w->conn;
  free(w->head);
  free(w->body);
  free(w);
  if (conn->closing)
    return;
  cs_rh_server *s = conn->s;
  __cs_rh_txn_free(s->c, conn->tx);
  conn->tx = NULL;
  if (status < 0) {
    __cs_rh_conn_close(conn);
    return;
  }
  if (s->stopping) {
    __cs_rh_conn_close(conn);
    maybe_finish(s);
    return;
  }
  if (conn->close_after) {
    linger(conn);
    return;
  }
  /* Ready for the next request, which may already be buffered. */
  conn->state = RC_IDLE;
  conn->pe.busy = 0;
  conn->pe.since_ms = __cs_now_ms();
  conn->last_rx_ms = conn->pe.since_ms;
  memset(&conn->scan, 0, sizeof conn->scan);
  process(conn);
  if (!conn->closing &&
      (conn->state == RC_IDLE || conn->state == RC_HEAD || conn->state == RC_BODY))
    read_on(conn);
}

/* Writes the answer in conn->tx->rs (its body taken over). */
void __cs_rh_send(rh_conn *conn) {
  rh_txn *tx = conn->tx;
  cs_rh_resp *rs = &tx->rs;
  if (!tx->keep_alive)
    conn->close_after = 1;
  char date[64] = "";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm))
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  char *h = malloc(1024);
  rh_write *w = calloc(1, sizeof *w);
  if (!h || !w) {
    free(h);
    free(w);
    __cs_rh_conn_close(conn);
    return;
  }
  int n = snprintf(h, 1024, "HTTP/1.1 %d %s\r\nDate: %s\r\n", rs->status, reason(rs->status), date);
  if (rs->status != 204)
    n += snprintf(h + n, (size_t)(1024 - n), "Content-Type: %s\r\nContent-Length: %zu\r\n",
                  rs->content_type ? rs->content_type : "text/plain; charset=utf-8", rs->len);
  if (rs->retry_after_s > 0)
    n += snprintf(h + n, (size_t)(1024 - n), "Retry-After: %d\r\n", rs->retry_after_s);
  if (rs->status == 405)
    n += snprintf(h + n, (size_t)(1024 - n), "Allow: POST\r\n");
  if (tx->allow_origin[0]) {
    n += snprintf(h + n, (size_t)(1024 - n), "Access-Control-Allow-Origin: %s\r\n",
                  tx->allow_origin);
    if (strcmp(tx->allow_origin, "*"))
      n += snprintf(h + n, (size_t)(1024 - n), "Vary: Origin\r\n");
    if (tx->preflight)
      n += snprintf(h + n, (size_t)(1024 - n),
                    "Access-Control-Allow-Methods: POST, OPTIONS\r\n"
                    "Access-Control-Allow-Headers: Content-Type, Content-Encoding, "
                    "X-Requested-With\r\nAccess-Control-Max-Age: 7200\r\n");
  }
  if (conn->close_after || conn->s->stopping)
    n += snprintf(h + n, (size_t)(1024 - n), "Connection: close\r\n");
  n += snprintf(h + n, (size_t)(1024 - n), "\r\n");
  if (n >= 1024)
    n = 1023; /* cannot happen: the values above are bounded */
  w->conn = conn;
  w->head = h;
  w->body = rs->body;
  uv_buf_t b[2] = {uv_buf_init(h, (unsigned)n), uv_buf_init(rs->body ? rs->body : (char *)"", 0)};
  if (rs->body && !tx->head_only && rs->status != 204)
    b[1].len = rs->len;
  rs->body = NULL;
  conn->state = RC_WRITING;
  conn->pe.busy = 1;
  conn->deadline_ms = __cs_now_ms() + 1000u * (conn->s->c->o.http_idle_timeout_s + 10);
  if (uv_write(&w->req, (uv_stream_t *)&conn->h, b, b[1].len ? 2 : 1, on_written)) {
    free(w->head);
    free(w->body);
    free(w);
    __cs_rh_conn_close(conn);
  }
}

/* Appends to the worker queue or the done list (under s->mu). */
static void q_push(rh_conn **head, rh_conn **tail, rh_conn *conn) {
  conn->qnext = NULL;
  if (*tail)
    (*tail)->qnext = conn;
  else
    *head = conn;
  *tail = conn;
}

static void *worker_main(void *arg) {
  cs_rh_server *s = arg;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (!s->jobs && !s->workers_exit) {
      s->idle_workers++;
      pthread_cond_wait(&s->cv, &s->mu);
      s->idle_workers--;
    }
    if (!s->jobs)
      break;
    rh_conn *conn = s->jobs;
    s->jobs = conn->qnext;
    if (!s->jobs)
      s->jobs_tail = NULL;
    pthread_mutex_unlock(&s->mu);
    __cs_rh_finish(s, conn->tx);
    pthread_mutex_lock(&s->mu);
    q_push(&s->done, &s->done_tail, conn);
    uv_async_send(&s->wake);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

/* The body is complete: hands the request to a worker. */
static void dispatch(rh_conn *conn) {
  cs_rh_server *s = conn->s;
  conn->state = RC_BUSY;
  conn->pe.busy = 1;
  s->busy++;
  if (conn->reading) {
    uv_read_stop((uv_stream_t *)&conn->h); /* pipelined requests wait in the socket */
    conn->reading = 0;
  }
  pthread_mutex_lock(&s->mu);
  q_push(&s->jobs, &s->jobs_tail, conn);
  if (s->idle_workers == 0 && s->n_workers < RH_MAX_WORKERS) {
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstacksize(&a, (size_t)1 << 20);
    if (pthread_create(&s->workers[s->n_workers], &a, worker_main, s) == 0)
      s->n_workers++;
    pthread_attr_destroy(&a);
  }
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* ---- connections (loop thread) ---- */

static void on_conn_closed(uv_handle_t *h) {
  rh_conn *conn = (rh_conn *)h;
  free(conn->in);
  free(conn);
}

void __cs_rh_conn_close(rh_conn *conn) {
  if (conn->closing)
    return;
  cs_rh_server *s = conn->s;
  conn->closing = 1;
  cs_connpool_remove(&s->pool, &conn->pe);
  STAT_ADD(s->c, http_conns_open, -1);
  __cs_rh_txn_free(s->c, conn->tx);
  conn->tx = NULL;
  uv_close((uv_handle_t *)&conn->h, on_conn_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  (void)status;
  free(req);
}

/* After a closing answer: FIN once it is written, then read and drop what
 * the peer still sends for a moment, so its kernel does not see a reset
 * (which could destroy the answer before it is read). */
static void linger(rh_conn *conn) {
  conn->state = RC_LINGER;
  conn->pe.busy = 0;
  conn->pe.since_ms = 0; /* the first to go when room is needed */
  conn->deadline_ms = __cs_now_ms() + RH_LINGER_MS;
  conn->in_len = 0;
  uv_shutdown_t *req = malloc(sizeof *req);
  if (!req || uv_shutdown(req, (uv_stream_t *)&conn->h, on_shutdown)) {
    free(req);
    __cs_rh_conn_close(conn);
    return;
  }
  read_on(conn);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  rh_conn *conn = (rh_conn *)h;
  (void)suggested;
  /* One buffer per receiver: the read callback consumes it at once. */
  *buf = uv_buf_init((char *)conn->s->rbuf, RH_READ_BUF);
}

static int in_append(rh_conn *conn, const char *p, size_t n) {
  if (conn->in_len + n > conn->in_cap) {
    size_t cap = conn->in_cap ? conn->in_cap : 4096;
    while (cap < conn->in_len + n)
      cap *= 2;
    uint8_t *nb = realloc(conn->in, cap);
    if (!nb)
      return -1;
    conn->in = nb;
    conn->in_cap = cap;
  }
  memcpy(conn->in + conn->in_len, p, n);
  conn->in_len += n;
  return 0;
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf) {
  rh_conn *conn = (rh_conn *)st;
  if (conn->closing || nread == 0)
    return;
  if (nread < 0) {
    if (conn->state == RC_WRITING) { /* a half-close after the request: still answer */
      uv_read_stop(st);
      conn->reading = 0;
      conn->close_after = 1;
    } else {
      __cs_rh_conn_close(conn);
    }
    return;
  }
  if (conn->state == RC_LINGER)
    return;
  conn->last_rx_ms = __cs_now_ms();
  if (in_append(conn, buf->base, (size_t)nread)) {
    __cs_rh_conn_close(conn);
    return;
  }
  process(conn);
  /* Pipelined bytes beyond one head's worth wait in the socket until the
   * request before them is answered. */
  if (!conn->closing && conn->reading && (conn->state == RC_BUSY || conn->state == RC_WRITING) &&
      conn->in_len > conn->s->lim.max_head) {
    uv_read_stop(st);
    conn->reading = 0;
  }
}

static void read_on(rh_conn *conn) {
  if (conn->reading || conn->closing)
    return;
  if (uv_read_start((uv_stream_t *)&conn->h, on_alloc, on_read) == 0)
    conn->reading = 1;
}

/* Moves a connection's buffered bytes through heads and bodies as far as
 * they go. */
static void process(rh_conn *conn) {
  cs_rh_server *s = conn->s;
  cs_collector *c = s->c;
  while (!conn->closing) {
    if (conn->state == RC_IDLE) {
      size_t k = cs_http_skip_empty_lines((const char *)conn->in, conn->in_len);
      memmove(conn->in, conn->in + k, conn->in_len - k);
      conn->in_len -= k;
      if (!conn->in_len)
        return;
      uint64_t now = __cs_now_ms();
      conn->state = RC_HEAD;
      conn->pe.since_ms = now;
      conn->deadline_ms = now + 1000u * (uint64_t)c->o.http_head_timeout_s;
      memset(&conn->scan, 0, sizeof conn->scan);
    }
    if (conn->state == RC_HEAD) {
      long e = cs_http_head_end((const char *)conn->in, conn->in_len, &conn->scan, &s->lim);
      if (e == 0)
        return;
      if (e < 0) {
        char msg[96];
        if (e == -414)
          snprintf(msg, sizeof msg, "request line over %zu bytes", s->lim.max_line);
        else
          snprintf(msg, sizeof msg, "request head over %zu bytes", s->lim.max_head);
        __cs_rh_head_error(conn, (int)-e, msg);
        return;
      }
      cs_http_req h;
      int st = cs_http_parse_head((const char *)conn->in, (size_t)e, &s->lim, &h);
      if (st) {
        __cs_rh_head_error(conn, st, h.err);
        return;
      }
      int answered = __cs_rh_begin(conn, &h);
      memmove(conn->in, conn->in + e, conn->in_len - (size_t)e);
      conn->in_len -= (size_t)e;
      if (answered)
        return;
      conn->state = RC_BODY;
      conn->deadline_ms = __cs_now_ms() + 1000u * (uint64_t)c->o.http_request_timeout_s;
    }
    if (conn->state == RC_BODY) {
      int rc = __cs_rh_body_feed(conn);
      if (rc <= 0)
        return;
      dispatch(conn);
    }
    return;
  }
}

/* The connection quiet or stuck longest makes room for a newcomer. */
static int make_room(cs_rh_server *s, const uint8_t addr[16]) {
  cs_pool_conn *victim;
  int rc = cs_connpool_admit(&s->pool, addr, &victim);
  if (rc == CS_POOL_ROOM)
    return 0;
  if (rc == CS_POOL_EVICT || rc == CS_POOL_EVICT_SOURCE) {
    rh_conn *v = CONN_OF(victim);
    static const char *const what[] = {"idle", "reading a head", "reading a body"};
    __cs_recv_warn(s->c, "%s closing a connection %s for %llu ms to make room (%s cap %u)", s->name,
                   v->state <= RC_BODY ? what[v->state] : "closing",
                   (unsigned long long)(__cs_now_ms() - v->pe.since_ms),
                   rc == CS_POOL_EVICT ? "connection" : "per-address",
                   rc == CS_POOL_EVICT ? s->pool.max_total : s->pool.max_per_source);
    STAT_ADD(s->c, http_conns_evicted, 1);
    __cs_rh_conn_close(v);
    return 0;
  }
  STAT_ADD(s->c, http_conns_rejected, 1);
  __cs_recv_warn(s->c, "%s refusing a connection: %s cap reached, every connection busy", s->name,
                 rc == CS_POOL_FULL ? "connection" : "per-address");
  return -1;
}

static void on_reject_closed(uv_handle_t *h) {
  free(h);
}

static void on_connection(uv_stream_t *server, int status) {
  cs_rh_server *s = server->data;
  if (status < 0)
    return;
  rh_conn *conn = calloc(1, sizeof *conn);
  if (!conn || s->stopping) {
    free(conn);
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t)
      return;
    uv_tcp_init(&s->loop, t);
    uv_accept(server, (uv_stream_t *)t);
    uv_close((uv_handle_t *)t, on_reject_closed);
    return;
  }
  conn->s = s;
  uv_tcp_init(&s->loop, &conn->h);
  if (uv_accept(server, (uv_stream_t *)&conn->h)) {
    conn->closing = 1;
    uv_close((uv_handle_t *)&conn->h, on_conn_closed);
    return;
  }
  struct sockaddr_storage sa;
  int salen = sizeof sa;
  memset(&sa, 0, sizeof sa);
  uv_tcp_getpeername(&conn->h, (struct sockaddr *)&sa, &salen);
  cs_pool_addr(conn->pe.addr, (struct sockaddr *)&sa);
  if (make_room(s, conn->pe.addr)) {
    conn->closing = 1;
    uv_close((uv_handle_t *)&conn->h, on_conn_closed);
    return;
  }
  uv_tcp_nodelay(&conn->h, 1);
  conn->state = RC_IDLE;
  conn->pe.since_ms = conn->last_rx_ms = __cs_now_ms();
  cs_connpool_add(&s->pool, &conn->pe);
  STAT_ADD(s->c, http_conns_open, 1);
  read_on(conn);
}

/* Deadlines: a whole head, a whole body, silence, a peer that does not
 * read its answer, the end of a lingering close. */
static void on_tick(uv_timer_t *t) {
  cs_rh_server *s = t->data;
  cs_collector *c = s->c;
  uint64_t now = __cs_now_ms();
  uint64_t idle_ms = 1000u * (uint64_t)c->o.http_idle_timeout_s;
  cs_pool_conn *next;
  for (cs_pool_conn *e = s->pool.head; e; e = next) {
    next = e->next;
    rh_conn *conn = CONN_OF(e);
    int silent = now - conn->last_rx_ms >= idle_ms;
    switch (conn->state) {
    case RC_IDLE:
      if (silent)
        __cs_rh_conn_close(conn);
      break;
    case RC_HEAD:
    case RC_BODY:
      if (silent || now >= conn->deadline_ms) {
        const char *what = conn->state == RC_HEAD ? "head" : "body";
        unsigned limit =
            conn->state == RC_HEAD ? c->o.http_head_timeout_s : c->o.http_request_timeout_s;
        char msg[128];
        if (silent)
          snprintf(msg, sizeof msg, "request %s silent for %us", what, c->o.http_idle_timeout_s);
        else
          snprintf(msg, sizeof msg, "request %s not complete within %us", what, limit);
        __cs_recv_warn(c, "%s request too slow: %s", s->name, msg);
        if (!conn->tx)
          conn->tx = calloc(1, sizeof *conn->tx);
        if (!conn->tx)
          __cs_rh_conn_close(conn);
        else
          __cs_rh_answer(conn, 408, msg, 1);
      }
      break;
    case RC_WRITING:
    case RC_LINGER:
      if (now >= conn->deadline_ms)
        __cs_rh_conn_close(conn);
      break;
    default: break;
    }
  }
}

static void on_handle_closed(uv_handle_t *h) {
  (void)h;
}

static void maybe_finish(cs_rh_server *s) {
  if (!s->stopping || s->busy)
    return;
  cs_pool_conn *next;
  for (cs_pool_conn *e = s->pool.head; e; e = next) {
    next = e->next;
    if (CONN_OF(e)->state != RC_WRITING)
      __cs_rh_conn_close(CONN_OF(e));
  }
  if (s->pool.n)
    return; /* answers still being written */
  if (!uv_is_closing((uv_handle_t *)&s->tick))
    uv_close((uv_handle_t *)&s->tick, on_handle_closed);
  if (!uv_is_closing((uv_handle_t *)&s->wake))
    uv_close((uv_handle_t *)&s->wake, on_handle_closed);
}

/* Workers -> loop: answers ready; anyone -> loop: stop. */
static void on_wake(uv_async_t *a) {
  cs_rh_server *s = a->data;
  pthread_mutex_lock(&s->mu);
  rh_conn *done = s->done;
  s->done = s->done_tail = NULL;
  pthread_mutex_unlock(&s->mu);
  while (done) {
    rh_conn *conn = done;
    done = conn->qnext;
    s->busy--;
    __cs_rh_count_status(s, conn->tx->rs.status);
    __cs_rh_send(conn);
  }
  if (atomic_load(&s->stop_req) && !s->stopping) {
    s->stopping = 1;
    if (!uv_is_closing((uv_handle_t *)&s->lsn))
      uv_close((uv_handle_t *)&s->lsn, on_handle_closed);
  }
  maybe_finish(s);
}

static void *io_main(void *arg) {
  cs_rh_server *s = arg;
  uv_run(&s->loop, UV_RUN_DEFAULT);
  return NULL;
}

static void server_free(cs_rh_server *s) {
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->rbuf);
  free(s);
}

/* Undoes a start whose loop has its handles but no thread yet. */
static int start_failed(cs_rh_server *s, int rc) {
  uv_close((uv_handle_t *)&s->lsn, NULL);
  uv_close((uv_handle_t *)&s->tick, NULL);
  uv_close((uv_handle_t *)&s->wake, NULL);
  uv_run(&s->loop, UV_RUN_DEFAULT);
  uv_loop_close(&s->loop);
  server_free(s);
  return rc;
}

int __cs_rh_start(cs_collector *c, const char *name, int port, cs_rh_handler h, cs_rh_server **out,
                  int *bound) {
  *out = NULL;
  *bound = 0;
  struct sockaddr_storage sa;
  memset(&sa, 0, sizeof sa);
  if (uv_ip4_addr(c->listen_addr, port, (struct sockaddr_in *)&sa) &&
      uv_ip6_addr(c->listen_addr, port, (struct sockaddr_in6 *)&sa)) {
    cs_log(CS_LOG_ERROR, "collector", "bad listen address: %s", c->listen_addr);
    return UV_EINVAL;
  }
  cs_rh_server *s = calloc(1, sizeof *s);
  if (!s)
    return UV_ENOMEM;
  s->c = c;
  snprintf(s->name, sizeof s->name, "%s", name);
  s->kind = strcmp(name, "otlp-http") ? 1 : 0;
  s->handler = h;
  cs_http_limits_default(&s->lim);
  if (c->o.http_max_head)
    s->lim.max_head = c->o.http_max_head;
  if (s->lim.max_line > s->lim.max_head)
    s->lim.max_line = s->lim.max_head;
  s->pool.max_total = c->o.http_max_conns ? c->o.http_max_conns : 1;
  s->pool.max_per_source = c->o.http_max_conns_per_source;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  s->rbuf = malloc(RH_READ_BUF);
  int rc = s->rbuf ? uv_loop_init(&s->loop) : UV_ENOMEM;
  if (rc) {
    server_free(s);
    return rc;
  }
  uv_tcp_init(&s->loop, &s->lsn);
  s->lsn.data = s;
  uv_timer_init(&s->loop, &s->tick);
  s->tick.data = s;
  uv_async_init(&s->loop, &s->wake, on_wake);
  s->wake.data = s;
  if ((rc = uv_tcp_bind(&s->lsn, (struct sockaddr *)&sa, 0)) ||
      (rc = uv_listen((uv_stream_t *)&s->lsn, 511, on_connection)))
    return start_failed(s, rc);
  int salen = sizeof sa;
  uv_tcp_getsockname(&s->lsn, (struct sockaddr *)&sa, &salen);
  *bound = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                          : ((struct sockaddr_in *)&sa)->sin_port);
  uv_timer_start(&s->tick, on_tick, RH_TICK_MS, RH_TICK_MS);
  if (pthread_create(&s->io, NULL, io_main, s))
    return start_failed(s, UV_ENOMEM);
  *out = s;
  cs_log(CS_LOG_INFO, "collector", "listening %s %s:%d", name, c->listen_addr, *bound);
  return 0;
}

void __cs_rh_stop(cs_rh_server *s) {
  if (!s)
    return;
  /* The loop closes the listener and idle connections, lets requests with
   * a worker finish (the writer still runs) and their answers go out. */
  atomic_store(&s->stop_req, 1);
  uv_async_send(&s->wake);
  pthread_join(s->io, NULL);
  pthread_mutex_lock(&s->mu);
  s->workers_exit = 1;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->n_workers; i++)
    pthread_join(s->workers[i], NULL);
  uv_loop_close(&s->loop);
  server_free(s);
}
