/* Internal to the collector's receivers for existing clients: the state
 * recv.c keeps for OTLP/HTTP, Zipkin and StatsD next to the collector. */
#ifndef CS_RECV_INT_H
#define CS_RECV_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "collector_int.h"

typedef struct cs_rh_server cs_rh_server;
typedef struct cs_statsd cs_statsd;
typedef struct cs_recv cs_recv;

#define CS_RH_DECODE_SLOTS 2

struct cs_recv {
  cs_rh_server *otlp, *zipkin;
  cs_statsd *statsd;
  int otlp_port, zipkin_port, statsd_port; /* bound; 0 when off */
  atomic_int stopping;
  /* Memory of the HTTP receivers in aggregate: request bodies being read
   * share one byte budget, and at most CS_RH_DECODE_SLOTS bodies are
   * inflated and decoded at a time (the others wait). */
  _Atomic size_t body_bytes;
  pthread_mutex_t slot_mu;
  pthread_cond_t slot_cv;
  int slots_busy;
  _Atomic uint64_t warn_sec; /* log rate limit shared by the HTTP threads */
  atomic_int warn_left;
};

/* recv_statsd.c: binds UDP port (0 = ephemeral) on the loop, sets *bound. */
int __cs_statsd_start(cs_collector *c, int port, int *bound);
/* Flushes what was aggregated into the queue and closes the socket. */
void __cs_statsd_stop(cs_collector *c);
void __cs_statsd_free(cs_collector *c);

#endif
