/* The writer thread: takes decoded frames off the queue, writes the spans
 * of many frames as one cs_store_write, then hands the frames' outcomes back
 * to the loop thread, which acknowledges them. Also runs retention, so that
 * every store write comes from this one thread. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "collector_int.h"
#include "log.h"
#include "recv_http.h"

void __cs_item_free(cs_item *it) {
  cs_arena_release(&it->arena);
  free(it);
}

void __cs_queue_push(cs_collector *c, cs_item *it) {
  /* Charge the queue before the writer can see (and free) the item, so the
   * counters never dip below zero. */
  size_t bytes = it->bytes;
  uint64_t qb = STAT_ADD(c, queue_bytes, bytes) + bytes;
  STAT_ADD(c, queue_items, 1);
  if (it->udp) STAT_ADD(c, queue_bytes_udp, bytes);
  if (qb > STAT_GET(c, queue_bytes_peak)) STAT_SET(c, queue_bytes_peak, qb);
  it->next = NULL;
  pthread_mutex_lock(&c->mu);
  if (c->q_tail) c->q_tail->next = it;
  else c->q_head = it;
  c->q_tail = it;
  if (!it->udp) c->q_acked++;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The CLOCK_REALTIME deadline ms from now, for pthread_cond_timedwait. */
static struct timespec deadline_in(uint32_t ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return ts;
}

/* Takes frames off the queue up to max_spans (at least one frame). Frames
 * of acknowledged senders go first: while any wait, UDP frames fill at
 * most a quarter of the batch (and at least one frame of it), so a UDP
 * backlog, up to its share of the queue, does not stand in front of the
 * senders that wait for ACKs. Each kind keeps its order, so ACKs leave in
 * the order frames came in. Waits up to wait_ms when empty. Returns NULL
 * when empty. */
static cs_item *take_batch(cs_collector *c, size_t max_spans, uint32_t wait_ms, int *exit_now) {
  pthread_mutex_lock(&c->mu);
  if (!c->q_head && !c->writer_exit) {
    struct timespec ts = deadline_in(wait_ms);
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
  }
  cs_item *batch = NULL, **end = &batch, **pp = &c->q_head, *prev = NULL;
  size_t spans = 0, udp_spans = 0;
  int udp_done = 0; /* a UDP frame was left: leave every later one too */
  for (cs_item *it; (it = *pp);) {
    int fits = !batch || spans + it->n_spans <= max_spans;
    if (!it->udp && !fits) break;
    if (it->udp && (udp_done || !fits ||
                    (c->q_acked && udp_spans && udp_spans + it->n_spans > max_spans / 4))) {
      udp_done = 1;
      if (!c->q_acked) break;
      prev = it;
      pp = &it->next;
      continue;
    }
    *pp = it->next; /* unlink it, append it to the batch */
    if (c->q_tail == it) c->q_tail = prev;
    it->next = NULL;
    *end = it;
    end = &it->next;
    spans += it->n_spans;
    if (it->udp) udp_spans += it->n_spans;
    else c->q_acked--;
  }
  *exit_now = c->writer_exit && !c->q_head && !batch;
  pthread_mutex_unlock(&c->mu);
  return batch;
}

static void post_done(cs_collector *c, const cs_done *d, size_t n) {
  if (n == 0) return;
  pthread_mutex_lock(&c->mu);
  if (c->n_done + n > c->done_cap) {
    size_t cap = c->done_cap ? c->done_cap : 256;
    while (cap < c->n_done + n) cap *= 2;
    cs_done *nd = realloc(c->done, cap * sizeof *nd);
    if (!nd) {
      /* Without memory to report them, these frames are left unacked: the
       * senders time out and resend, which the store absorbs. */
      pthread_mutex_unlock(&c->mu);
      cs_log(CS_LOG_ERROR, "collector", "out of memory for %zu acknowledgements", n);
      return;
    }
    c->done = nd;
    c->done_cap = cap;
  }
  memcpy(c->done + c->n_done, d, n * sizeof *d);
  c->n_done += n;
  pthread_mutex_unlock(&c->mu);
  uv_async_send(&c->wake);
}

static int writer_exiting(cs_collector *c) {
  pthread_mutex_lock(&c->mu);
  int x = c->writer_exit;
  pthread_mutex_unlock(&c->mu);
  return x;
}

/* Sleeps ms, or less when the collector stops. */
static void writer_nap(cs_collector *c, uint32_t ms) {
  struct timespec ts = deadline_in(ms);
  pthread_mutex_lock(&c->mu);
  /* Queue pushes signal the same condition: wait out the whole nap. */
  while (!c->writer_exit)
    if (pthread_cond_timedwait(&c->cv, &c->mu, &ts)) break;
  pthread_mutex_unlock(&c->mu);
}

static void log_stall(cs_collector *c, size_t n_spans, size_t n_items) {
  cs_store_space sp;
  int have = cs_store_space_get(c->store, &sp) == 0;
  cs_log(CS_LOG_ERROR, "collector",
         "store out of disk space in %s (%.1f MiB free, RocksDB resumes with %.0f MiB free): "
         "writes stopped, holding %zu frames (%zu spans) unacknowledged; tcp reading paused, "
         "http answered 429, udp dropped; writes resume by themselves once space is freed",
         have ? sp.dir : "the data directory", have ? (double)sp.free_bytes / 1048576.0 : 0.0,
         have ? (double)sp.headroom_bytes / 1048576.0 : 0.0, n_items, n_spans);
}

/* Writes spans. While the store is out of disk space the batch stays
 * here, unacknowledged, and the write is retried (the store refuses at
 * once until RocksDB has recovered, which it does by itself once the
 * headroom is free); the loop meanwhile pauses TCP reading, answers HTTP
 * 429 and drops UDP. The state is logged once when it begins and once
 * when it ends. At the stop one more attempt is made, then the batch is
 * given up (CS_STORE_ENOSPC: not acknowledged, senders resend). */
static int write_spans(cs_collector *c, const cs_span *spans, size_t n, size_t n_items) {
  uint32_t nap_ms = 100;
  uint64_t stalled_at = 0, refused = 0;
  for (;;) {
    uint64_t t0 = mono_ns();
    int rc = cs_store_write(c->store, spans, n);
    uint64_t dt = mono_ns() - t0;
    if (rc != CS_STORE_ENOSPC) {
      STAT_ADD(c, write_ns_total, dt);
      STAT_SET(c, write_ns_last, dt);
      if (dt > STAT_GET(c, write_ns_max)) STAT_SET(c, write_ns_max, dt);
    }
    if (rc != CS_STORE_ENOSPC) {
      if (stalled_at) {
        STAT_SET(c, write_stalled, 0);
        cs_log(rc ? CS_LOG_ERROR : CS_LOG_INFO, "collector",
               "store %s after %.1f s out of disk space (%llu writes refused): held batch of "
               "%zu spans %s, reading resumes",
               rc ? "failed" : "writable again", (double)(mono_ns() - stalled_at) / 1e9,
               (unsigned long long)refused, n, rc ? "not written" : "written");
        uv_async_send(&c->wake);
      }
      return rc;
    }
    STAT_ADD(c, write_errors, 1);
    refused++;
    if (STAT_GET(c, write_stalled) == 0) {
      STAT_SET(c, write_stalled, 1);
      STAT_ADD(c, write_stalls, 1);
      log_stall(c, n, n_items);
      uv_async_send(&c->wake); /* the loop pauses its sources */
    }
    if (!stalled_at) stalled_at = mono_ns();
    if (writer_exiting(c)) {
      if (!c->stall_stop_logged)
        cs_log(CS_LOG_WARN, "collector",
               "stopping with the store out of disk space: the queued frames are not written "
               "and not acknowledged (senders resend)");
      c->stall_stop_logged = 1;
      return rc;
    }
    writer_nap(c, nap_ms);
    nap_ms = nap_ms * 2 > 1000 ? 1000 : nap_ms * 2;
  }
}

typedef struct wbuf {
  cs_span *spans;
  size_t cap;
  cs_done *done;
  size_t done_cap;
} wbuf;

static int wbuf_fit(wbuf *w, size_t spans, size_t items) {
  if (spans > w->cap) {
    cs_span *ns = realloc(w->spans, spans * sizeof *ns);
    if (!ns) return -1;
    w->spans = ns;
    w->cap = spans;
  }
  if (items > w->done_cap) {
    cs_done *nd = realloc(w->done, items * sizeof *nd);
    if (!nd) return -1;
    w->done = nd;
    w->done_cap = items;
  }
  return 0;
}

static void write_batch(cs_collector *c, cs_item *batch, wbuf *w) {
  size_t n_spans = 0, n_items = 0, bytes = 0, udp_bytes = 0;
  for (cs_item *it = batch; it; it = it->next) {
    n_spans += it->n_spans;
    n_items++;
  }
  int rc = wbuf_fit(w, n_spans, n_items) ? CS_STORE_ENOMEM : CS_STORE_OK;
  if (rc == CS_STORE_OK && n_spans) {
    size_t k = 0;
    for (cs_item *it = batch; it; it = it->next) {
      if (!it->n_spans) continue; /* metrics and undecodable frames */
      memcpy(w->spans + k, it->spans, it->n_spans * sizeof *it->spans);
      k += it->n_spans;
    }
    rc = write_spans(c, w->spans, n_spans, n_items);
  }
  if (rc == CS_STORE_OK) {
    if (n_spans) {
      STAT_ADD(c, spans_written, n_spans);
      STAT_ADD(c, batches_written, 1);
      if (c->observer) c->observer(c->observer_ud, w->spans, n_spans);
    }
    for (cs_item *it = batch; it && c->metrics_sink; it = it->next)
      if (it->metrics)
        for (size_t i = 0; i < it->metrics->n_resource_metrics; i++)
          c->metrics_sink(c->metrics_ud, it->metrics->resource_metrics[i], &it->resources[i]);
  } else {
    STAT_ADD(c, spans_write_failed, n_spans);
    if (rc != CS_STORE_ENOSPC) { /* ENOSPC (given up at a stop): counted by write_spans */
      STAT_ADD(c, write_errors, 1);
      __cs_recv_warn(c, "store write failed: %s (%zu spans, %zu frames not acknowledged)",
                     cs_store_strerror(rc), n_spans, n_items);
    }
  }
  size_t k = 0;
  cs_item *it = batch;
  while (it) {
    cs_item *next = it->next;
    if (it->conn && k < w->done_cap)
      w->done[k++] = (cs_done){it->conn, it->seq, it->accepted, it->rejected, rc != CS_STORE_OK};
    if (it->on_done) it->on_done(it->done_ud, rc != CS_STORE_OK);
    bytes += it->bytes;
    if (it->udp) udp_bytes += it->bytes;
    __cs_item_free(it);
    it = next;
  }
  atomic_fetch_sub_explicit(&c->st.queue_bytes, bytes, memory_order_relaxed);
  atomic_fetch_sub_explicit(&c->st.queue_bytes_udp, udp_bytes, memory_order_relaxed);
  atomic_fetch_sub_explicit(&c->st.queue_items, n_items, memory_order_relaxed);
  post_done(c, w->done, k);
  /* The loop resumes reading when the queue has drained enough; it only
   * learns that through a wake-up. */
  if (k == 0) uv_async_send(&c->wake);
}

static void *writer_main(void *arg) {
  cs_collector *c = arg;
  wbuf w = {0};
  uint64_t next_expire = mono_ns() + (uint64_t)c->o.expire_interval_ms * 1000000u;
  for (;;) {
    int exit_now = 0;
    cs_item *batch = take_batch(c, c->o.max_batch_spans, 1000, &exit_now);
    if (batch) write_batch(c, batch, &w);
    /* Expiry drops column families: not while RocksDB refuses writes. */
    if (c->o.expire_interval_ms && mono_ns() >= next_expire && !STAT_GET(c, write_stalled)) {
      int rc = cs_store_expire(c->store, wall_ns());
      if (rc) cs_log(CS_LOG_ERROR, "collector", "retention expiry failed: %s", cs_store_strerror(rc));
      STAT_ADD(c, expire_runs, 1);
      next_expire = mono_ns() + (uint64_t)c->o.expire_interval_ms * 1000000u;
    }
    if (exit_now) break;
  }
  free(w.spans);
  free(w.done);
  pthread_mutex_lock(&c->mu);
  c->writer_done = 1;
  pthread_mutex_unlock(&c->mu);
  uv_async_send(&c->wake);
  return NULL;
}

int __cs_writer_start(cs_collector *c) {
  int rc = pthread_create(&c->writer, NULL, writer_main, c);
  if (rc) return -rc;
  c->writer_started = 1;
  return 0;
}

void __cs_writer_stop(cs_collector *c) {
  pthread_mutex_lock(&c->mu);
  c->writer_exit = 1;
  pthread_cond_signal(&c->cv);
  pthread_mutex_unlock(&c->mu);
}
