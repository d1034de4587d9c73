/* A small stand-in for callscope-collector used by libtrace's tests: a
 * TCP or UDP server on 127.0.0.1 in its own thread that parses native
 * frames (common/wire.h), decodes the OTLP payloads with the protobuf-c
 * code from cs_proto, records what arrived, and acknowledges TCP frames. */
#ifndef FAKE_COLLECTOR_H
#define FAKE_COLLECTOR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fc_attr {
  char key[64];
  int type; /* 1 string, 2 bool, 3 int, 4 double */
  char s[256];
  int64_t i;
  double d;
} fc_attr;

typedef struct fc_span {
  uint8_t trace_id[16], span_id[8], parent[8];
  int has_parent, kind, status;
  char name[128], status_msg[128], tracestate[600], service[64];
  uint64_t start, end;
  uint32_t flags, dropped_attrs, dropped_events, dropped_links;
  int n_attrs, n_all_attrs;
  fc_attr attrs[24];
  int n_events, n_links;
  char event0[64];
  int event0_attrs;
  uint8_t link0_trace[16], link0_span[8];
  uint32_t link0_flags;
} fc_span;

typedef struct fc_metric {
  char name[96], labels[160];
  int kind; /* 5 gauge, 7 sum, 9 histogram */
  int monotonic, temporality;
  int64_t ival;
  double dval;
  uint64_t count;
  double sum, min, max;
  size_t nb;
  uint64_t buckets[70];
  double bounds[70];
} fc_metric;

typedef struct fake_collector {
  int udp, port, lfd, inited;
  pthread_t thr;
  int stop_pipe[2];
  pthread_mutex_t mu;
  fc_span *spans;
  size_t n_spans, cap;
  fc_metric metrics[64];
  size_t n_metrics;
  size_t frames, trace_frames, metric_frames, max_frame, bad_frames, conns;
  int no_ack; /* record frames but never acknowledge */
  int delay_ack_ms;
  int close_on_accept; /* accept, then close at once */
} fake_collector;

/* Starts on 127.0.0.1:port (0 = any free port; fc->port tells). */
int fc_start(fake_collector *fc, int udp, int port);
void fc_stop(fake_collector *fc); /* closes the listener and every connection */
void fc_free(fake_collector *fc);
size_t fc_count(fake_collector *fc);
int fc_wait(fake_collector *fc, size_t n, int timeout_ms); /* 1 when >= n spans arrived */
/* Copies the last span named name into *out; returns 1 if found. */
int fc_find(fake_collector *fc, const char *name, fc_span *out);
int fc_find_metric(fake_collector *fc, const char *name, const char *labels, fc_metric *out);
const fc_attr *fc_attr_get(const fc_span *s, const char *key);
char *fc_endpoint(const fake_collector *fc, char *buf, size_t n);

#endif
