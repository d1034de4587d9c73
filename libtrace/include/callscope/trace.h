/* callscope/trace.h: the whole public contract of libcallscope-trace, the
 * Callscope instrumentation library. A service links it to record spans and
 * metrics and send them to callscope-collector. Anything not declared here
 * is not API. (The name is callscope-trace, not "libtrace", so it never
 * clashes with Debian's unrelated packet-capture library of that name.)
 *
 * Quick start:
 *
 *   cst_config cfg;
 *   cst_config_init(&cfg);             // defaults + OTEL_* environment
 *   cfg.service_name = "orders";
 *   cst_tracer *t;
 *   if (cst_tracer_new(&cfg, &t) != CST_OK) ...  // never fatal: run without
 *   cst_span *s = cst_span_start(t, "GET /orders", CST_KIND_SERVER, NULL);
 *   cst_span_set_int(s, "http.status_code", 200);
 *   cst_span_end(s);
 *   cst_tracer_free(t);                // flushes, bounded by a timeout
 *
 * General rules, true for every function unless its comment says otherwise:
 * - Strings passed in are copied before the call returns; the caller keeps
 *   ownership. Returned pointers are borrowed and the comment says how long
 *   they stay valid.
 * - Nothing blocks the calling thread on I/O, nothing aborts, nothing is
 *   written to stderr (install cst_config.log to see the library's messages).
 *   When buffers are full or the collector is away, data is dropped and
 *   counted (cst_tracer_stats() and the exported health metrics).
 * - Span and metric calls never fail visibly: a span call on a span that is
 *   not recording (unsampled, or the tracer could not allocate) is a cheap
 *   no-op, so instrumented code needs no error checks on the hot path.
 * - fork(): a tracer created before fork() is inert in the child (spans are
 *   not recorded, nothing is sent, metric updates are ignored by the
 *   exporter); the parent is unaffected. Call cst_tracer_free() on it in the
 *   child (safe, it does not flush) and create a new tracer there.
 */
#ifndef CALLSCOPE_TRACE_H
#define CALLSCOPE_TRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define CST_API __attribute__((visibility("default")))
#else
#define CST_API
#endif

#define CST_VERSION_MAJOR 0
#define CST_VERSION_MINOR 1
#define CST_VERSION_PATCH 0

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* Every function returning int returns CST_OK (0) or one of these negative
 * codes. The list is generated once from this X-macro. */
#define CST_ERRNO_MAP(X)                                                                           \
  X(EINVAL, -1, "invalid argument")                                                                \
  X(ENOMEM, -2, "out of memory")                                                                   \
  X(EENDPOINT, -3, "malformed endpoint, want udp://host:port or tcp://host:port")                  \
  X(EENV, -4, "malformed environment variable")                                                    \
  X(ETHREAD, -5, "cannot start the exporter thread")                                               \
  X(ETIMEDOUT, -6, "timed out")                                                                    \
  X(ELIMIT, -7, "limit exceeded")                                                                  \
  X(EFORKED, -8, "tracer was created in another process (fork)")                                   \
  X(ESOCKET, -9, "cannot create socket")

typedef enum cst_err {
  CST_OK = 0,
#define CST_ERR_ENUM_(name, val, msg) CST_##name = val,
  CST_ERRNO_MAP(CST_ERR_ENUM_)
#undef CST_ERR_ENUM_
} cst_err;

/* Returns a static, human-readable message for an error code (also for
 * unknown codes). Thread-safety: safe from any thread. */
CST_API const char *cst_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Configuration and the tracer                                              */

/* Log callback: level is one of CST_LOG_*, msg is a NUL-terminated line
 * without a newline, valid only during the call. It is called from the
 * exporter thread or from the thread calling a cst_tracer_* function, never
 * from span or metric calls. It must not call back into the tracer. */
enum cst_log_level { CST_LOG_ERROR = 0, CST_LOG_WARN = 1, CST_LOG_INFO = 2, CST_LOG_DEBUG = 3 };
typedef void (*cst_log_fn)(void *user, int level, const char *msg);

typedef enum cst_sampler_kind {
  CST_SAMPLER_DEFAULT = 0,           /* from OTEL_TRACES_SAMPLER, else PARENT_ALWAYS_ON */
  CST_SAMPLER_ALWAYS_ON = 1,         /* "always_on" */
  CST_SAMPLER_ALWAYS_OFF = 2,        /* "always_off" */
  CST_SAMPLER_RATIO = 3,             /* "traceidratio": see cst_sample_ratio() */
  CST_SAMPLER_PARENT_ALWAYS_ON = 4,  /* "parentbased_always_on" */
  CST_SAMPLER_PARENT_ALWAYS_OFF = 5, /* "parentbased_always_off" */
  CST_SAMPLER_PARENT_RATIO = 6,      /* "parentbased_traceidratio" */
} cst_sampler_kind;

/* Propagation formats, a bit set. */
enum cst_prop_format {
  CST_PROP_TRACECONTEXT = 1, /* W3C traceparent + tracestate */
  CST_PROP_BAGGAGE = 2,      /* W3C baggage (carries session.id) */
  CST_PROP_B3 = 4,           /* B3 single header "b3" */
  /* B3 multi: X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId, X-B3-Sampled, X-B3-Flags */
  CST_PROP_B3_MULTI = 8,
  CST_PROP_NONE = 0x100, /* OTEL_PROPAGATORS=none: inject and extract nothing */
};
#define CST_PROP_DEFAULT (CST_PROP_TRACECONTEXT | CST_PROP_BAGGAGE)

/* Flags for cst_config.flags (none defined yet; leave 0). */

/* Tracer configuration. Fill it with cst_config_init(), then override
 * fields. Zero or NULL in a field means "use the default". All strings are
 * copied by cst_tracer_new(). Defaults are listed per field. */
typedef struct cst_config {
  unsigned flags; /* reserved, 0 */
  /* Resource. service_name defaults to OTEL_SERVICE_NAME, then the
   * service.name of OTEL_RESOURCE_ATTRIBUTES, then "unknown_service". */
  const char *service_name;
  const char *service_version;  /* service.version, optional */
  const char *service_instance; /* service.instance.id; default: random UUID-like hex */
  /* Resource attributes "k1=v1,k2=v2" (values percent-encoded, the
   * OTEL_RESOURCE_ATTRIBUTES syntax); cst_config_init sets it from
   * OTEL_RESOURCE_ATTRIBUTES. The service_* fields above win over entries of
   * the same key here; host.name and process.pid are added when absent. */
  const char *resource_attributes;
  /* "udp://host:port" or "tcp://host:port" (host: IPv4/IPv6 literal or a
   * name resolved once at cst_tracer_new). Default CALLSCOPE_ENDPOINT, then
   * "udp://127.0.0.1:4320" (the collector's native port, CS_PORT_NATIVE). */
  const char *endpoint;
  /* Sampler: default OTEL_TRACES_SAMPLER, then PARENT_ALWAYS_ON. Ratio 0..1
   * for the *_RATIO samplers: cst_config_init sets OTEL_TRACES_SAMPLER_ARG,
   * else 1.0. */
  cst_sampler_kind sampler;
  double sampler_ratio;
  /* CST_PROP_* returned by cst_tracer_propagators(): default
   * OTEL_PROPAGATORS, then CST_PROP_DEFAULT. */
  unsigned propagators;

  /* Buffers and batching. */
  uint32_t ring_bytes;  /* per-thread span ring, default 262144 (256 KiB), min 16384 */
  uint32_t max_threads; /* threads recording at once, default 1024; more: dropped + counted */
  /* Encoded size cap of one span, default 16384 (at most ring_bytes / 4);
   * attributes, events or links beyond it are dropped + counted. */
  uint32_t max_span_bytes;
  uint32_t batch_max_spans;       /* spans per frame, default 512 */
  uint32_t batch_timeout_ms;      /* a partial batch is sent after this, default 200 */
  uint32_t udp_datagram_bytes;    /* UDP frame size cap incl. header, default 8192, max 65507 */
  uint32_t tcp_max_unacked_bytes; /* TCP frames kept until acknowledged, default 8 MiB */
  /* Metric export period: default OTEL_METRIC_EXPORT_INTERVAL, then 10000. */
  uint32_t metrics_interval_ms;
  uint32_t shutdown_timeout_ms; /* cst_tracer_free() flush bound, default 2000 */

  /* TCP reconnection: exponential backoff from backoff_initial_ms up to
   * backoff_max_ms, each wait drawn between half and all of the current
   * step (jitter); after breaker_failures failures in a row (a connection
   * counts as healthy only once the collector acknowledged a frame) the
   * circuit opens: one probe (a connect) after 250 ms, then after waits
   * doubling up to breaker_open_ms (each drawn between 3/4 and all of the
   * step), until a probe's connection gets an acknowledgement, which
   * closes it. A flush (cst_tracer_flush, cst_tracer_free) tries at once. */
  uint32_t backoff_initial_ms; /* default 50 */
  uint32_t backoff_max_ms;     /* default 2000 */
  uint32_t breaker_failures;   /* default 8 */
  uint32_t breaker_open_ms;    /* longest wait between probes, default 2000 */

  cst_log_fn log; /* NULL: the library writes nothing anywhere */
  void *log_user;
  int log_level; /* highest CST_LOG_* passed to log, default CST_LOG_WARN */
} cst_config;

/* Sets every field to its default (zero/NULL means default; sampler_ratio
 * 1.0; log_level CST_LOG_WARN) without looking at the environment.
 * Thread-safety: only touches *cfg. */
CST_API void cst_config_defaults(cst_config *cfg);

/* cst_config_defaults, then the environment: OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG,
 * OTEL_PROPAGATORS, OTEL_METRIC_EXPORT_INTERVAL, CALLSCOPE_ENDPOINT. String
 * fields then point into the environment (borrowed until the environment
 * changes; cst_tracer_new copies them). Returns CST_OK, CST_EINVAL (cfg
 * NULL), or CST_EENV when a variable is malformed (that variable is ignored,
 * the rest is applied). Thread-safety: reads the environment; not safe
 * against concurrent setenv(). */
CST_API int cst_config_init(cst_config *cfg);

typedef struct cst_tracer cst_tracer;

/* Creates a tracer and starts its exporter thread. cfg may be NULL (same
 * as cst_config_init). cfg fields left 0/NULL take their defaults; the
 * environment is read only by cst_config_init. An endpoint that does not
 * answer is not an error: spans are buffered, then dropped and counted. On
 * success *out owns a tracer to release with cst_tracer_free().
 * Errors: CST_EINVAL (bad field), CST_EENDPOINT, CST_ENOMEM, CST_ETHREAD,
 * CST_ESOCKET. Thread-safety: safe from any thread; usually one tracer per
 * process. */
CST_API int cst_tracer_new(const cst_config *cfg, cst_tracer **out);

/* Ends the tracer: sends what is buffered (spans and a last metrics
 * export), waits for TCP acknowledgements at most shutdown_timeout_ms, stops
 * the exporter thread and frees everything, including all metric handles
 * created on it. NULL is accepted. All spans of this tracer must have ended
 * and no other thread may use it (or its metric handles) during or after the
 * call. Thread-safety: call once, from one thread. */
CST_API void cst_tracer_free(cst_tracer *t);

/* Asks the exporter to send everything recorded so far and waits until it
 * was acknowledged (TCP), or sent and 100 ms passed without an error report
 * for it (UDP; see spans_exported), at most timeout_ms. Also tries to
 * connect at once when the TCP connection is down. Returns CST_OK
 * or CST_ETIMEDOUT (data stays queued and is retried). Blocks the caller:
 * meant for tests and shutdown paths, not request handlers.
 * Thread-safety: safe from any thread. */
CST_API int cst_tracer_flush(cst_tracer *t, uint32_t timeout_ms);

/* The propagation formats configured for this tracer (cfg.propagators or
 * OTEL_PROPAGATORS), for cst_inject()/cst_extract(). Thread-safety: any. */
CST_API unsigned cst_tracer_propagators(const cst_tracer *t);

/* Library health, also exported as metrics named callscope.trace.* . All
 * counters are cumulative since cst_tracer_new. Fields may be appended in
 * later versions. */
typedef struct cst_stats {
  uint64_t spans_started; /* every cst_span_start, sampled or not */
  uint64_t spans_sampled; /* started spans that record */
  /* acknowledged as accepted (TCP); over UDP: sent, and no error (such as
   * an ICMP port unreachable) reported within 100 ms after the datagram */
  uint64_t spans_exported;
  uint64_t spans_rejected;     /* acknowledged as rejected by the collector */
  uint64_t dropped_queue_full; /* ended while the thread's ring was full */
  uint64_t dropped_too_large;  /* a span alone exceeded the datagram size */
  uint64_t dropped_threads;    /* more than max_threads threads recording */
  /* given up by the exporter: a UDP send failed or an error was reported
   * within 100 ms after it (every span sent in that time counts), or still
   * queued (or within those 100 ms) when the shutdown timeout ran out */
  uint64_t dropped_export;
  uint64_t dropped_attributes; /* attributes, events or links over the limits */
  /* failed sends, connects, broken connections and errors reported for
   * UDP datagrams */
  uint64_t export_errors;
  uint64_t frames_sent; /* frames written to the socket (delivered or not) */
  uint64_t frames_acked;
  uint64_t reconnects;     /* TCP connections established after the first */
  uint64_t breaker_opens;  /* times the circuit breaker opened (from closed) */
  uint64_t queue_bytes;    /* bytes in the rings right now (approximate) */
  uint64_t unacked_bytes;  /* TCP bytes waiting for acknowledgement right now */
  uint64_t metric_exports; /* metrics frames sent */
} cst_stats;

/* Fills *out with a snapshot (values read with relaxed atomics, so the sum
 * of fields may be off by in-flight spans). Thread-safety: any thread. */
CST_API void cst_tracer_stats(const cst_tracer *t, cst_stats *out);

/* ------------------------------------------------------------------------ */
/* Span contexts and propagation                                             */

/* A span context: trace ID, span ID, trace flags, tracestate, and the
 * baggage of the flow (including session.id). Obtained from a span
 * (cst_span_context, borrowed) or from incoming headers (cst_extract, owned). */
typedef struct cst_context cst_context;

/* Carrier interface: how inject/extract reach header-like key/value pairs of
 * any transport (HTTP headers, message properties, ...).
 * get: returns the value for key and sets *len, or NULL when absent. Keys are
 *   passed as written in the specs ("traceparent", "X-B3-TraceId"); compare
 *   case-insensitively for HTTP. The value need not be NUL-terminated and must
 *   stay valid until cst_extract returns. Leading/trailing spaces are trimmed.
 * set: stores key=value; both are NUL-terminated and valid only during the
 *   call, so copy them. Return 0 on success, non-zero on failure.
 * user: passed back to get/set. */
typedef struct cst_carrier {
  const char *(*get)(void *user, const char *key, size_t *len);
  int (*set)(void *user, const char *key, const char *value);
  void *user;
} cst_carrier;

/* Reads incoming context from the carrier, trying the formats given
 * (0 = CST_PROP_DEFAULT): traceparent first, then B3 single, then B3 multi;
 * baggage when CST_PROP_BAGGAGE is set. Validation follows the W3C and B3
 * specifications exactly: a malformed traceparent (wrong length, uppercase
 * hex, all-zero IDs, version ff, bad separators) is ignored as a whole and
 * tracestate with it; a malformed tracestate or baggage is ignored as a whole
 * (never half-parsed); baggage over 180 entries or 8192 bytes is ignored.
 * Returns a new context owned by the caller (free with cst_context_free), or
 * NULL only when allocation fails. The context may be invalid (no usable
 * parent, see cst_context_is_valid) and still carry baggage: a span started
 * from it begins a new trace and keeps the baggage and session ID.
 * Thread-safety: any thread; the carrier is used only during the call. */
CST_API cst_context *cst_extract(const cst_carrier *carrier, unsigned formats);

/* Writes ctx into the carrier in the given formats (0 = CST_PROP_DEFAULT).
 * traceparent is always version 00; tracestate is written when non-empty
 * (truncated to 512 characters by dropping whole entries from the right);
 * baggage when non-empty, values percent-encoded. Returns CST_OK,
 * CST_EINVAL (ctx invalid and no baggage, or carrier without set), or
 * CST_ELIMIT when a set callback failed. Thread-safety: any thread, as long
 * as ctx is not freed concurrently. */
CST_API int cst_inject(const cst_context *ctx, const cst_carrier *carrier, unsigned formats);

/* Releases a context from cst_extract or cst_context_copy. NULL accepted.
 * Never pass a context borrowed from cst_span_context. Thread-safety: the
 * caller must own it. */
CST_API void cst_context_free(cst_context *ctx);

/* Returns an owned copy (free with cst_context_free), e.g. to keep a span's
 * context for a link after the span ended. NULL on ENOMEM or NULL input.
 * Thread-safety: any thread. */
CST_API cst_context *cst_context_copy(const cst_context *ctx);

/* True (1) when ctx has a non-zero trace ID and span ID. Thread-safety: any. */
CST_API int cst_context_is_valid(const cst_context *ctx);
/* True (1) when the sampled flag is set. Thread-safety: any. */
CST_API int cst_context_is_sampled(const cst_context *ctx);
/* True (1) when ctx came from cst_extract (the parent is in another process). */
CST_API int cst_context_is_remote(const cst_context *ctx);
/* Copies the trace ID (16 bytes) / span ID (8 bytes) out; zeros when
 * invalid. Thread-safety: any. */
CST_API void cst_context_trace_id(const cst_context *ctx, uint8_t out[16]);
CST_API void cst_context_span_id(const cst_context *ctx, uint8_t out[8]);
/* Writes the IDs as lowercase hex with a NUL: 33 and 17 bytes. */
CST_API void cst_context_trace_id_hex(const cst_context *ctx, char out[33]);
CST_API void cst_context_span_id_hex(const cst_context *ctx, char out[17]);
/* The tracestate header value ("" when none); borrowed, valid as long as
 * ctx. Thread-safety: any. */
CST_API const char *cst_context_tracestate(const cst_context *ctx);
/* Looks up a baggage entry by exact key; returns the decoded value (NUL
 * terminated, borrowed, valid as long as ctx) and its length in *len (len
 * may be NULL), or NULL when absent. Thread-safety: any. */
CST_API const char *cst_context_baggage(const cst_context *ctx, const char *key, size_t *len);
/* The session ID of the flow (baggage session.id, or any spelling such as
 * sessionId/session_id), or NULL. Borrowed like cst_context_baggage. */
CST_API const char *cst_context_session(const cst_context *ctx);

/* ------------------------------------------------------------------------ */
/* Spans                                                                     */

typedef enum cst_span_kind {
  CST_KIND_INTERNAL = 1,
  CST_KIND_SERVER = 2,   /* handles an incoming request */
  CST_KIND_CLIENT = 3,   /* makes an outgoing request */
  CST_KIND_PRODUCER = 4, /* enqueues a message */
  CST_KIND_CONSUMER = 5, /* processes a message; link it to the producer */
} cst_span_kind;

typedef enum cst_status_code {
  CST_STATUS_UNSET = 0,
  CST_STATUS_OK = 1,
  CST_STATUS_ERROR = 2,
} cst_status_code;

/* Per-span limits (OpenTelemetry's defaults). Entries beyond them, and
 * attributes that would push a span past cst_config.max_span_bytes, are
 * dropped and counted (per span in OTLP dropped_*_count, per tracer in
 * cst_stats.dropped_attributes). */
#define CST_MAX_ATTRIBUTES 128
#define CST_MAX_EVENTS 128
#define CST_MAX_LINKS 128
#define CST_MAX_EVENT_ATTRIBUTES 128

typedef enum cst_attr_type {
  CST_ATTR_STRING = 1,
  CST_ATTR_BOOL = 2,
  CST_ATTR_INT = 3,
  CST_ATTR_DOUBLE = 4,
} cst_attr_type;

/* An attribute for events and links. key and v.s are NUL-terminated and
 * borrowed only for the call. Build them with CST_STR, CST_INT, CST_DOUBLE,
 * CST_BOOL:
 *   cst_attr a[] = {CST_STR("retry.reason", "timeout"), CST_INT("attempt", 2)}; */
typedef struct cst_attr {
  const char *key;
  cst_attr_type type;
  union {
    const char *s;
    int64_t i;
    double d;
    int b;
  } v;
} cst_attr;

#define CST_STR(k, val) ((cst_attr){.key = (k), .type = CST_ATTR_STRING, .v.s = (val)})
#define CST_INT(k, val) ((cst_attr){.key = (k), .type = CST_ATTR_INT, .v.i = (val)})
#define CST_DOUBLE(k, val) ((cst_attr){.key = (k), .type = CST_ATTR_DOUBLE, .v.d = (val)})
#define CST_BOOL(k, val) ((cst_attr){.key = (k), .type = CST_ATTR_BOOL, .v.b = (val)})

/* A span: one timed operation. Opaque; obtained from cst_span_start* and
 * given back with cst_span_end. Ownership: a span belongs to the thread that
 * started it until it ends; it may be handed to another thread (which then
 * owns it, e.g. to end an async operation there), but two threads must never
 * call functions on the same span at the same time. */
typedef struct cst_span cst_span;

/* Starts a span named name (copied) of the given kind. Parent:
 * - parent != NULL: that context (from cst_extract, cst_span_context of a
 *   local span, or cst_context_copy). An invalid context starts a new trace
 *   but keeps its baggage.
 * - parent == NULL: the thread's current span (cst_scope_enter), or a new
 *   trace when there is none.
 * The sampler decides whether the span records. The span inherits the
 * parent's tracestate and baggage; if the baggage holds a session ID the span
 * gets the attribute session.id automatically.
 * Never returns NULL: when t is NULL, inert after fork, or out of memory, a
 * shared non-recording span is returned and all calls on it are no-ops.
 * Hot path: no lock, no system call, no heap allocation after warm-up (the
 * only system call on this path is a wake-up of the exporter by
 * cst_span_end, once per half ring).
 * Thread-safety: any thread; the span then belongs to the calling thread. */
CST_API cst_span *cst_span_start(cst_tracer *t, const char *name, cst_span_kind kind,
                                 const cst_context *parent);

/* Extended start options. Zero-initialise, then set what you need. */
typedef struct cst_span_opts {
  cst_span_kind kind;        /* 0 means CST_KIND_INTERNAL */
  const cst_context *parent; /* as in cst_span_start */
  /* non-zero: ignore the current span and start a new trace (the baggage of
   * parent is still kept) */
  int new_root;
  uint64_t start_ns;               /* start time, ns since the Unix epoch; 0 = now */
  const cst_context *const *links; /* contexts to link at start, as cst_span_add_link */
  size_t n_links;
} cst_span_opts;

/* Like cst_span_start with options; opts may be NULL. Same guarantees. */
CST_API cst_span *cst_span_start_opts(cst_tracer *t, const char *name, const cst_span_opts *opts);

/* Sets an attribute (key and string value copied; keys longer than 255
 * bytes are cut). A key set twice keeps the last value (each set counts
 * towards CST_MAX_ATTRIBUTES). No-op on a non-recording span.
 * Thread-safety: owning thread. */
CST_API void cst_span_set_str(cst_span *s, const char *key, const char *value);
/* As cst_span_set_str with a value of len bytes (need not be NUL-terminated). */
CST_API void cst_span_set_strn(cst_span *s, const char *key, const char *value, size_t len);
CST_API void cst_span_set_int(cst_span *s, const char *key, int64_t value);
CST_API void cst_span_set_double(cst_span *s, const char *key, double value);
CST_API void cst_span_set_bool(cst_span *s, const char *key, int value);

/* Adds a timestamped event (time now) with n attributes (copied; attrs may be
 * NULL when n is 0). Thread-safety: owning thread. */
CST_API void cst_span_add_event(cst_span *s, const char *name, const cst_attr *attrs, size_t n);

/* Links this span to another context (e.g. a consumer to the producer's
 * span), with n attributes. The context's IDs and tracestate are copied; an
 * invalid context is ignored. Thread-safety: owning thread. */
CST_API void cst_span_add_link(cst_span *s, const cst_context *ctx, const cst_attr *attrs,
                               size_t n);

/* Sets the status; message (copied, may be NULL) is kept only for ERROR, as
 * OTLP says. OK is final: later calls cannot change it. Thread-safety:
 * owning thread. */
CST_API void cst_span_set_status(cst_span *s, cst_status_code code, const char *message);

/* Replaces the span name. Thread-safety: owning thread. */
CST_API void cst_span_update_name(cst_span *s, const char *name);

/* Ends the span now (or at end_ns since the epoch with cst_span_end_at; 0 =
 * now) and queues it for export; s is invalid afterwards. If s is still the
 * thread's current span, the current span becomes what it was before s
 * entered its scope. NULL accepted. Never blocks: when the thread's ring is
 * full the span is dropped and counted. Thread-safety: owning thread. */
CST_API void cst_span_end(cst_span *s);
CST_API void cst_span_end_at(cst_span *s, uint64_t end_ns);

/* The span's context, borrowed: valid until the span ends. Use it as a
 * parent, for a link, or with cst_inject. Never NULL for a span from
 * cst_span_start. Thread-safety: owning thread (read-only use from others
 * is fine while the owner does not call set_session/set_baggage). */
CST_API const cst_context *cst_span_context(const cst_span *s);

/* True (1) when the span records (sampled and the tracer is live). Lets
 * callers skip building expensive attributes. Thread-safety: any. */
CST_API int cst_span_is_recording(const cst_span *s);

/* Sets the session ID of this flow: puts session.id=session_id into the
 * span's baggage, so this span, every span started under it in this process
 * and every downstream span whose service extracts the injected context
 * carry the attribute session.id. Call it once at the edge, typically on the
 * SERVER span of the incoming request. Works on non-recording spans too
 * (baggage propagates regardless of sampling). Returns CST_OK, CST_EINVAL
 * (NULL, empty or over 4096 bytes), CST_ELIMIT (baggage would exceed its
 * limits), CST_ENOMEM. Thread-safety: owning thread; children started
 * earlier keep the old baggage. */
CST_API int cst_span_set_session(cst_span *s, const char *session_id);

/* Adds or replaces a baggage entry (key must be an HTTP token; value any
 * bytes, percent-encoded on the wire). Same propagation and errors as
 * cst_span_set_session. Thread-safety: owning thread. */
CST_API int cst_span_set_baggage(cst_span *s, const char *key, const char *value);

/* ------------------------------------------------------------------------ */
/* Current span and scopes                                                   */

/* The thread's current span (the default parent), or NULL. Borrowed: valid
 * until that span ends. Thread-safety: per-thread state. */
CST_API cst_span *cst_current_span(void);

/* A scope token; treat as opaque. */
typedef struct cst_scope {
  cst_span *prev;
  cst_span *span;
} cst_scope;

/* Makes s the thread's current span and returns a token that
 * cst_scope_exit uses to restore the previous one. Scopes nest and must exit
 * in reverse order, on the same thread. Ending s inside its own scope is
 * fine (the previous span becomes current at once; cst_scope_exit then does
 * not touch s). s may be NULL (no current span inside the scope).
 * Thread-safety: per-thread state. */
CST_API cst_scope cst_scope_enter(cst_span *s);
CST_API void cst_scope_exit(cst_scope scope);

#if defined(__GNUC__)
/* Block-scoped helper (GCC/clang): makes s current until the block exits.
 *   { CST_SCOPED(s); do_work(); }   // do_work's spans are children of s */
static inline void cst_scope_exit_ptr_(cst_scope *sc) {
  cst_scope_exit(*sc);
}
#define CST_SCOPE_CAT2_(a, b) a##b
#define CST_SCOPE_CAT_(a, b) CST_SCOPE_CAT2_(a, b)
#define CST_SCOPED(s)                                                                              \
  cst_scope CST_SCOPE_CAT_(cst_scope_, __LINE__)                                                   \
      __attribute__((cleanup(cst_scope_exit_ptr_), unused)) = cst_scope_enter(s)
#endif

/* ------------------------------------------------------------------------ */
/* Sampling                                                                  */

/* The TraceIdRatioBased rule, deterministic on the trace ID so every
 * service decides the same way for a trace (OpenTelemetry's consistent
 * sampling rule with 56-bit thresholds): R = the rightmost 56 bits of the
 * trace ID (bytes 9..15, big-endian); T = round((1 - ratio) * 2^56); the
 * trace is sampled when R >= T. ratio <= 0 samples nothing, ratio >= 1
 * everything. Returns 1 to sample. Thread-safety: pure function. */
CST_API int cst_sample_ratio(const uint8_t trace_id[16], double ratio);

/* ------------------------------------------------------------------------ */
/* Metrics                                                                   */

/* Metric handles: one instrument with one fixed label set, bound once, so
 * recording needs no lookup and no lock: each of the first 64 live threads
 * owns a cache-line slot in every handle and updates it with plain
 * (relaxed atomic) loads and stores; further threads share one slot updated
 * with atomic read-modify-writes. A handle takes about 64 bytes per slot
 * (4 KiB for a counter). Names: a letter, then up to 254 letters, digits,
 * '_', '.', '-', '/'. The same name with several label sets = several
 * handles. Handles belong
 * to the tracer: exported every metrics_interval_ms as cumulative OTLP
 * metrics; cst_tracer_free frees those not freed before. The *_free
 * functions unregister and free one handle (NULL accepted); no thread may
 * use the handle during or after that call.
 * Constructors: name, unit ("s", "By", "1"; may be NULL), description (may be
 * NULL) and labels are copied; labels may be NULL when n_labels is 0 (at most
 * 32 labels). They return NULL on CST_EINVAL/ENOMEM conditions (bad name,
 * too many labels); the record functions accept NULL and do nothing, so
 * code needs no checks.
 * Thread-safety: constructors and record functions from any thread. */
typedef struct cst_label {
  const char *key;
  const char *value;
} cst_label;

typedef struct cst_counter cst_counter;     /* monotonic sum (OTLP Sum, monotonic) */
typedef struct cst_updown cst_updown;       /* up-down counter (OTLP Sum, not monotonic) */
typedef struct cst_gauge cst_gauge;         /* last value (OTLP Gauge) */
typedef struct cst_histogram cst_histogram; /* explicit-bucket histogram */

CST_API cst_counter *cst_counter_new(cst_tracer *t, const char *name, const char *unit,
                                     const char *description, const cst_label *labels,
                                     size_t n_labels);
CST_API void cst_counter_add(cst_counter *c, uint64_t delta);
CST_API void cst_counter_free(cst_counter *c);

CST_API cst_updown *cst_updown_new(cst_tracer *t, const char *name, const char *unit,
                                   const char *description, const cst_label *labels,
                                   size_t n_labels);
CST_API void cst_updown_add(cst_updown *u, int64_t delta);
CST_API void cst_updown_free(cst_updown *u);

CST_API cst_gauge *cst_gauge_new(cst_tracer *t, const char *name, const char *unit,
                                 const char *description, const cst_label *labels, size_t n_labels);
CST_API void cst_gauge_set(cst_gauge *g, double value);
CST_API void cst_gauge_free(cst_gauge *g);

/* Default histogram bounds, for latencies in seconds (OpenTelemetry's HTTP
 * duration buckets): 0, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5,
 * 0.75, 1, 2.5, 5, 7.5, 10. Record durations in seconds with unit "s":
 * Prometheus expects base units (http_server_duration_seconds), and
 * `promtool check metrics` flags _milliseconds. */
#define CST_HISTOGRAM_MAX_BOUNDS 64

/* bounds: strictly increasing finite values (copied), n_bounds <=
 * CST_HISTOGRAM_MAX_BOUNDS; bounds NULL = the latency defaults above.
 * Bucket i counts values in (bounds[i-1], bounds[i]], the last bucket
 * everything above bounds[n-1] (Prometheus "le"). NaN is ignored. */
CST_API cst_histogram *cst_histogram_new(cst_tracer *t, const char *name, const char *unit,
                                         const char *description, const cst_label *labels,
                                         size_t n_labels, const double *bounds, size_t n_bounds);
CST_API void cst_histogram_record(cst_histogram *h, double value);
CST_API void cst_histogram_free(cst_histogram *h);

/* Nanoseconds since the Unix epoch: the clock spans use. CLOCK_REALTIME, read
 * through the TSC on x86-64 with an invariant TSC once an exporter thread
 * has calibrated it (docs/libtrace.md, "Timestamps"). Thread-safety: any. */
CST_API uint64_t cst_now_ns(void);

#ifdef __cplusplus
}
#endif

#endif
