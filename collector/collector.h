/* The collector: native frames over UDP and TCP in, validated spans out to
 * a cs_store, acknowledgements back once a batch is durable. It runs on a
 * libuv loop the caller owns (the daemon's main loop, or a thread of an
 * all-in-one binary next to the query server sharing the same cs_store) and
 * keeps one writer thread of its own for the store. */
#ifndef CS_COLLECTOR_H
#define CS_COLLECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "decode.h"
#include "store.h"
#include "validate.h"

typedef struct cs_collector cs_collector;

typedef struct cs_collector_opts {
  const char *listen_addr;     /* IPv4 or IPv6 literal; default "127.0.0.1" */
  int tcp_port;                /* default CS_PORT_NATIVE; 0 = ephemeral; -1 = off */
  int udp_port;                /* same */
  size_t max_queue_bytes;      /* decoded frames waiting for the writer; 128 MiB */
  size_t max_conn_buffer_bytes; /* partial frames over all TCP conns; 64 MiB */
  uint32_t max_conns;          /* open TCP connections; 1024 */
  uint32_t max_frame;          /* TCP payload cap; CS_FRAME_MAX_DEFAULT */
  uint32_t stall_timeout_ms;   /* half a frame buffered, nothing new: close; 10 s */
  uint32_t idle_timeout_ms;    /* nothing received at all: close; 300 s */
  uint32_t stats_interval_ms;  /* one stats log line every...; 10 s, 0 = never */
  uint32_t expire_interval_ms; /* cs_store_expire every...; 0 = never (default) */
  size_t udp_rcvbuf;           /* SO_RCVBUF asked for; 8 MiB */
  size_t max_batch_spans;      /* spans per cs_store_write; 16384 */
  cs_limits limits;            /* span validation caps */
} cs_collector_opts;

/* Fills the defaults listed above. */
void cs_collector_opts_default(cs_collector_opts *o);

/* Self metrics. Counters only grow; "gauge" marks current values. */
#define CS_COLLECTOR_STATS_MAP(X)                                               \
  X(frames_udp)            /* well-formed frames received over UDP */          \
  X(frames_tcp)            /* ... over TCP */                                  \
  X(spans_udp)             /* spans received (accepted + rejected) over UDP */ \
  X(spans_tcp)                                                                 \
  X(spans_rejected)        /* sum over the reasons in rejected[] */            \
  X(utf8_repaired)         /* strings with invalid UTF-8 replaced */           \
  X(metric_frames)                                                             \
  X(metric_points)                                                             \
  X(frame_errors_udp)      /* bad datagrams (framing), by kind in wire_errors */ \
  X(frame_errors_tcp)      /* connections closed for bad framing */            \
  X(decode_errors)         /* frames whose payload is not valid protobuf */    \
  X(decode_nomem)          /* frames over the per-frame decode memory cap */   \
  X(udp_dropped)           /* datagrams dropped: queue full */                 \
  X(udp_dropped_bytes)                                                         \
  X(udp_truncated)         /* datagrams larger than the receive buffer */      \
  X(spans_written)                                                             \
  X(batches_written)                                                           \
  X(write_errors)          /* failed cs_store_write calls */                   \
  X(write_ns_total)        /* time inside cs_store_write */                    \
  X(write_ns_max)                                                              \
  X(write_ns_last)         /* gauge */                                         \
  X(queue_bytes)           /* gauge: bytes waiting for the writer */           \
  X(queue_items)           /* gauge: frames waiting for the writer */          \
  X(queue_bytes_peak)      /* gauge: highest queue_bytes seen */               \
  X(tcp_pauses)            /* times reading was stopped for back pressure */   \
  X(tcp_paused)            /* gauge: 1 while reading is stopped */             \
  X(conns_open)            /* gauge */                                         \
  X(conns_accepted)                                                            \
  X(conns_rejected)        /* refused at the connection cap */                 \
  X(conns_closed_stalled)  /* half a frame, then silence */                    \
  X(conns_closed_idle)                                                         \
  X(conns_closed_error)    /* framing errors, buffer budget, write failures */ \
  X(acks_sent)                                                                 \
  X(acks_orphaned)         /* connection gone before its batch committed */    \
  X(expire_runs)

typedef struct cs_collector_stats {
#define CS_STATS_FIELD(name) uint64_t name;
  CS_COLLECTOR_STATS_MAP(CS_STATS_FIELD)
#undef CS_STATS_FIELD
  uint64_t rejected[CS_REJ__COUNT]; /* spans by validate.h reason */
  uint64_t wire_errors[16];         /* bad frames by -CS_WIRE_* code */
} cs_collector_stats;

/* Creates a collector writing to st (borrowed: it must outlive the
 * collector). opts is copied; NULL means defaults. Returns NULL on ENOMEM.
 * Thread-safety: any thread, before start. */
cs_collector *cs_collector_new(const cs_collector_opts *opts, cs_store *st);

/* Called on the writer thread after each committed batch, with the spans
 * just made durable (borrowed for the duration of the call). For RED metrics
 * and the like; it must be quick: ingest waits for it. Set before start. */
typedef void (*cs_span_observer_fn)(void *ud, const cs_span *spans, size_t n);
void cs_collector_set_span_observer(cs_collector *c, cs_span_observer_fn fn, void *ud);

/* Called on the writer thread once per ResourceMetrics of each decoded
 * ExportMetricsServiceRequest, in arrival order, with its resource converted
 * (service name, attributes). Both are borrowed for the duration of the
 * call. Set before start. */
typedef void (*cs_metrics_sink_fn)(void *ud, const cs_otlp_resource_metrics *rm,
                                   const cs_resource *res);
void cs_collector_set_metrics_sink(cs_collector *c, cs_metrics_sink_fn fn, void *ud);

/* Binds the listeners on loop and starts the writer thread; the caller runs
 * the loop. Returns 0 or a negative libuv error (logged). Thread-safety:
 * the loop's thread. */
int cs_collector_start(cs_collector *c, uv_loop_t *loop);

/* Begins a graceful stop: listeners close, reading stops, the writer drains
 * the queue, pending acknowledgements are sent, then every handle closes so
 * uv_run returns once the collector was the loop's only user.
 * Thread-safety: any thread, also from a signal handler's loop callback. */
void cs_collector_stop(cs_collector *c);

/* Ports actually bound (after start; 0 when off). */
void cs_collector_ports(const cs_collector *c, int *tcp, int *udp);

/* Copies the self metrics. Thread-safety: any thread. */
void cs_collector_get_stats(const cs_collector *c, cs_collector_stats *out);

/* Frees the collector after its loop has finished. Accepts NULL. */
void cs_collector_free(cs_collector *c);

#endif
