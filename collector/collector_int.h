/* Internal to the collector: the state shared by its files. The loop thread
 * owns the listeners and connections; the writer thread owns the store;
 * they meet at the queue (loop -> writer) and the done list (writer ->
 * loop), both under one mutex, and the loop is woken through a uv_async. */
#ifndef CS_COLLECTOR_INT_H
#define CS_COLLECTOR_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "collector.h"
#include "connpool.h"
#include "framer.h"

#define CS_ACK_UNKNOWN UINT32_MAX /* "rejected" of an undecodable frame */

typedef struct cs_conn cs_conn;

/* One decoded frame on its way to the store. */
typedef struct cs_item {
  struct cs_item *next;
  cs_arena arena; /* owns everything the spans point to */
  uint8_t type;   /* CS_FRAME_TRACES or CS_FRAME_METRICS */
  cs_span *spans; /* TRACES: valid spans */
  size_t n_spans;
  cs_otlp_metrics *metrics; /* METRICS: NULL when undecodable */
  cs_resource *resources;
  uint32_t accepted, rejected; /* for the ACK */
  cs_conn *conn;               /* NULL for UDP */
  uint8_t udp;                 /* charged to UDP's share of the queue too */
  uint64_t seq;
  size_t bytes; /* charged to the queue */
  /* HTTP receivers: called on the writer thread once the item's write
   * committed (failed = 0) or failed, before the item is freed. */
  void (*on_done)(void *ud, int failed);
  void *done_ud;
} cs_item;

/* What the writer hands back to the loop per committed frame. */
typedef struct cs_done {
  cs_conn *conn;
  uint64_t seq;
  uint32_t accepted, rejected;
  int failed; /* the store write failed: no ACK, close the connection */
} cs_done;

struct cs_conn {
  uv_tcp_t h; /* first: the handle's address is the conn's */
  cs_collector *c;
  cs_pool_conn pe; /* in c->tcp_pool; pe.since_ms: last bytes received */
  cs_framer fr;
  uint32_t pending;  /* frames queued whose cs_done has not come back */
  int closing;       /* uv_close called or requested */
  int handle_closed; /* close callback ran */
  char peer[64];
};

typedef struct cs_stats_atomic {
#define CS_STATS_ATOMIC(name) _Atomic uint64_t name;
  CS_COLLECTOR_STATS_MAP(CS_STATS_ATOMIC)
#undef CS_STATS_ATOMIC
  _Atomic uint64_t rejected[CS_REJ__COUNT];
  _Atomic uint64_t wire_errors[16];
} cs_stats_atomic;

#define STAT_ADD(c, f, v) atomic_fetch_add_explicit(&(c)->st.f, (uint64_t)(v), memory_order_relaxed)
#define STAT_SET(c, f, v) atomic_store_explicit(&(c)->st.f, (uint64_t)(v), memory_order_relaxed)
#define STAT_GET(c, f) atomic_load_explicit(&(c)->st.f, memory_order_relaxed)

struct cs_collector {
  cs_collector_opts o;
  char listen_addr[64];
  cs_store *store;
  uv_loop_t *loop;
  cs_stats_atomic st;

  /* Loop thread. */
  uv_tcp_t tcp;
  uv_udp_t udp;
  uv_timer_t tick;
  uv_async_t wake;     /* writer -> loop: acks ready, writer done */
  uv_async_t stop_req; /* anyone -> loop: stop */
  int tcp_on, udp_on, started, stopping, finished;
  int tcp_port, udp_port;
  cs_connpool tcp_pool; /* open connections, caps (connpool.h) */
  cs_framer_budget budget;
  uint8_t *tcp_rbuf, *udp_rbuf;
  size_t udp_rbuf_len;
  int paused;
  size_t high, low; /* queue watermarks, bytes */
  size_t udp_high;  /* UDP's share of the queue: above it datagrams drop */
  size_t acked_low; /* ... or resume once the rest is down to this */
  uint64_t next_stats_ms;
  uint32_t warn_budget, warn_suppressed; /* log rate limit, per second */
  cs_done *done_local;                   /* swapped with done under mu */
  size_t done_local_cap;

  /* Shared under mu. */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  cs_item *q_head, *q_tail;
  size_t q_acked; /* items in it that are not UDP frames */
  cs_done *done;
  size_t n_done, done_cap;
  int writer_exit, writer_done;
  pthread_t writer;
  int writer_started;

  /* Receivers for existing clients (recv.c): OTLP/HTTP, Zipkin, StatsD. */
  struct cs_recv *recv;

  /* Writer thread. */
  cs_span_observer_fn observer;
  void *observer_ud;
  cs_metrics_sink_fn metrics_sink;
  void *metrics_ud;
  int stall_stop_logged; /* stopping while out of disk space: said once */
};

/* collector.c */
uint64_t __cs_now_ms(void);
/* Logs an event caused by a peer, rate-limited (per second, all peers). */
void __cs_log_peer(cs_collector *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Decodes one frame from a transport and queues it; conn NULL for UDP. */
void __cs_handle_frame(cs_collector *c, cs_conn *conn, const cs_frame_hdr *h,
                       const uint8_t *payload);
/* Who asks __cs_admit for room in the queue. Acknowledged senders (TCP,
 * HTTP) and StatsD's aggregates (which wait and merge into the next flush
 * when refused, losing nothing) share the whole queue; native UDP frames,
 * fire-and-forget, only their own share of it (max_udp_queue_bytes), so a
 * UDP flood cannot hold the queue above the mark that pauses TCP. */
enum { CS_ADMIT_ACKED, CS_ADMIT_UDP };
/* Whether an item from source `from` may be queued now: not while the
 * store is out of disk space, nor above the queue's high watermark, nor,
 * for CS_ADMIT_UDP, above UDP's share. Thread-safety: any thread. */
int __cs_admit(cs_collector *c, int from);
/* Stops TCP reading when __cs_admit(c, CS_ADMIT_ACKED) says no. Loop thread. */
void __cs_maybe_pause(cs_collector *c);
/* Removes the spans outside the ingest window (retention_s, max_future_s)
 * from spans[0..*n) in place, counts them in rej (EXPIRED, FUTURE) and logs
 * them rate-limited under from ("tcp", "otlp-http", ...). Returns how many
 * were removed. Thread-safety: any thread. */
uint32_t __cs_reject_out_of_window(cs_collector *c, cs_span *spans, size_t *n,
                                   cs_reject_counts *rej, const char *from);

/* writer.c */
void __cs_queue_push(cs_collector *c, cs_item *it);
void __cs_item_free(cs_item *it);
int __cs_writer_start(cs_collector *c);
void __cs_writer_stop(cs_collector *c); /* asks it to drain and exit */

/* listen_tcp.c */
int __cs_tcp_start(cs_collector *c);
void __cs_tcp_close_listener(cs_collector *c);
void __cs_conn_close(cs_conn *conn, const char *why);
/* Sends n bytes of consecutive ACK frames (n_acks of them) to the peer. */
void __cs_conn_write_acks(cs_conn *conn, const uint8_t *frames, size_t n, uint32_t n_acks);
void __cs_conn_release(cs_conn *conn); /* pending-- and free when possible */
void __cs_tcp_pause_all(cs_collector *c);
void __cs_tcp_resume_all(cs_collector *c);
void __cs_tcp_sweep(cs_collector *c, uint64_t now_ms); /* stalled and idle */
void __cs_tcp_shutdown_all(cs_collector *c);

/* recv.c: the OTLP/HTTP, Zipkin and StatsD receivers. start binds them
 * (0 or a negative libuv error); stop ends them while the writer still
 * runs (HTTP requests in flight wait for it), flushing StatsD aggregates
 * into the queue; free releases what is left. */
int __cs_recv_start(cs_collector *c);
void __cs_recv_stop(cs_collector *c);
void __cs_recv_free(cs_collector *c);
/* One stats line for the receivers that are on (after the collector's). */
void __cs_recv_log_stats(cs_collector *c, const cs_collector_stats *s);

/* listen_udp.c */
int __cs_udp_start(cs_collector *c);
void __cs_udp_close(cs_collector *c);
/* Publishes the kernel's drop count of the socket (udp_kernel_drops). */
void __cs_udp_poll_drops(cs_collector *c);

#endif
