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
#include "wire.h"

typedef struct cs_collector cs_collector;

#define CS_CORS_MAX_ORIGINS 16

typedef struct cs_collector_opts {
  const char *listen_addr;       /* IPv4 or IPv6 literal; default "127.0.0.1" */
  int tcp_port;                  /* default CS_PORT_NATIVE; 0 = ephemeral; -1 = off */
  int udp_port;                  /* same */
  size_t max_queue_bytes;        /* decoded frames waiting for the writer; 128 MiB */
  size_t max_udp_queue_bytes;    /* UDP's share of them; 0 (default) = a quarter of */
                                 /* max_queue_bytes; at most max_queue_bytes        */
  size_t max_conn_buffer_bytes;  /* partial frames over all TCP conns; 64 MiB */
  uint32_t max_conns;            /* open TCP connections; 1024 */
  uint32_t max_conns_per_source; /* ... from one address; 256; 0 = no cap */
  uint32_t max_frame;            /* TCP payload cap; CS_FRAME_MAX_DEFAULT */
  uint32_t stall_timeout_ms;     /* half a frame buffered, nothing new: close; 10 s */
  uint32_t idle_timeout_ms;      /* nothing received at all: close; 300 s */
  uint32_t stats_interval_ms;    /* one stats log line every...; 10 s, 0 = never */
  uint32_t expire_interval_ms;   /* cs_store_expire every...; 0 = never (default) */
  size_t udp_rcvbuf;             /* SO_RCVBUF asked for; 8 MiB */
  size_t max_batch_spans;        /* spans per cs_store_write; 16384 */
  cs_limits limits;              /* span validation caps */
  /* Ingest window (all receivers): a span whose end time is before now -
   * retention_s is rejected as "expired" (the store would drop it or
   * expire it within seconds), one ending more than max_future_s after
   * now as "future" (a broken clock; it would outlive the retention). */
  uint64_t retention_s;  /* 0 = keep forever (no "expired"); the store's --retention */
  uint64_t max_future_s; /* 3600; 0 = no limit */
  /* Receivers for existing clients (docs/receivers.md). Ports: >= 0 binds
   * that port (0 = ephemeral) and failing to bind fails the start; -1 =
   * off; CS_PORT_SOFT (the default) tries the standard port and only
   * warns when it is taken. */
  int otlp_http_port;                 /* OTLP/HTTP, standard 4318 */
  int zipkin_port;                    /* Zipkin v2 HTTP, standard 9411 */
  int statsd_port;                    /* StatsD over UDP, standard 8125 */
  size_t http_max_body;               /* request body as received; 8 MiB (413 above) */
  size_t http_max_inflated;           /* body after gzip; 32 MiB (413 above) */
  uint32_t http_max_conns;            /* per HTTP receiver; 256 */
  uint32_t http_max_conns_per_source; /* ... from one address; 64; 0 = no cap */
  uint32_t http_idle_timeout_s;       /* silent connection closed after; 10 s */
  uint32_t http_request_timeout_s;    /* a whole request body within; 30 s */
  uint32_t http_head_timeout_s;       /* request line and headers within; 10 s */
  uint32_t http_max_head;             /* request line and headers, bytes; 32 KiB (431 above) */
  /* Host header check of the HTTP receivers (common/hostcheck.h): names
   * accepted besides loopback and the listen address; borrowed; NULL =
   * none. */
  const struct cs_hostlist *allow_hosts;
  uint32_t statsd_flush_ms; /* StatsD aggregates flushed every; 1000 */
  /* CORS on the HTTP receivers for browser SDKs: allowed Origin values
   * ("*" = any), borrowed (they must outlive the collector). None (the
   * default): no CORS headers, OPTIONS answers 405. */
  const char *cors_origins[CS_CORS_MAX_ORIGINS];
  size_t n_cors_origins;
} cs_collector_opts;

/* Standard ports (CS_PORT_OTLP_HTTP, CS_PORT_ZIPKIN, CS_PORT_STATSD) are
 * in wire.h. */
#define CS_PORT_SOFT (-2)

/* Fills the defaults listed above. */
void cs_collector_opts_default(cs_collector_opts *o);

/* Self metrics. Counters only grow; "gauge" marks current values. */
/* Span counts follow one rule for every receiver: <receiver>_spans counts
 * spans accepted (valid and handed to the store; for HTTP, in requests
 * answered 200/202 after the commit), <receiver>_spans_rejected those that
 * failed validation (reported back in the ACK or partial success), and the
 * HTTP receivers' _spans_refused those of requests refused whole (429/503,
 * nothing stored: the client sends them again). */
#define CS_COLLECTOR_STATS_MAP(X)                                                                  \
  X(frames_udp)     /* well-formed frames received over UDP */                                     \
  X(frames_tcp)     /* ... over TCP */                                                             \
  X(spans_udp)      /* spans accepted from UDP frames */                                           \
  X(spans_tcp)      /* spans accepted from TCP frames */                                           \
  X(spans_rejected) /* failed validation, all receivers; by reason in */                           \
                    /* rejected[]                                     */                           \
  X(utf8_repaired)  /* strings with invalid UTF-8 replaced */                                      \
  X(metric_frames)                                                                                 \
  X(metric_points)                                                                                 \
  X(metric_frames_dropped) /* native metrics frames acked as rejected: no   */                     \
                           /* metrics sink in this process (standalone)     */                     \
  X(frame_errors_udp)      /* bad datagrams (framing), by kind in wire_errors */                   \
  X(frame_errors_tcp)      /* connections closed for bad framing */                                \
  X(decode_errors)         /* frames whose payload is not valid protobuf */                        \
  X(decode_nomem)          /* frames over the per-frame decode memory cap */                       \
  X(udp_dropped)           /* datagrams dropped: UDP's share of the queue */                       \
                           /* full, the whole queue full, disk full       */                       \
  X(udp_dropped_bytes)                                                                             \
  X(udp_dropped_spans) /* spans in those datagrams (counted, not decoded) */                       \
  X(udp_kernel_drops)  /* datagrams the kernel dropped on our socket     */                        \
                       /* (receive buffer full), since it was opened     */                        \
  X(udp_truncated)     /* datagrams larger than the receive buffer */                              \
  X(spans_written)                                                                                 \
  X(batches_written)                                                                               \
  X(write_errors)       /* failed cs_store_write calls (while the disk */                          \
                        /* is full: every refused retry of the batch)  */                          \
  X(write_stalled)      /* gauge: 1 while the store is out of disk     */                          \
                        /* space and the writer holds its batch        */                          \
  X(write_stalls)       /* times that began                            */                          \
  X(spans_write_failed) /* spans in failed writes: not stored (TCP and */                          \
                        /* HTTP senders resend them, UDP ones are lost) */                         \
  X(write_ns_total)     /* time inside cs_store_write */                                           \
  X(write_ns_max)                                                                                  \
  X(write_ns_last)    /* gauge */                                                                  \
  X(queue_bytes)      /* gauge: bytes waiting for the writer */                                    \
  X(queue_items)      /* gauge: frames waiting for the writer */                                   \
  X(queue_bytes_udp)  /* gauge: of queue_bytes, those of UDP frames */                             \
  X(queue_bytes_peak) /* gauge: highest queue_bytes seen */                                        \
  X(tcp_pauses)       /* times reading was stopped for back pressure */                            \
  X(tcp_paused)       /* gauge: 1 while reading is stopped */                                      \
  X(conns_open)       /* gauge */                                                                  \
  X(conns_accepted)                                                                                \
  X(conns_rejected)            /* refused at a cap: every connection in the way busy */            \
  X(conns_rejected_per_source) /* ... of them at the per-source cap */                             \
  X(conns_evicted)             /* quiet ones closed to make room for a newcomer */                 \
  X(conns_closed_stalled)      /* half a frame, then silence */                                    \
  X(conns_closed_idle)                                                                             \
  X(conns_closed_error) /* framing errors, buffer budget, write failures */                        \
  X(acks_sent)                                                                                     \
  X(acks_orphaned) /* connection gone before its batch committed */                                \
  X(expire_runs)                                                                                   \
  X(otlp_http_requests) /* OTLP/HTTP requests (any outcome) */                                     \
  X(otlp_http_spans)    /* accepted (see above) */                                                 \
  X(otlp_http_spans_rejected)                                                                      \
  X(otlp_http_spans_refused)         /* in requests answered 429/503: not stored */                \
  X(otlp_http_metric_points)         /* in requests answered 200 */                                \
  X(otlp_http_metric_points_refused) /* in requests answered 429/503 */                            \
  X(otlp_http_bad_requests)          /* 400: malformed body, wrong types, bad IDs */               \
  X(otlp_http_too_large)             /* 413: body or inflated body over the cap */                 \
  X(otlp_http_unsupported)           /* 404/405/415/501: path, method, content type, */            \
                                     /* /v1/metrics without a metrics sink          */             \
  X(otlp_http_throttled)             /* 429/503: back pressure or stopping */                      \
  X(otlp_http_timeouts)              /* 408: head or body not complete in time */                  \
  X(otlp_http_heads_too_large)       /* 414/431: request line or header fields */                  \
  X(zipkin_requests)                                                                               \
  X(zipkin_spans) /* accepted: in requests answered 202 */                                         \
  X(zipkin_spans_rejected)                                                                         \
  X(zipkin_spans_refused) /* in requests answered 429/503: not stored */                           \
  X(zipkin_bad_requests)                                                                           \
  X(zipkin_too_large)                                                                              \
  X(zipkin_unsupported)                                                                            \
  X(zipkin_throttled)                                                                              \
  X(zipkin_timeouts)                                                                               \
  X(zipkin_heads_too_large)                                                                        \
  X(http_conns_open)     /* gauge: OTLP/HTTP and Zipkin connections */                             \
  X(http_conns_evicted)  /* idle or slow ones closed to make room */                               \
  X(http_conns_rejected) /* refused at a cap: every connection in the way busy */                  \
  X(statsd_datagrams)                                                                              \
  X(statsd_lines)     /* well-formed metric lines */                                               \
  X(statsd_bad_lines) /* lines that do not parse */                                                \
  X(statsd_points)    /* aggregated points handed to the metrics sink */                           \
  X(statsd_dropped)   /* lines dropped: aggregation table full */

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

/* Ports of the OTLP/HTTP, Zipkin and StatsD receivers actually bound
 * (after start; 0 when off or when a soft default port was taken). Any
 * pointer may be NULL. */
void cs_collector_recv_ports(const cs_collector *c, int *otlp_http, int *zipkin, int *statsd);

/* Copies the self metrics. Thread-safety: any thread. */
void cs_collector_get_stats(const cs_collector *c, cs_collector_stats *out);

/* Frees the collector after its loop has finished. Accepts NULL. */
void cs_collector_free(cs_collector *c);

#endif
