/* TCP receiver: accepts connections under caps in total and per source
 * (connpool.c: a newcomer at a cap displaces the connection that has been
 * quiet longest), reassembles frames from
 * reads of any size (framer.c), sends acknowledgements, and closes peers
 * that break the framing, stall in the middle of a frame or stay silent.
 * A connection's memory outlives its handle while frames of it are still
 * on their way to the store, so late acknowledgements find it. */
#include <stdlib.h>
#include <string.h>

#include <stddef.h>

#include "collector_int.h"
#include "log.h"

#define CONN_OF(e) ((cs_conn *)((char *)(e)-offsetof(cs_conn, pe)))

#define READ_BUF 65536
#define MAX_WRITE_QUEUE (1u << 20) /* unread acks before we give up on a peer */

static void conn_maybe_free(cs_conn *conn) {
  if (conn->handle_closed && conn->pending == 0) {
    cs_framer_release(&conn->fr);
    free(conn);
  }
}

static void on_conn_closed(uv_handle_t *h) {
  cs_conn *conn = (cs_conn *)h;
  conn->handle_closed = 1;
  conn_maybe_free(conn);
}

void __cs_conn_close(cs_conn *conn, const char *why) {
  if (conn->closing)
    return;
  cs_collector *c = conn->c;
  conn->closing = 1;
  cs_connpool_remove(&c->tcp_pool, &conn->pe);
  STAT_SET(c, conns_open, c->tcp_pool.n);
  if (why)
    __cs_log_peer(c, CS_LOG_INFO, "closing tcp connection %s: %s", conn->peer, why);
  /* The partial frame will never complete: give its bytes back now. */
  cs_framer_release(&conn->fr);
  uv_close((uv_handle_t *)&conn->h, on_conn_closed);
}

void __cs_conn_release(cs_conn *conn) {
  conn->pending--;
  conn_maybe_free(conn);
}

typedef struct ack_write {
  uv_write_t req;
  uint8_t buf[]; /* what try_write could not send */
} ack_write;

static void on_ack_written(uv_write_t *req, int status) {
  free(req);
  (void)status; /* a failed write surfaces as a read error or EOF */
}

static void write_failed(cs_conn *conn, const char *why) {
  STAT_ADD(conn->c, conns_closed_error, 1);
  __cs_conn_close(conn, why);
}

void __cs_conn_write_acks(cs_conn *conn, const uint8_t *frames, size_t n, uint32_t n_acks) {
  cs_collector *c = conn->c;
  if (uv_stream_get_write_queue_size((uv_stream_t *)&conn->h) > MAX_WRITE_QUEUE) {
    write_failed(conn, "peer does not read its acknowledgements");
    return;
  }
  /* Usually the socket takes it all at once: no allocation, no callback. */
  uv_buf_t b = uv_buf_init((char *)frames, (unsigned)n);
  int w = uv_try_write((uv_stream_t *)&conn->h, &b, 1);
  if (w < 0 && w != UV_EAGAIN) {
    write_failed(conn, uv_strerror(w));
    return;
  }
  size_t done = w > 0 ? (size_t)w : 0;
  if (done < n) {
    ack_write *aw = malloc(sizeof *aw + (n - done));
    if (!aw) {
      write_failed(conn, "out of memory for acknowledgements");
      return;
    }
    memcpy(aw->buf, frames + done, n - done);
    b = uv_buf_init((char *)aw->buf, (unsigned)(n - done));
    if (uv_write(&aw->req, (uv_stream_t *)&conn->h, &b, 1, on_ack_written)) {
      free(aw);
      write_failed(conn, "acknowledgement write failed");
      return;
    }
  }
  STAT_ADD(c, acks_sent, n_acks);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  cs_conn *conn = (cs_conn *)h;
  (void)suggested;
  /* One buffer for all connections: the read callback consumes it before
   * the loop reads from anything else. Idle connections then hold no
   * buffer at all. */
  *buf = uv_buf_init((char *)conn->c->tcp_rbuf, READ_BUF);
}

static int on_frame(void *ud, const cs_frame_hdr *h, const uint8_t *payload) {
  cs_conn *conn = ud;
  if (h->type == CS_FRAME_ACK)
    return CS_WIRE_ETYPE; /* only we send those */
  __cs_handle_frame(conn->c, conn, h, payload);
  return 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  cs_conn *conn = (cs_conn *)s;
  cs_collector *c = conn->c;
  if (nread == 0 || conn->closing)
    return;
  if (nread < 0) {
    if (nread == UV_EOF && cs_framer_pending(&conn->fr) == 0) {
      __cs_conn_close(conn, NULL);
    } else {
      char why[96];
      snprintf(why, sizeof why, "%s with %zu bytes of a frame pending",
               nread == UV_EOF ? "eof" : uv_strerror((int)nread), cs_framer_pending(&conn->fr));
      __cs_conn_close(conn, why);
    }
    return;
  }
  conn->pe.since_ms = __cs_now_ms();
  int rc = cs_framer_feed(&conn->fr, (const uint8_t *)buf->base, (size_t)nread, on_frame, conn);
  if (rc) {
    char why[128];
    if (rc == CS_FRAMER_EBUDGET)
      snprintf(why, sizeof why, "partial-frame buffer budget exhausted: %zu bytes in use",
               c->budget.used);
    else
      snprintf(why, sizeof why, "framing error: %s", cs_wire_strerror(rc));
    if (rc < 0 && -rc < 16)
      STAT_ADD(c, wire_errors[-rc], 1);
    STAT_ADD(c, frame_errors_tcp, 1);
    STAT_ADD(c, conns_closed_error, 1);
    __cs_conn_close(conn, why);
  }
  __cs_maybe_pause(c);
}

static void on_reject_closed(uv_handle_t *h) {
  free(h);
}

/* Accepts and closes at once: leaving a refused peer in the backlog would
 * only make it wait for nothing. */
static void refuse(cs_collector *c, uv_stream_t *server, const char *why) {
  uv_tcp_t *t = malloc(sizeof *t);
  if (!t)
    return;
  uv_tcp_init(c->loop, t);
  if (uv_accept(server, (uv_stream_t *)t) == 0) {
    STAT_ADD(c, conns_rejected, 1);
    __cs_log_peer(c, CS_LOG_WARN, "refusing tcp connection: %s", why);
  }
  uv_close((uv_handle_t *)t, on_reject_closed);
}

static void peer_name(cs_conn *conn, const struct sockaddr_storage *sa) {
  char ip[48] = "?";
  int port = 0;
  if (sa->ss_family == AF_INET6) {
    uv_ip6_name((const struct sockaddr_in6 *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
  } else {
    uv_ip4_name((const struct sockaddr_in *)sa, ip, sizeof ip);
    port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
  }
  snprintf(conn->peer, sizeof conn->peer, "%s:%d", ip, port);
}

/* At a cap, the newcomer takes the place of the connection that has been
 * quiet longest; one whose frames are still on their way to the store is
 * never displaced. Returns 0 when the newcomer may stay. */
static int make_room(cs_collector *c, cs_conn *conn) {
  cs_connpool *p = &c->tcp_pool;
  for (cs_pool_conn *e = p->head; e; e = e->next)
    e->busy = CONN_OF(e)->pending > 0;
  cs_pool_conn *victim;
  int rc = cs_connpool_admit(p, conn->pe.addr, &victim);
  if (rc == CS_POOL_EVICT || rc == CS_POOL_EVICT_SOURCE) {
    cs_conn *v = CONN_OF(victim);
    int src = rc == CS_POOL_EVICT_SOURCE;
    char why[160];
    snprintf(why, sizeof why, "quiet for %llu ms, making room for %s (%s cap %u)",
             (unsigned long long)(__cs_now_ms() - v->pe.since_ms), conn->peer,
             src ? "per-source" : "connection", src ? p->max_per_source : p->max_total);
    STAT_ADD(c, conns_evicted, 1);
    __cs_conn_close(v, why);
    return 0;
  }
  if (rc == CS_POOL_ROOM)
    return 0;
  STAT_ADD(c, conns_rejected, 1);
  if (rc == CS_POOL_SOURCE_FULL)
    STAT_ADD(c, conns_rejected_per_source, 1);
  __cs_log_peer(c, CS_LOG_WARN, "refusing tcp connection from %s: %u connections%s open, all busy",
                conn->peer, rc == CS_POOL_SOURCE_FULL ? p->max_per_source : p->n,
                rc == CS_POOL_SOURCE_FULL ? " from that address" : "");
  return -1;
}

static void on_connection(uv_stream_t *server, int status) {
  cs_collector *c = server->data;
  if (status < 0) {
    __cs_log_peer(c, CS_LOG_WARN, "accept failed: %s", uv_strerror(status));
    return;
  }
  if (c->stopping) {
    refuse(c, server, "stopping");
    return;
  }
  cs_conn *conn = calloc(1, sizeof *conn);
  if (!conn) {
    refuse(c, server, "out of memory");
    return;
  }
  conn->c = c;
  uv_tcp_init(c->loop, &conn->h);
  if (uv_accept(server, (uv_stream_t *)&conn->h) != 0) {
    conn->closing = 1;
    uv_close((uv_handle_t *)&conn->h, on_conn_closed);
    return;
  }
  struct sockaddr_storage sa;
  int salen = sizeof sa;
  snprintf(conn->peer, sizeof conn->peer, "?");
  memset(&sa, 0, sizeof sa);
  if (uv_tcp_getpeername(&conn->h, (struct sockaddr *)&sa, &salen) == 0)
    peer_name(conn, &sa);
  cs_pool_addr(conn->pe.addr, (struct sockaddr *)&sa);
  if (make_room(c, conn)) {
    conn->closing = 1;
    uv_close((uv_handle_t *)&conn->h, on_conn_closed);
    return;
  }
  uv_tcp_nodelay(&conn->h, 1);
  cs_framer_init(&conn->fr, c->o.max_frame, &c->budget);
  conn->pe.since_ms = __cs_now_ms();
  cs_connpool_add(&c->tcp_pool, &conn->pe);
  STAT_ADD(c, conns_accepted, 1);
  STAT_SET(c, conns_open, c->tcp_pool.n);
  cs_log(CS_LOG_DEBUG, "collector", "tcp connection from %s", conn->peer);
  if (!c->paused)
    uv_read_start((uv_stream_t *)&conn->h, on_alloc, on_read);
}

int __cs_tcp_start(cs_collector *c) {
  struct sockaddr_storage sa;
  int rc = uv_ip4_addr(c->listen_addr, c->o.tcp_port, (struct sockaddr_in *)&sa);
  if (rc)
    rc = uv_ip6_addr(c->listen_addr, c->o.tcp_port, (struct sockaddr_in6 *)&sa);
  if (rc) {
    cs_log(CS_LOG_ERROR, "collector", "bad listen address: %s", c->listen_addr);
    return rc;
  }
  c->tcp_rbuf = malloc(READ_BUF);
  if (!c->tcp_rbuf)
    return UV_ENOMEM;
  c->tcp_pool.max_total = c->o.max_conns;
  c->tcp_pool.max_per_source = c->o.max_conns_per_source;
  uv_tcp_init(c->loop, &c->tcp);
  c->tcp.data = c;
  c->tcp_on = 1;
  if ((rc = uv_tcp_bind(&c->tcp, (struct sockaddr *)&sa, 0)) ||
      (rc = uv_listen((uv_stream_t *)&c->tcp, 511, on_connection))) {
    cs_log(CS_LOG_ERROR, "collector", "tcp listen on %s:%d failed: %s", c->listen_addr,
           c->o.tcp_port, uv_strerror(rc));
    return rc;
  }
  int salen = sizeof sa;
  uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&sa, &salen);
  c->tcp_port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                               : ((struct sockaddr_in *)&sa)->sin_port);
  cs_log(CS_LOG_INFO, "collector", "listening tcp %s:%d", c->listen_addr, c->tcp_port);
  return 0;
}

void __cs_tcp_close_listener(cs_collector *c) {
  if (c->tcp_on && !uv_is_closing((uv_handle_t *)&c->tcp))
    uv_close((uv_handle_t *)&c->tcp, NULL);
}

void __cs_tcp_pause_all(cs_collector *c) {
  for (cs_pool_conn *e = c->tcp_pool.head; e; e = e->next)
    uv_read_stop((uv_stream_t *)&CONN_OF(e)->h);
}

void __cs_tcp_resume_all(cs_collector *c) {
  uint64_t now = __cs_now_ms();
  for (cs_pool_conn *e = c->tcp_pool.head; e; e = e->next) {
    cs_conn *conn = CONN_OF(e);
    /* Time spent paused is ours, not the peer's: restart its clocks. */
    conn->pe.since_ms = now;
    uv_read_start((uv_stream_t *)&conn->h, on_alloc, on_read);
  }
}

void __cs_tcp_sweep(cs_collector *c, uint64_t now) {
  if (c->paused)
    return;
  cs_pool_conn *next;
  for (cs_pool_conn *e = c->tcp_pool.head; e; e = next) {
    next = e->next;
    cs_conn *conn = CONN_OF(e);
    uint64_t quiet = now - conn->pe.since_ms;
    if (cs_framer_pending(&conn->fr) && c->o.stall_timeout_ms && quiet >= c->o.stall_timeout_ms) {
      char why[96];
      snprintf(why, sizeof why, "stalled for %llu ms with %zu bytes of a frame pending",
               (unsigned long long)quiet, cs_framer_pending(&conn->fr));
      STAT_ADD(c, conns_closed_stalled, 1);
      __cs_conn_close(conn, why);
    } else if (c->o.idle_timeout_ms && quiet >= c->o.idle_timeout_ms && conn->pending == 0) {
      STAT_ADD(c, conns_closed_idle, 1);
      __cs_conn_close(conn, "idle");
    }
  }
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  cs_conn *conn = req->data;
  free(req);
  (void)status;
  __cs_conn_close(conn, NULL);
}

void __cs_tcp_shutdown_all(cs_collector *c) {
  /* Shutdown lets queued acknowledgements reach the peer before the close. */
  cs_pool_conn *next;
  for (cs_pool_conn *e = c->tcp_pool.head; e; e = next) {
    next = e->next;
    cs_conn *conn = CONN_OF(e);
    uv_read_stop((uv_stream_t *)&conn->h);
    if (cs_framer_pending(&conn->fr))
      cs_log(CS_LOG_INFO, "collector",
             "stopping: dropping %zu bytes of an incomplete frame from %s",
             cs_framer_pending(&conn->fr), conn->peer);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (req) {
      req->data = conn;
      if (uv_shutdown(req, (uv_stream_t *)&conn->h, on_shutdown) == 0)
        continue;
      free(req);
    }
    __cs_conn_close(conn, NULL);
  }
}
