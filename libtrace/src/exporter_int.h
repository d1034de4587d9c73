/* Internal to the exporter: the frame queue and the exporter state shared
 * by exporter.c (the thread, batching, metrics), transport.c (the TCP
 * connection, acknowledgements, backoff, circuit breaker) and udp.c (UDP
 * sends and their error queue). */
#ifndef CST_EXPORTER_INT_H
#define CST_EXPORTER_INT_H

#include "internal.h"
#include "wire.h"

#define CONNECT_TIMEOUT_MS 2000
/* The first wait between probes of an open circuit (then doubled up to
 * cfg.breaker_open_ms). */
#define BREAKER_PROBE_MS 250

enum { DISCONNECTED, CONNECTING, CONNECTED };

/* UDP: a span counts as exported once its datagram was sent and no error
 * came back within this window of it (udp.c). */
#define UDP_ERROR_WINDOW_MS 100
#define UDP_PEND_SLOTS 128

/* Spans sent over UDP in one millisecond, waiting for the window to pass. */
typedef struct __cst_udp_pend {
  uint64_t ms, spans;
} __cst_udp_pend;

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
  pthread_mutex_t mu; /* flush_req, flush_sent, flush_done, stopping */
  pthread_cond_t cv;
  /* flush_sent: requests whose data was sent (over TCP: acknowledged);
   * flush_done: also settled (over UDP: the error window passed). */
  uint64_t flush_req, flush_sent, flush_done;
  uint64_t flush_sent_ms; /* when flush_sent last moved */
  int stopping;

  /* exporter thread only */
  int udp, fd, state, ever_connected;
  uint64_t connect_deadline, next_attempt;
  uint32_t failures;
  uint32_t probe_ms; /* 0: circuit closed; else the current wait between probes */
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
  /* UDP: a ring of pend_n slots from pend_head, pend_spans spans in all;
   * udp_warn_ms: when a refusal was last logged as a warning (0: never). */
  __cst_udp_pend pend[UDP_PEND_SLOTS];
  uint32_t pend_head, pend_n;
  uint64_t pend_spans, udp_warn_ms;
};

uint64_t __cst_mono_ms(void);
static inline void __cst_inc(atomic_uint_fast64_t *c, uint64_t n) {
  atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}
void __cst_frame_free(frame *f);
/* Hands a finished frame to the transport (sent now over UDP, queued
 * until acknowledged over TCP). Takes ownership. */
void __cst_tx_udp_send(struct __cst_exporter *ex, frame *f);
/* udp.c: opens and connects the socket with its error queue (0 or -1);
 * reads the error queue and counts the spans whose window passed;
 * when the oldest waiting spans settle (UINT64_MAX: none wait); at
 * shutdown, settles what it can and counts the rest as dropped. */
int __cst_udp_open(struct __cst_exporter *ex);
void __cst_udp_settle(struct __cst_exporter *ex);
uint64_t __cst_udp_next_settle(const struct __cst_exporter *ex);
/* 1 when every datagram sent up to ms (CLOCK_MONOTONIC ms) has settled. */
int __cst_udp_settled_by(const struct __cst_exporter *ex, uint64_t ms);
void __cst_udp_finish(struct __cst_exporter *ex);
void __cst_tx_enqueue(struct __cst_exporter *ex, frame *f);
void __cst_tx_unlink(struct __cst_exporter *ex, frame *f); /* f must not be send_cur */
void __cst_tx_connect(struct __cst_exporter *ex);
void __cst_tx_connected(struct __cst_exporter *ex);
void __cst_tx_failed(struct __cst_exporter *ex, const char *why, int err);
void __cst_tx_close(struct __cst_exporter *ex);
void __cst_tx_read(struct __cst_exporter *ex);
void __cst_tx_write(struct __cst_exporter *ex);

#endif
