/* Shared between the load generator's files: its configuration, the
 * counters each sender thread keeps, and the frame producer that turns the
 * benchmark workload into native frames. */
#ifndef CS_LOADGEN_H
#define CS_LOADGEN_H

#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "arena.h"
#include "span.h"
#include "workload.h"

typedef struct lg_config {
  int mode; /* LG_TCP, LG_UDP, LG_DRY */
  struct sockaddr_storage addr;
  socklen_t addrlen;
  int conns;
  double duration_s;    /* stop generating after this long (0 = no limit) */
  uint64_t total_spans; /* or after this many spans (0 = no limit) */
  uint64_t rate;        /* spans/s over all connections, 0 = unlimited */
  uint32_t batch;       /* spans per TCP frame */
  uint32_t window;      /* unacknowledged TCP frames per connection */
  uint32_t udp_size;    /* max datagram size, header included */
  uint64_t seed;
  uint64_t start_ns;    /* first trace start, 0 = now */
  uint64_t gap_ns;      /* simulated time between traces */
  double drain_s;       /* how long to wait for the last ACKs */
  double connect_s;     /* how long to keep retrying a connection */
  double ack_timeout_s; /* reconnect and resend when an ACK is this late */
  int per_service;      /* frames hold one service's spans, not whole traces */
} lg_config;

enum { LG_TCP = 1, LG_UDP = 2, LG_DRY = 3 };

/* Per-thread counters; the main thread reads them while senders run. */
typedef struct lg_stats {
  _Atomic uint64_t sent_spans, sent_frames, sent_bytes;
  _Atomic uint64_t acked_spans, acked_frames; /* spans of frames whose ACK came back */
  _Atomic uint64_t accepted, rejected;        /* as reported in the ACK payloads */
  _Atomic uint64_t reconnects, send_errors, resent_frames;
  int failed; /* gave up (message printed) */
} lg_stats;

typedef struct lg_thread {
  const lg_config *cfg;
  int index;
  uint64_t quota; /* spans this thread sends, 0 = unlimited */
  uint64_t rate;  /* this thread's share of cfg->rate */
  lg_stats st;
} lg_thread;

/* Set by SIGINT/SIGTERM or when the duration is over: stop generating. */
extern atomic_int lg_stop;

/* Produces frames from the workload: whole traces, split into chunks of at
 * most max_spans spans, each encoded so that header + payload <= max_frame.
 * With per_service, each frame holds the spans of one service only (from
 * about 5x as many traces), the way per-service exporters send them. */
typedef struct lg_producer {
  cs_workload *w;
  cs_arena arena;
  cs_span *spans; /* current batch of whole traces */
  size_t n, pos;
  uint32_t max_spans;
  size_t max_frame;
  int per_service;
} lg_producer;

int lg_producer_init(lg_producer *p, const lg_config *cfg, int index, uint32_t max_spans,
                     size_t max_frame);
void lg_producer_release(lg_producer *p);

/* Encodes the next frame (header included) into buf[0, cap), cap >=
 * max_frame; *len gets its size, *nspans its span count. The frame's
 * sequence number is seq. Returns 0, or -1 if a single span does not fit. */
int lg_producer_next(lg_producer *p, uint8_t *buf, size_t cap, uint64_t seq, size_t *len,
                     uint32_t *nspans);

double lg_now(void); /* monotonic seconds */

/* Sleeps until this thread may send `more` spans without going over its
 * rate since t0; returns at once when rate is 0 or on stop. */
void lg_pace(uint64_t rate, double t0, uint64_t sent, uint64_t more);

void *lg_run_tcp(void *arg);
void *lg_run_udp(void *arg);
void *lg_run_dry(void *arg);

#endif
