/* The collector's lifecycle and its loop-thread glue: decoding each frame
 * into a queue item, back pressure (pausing TCP reads between watermarks),
 * delivering the writer's outcomes as acknowledgements, periodic sweeps
 * and stats, and the graceful stop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_int.h"
#include "log.h"
#include "recv_http.h"

#define WARNS_PER_TICK 20 /* rate limit for per-peer warnings */

uint64_t __cs_now_ms(void) {
  return uv_hrtime() / 1000000u;
}

void cs_collector_opts_default(cs_collector_opts *o) {
  memset(o, 0, sizeof *o);
  o->listen_addr = "127.0.0.1";
  o->tcp_port = CS_PORT_NATIVE;
  o->udp_port = CS_PORT_NATIVE;
  o->max_queue_bytes = (size_t)128 << 20;
  o->max_conn_buffer_bytes = (size_t)64 << 20;
  o->max_conns = 1024;
  o->max_conns_per_source = 256;
  o->max_frame = CS_FRAME_MAX_DEFAULT;
  o->stall_timeout_ms = 10000;
  o->idle_timeout_ms = 300000;
  o->stats_interval_ms = 10000;
  o->expire_interval_ms = 0;
  o->udp_rcvbuf = (size_t)8 << 20;
  o->max_batch_spans = 16384;
  cs_limits_default(&o->limits);
  o->otlp_http_port = CS_PORT_SOFT;
  o->zipkin_port = CS_PORT_SOFT;
  o->statsd_port = CS_PORT_SOFT;
  o->http_max_body = (size_t)8 << 20;
  o->http_max_inflated = (size_t)32 << 20;
  o->http_max_conns = 256;
  o->http_max_conns_per_source = 64;
  o->http_idle_timeout_s = 10;
  o->http_request_timeout_s = 30;
  o->http_head_timeout_s = 10;
  o->http_max_head = 32u << 10;
  o->statsd_flush_ms = 1000;
  o->max_future_s = 3600;
}

void __cs_log_peer(cs_collector *c, int level, const char *fmt, ...) {
  if (level < cs_log_min_level)
    return;
  /* Events caused by peers share one budget per second, so a flood of bad
   * datagrams or connections cannot flood the log. */
  if (c->warn_budget == 0) {
    c->warn_suppressed++;
    return;
  }
  c->warn_budget--;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cs_log_write(level, "collector", "%s", msg);
}

cs_collector *cs_collector_new(const cs_collector_opts *opts, cs_store *st) {
  cs_collector *c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  if (opts)
    c->o = *opts;
  else
    cs_collector_opts_default(&c->o);
  snprintf(c->listen_addr, sizeof c->listen_addr, "%s",
           c->o.listen_addr ? c->o.listen_addr : "127.0.0.1");
  c->o.listen_addr = c->listen_addr;
  if (c->o.max_frame == 0 || c->o.max_frame > CS_FRAME_MAX_DEFAULT * 16u)
    c->o.max_frame = CS_FRAME_MAX_DEFAULT;
  if (c->o.max_batch_spans == 0)
    c->o.max_batch_spans = 16384;
  if (c->o.max_conns == 0)
    c->o.max_conns = 1;
  c->store = st;
  c->budget.limit = c->o.max_conn_buffer_bytes;
  c->high = c->o.max_queue_bytes;
  c->low = c->o.max_queue_bytes / 2;
  c->udp_high = c->o.max_udp_queue_bytes ? c->o.max_udp_queue_bytes : c->high / 4;
  if (c->udp_high > c->high)
    c->udp_high = c->high;
  c->o.max_udp_queue_bytes = c->udp_high;
  c->acked_low = (c->high - c->udp_high) / 2;
  c->warn_budget = WARNS_PER_TICK;
  pthread_mutex_init(&c->mu, NULL);
  pthread_cond_init(&c->cv, NULL);
  return c;
}

void cs_collector_set_span_observer(cs_collector *c, cs_span_observer_fn fn, void *ud) {
  c->observer = fn;
  c->observer_ud = ud;
}

void cs_collector_set_metrics_sink(cs_collector *c, cs_metrics_sink_fn fn, void *ud) {
  c->metrics_sink = fn;
  c->metrics_ud = ud;
}

void cs_collector_ports(const cs_collector *c, int *tcp, int *udp) {
  if (tcp)
    *tcp = c->tcp_port;
  if (udp)
    *udp = c->udp_port;
}

void cs_collector_get_stats(const cs_collector *c, cs_collector_stats *out) {
#define CS_STATS_COPY(name) out->name = atomic_load_explicit(&c->st.name, memory_order_relaxed);
  CS_COLLECTOR_STATS_MAP(CS_STATS_COPY)
#undef CS_STATS_COPY
  for (int i = 0; i < CS_REJ__COUNT; i++)
    out->rejected[i] = atomic_load_explicit(&c->st.rejected[i], memory_order_relaxed);
  for (int i = 0; i < 16; i++)
    out->wire_errors[i] = atomic_load_explicit(&c->st.wire_errors[i], memory_order_relaxed);
}

int __cs_admit(cs_collector *c, int from) {
  if (STAT_GET(c, write_stalled))
    return 0;
  if (from == CS_ADMIT_UDP && STAT_GET(c, queue_bytes_udp) >= c->udp_high)
    return 0;
  return STAT_GET(c, queue_bytes) < c->high;
}

void __cs_maybe_pause(cs_collector *c) {
  if (c->paused || __cs_admit(c, CS_ADMIT_ACKED))
    return;
  c->paused = 1;
  STAT_SET(c, tcp_paused, 1);
  STAT_ADD(c, tcp_pauses, 1);
  cs_log(CS_LOG_DEBUG, "collector", "queue full (%llu bytes, %llu of them udp): pausing tcp reads",
         (unsigned long long)STAT_GET(c, queue_bytes),
         (unsigned long long)STAT_GET(c, queue_bytes_udp));
  __cs_tcp_pause_all(c);
}

/* Reading resumes below half the queue, or, while UDP holds its share,
 * once the acknowledged frames are down to half of the rest: a UDP share
 * at or above the low mark must not keep TCP paused for good. */
static void maybe_resume(cs_collector *c) {
  if (!c->paused || c->stopping || STAT_GET(c, write_stalled))
    return;
  uint64_t q = STAT_GET(c, queue_bytes), udp = STAT_GET(c, queue_bytes_udp);
  if (q > c->low && (udp > q ? 0 : q - udp) > c->acked_low)
    return;
  c->paused = 0;
  STAT_SET(c, tcp_paused, 0);
  cs_log(CS_LOG_DEBUG, "collector", "queue drained: resuming tcp reads");
  __cs_tcp_resume_all(c);
}

static void count_rejects(cs_collector *c, const cs_reject_counts *rej) {
  uint32_t total = 0;
  for (int i = 0; i < CS_REJ__COUNT; i++) {
    if (rej->n[i])
      STAT_ADD(c, rejected[i], rej->n[i]);
    total += rej->n[i];
  }
  if (total)
    STAT_ADD(c, spans_rejected, total);
  if (rej->utf8_repaired)
    STAT_ADD(c, utf8_repaired, rej->utf8_repaired);
}

uint32_t __cs_reject_out_of_window(cs_collector *c, cs_span *spans, size_t *n,
                                   cs_reject_counts *rej, const char *from) {
  if (!c->o.retention_s && !c->o.max_future_s)
    return 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  const uint64_t G = 1000000000ull;
  uint64_t now = (uint64_t)ts.tv_sec * G + (uint64_t)ts.tv_nsec;
  uint64_t oldest = c->o.retention_s && c->o.retention_s < now / G ? now - c->o.retention_s * G : 0;
  uint64_t newest = c->o.max_future_s && c->o.max_future_s < (UINT64_MAX - now) / G
                        ? now + c->o.max_future_s * G
                        : UINT64_MAX;
  uint32_t expired = 0, future = 0;
  size_t kept = 0;
  for (size_t i = 0; i < *n; i++) {
    if (spans[i].end_ns < oldest)
      expired++;
    else if (spans[i].end_ns > newest)
      future++;
    else if (kept++ != i)
      spans[kept - 1] = spans[i];
  }
  if (!expired && !future)
    return 0;
  *n = kept;
  rej->n[CS_REJ_EXPIRED] += expired;
  rej->n[CS_REJ_FUTURE] += future;
  __cs_recv_warn(c,
                 "%u spans rejected from %s: expired=%u future=%u (ingest window: retention %llus, "
                 "at most %llus ahead)",
                 expired + future, from, expired, future, (unsigned long long)c->o.retention_s,
                 (unsigned long long)c->o.max_future_s);
  return expired + future;
}

void __cs_handle_frame(cs_collector *c, cs_conn *conn, const cs_frame_hdr *h,
                       const uint8_t *payload) {
  if (conn)
    STAT_ADD(c, frames_tcp, 1);
  else
    STAT_ADD(c, frames_udp, 1);
  cs_item *it = calloc(1, sizeof *it);
  if (!it) {
    __cs_log_peer(c, CS_LOG_WARN, "out of memory: dropping a frame of %u bytes", h->len);
    return; /* unacknowledged: the sender resends */
  }
  cs_arena_init(&it->arena, cs_decode_arena_chunk(h->len), cs_decode_arena_cap(h->len));
  it->type = h->type;
  it->seq = h->seq;
  int rc;
  if (h->type == CS_FRAME_TRACES) {
    cs_reject_counts rej;
    memset(&rej, 0, sizeof rej);
    rc =
        cs_decode_traces(payload, h->len, &it->arena, &c->o.limits, &it->spans, &it->n_spans, &rej);
    if (rc == CS_DECODE_OK) {
      __cs_reject_out_of_window(c, it->spans, &it->n_spans, &rej, conn ? conn->peer : "udp");
      count_rejects(c, &rej);
      uint32_t r = cs_reject_total(&rej);
      it->accepted = (uint32_t)it->n_spans;
      it->rejected = r;
      if (conn)
        STAT_ADD(c, spans_tcp, it->n_spans);
      else
        STAT_ADD(c, spans_udp, it->n_spans);
    }
  } else {
    size_t points = 0;
    rc = cs_decode_metrics(payload, h->len, &it->arena, &c->o.limits, &it->metrics, &it->resources,
                           &points);
    if (rc == CS_DECODE_OK) {
      STAT_ADD(c, metric_frames, 1);
      STAT_ADD(c, metric_points, points);
      it->accepted = points > UINT32_MAX ? UINT32_MAX : (uint32_t)points;
      if (!c->metrics_sink) {
        /* Standalone collector: nothing would keep these points, so the
         * ACK says they were rejected rather than stored. The frame still
         * goes through the queue to keep ACKs in order. */
        STAT_ADD(c, metric_frames_dropped, 1);
        it->rejected = it->accepted;
        it->accepted = 0;
        __cs_log_peer(c, CS_LOG_WARN,
                      "metrics frame of %zu points from %s dropped: no metrics sink in this "
                      "process (run the all-in-one callscope)",
                      points, conn ? conn->peer : "udp");
      }
    }
  }
  if (rc != CS_DECODE_OK) {
    /* The frame itself was fine, so the stream stays usable: acknowledge
     * with nothing accepted and an unknown number rejected, in order. */
    STAT_ADD(c, decode_errors, rc == CS_DECODE_EPROTO);
    STAT_ADD(c, decode_nomem, rc == CS_DECODE_ENOMEM);
    __cs_log_peer(c, CS_LOG_WARN, "undecodable %s payload of %u bytes from %s: %s",
                  h->type == CS_FRAME_TRACES ? "traces" : "metrics", h->len,
                  conn ? conn->peer : "udp", cs_decode_strerror(rc));
    cs_arena_release(&it->arena);
    it->spans = NULL;
    it->n_spans = 0;
    it->metrics = NULL;
    it->accepted = 0;
    it->rejected = CS_ACK_UNKNOWN;
    if (!conn) { /* nothing to acknowledge over UDP */
      free(it);
      return;
    }
  }
  it->bytes = sizeof *it + it->arena.reserved;
  if (conn) {
    it->conn = conn;
    conn->pending++;
  } else {
    it->udp = 1;
  }
  __cs_queue_push(c, it);
}

static void finish(cs_collector *c);

static void on_wake(uv_async_t *a) {
  cs_collector *c = a->data;
  pthread_mutex_lock(&c->mu);
  /* Swap buffers so the writer can keep posting while we send. */
  cs_done *d = c->done;
  size_t n = c->n_done, dcap = c->done_cap;
  c->done = c->done_local;
  c->done_cap = c->done_local_cap;
  c->n_done = 0;
  c->done_local = d;
  c->done_local_cap = dcap;
  int writer_done = c->writer_done;
  pthread_mutex_unlock(&c->mu);
  /* Consecutive acks for one connection (the common case: one busy
   * sender) go out in one write. A connection stays allocated at least
   * until its handle's close callback, which runs after this function, so
   * cur is safe to flush even after a release. */
  enum { ACK_FRAME = CS_FRAME_HDR_LEN + CS_ACK_LEN, ACKS_PER_WRITE = 64 };
  uint8_t out[ACK_FRAME * ACKS_PER_WRITE];
  uint32_t n_out = 0;
  cs_conn *cur = NULL;
  for (size_t i = 0; i <= n; i++) {
    cs_conn *conn = i < n ? d[i].conn : NULL;
    if (n_out &&
        (conn != cur || n_out == ACKS_PER_WRITE || cur->closing || (i < n && d[i].failed))) {
      if (!cur->closing)
        __cs_conn_write_acks(cur, out, (size_t)n_out * ACK_FRAME, n_out);
      n_out = 0;
    }
    if (i == n)
      break;
    cur = conn;
    if (conn->closing) {
      STAT_ADD(c, acks_orphaned, 1);
    } else if (d[i].failed) {
      STAT_ADD(c, conns_closed_error, 1);
      __cs_conn_close(conn, "store write failed: batch not acknowledged");
    } else {
      cs_ack ack = {d[i].accepted, d[i].rejected};
      cs_frame_write_ack(out + (size_t)n_out * ACK_FRAME, d[i].seq, &ack);
      n_out++;
    }
    __cs_conn_release(conn);
  }
  __cs_maybe_pause(c); /* the store may have run out of space */
  maybe_resume(c);
  if (c->stopping && writer_done && !c->finished)
    finish(c);
}

static void log_stats(cs_collector *c) {
  cs_collector_stats s;
  cs_collector_get_stats(c, &s);
  double lat_ms =
      s.batches_written ? (double)s.write_ns_total / (double)s.batches_written / 1e6 : 0;
  cs_log(CS_LOG_INFO, "collector",
         "stats frames udp=%llu tcp=%llu spans udp=%llu tcp=%llu written=%llu rejected=%llu "
         "bad_frames udp=%llu tcp=%llu undecodable=%llu udp_dropped=%llu udp_dropped_spans=%llu "
         "udp_kernel_drops=%llu queue=%llu/%llu bytes queue_udp=%llu bytes "
         "batches=%llu write_ms avg=%.2f max=%.2f tcp_pauses=%llu conns=%llu metrics_points=%llu",
         (unsigned long long)s.frames_udp, (unsigned long long)s.frames_tcp,
         (unsigned long long)s.spans_udp, (unsigned long long)s.spans_tcp,
         (unsigned long long)s.spans_written, (unsigned long long)s.spans_rejected,
         (unsigned long long)s.frame_errors_udp, (unsigned long long)s.frame_errors_tcp,
         (unsigned long long)(s.decode_errors + s.decode_nomem), (unsigned long long)s.udp_dropped,
         (unsigned long long)s.udp_dropped_spans, (unsigned long long)s.udp_kernel_drops,
         (unsigned long long)s.queue_bytes, (unsigned long long)s.queue_items,
         (unsigned long long)s.queue_bytes_udp, (unsigned long long)s.batches_written, lat_ms,
         (double)s.write_ns_max / 1e6, (unsigned long long)s.tcp_pauses,
         (unsigned long long)s.conns_open, (unsigned long long)s.metric_points);
  __cs_recv_log_stats(c, &s);
}

static void on_tick(uv_timer_t *t) {
  cs_collector *c = t->data;
  uint64_t now = __cs_now_ms();
  if (c->warn_suppressed)
    cs_log(CS_LOG_WARN, "collector", "%u log lines about peers suppressed in the last second",
           c->warn_suppressed);
  c->warn_suppressed = 0;
  c->warn_budget = WARNS_PER_TICK;
  __cs_tcp_sweep(c, now);
  __cs_udp_poll_drops(c);
  maybe_resume(c);
  if (c->o.stats_interval_ms && now >= c->next_stats_ms) {
    c->next_stats_ms = now + c->o.stats_interval_ms;
    log_stats(c);
  }
}

static void on_stop_req(uv_async_t *a) {
  cs_collector *c = a->data;
  if (c->stopping)
    return;
  c->stopping = 1;
  cs_log(CS_LOG_INFO, "collector", "stopping: closing listeners, draining %llu queued frames",
         (unsigned long long)STAT_GET(c, queue_items));
  __cs_tcp_close_listener(c);
  __cs_udp_close(c);
  __cs_tcp_pause_all(c);
  __cs_recv_stop(c); /* before the writer: HTTP requests wait for it */
  __cs_writer_stop(c);
}

/* Writer drained and gone: send the last acks (done by on_wake before
 * us), close every connection after its writes, then our own handles. */
static void finish(cs_collector *c) {
  c->finished = 1;
  pthread_join(c->writer, NULL);
  c->writer_started = 0;
  log_stats(c);
  __cs_tcp_shutdown_all(c);
  uv_close((uv_handle_t *)&c->tick, NULL);
  uv_close((uv_handle_t *)&c->wake, NULL);
  uv_close((uv_handle_t *)&c->stop_req, NULL);
  cs_log(CS_LOG_INFO, "collector", "stopped: %llu spans written",
         (unsigned long long)STAT_GET(c, spans_written));
}

int cs_collector_start(cs_collector *c, uv_loop_t *loop) {
  c->loop = loop;
  int rc;
  uv_async_init(loop, &c->wake, on_wake);
  c->wake.data = c;
  uv_async_init(loop, &c->stop_req, on_stop_req);
  c->stop_req.data = c;
  uv_timer_init(loop, &c->tick);
  c->tick.data = c;
  c->started = 1;
  c->next_stats_ms = __cs_now_ms() + c->o.stats_interval_ms;
  if (c->o.tcp_port >= 0 && (rc = __cs_tcp_start(c)))
    goto fail;
  if (c->o.udp_port >= 0 && (rc = __cs_udp_start(c)))
    goto fail;
  if ((rc = __cs_writer_start(c))) {
    cs_log(CS_LOG_ERROR, "collector", "cannot start the writer thread: %s", uv_strerror(rc));
    goto fail;
  }
  if ((rc = __cs_recv_start(c))) {
    __cs_recv_stop(c);
    __cs_writer_stop(c);
    pthread_join(c->writer, NULL);
    c->writer_started = 0;
    goto fail;
  }
  uv_timer_start(&c->tick, on_tick, 1000, 1000);
  return 0;
fail:
  /* Leave the loop runnable to completion: close what was opened. */
  c->stopping = c->finished = 1;
  c->started = 0;
  __cs_tcp_close_listener(c);
  __cs_udp_close(c);
  uv_close((uv_handle_t *)&c->tick, NULL);
  uv_close((uv_handle_t *)&c->wake, NULL);
  uv_close((uv_handle_t *)&c->stop_req, NULL);
  return rc;
}

void cs_collector_stop(cs_collector *c) {
  if (c->started)
    uv_async_send(&c->stop_req);
}

void cs_collector_free(cs_collector *c) {
  if (!c)
    return;
  if (c->writer_started) { /* stopped without running the loop to the end */
    __cs_writer_stop(c);
    pthread_join(c->writer, NULL);
  }
  for (cs_item *it = c->q_head, *next; it; it = next) {
    next = it->next;
    if (it->on_done)
      it->on_done(it->done_ud, 1);
    __cs_item_free(it);
  }
  __cs_recv_free(c);
  free(c->done);
  free(c->done_local);
  free(c->tcp_rbuf);
  free(c->udp_rbuf);
  pthread_mutex_destroy(&c->mu);
  pthread_cond_destroy(&c->cv);
  free(c);
}
