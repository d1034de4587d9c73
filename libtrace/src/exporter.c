/* The exporter thread: drains the per-thread rings, batches spans into
 * native frames (by count, size and age), exports metrics periodically,
 * and runs the poll loop that drives transport.c. All blocking happens
 * here, never on a recording thread. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "exporter_int.h"

#define SCOPE_NAME "callscope-trace"
#define SCOPE_VERSION "0.1.0"
#define FRAME_SLACK 16 /* room for the two outer length varints to grow */

void __cst_exporter_wake(cst_tracer *t) {
  uint64_t one = 1;
  if (t->ex && write(t->ex->wake_fd, &one, sizeof one) < 0) { /* full counter: already awake */
  }
}

/* ---- frames ------------------------------------------------------------- */

static void frame_begin(struct __cst_exporter *ex, uint8_t type) {
  cst_tracer *t = ex->t;
  __cst_buf *b = &ex->batch;
  /* Callers finish an open batch first; should one ever not, its spans
   * are counted as lost rather than vanishing. */
  __cst_inc(&t->dropped_export, ex->batch_n);
  b->n = 0;
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

static void frame_finish(struct __cst_exporter *ex) {
  __cst_buf *b = &ex->batch;
  uint8_t type = ex->batch_type;
  __cst_pb_end(b, ex->ss_off);
  __cst_pb_end(b, ex->rs_off);
  frame *f = malloc(sizeof *f);
  uint8_t *data = b->err ? NULL : malloc(b->n);
  if (!f || !data) {
    free(f);
    free(data);
    __cst_inc(&ex->t->dropped_export, ex->batch_n);
    ex->batch_n = 0;
    return;
  }
  ex->seq++;
  cs_frame_write_header(b->p, type, 0, (uint32_t)(b->n - CS_FRAME_HDR_LEN), ex->seq);
  memcpy(data, b->p, b->n);
  *f = (frame){NULL, ex->seq, (uint32_t)b->n, ex->batch_n, type, data};
  ex->batch_n = 0;
  if (ex->udp)
    __cst_tx_udp_send(ex, f);
  else
    __cst_tx_enqueue(ex, f);
}

/* Adds one span record to the open trace batch; starts and finishes frames
 * as needed. */
static void add_span(struct __cst_exporter *ex, const uint8_t *rec, uint32_t len) {
  cst_tracer *t = ex->t;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (ex->batch_n == 0) {
      frame_begin(ex, CS_FRAME_TRACES);
      ex->batch_t0 = __cst_mono_ms();
    }
    size_t before = ex->batch.n;
    int rc = __cst_encode_span(&ex->batch, rec, len);
    if (rc == 0 && ex->batch.n + FRAME_SLACK <= ex->frame_limit) {
      if (++ex->batch_n >= t->cfg.batch_max_spans)
        frame_finish(ex);
      return;
    }
    ex->batch.n = before;
    ex->batch.err = 0;
    if (ex->batch_n == 0)
      break; /* alone it does not fit (or is malformed) */
    frame_finish(ex);
  }
  __cst_inc(&t->dropped_too_large, 1);
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
    if (orphan && __cst_ring_peek(r) == NULL)
      __cst_ring_free_orphan(t, r);
    r = next;
  }
}

/* ---- metrics --------------------------------------------------------------- */

/* Metrics are cumulative, so only the newest export matters: before
 * queueing a new one over TCP, drop queued metric frames not yet being
 * written. Without this a long outage would queue one per interval. */
static void drop_stale_metrics(struct __cst_exporter *ex) {
  frame *f = ex->q_head;
  while (f) {
    frame *next = f->next;
    if (f->type == CS_FRAME_METRICS && !(f == ex->send_cur && ex->send_off > 0)) {
      if (f == ex->send_cur)
        ex->send_cur = next;
      __cst_tx_unlink(ex, f);
      __cst_frame_free(f);
    }
    f = next;
  }
}

static void export_metrics(struct __cst_exporter *ex) {
  cst_tracer *t = ex->t;
  if (!ex->udp)
    drop_stale_metrics(ex);
  /* Metrics frames are built in the same buffer as span batches: send the
   * open traces batch first, or its spans would be overwritten. */
  if (ex->batch_n)
    frame_finish(ex);
  cst_stats st;
  cst_tracer_stats(t, &st);
  uint64_t now = __cst_now();
  size_t cursor = 0;
  for (int guard = 0; guard < 100000; guard++) {
    frame_begin(ex, CS_FRAME_METRICS);
    int done =
        __cst_metrics_encode(t, &st, &ex->batch, now, &cursor, ex->frame_limit - FRAME_SLACK);
    ex->batch_n = 0;
    frame_finish(ex);
    if (done)
      break;
  }
}

/* ---- the loop --------------------------------------------------------------- */

/* Everything built was sent (UDP) or acknowledged (TCP). */
static int all_sent(struct __cst_exporter *ex) {
  return ex->batch_n == 0 && (ex->udp || ex->q_head == NULL);
}

/* ... and over UDP every span's error window has passed, so the counts are
 * final. */
static int all_delivered(struct __cst_exporter *ex) {
  return all_sent(ex) && ex->pend_n == 0;
}

static int rings_empty(cst_tracer *t) {
  for (__cst_ring *r = atomic_load(&t->rings); r; r = r->next)
    if (__cst_ring_used(r))
      return 0;
  return 1;
}

static void *run(void *arg) {
  struct __cst_exporter *ex = arg;
  cst_tracer *t = ex->t;
  uint64_t handled_flush = 0, stop_deadline = 0;
  int final_metrics = 0, stop_seen = 0;
  ex->next_metrics = __cst_mono_ms() + t->cfg.metrics_interval_ms;
  for (;;) {
    pthread_mutex_lock(&ex->mu);
    uint64_t want_flush = ex->flush_req;
    int stopping = ex->stopping;
    pthread_mutex_unlock(&ex->mu);
    uint64_t now = __cst_mono_ms();
    if (stopping && !stop_deadline)
      stop_deadline = now + t->cfg.shutdown_timeout_ms;

    __cst_clock_calibrate();
    drain(ex);
    int flushing = want_flush > handled_flush || stopping;
    int new_request = want_flush > handled_flush || (stopping && !stop_seen);
    stop_seen |= stopping;
    if (ex->batch_n && (flushing || now - ex->batch_t0 >= t->cfg.batch_timeout_ms))
      frame_finish(ex);
    /* The last export at shutdown waits until every span is delivered (or
     * the deadline is near), so its spans.exported is the final total;
     * sent with the last spans, before their acks, it undercounted. */
    int final_due = stopping && !final_metrics &&
                    ((all_delivered(ex) && rings_empty(t)) || now + 50 >= stop_deadline);
    if (now >= ex->next_metrics || want_flush > handled_flush || final_due) {
      export_metrics(ex);
      ex->next_metrics = now + t->cfg.metrics_interval_ms;
      final_metrics |= final_due;
    }
    if (want_flush > handled_flush)
      handled_flush = want_flush;

    if (!ex->udp) {
      /* A flush (and cst_tracer_free's) asks for delivery now: try at once
       * rather than wait out a backoff or an open circuit, so a collector
       * that is back gets what is queued. One attempt per request. */
      if (new_request && ex->state == DISCONNECTED)
        ex->next_attempt = now;
      if (ex->state == DISCONNECTED && ex->q_head && now >= ex->next_attempt)
        __cst_tx_connect(ex);
      if (ex->state == CONNECTING && now >= ex->connect_deadline)
        __cst_tx_failed(ex, "connect timed out", ETIMEDOUT);
      if (ex->state == CONNECTED && ex->send_cur)
        __cst_tx_write(ex);
    }

    if (ex->udp)
      __cst_udp_settle(ex);

    int sent = all_sent(ex) && rings_empty(t), delivered = sent && ex->pend_n == 0;
    pthread_mutex_lock(&ex->mu);
    if (sent && ex->flush_sent < handled_flush) {
      ex->flush_sent = handled_flush;
      ex->flush_sent_ms = __cst_mono_ms();
      pthread_cond_broadcast(&ex->cv);
    }
    /* Over UDP a flush is done once what was sent by then has settled;
     * datagrams other threads' spans sent later do not hold it up. */
    if (ex->flush_done < ex->flush_sent &&
        (!ex->udp || __cst_udp_settled_by(ex, ex->flush_sent_ms))) {
      ex->flush_done = ex->flush_sent;
      pthread_cond_broadcast(&ex->cv);
    }
    pthread_mutex_unlock(&ex->mu);
    if (stopping && ((delivered && final_metrics) || __cst_mono_ms() >= stop_deadline))
      break;

    /* Sleep until something happens or a deadline passes. */
    uint64_t wake = now + t->cfg.batch_timeout_ms;
    if (ex->batch_n && ex->batch_t0 + t->cfg.batch_timeout_ms < wake)
      wake = ex->batch_t0 + t->cfg.batch_timeout_ms;
    if (ex->next_metrics < wake)
      wake = ex->next_metrics;
    if (!ex->udp && ex->state == DISCONNECTED && ex->q_head && ex->next_attempt < wake)
      wake = ex->next_attempt;
    if (!ex->udp && ex->state == CONNECTING && ex->connect_deadline < wake)
      wake = ex->connect_deadline;
    if (ex->udp && __cst_udp_next_settle(ex) < wake)
      wake = __cst_udp_next_settle(ex);
    if (stopping || handled_flush > ex->flush_sent)
      wake = now + 5;
    struct pollfd pf[2] = {{ex->wake_fd, POLLIN, 0}, {ex->fd, 0, 0}};
    nfds_t nf = 1;
    if (!ex->udp && ex->state != DISCONNECTED) {
      pf[1].events = POLLIN;
      if (ex->state == CONNECTING || ex->send_cur)
        pf[1].events |= POLLOUT;
      nf = 2;
    }
    uint64_t cur = __cst_mono_ms();
    int timeout = wake > cur ? (int)(wake - cur) : 0;
    int n = poll(pf, nf, timeout);
    if (n <= 0)
      continue;
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
        if (err)
          __cst_tx_failed(ex, "connect", err);
        else
          __cst_tx_connected(ex);
      } else {
        if (pf[1].revents & (POLLIN | POLLHUP | POLLERR))
          __cst_tx_read(ex);
        if (ex->state == CONNECTED && (pf[1].revents & POLLOUT))
          __cst_tx_write(ex);
      }
    }
  }

  /* Whatever is still queued after the deadline is lost: count it. */
  for (frame *f = ex->q_head; f;) {
    frame *next = f->next;
    __cst_inc(&t->dropped_export, f->n);
    __cst_frame_free(f);
    f = next;
  }
  ex->q_head = ex->q_tail = ex->send_cur = NULL;
  __cst_inc(&t->dropped_export, ex->batch_n);
  ex->batch_n = 0;
  if (ex->udp)
    __cst_udp_finish(ex);
  for (__cst_ring *r = atomic_load(&t->rings); r; r = r->next) {
    const uint8_t *rec;
    while ((rec = __cst_ring_peek(r)) != NULL) {
      uint32_t len;
      memcpy(&len, rec, 4);
      __cst_inc(&t->dropped_export, 1);
      __cst_ring_pop(r, len);
    }
  }
  __cst_tx_close(ex);
  return NULL;
}

int __cst_exporter_start(cst_tracer *t) {
  struct __cst_exporter *ex = calloc(1, sizeof *ex);
  if (!ex)
    return CST_ENOMEM;
  ex->t = t;
  ex->fd = -1;
  ex->udp = t->ep.udp;
  ex->rng = __cst_rand64();
  ex->frame_limit = ex->udp ? t->cfg.udp_datagram_bytes : (1u << 20);
  cs_buf_init(&ex->batch, (size_t)ex->frame_limit + t->cfg.max_span_bytes * 2u + 65536u);
  int rc = CST_ESOCKET;
  ex->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ex->wake_fd < 0)
    goto fail;
  if (ex->udp && __cst_udp_open(ex) != 0)
    goto fail;
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
  if (ex->fd >= 0)
    close(ex->fd);
  if (ex->wake_fd >= 0)
    close(ex->wake_fd);
  cs_buf_free(&ex->batch);
  free(ex);
  return rc;
}

void __cst_exporter_stop(cst_tracer *t) {
  struct __cst_exporter *ex = t->ex;
  if (!ex)
    return;
  pthread_mutex_lock(&ex->mu);
  ex->stopping = 1;
  pthread_mutex_unlock(&ex->mu);
  __cst_exporter_wake(t);
  pthread_join(ex->thr, NULL);
  t->ex = NULL;
  close(ex->wake_fd);
  pthread_cond_destroy(&ex->cv);
  pthread_mutex_destroy(&ex->mu);
  cs_buf_free(&ex->batch);
  free(ex);
}

void __cst_exporter_abandon(cst_tracer *t) {
  /* In a forked child: the thread does not exist here and its locks may
   * have been held at fork time, so touch no lock; just release memory and
   * the child's copies of the descriptors. */
  struct __cst_exporter *ex = t->ex;
  if (!ex)
    return;
  for (frame *f = ex->q_head; f;) {
    frame *next = f->next;
    __cst_frame_free(f);
    f = next;
  }
  if (ex->fd >= 0)
    close(ex->fd);
  close(ex->wake_fd);
  cs_buf_free(&ex->batch);
  free(ex);
  t->ex = NULL;
}

int __cst_exporter_flush(cst_tracer *t, uint32_t timeout_ms, int settled) {
  struct __cst_exporter *ex = t->ex;
  if (!ex)
    return CST_EINVAL;
  struct timespec dl;
  clock_gettime(CLOCK_MONOTONIC, &dl);
  dl.tv_sec += timeout_ms / 1000;
  dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (dl.tv_nsec >= 1000000000L)
    dl.tv_sec++, dl.tv_nsec -= 1000000000L;
  pthread_mutex_lock(&ex->mu);
  uint64_t mine = ++ex->flush_req;
  pthread_mutex_unlock(&ex->mu);
  __cst_exporter_wake(t);
  int rc = CST_OK;
  pthread_mutex_lock(&ex->mu);
  uint64_t *done = settled ? &ex->flush_done : &ex->flush_sent;
  while (*done < mine) {
    if (pthread_cond_timedwait(&ex->cv, &ex->mu, &dl) == ETIMEDOUT) {
      rc = *done >= mine ? CST_OK : CST_ETIMEDOUT;
      break;
    }
  }
  pthread_mutex_unlock(&ex->mu);
  return rc;
}
