/* The exporter thread: drains the per-thread rings, batches spans into
 * native frames (by count, size and age), sends them over UDP (split to the
 * datagram size) or TCP (kept until acknowledged, resent after reconnect,
 * exponential backoff with jitter, circuit breaker), and exports metrics
 * periodically. All blocking happens here, never on a recording thread. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "wire.h"

#define SCOPE_NAME "callscope-trace"
#define SCOPE_VERSION "0.1.0"
#define CONNECT_TIMEOUT_MS 2000
#define FRAME_SLACK 16 /* room for the two outer length varints to grow */

enum { DISCONNECTED, CONNECTING, CONNECTED };

typedef struct frame {
  struct frame *next;
  uint64_t seq;
  uint32_t len; /* header + payload */
  uint32_t n;   /* spans (traces) or 0 (metrics) */
  uint8_t type;
  uint8_t *data;
} frame;

struct __cst_exporter {
  cst_tracer *t;
  pthread_t thr;
  int wake_fd;
  pthread_mutex_t mu; /* flush_req, flush_done, stopping */
  pthread_cond_t cv;
  uint64_t flush_req, flush_done;
  int stopping;

  /* exporter thread only */
  int udp, fd, state, ever_connected;
  uint64_t connect_deadline, next_attempt;
  uint32_t failures;
  frame *q_head, *q_tail, *send_cur;
  uint32_t send_off;
  uint64_t q_bytes;
  uint8_t rbuf[4096];
  size_t rlen;
  uint64_t seq;
  __cst_buf batch;
  uint32_t batch_n;
  uint8_t batch_type;
  uint64_t batch_t0;
  size_t rs_off, ss_off;
  uint32_t frame_limit; /* bytes incl. header */
  uint64_t next_metrics;
  uint64_t rng;
};

static uint64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void inc(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

void __cst_exporter_wake(cst_tracer *t) {
  uint64_t one = 1;
  if (t->ex && write(t->ex->wake_fd, &one, sizeof one) < 0) { /* full counter: already awake */
  }
}

/* ---- frames ------------------------------------------------------------- */

static void frame_begin(struct __cst_exporter *ex, uint8_t type) {
  cst_tracer *t = ex->t;
  __cst_buf *b = &ex->batch;
  b->len = 0;
  b->err = 0;
  static const uint8_t zero[CS_FRAME_HDR_LEN];
  __cst_pb_raw(b, zero, sizeof zero);
  /* Export{Trace,Metrics}ServiceRequest.resource_{spans,metrics} = 1 */
  ex->rs_off = __cst_pb_begin(b, 1);
  __cst_pb_raw(b, t->resource_pb, t->resource_len);
  ex->ss_off = __cst_pb_begin(b, 2); /* scope_spans / scope_metrics */
  size_t sc = __cst_pb_begin(b, 1);  /* InstrumentationScope */
  __cst_pb_bytes(b, 1, SCOPE_NAME, sizeof SCOPE_NAME - 1);
  __cst_pb_bytes(b, 2, SCOPE_VERSION, sizeof SCOPE_VERSION - 1);
  __cst_pb_end(b, sc);
  ex->batch_n = 0;
  ex->batch_type = type;
}

static void free_frame(frame *f) {
  free(f->data);
  free(f);
}

static void udp_send(struct __cst_exporter *ex, frame *f) {
  cst_tracer *t = ex->t;
  ssize_t n = send(ex->fd, f->data, f->len, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (n == (ssize_t)f->len) {
    inc(&t->frames_sent, 1);
    inc(&t->spans_exported, f->n);
    if (f->type == CS_FRAME_METRICS) inc(&t->metric_exports, 1);
  } else {
    inc(&t->export_errors, 1);
    inc(&t->dropped_export, f->n);
    __cst_log(t, CST_LOG_DEBUG, "udp send failed: %s", strerror(errno));
  }
  free_frame(f);
}

static void tcp_enqueue(struct __cst_exporter *ex, frame *f) {
  f->next = NULL;
  if (ex->q_tail) ex->q_tail->next = f;
  else ex->q_head = f;
  ex->q_tail = f;
  if (!ex->send_cur && ex->state == CONNECTED) {
    ex->send_cur = f;
    ex->send_off = 0;
  }
  ex->q_bytes += f->len;
  atomic_store(&ex->t->unacked_bytes, ex->q_bytes);
}

/* Closes the open frame and hands it to the transport. */
static void frame_finish(struct __cst_exporter *ex) {
  __cst_buf *b = &ex->batch;
  uint8_t type = ex->batch_type;
  __cst_pb_end(b, ex->ss_off);
  __cst_pb_end(b, ex->rs_off);
  frame *f = malloc(sizeof *f);
  uint8_t *data = b->err ? NULL : malloc(b->len);
  if (!f || !data) {
    free(f);
    free(data);
    inc(&ex->t->dropped_export, ex->batch_n);
    ex->batch_n = 0;
    return;
  }
  ex->seq++;
  cs_frame_write_header(b->p, type, 0, (uint32_t)(b->len - CS_FRAME_HDR_LEN), ex->seq);
  memcpy(data, b->p, b->len);
  *f = (frame){NULL, ex->seq, (uint32_t)b->len, ex->batch_n, type, data};
  ex->batch_n = 0;
  if (ex->udp) udp_send(ex, f);
  else tcp_enqueue(ex, f);
}

/* Adds one span record to the open trace batch; starts and finishes frames
 * as needed. */
static void add_span(struct __cst_exporter *ex, const uint8_t *rec, uint32_t len) {
  cst_tracer *t = ex->t;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (ex->batch_n == 0) {
      frame_begin(ex, CS_FRAME_TRACES);
      ex->batch_t0 = mono_ms();
    }
    size_t before = ex->batch.len;
    int rc = __cst_encode_span(&ex->batch, rec, len);
    if (rc == 0 && ex->batch.len + FRAME_SLACK <= ex->frame_limit) {
      if (++ex->batch_n >= t->cfg.batch_max_spans) frame_finish(ex);
      return;
    }
    ex->batch.len = before;
    ex->batch.err = 0;
    if (ex->batch_n == 0) break; /* alone it does not fit (or is malformed) */
    frame_finish(ex);
  }
  inc(&t->dropped_too_large, 1);
}

/* ---- rings --------------------------------------------------------------- */

static int backpressure(struct __cst_exporter *ex) {
  return !ex->udp && ex->q_bytes >= ex->t->cfg.tcp_max_unacked_bytes;
}

static void drain(struct __cst_exporter *ex) {
  cst_tracer *t = ex->t;
  __cst_ring *r = atomic_load_explicit(&t->rings, memory_order_acquire);
  while (r) {
    __cst_ring *next = r->next;
    int orphan = atomic_load_explicit(&r->orphaned, memory_order_acquire);
    const uint8_t *rec;
    while (!backpressure(ex) && (rec = __cst_ring_peek(r)) != NULL) {
      uint32_t len;
      memcpy(&len, rec, 4);
      add_span(ex, rec, len);
      __cst_ring_pop(r, len);
    }
    atomic_store_explicit(&r->wake_sent, 0, memory_order_relaxed);
    if (orphan && __cst_ring_peek(r) == NULL) __cst_ring_free_orphan(t, r);
    r = next;
  }
}

/* ---- metrics --------------------------------------------------------------- */

static void unlink_frame(struct __cst_exporter *ex, frame *f);

/* Metrics are cumulative, so only the newest export matters: before
 * queueing a new one over TCP, drop queued metric frames not yet being
 * written. Without this a long outage would queue one per interval. */
static void drop_stale_metrics(struct __cst_exporter *ex) {
  frame *f = ex->q_head;
  while (f) {
    frame *next = f->next;
    if (f->type == CS_FRAME_METRICS && !(f == ex->send_cur && ex->send_off > 0)) {
      if (f == ex->send_cur) ex->send_cur = next;
      unlink_frame(ex, f);
      free_frame(f);
    }
    f = next;
  }
}

static void export_metrics(struct __cst_exporter *ex) {
  cst_tracer *t = ex->t;
  if (!ex->udp) drop_stale_metrics(ex);
  cst_stats st;
  cst_tracer_stats(t, &st);
  uint64_t now = __cst_now();
  size_t cursor = 0;
  for (int guard = 0; guard < 100000; guard++) {
    frame_begin(ex, CS_FRAME_METRICS);
    int done = __cst_metrics_encode(t, &st, &ex->batch, now, &cursor,
                                    ex->frame_limit - FRAME_SLACK);
    ex->batch_n = 0;
    frame_finish(ex);
    if (done) break;
  }
}

/* ---- TCP connection -------------------------------------------------------- */

static void tcp_close(struct __cst_exporter *ex) {
  if (ex->fd >= 0) close(ex->fd);
  ex->fd = -1;
  ex->state = DISCONNECTED;
  ex->send_cur = NULL;
  ex->send_off = 0;
  ex->rlen = 0;
}

static uint64_t jitter(struct __cst_exporter *ex, uint64_t max) {
  ex->rng = ex->rng * 6364136223846793005ull + 1442695040888963407ull;
  return max ? (ex->rng >> 33) % (max + 1) : 0;
}

/* A failed connect or a broken connection: back off exponentially with
 * jitter; after breaker_failures in a row, open the circuit. */
static void tcp_failed(struct __cst_exporter *ex, const char *why, int err) {
  cst_tracer *t = ex->t;
  tcp_close(ex);
  inc(&t->export_errors, 1);
  ex->failures++;
  uint64_t now = mono_ms();
  if (ex->failures >= t->cfg.breaker_failures) {
    ex->next_attempt = now + t->cfg.breaker_open_ms;
    /* Half-open afterwards: one more failure reopens it. */
    ex->failures = t->cfg.breaker_failures - 1;
    inc(&t->breaker_opens, 1);
    __cst_log(t, CST_LOG_WARN, "collector unreachable, pausing for %u ms: %s: %s",
              t->cfg.breaker_open_ms, why, strerror(err));
    return;
  }
  uint64_t base = t->cfg.backoff_initial_ms;
  for (uint32_t i = 1; i < ex->failures && base < t->cfg.backoff_max_ms; i++) base *= 2;
  if (base > t->cfg.backoff_max_ms) base = t->cfg.backoff_max_ms;
  /* "Equal jitter": at least half the backoff, so retries do spread out. */
  ex->next_attempt = now + base / 2 + jitter(ex, base / 2);
  __cst_log(t, CST_LOG_DEBUG, "collector connection failed: %s: %s", why, strerror(err));
}

static void tcp_connected(struct __cst_exporter *ex) {
  ex->state = CONNECTED;
  /* failures is reset by the first acknowledgement, not here: a collector
   * that accepts and then drops us must still back off and trip the
   * breaker. */
  if (ex->ever_connected) inc(&ex->t->reconnects, 1);
  ex->ever_connected = 1;
  /* Everything not acknowledged goes again; the collector's store keys
   * spans by (trace ID, span ID), so a duplicate is overwritten. */
  ex->send_cur = ex->q_head;
  ex->send_off = 0;
  int one = 1;
  setsockopt(ex->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void tcp_connect(struct __cst_exporter *ex) {
  cst_tracer *t = ex->t;
  ex->fd = socket(t->ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (ex->fd < 0) {
    tcp_failed(ex, "socket", errno);
    return;
  }
  if (connect(ex->fd, (struct sockaddr *)&t->ep.addr, t->ep.addrlen) == 0) {
    tcp_connected(ex);
  } else if (errno == EINPROGRESS) {
    ex->state = CONNECTING;
    ex->connect_deadline = mono_ms() + CONNECT_TIMEOUT_MS;
  } else {
    tcp_failed(ex, "connect", errno);
  }
}

/* Removes f from the queue (f must not be send_cur). */
static void unlink_frame(struct __cst_exporter *ex, frame *f) {
  frame *prev = NULL, *p = ex->q_head;
  while (p && p != f) prev = p, p = p->next;
  if (!p) return;
  if (prev) prev->next = f->next;
  else ex->q_head = f->next;
  if (ex->q_tail == f) ex->q_tail = prev;
  ex->q_bytes -= f->len;
  atomic_store(&ex->t->unacked_bytes, ex->q_bytes);
}

static void on_ack(struct __cst_exporter *ex, const cs_frame_hdr *h, const uint8_t *payload) {
  cst_tracer *t = ex->t;
  cs_ack ack;
  if (cs_frame_parse_ack(payload, h->len, &ack) != CS_WIRE_OK) return;
  frame *f = ex->q_head;
  while (f && f->seq != h->seq) f = f->next;
  if (!f || f == ex->send_cur) return; /* unknown, or acked before we sent it all */
  unlink_frame(ex, f);
  ex->failures = 0; /* the collector is demonstrably healthy */
  inc(&t->frames_acked, 1);
  if (f->type == CS_FRAME_TRACES) {
    inc(&t->spans_exported, ack.accepted < f->n ? ack.accepted : f->n);
    inc(&t->spans_rejected, ack.rejected);
  }
  free_frame(f);
}

static void tcp_read(struct __cst_exporter *ex) {
  for (;;) {
    ssize_t n = recv(ex->fd, ex->rbuf + ex->rlen, sizeof ex->rbuf - ex->rlen, MSG_DONTWAIT);
    if (n == 0) {
      tcp_failed(ex, "collector closed the connection", 0);
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      tcp_failed(ex, "recv", errno);
      return;
    }
    ex->rlen += (size_t)n;
    size_t off = 0;
    for (;;) {
      cs_frame_hdr h;
      int rc = cs_frame_parse_header(ex->rbuf + off, ex->rlen - off, 64, &h);
      if (rc == CS_WIRE_NEED_MORE) break;
      if (rc != CS_WIRE_OK || h.type != CS_FRAME_ACK) {
        tcp_failed(ex, "malformed reply from collector", EPROTO);
        return;
      }
      if (ex->rlen - off < CS_FRAME_HDR_LEN + h.len) break;
      on_ack(ex, &h, ex->rbuf + off + CS_FRAME_HDR_LEN);
      off += CS_FRAME_HDR_LEN + h.len;
    }
    memmove(ex->rbuf, ex->rbuf + off, ex->rlen - off);
    ex->rlen -= off;
  }
}

static void tcp_write(struct __cst_exporter *ex) {
  while (ex->send_cur) {
    frame *f = ex->send_cur;
    ssize_t n = send(ex->fd, f->data + ex->send_off, f->len - ex->send_off,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
      tcp_failed(ex, "send", errno);
      return;
    }
    ex->send_off += (uint32_t)n;
    if (ex->send_off == f->len) {
      inc(&ex->t->frames_sent, 1);
      ex->send_cur = f->next;
      ex->send_off = 0;
      if (f->type == CS_FRAME_METRICS) {
        /* Metrics are cumulative: the next export repairs a lost one, so
         * they are not held for an acknowledgement. */
        unlink_frame(ex, f);
        inc(&ex->t->metric_exports, 1);
        free_frame(f);
      }
    }
  }
}

/* ---- the loop --------------------------------------------------------------- */

static int all_delivered(struct __cst_exporter *ex) {
  return ex->batch_n == 0 && (ex->udp || ex->q_head == NULL);
}

static int rings_empty(cst_tracer *t) {
  for (__cst_ring *r = atomic_load(&t->rings); r; r = r->next)
    if (__cst_ring_used(r)) return 0;
  return 1;
}

static void *run(void *arg) {
  struct __cst_exporter *ex = arg;
  cst_tracer *t = ex->t;
  uint64_t handled_flush = 0, stop_deadline = 0;
  int final_metrics = 0;
  ex->next_metrics = mono_ms() + t->cfg.metrics_interval_ms;
  for (;;) {
    pthread_mutex_lock(&ex->mu);
    uint64_t want_flush = ex->flush_req;
    int stopping = ex->stopping;
    pthread_mutex_unlock(&ex->mu);
    uint64_t now = mono_ms();
    if (stopping && !stop_deadline) stop_deadline = now + t->cfg.shutdown_timeout_ms;

    __cst_clock_calibrate();
    drain(ex);
    int flushing = want_flush > handled_flush || stopping;
    if (ex->batch_n && (flushing || now - ex->batch_t0 >= t->cfg.batch_timeout_ms)) frame_finish(ex);
    if (now >= ex->next_metrics || want_flush > handled_flush || (stopping && !final_metrics)) {
      export_metrics(ex);
      ex->next_metrics = now + t->cfg.metrics_interval_ms;
      final_metrics = stopping;
    }
    if (want_flush > handled_flush) handled_flush = want_flush;

    if (!ex->udp) {
      if (ex->state == DISCONNECTED && ex->q_head && now >= ex->next_attempt) tcp_connect(ex);
      if (ex->state == CONNECTING && now >= ex->connect_deadline)
        tcp_failed(ex, "connect timed out", ETIMEDOUT);
      if (ex->state == CONNECTED && ex->send_cur) tcp_write(ex);
    }

    int delivered = all_delivered(ex) && rings_empty(t);
    pthread_mutex_lock(&ex->mu);
    if (delivered && ex->flush_done < handled_flush) {
      ex->flush_done = handled_flush;
      pthread_cond_broadcast(&ex->cv);
    }
    pthread_mutex_unlock(&ex->mu);
    if (stopping && (delivered || mono_ms() >= stop_deadline)) break;

    /* Sleep until something happens or a deadline passes. */
    uint64_t wake = now + t->cfg.batch_timeout_ms;
    if (ex->batch_n && ex->batch_t0 + t->cfg.batch_timeout_ms < wake)
      wake = ex->batch_t0 + t->cfg.batch_timeout_ms;
    if (ex->next_metrics < wake) wake = ex->next_metrics;
    if (!ex->udp && ex->state == DISCONNECTED && ex->q_head && ex->next_attempt < wake)
      wake = ex->next_attempt;
    if (!ex->udp && ex->state == CONNECTING && ex->connect_deadline < wake)
      wake = ex->connect_deadline;
    if (stopping || handled_flush > ex->flush_done) wake = now + 5;
    struct pollfd pf[2] = {{ex->wake_fd, POLLIN, 0}, {ex->fd, 0, 0}};
    nfds_t nf = 1;
    if (!ex->udp && ex->state != DISCONNECTED) {
      pf[1].events = POLLIN;
      if (ex->state == CONNECTING || ex->send_cur) pf[1].events |= POLLOUT;
      nf = 2;
    }
    uint64_t cur = mono_ms();
    int timeout = wake > cur ? (int)(wake - cur) : 0;
    int n = poll(pf, nf, timeout);
    if (n <= 0) continue;
    if (pf[0].revents & POLLIN) {
      uint64_t v;
      if (read(ex->wake_fd, &v, sizeof v) < 0) { /* spurious */
      }
    }
    if (nf == 2 && pf[1].revents) {
      if (ex->state == CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(ex->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) tcp_failed(ex, "connect", err);
        else tcp_connected(ex);
      } else {
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR)) tcp_read(ex);
        if (ex->state == CONNECTED && (pf[1].revents & POLLOUT)) tcp_write(ex);
      }
    }
  }

  /* Whatever is still queued after the deadline is lost: count it. */
  for (frame *f = ex->q_head; f;) {
    frame *next = f->next;
    inc(&t->dropped_export, f->n);
    free_frame(f);
    f = next;
  }
  ex->q_head = ex->q_tail = ex->send_cur = NULL;
  inc(&t->dropped_export, ex->batch_n);
  ex->batch_n = 0;
  for (__cst_ring *r = atomic_load(&t->rings); r; r = r->next) {
    const uint8_t *rec;
    while ((rec = __cst_ring_peek(r)) != NULL) {
      uint32_t len;
      memcpy(&len, rec, 4);
      inc(&t->dropped_export, 1);
      __cst_ring_pop(r, len);
    }
  }
  tcp_close(ex);
  return NULL;
}

int __cst_exporter_start(cst_tracer *t) {
  struct __cst_exporter *ex = calloc(1, sizeof *ex);
  if (!ex) return CST_ENOMEM;
  ex->t = t;
  ex->fd = -1;
  ex->udp = t->ep.udp;
  ex->rng = __cst_rand64();
  ex->frame_limit = ex->udp ? t->cfg.udp_datagram_bytes : (1u << 20);
  __cst_buf_init(&ex->batch, (size_t)ex->frame_limit + t->cfg.max_span_bytes * 2u + 65536u);
  int rc = CST_ESOCKET;
  ex->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ex->wake_fd < 0) goto fail;
  if (ex->udp) {
    ex->fd = socket(t->ep.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* Connected, so the kernel reports an unreachable collector to us. */
    if (ex->fd < 0 || connect(ex->fd, (struct sockaddr *)&t->ep.addr, t->ep.addrlen) != 0) goto fail;
  }
  pthread_mutex_init(&ex->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&ex->cv, &ca);
  pthread_condattr_destroy(&ca);
  t->ex = ex;
  /* The exporter must not receive the host's signals. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int prc = pthread_create(&ex->thr, NULL, run, ex);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (prc != 0) {
    rc = CST_ETHREAD;
    t->ex = NULL;
    pthread_cond_destroy(&ex->cv);
    pthread_mutex_destroy(&ex->mu);
    goto fail;
  }
  return CST_OK;
fail:
  if (ex->fd >= 0) close(ex->fd);
  if (ex->wake_fd >= 0) close(ex->wake_fd);
  __cst_buf_release(&ex->batch);
  free(ex);
  return rc;
}

void __cst_exporter_stop(cst_tracer *t) {
  struct __cst_exporter *ex = t->ex;
  if (!ex) return;
  pthread_mutex_lock(&ex->mu);
  ex->stopping = 1;
  pthread_mutex_unlock(&ex->mu);
  __cst_exporter_wake(t);
  pthread_join(ex->thr, NULL);
  t->ex = NULL;
  close(ex->wake_fd);
  pthread_cond_destroy(&ex->cv);
  pthread_mutex_destroy(&ex->mu);
  __cst_buf_release(&ex->batch);
  free(ex);
}

void __cst_exporter_abandon(cst_tracer *t) {
  /* In a forked child: the thread does not exist here and its locks may
   * have been held at fork time, so touch no lock; just release memory and
   * the child's copies of the descriptors. */
  struct __cst_exporter *ex = t->ex;
  if (!ex) return;
  for (frame *f = ex->q_head; f;) {
    frame *next = f->next;
    free_frame(f);
    f = next;
  }
  if (ex->fd >= 0) close(ex->fd);
  close(ex->wake_fd);
  __cst_buf_release(&ex->batch);
  free(ex);
  t->ex = NULL;
}

int __cst_exporter_flush(cst_tracer *t, uint32_t timeout_ms) {
  struct __cst_exporter *ex = t->ex;
  if (!ex) return CST_EINVAL;
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L) dl.tv_sec++, dl.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&ex->mu);
  uint64_t mine = ++ex->flush_req;
  pthread_mutex_unlock(&ex->mu);
  __cst_exporter_wake(t);
  int rc = CST_OK;
  pthread_mutex_lock(&ex->mu);
  while (ex->flush_done < mine) {
    if (pthread_cond_timedwait(&ex->cv, &ex->mu, &dl) == ETIMEDOUT) {
      rc = ex->flush_done >= mine ? CST_OK : CST_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&ex->mu);
  return rc;
}
