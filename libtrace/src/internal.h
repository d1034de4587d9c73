/* Internal declarations shared by libtrace's source files. Nothing here is
 * API: symbols carry the __cst_ prefix and are hidden from the shared
 * library (tests link the static archive to reach them). */
#ifndef CST_INTERNAL_H
#define CST_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "callscope/trace.h"
#include "hexb64.h"
#include "pbwire.h"

#define CST_TLS __thread __attribute__((tls_model("initial-exec")))
#define CST_LIKELY(x) __builtin_expect(!!(x), 1)
#define CST_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* protobuf writer (pb.c) */
/* The exporter's output buffers are the project's capped buffer. */
typedef cs_buf __cst_buf;
/* ---- baggage + tracestate: immutable, reference counted ---------------- */

#define CST_BAGGAGE_MAX_ENTRIES 180
#define CST_BAGGAGE_MAX_BYTES 8192
#define CST_TRACESTATE_MAX_ENTRIES 32
#define CST_TRACESTATE_MAX_OUT 512
#define CST_SESSION_MAX 4096

typedef struct __cst_bag_entry {
  const char *key, *value, *props; /* NUL-terminated; props may be "" */
  uint32_t klen, vlen, plen;
} __cst_bag_entry;

/* Everything a span inherits from its parent besides the IDs. Shared by
 * reference between a parent and its children, never modified after
 * creation (a change makes a new bag), so readers need no lock. */
typedef struct __cst_bag {
  atomic_uint refs;
  const char *tracestate; /* "" when none */
  uint32_t ts_len;
  uint32_t n;
  int session; /* index of the session entry, -1 if none */
  __cst_bag_entry *e;
  /* entries array and strings follow in the same allocation */
} __cst_bag;

__cst_bag *__cst_bag_ref(__cst_bag *b);
void __cst_bag_unref(__cst_bag *b);
/* Builds a bag: tracestate copied, entries copied. NULL on ENOMEM. */
__cst_bag *__cst_bag_make(const char *ts, size_t ts_len, const __cst_bag_entry *e, size_t n);
/* A copy of old (may be NULL) with key set to value (replaced entries move
 * to the front). Returns CST_OK / CST_ELIMIT / CST_ENOMEM / CST_EINVAL. */
int __cst_bag_with(const __cst_bag *old, const char *key, size_t klen, const char *value,
                   size_t vlen, __cst_bag **out);
/* Serialises the W3C baggage header into out (cap bytes); returns length or
 * -1 when it does not fit. */
int __cst_bag_format(const __cst_bag *b, char *out, size_t cap);
int __cst_is_session_key(const char *key, size_t len);
int __cst_is_token(const char *s, size_t n);

/* ---- context ---------------------------------------------------------- */

struct cst_context {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t flags;      /* W3C trace flags, 0x01 = sampled */
  uint8_t remote;     /* came from cst_extract */
  int8_t b3_sampling; /* B3 sampling-only header: -1 none, 0 deny, 1 accept */
  uint8_t valid;
  __cst_bag *bag;
};

/* Parsers, pure, exposed for the table tests. Return 1 when valid. */
int __cst_parse_traceparent(const char *v, size_t n, cst_context *out);
int __cst_parse_tracestate(const char *v, size_t n, char *out, size_t cap, size_t *out_len);
/* Parses a baggage header into a new bag (tracestate ts kept). Returns 1 and
 * *out (NULL when the header was empty), 0 when malformed or over limits,
 * -1 on ENOMEM. */
int __cst_parse_baggage(const char *v, size_t n, const char *ts, size_t ts_len, __cst_bag **out);
int __cst_parse_b3_single(const char *v, size_t n, cst_context *out);
/* Hex of fixed-size IDs through the common codec (hexb64.h). Every caller
 * passes a literal n and an out of n/2 bytes; W3C and B3 want lowercase. */
static inline int __cst_hex_decode(const char *s, size_t n, uint8_t *out) {
  return cs_hex_decode(s, n, out, n / 2, CS_HEX_LOWER_ONLY) >= 0;
}
static inline void __cst_hex_encode(const uint8_t *b, size_t n, char *out) {
  cs_hex_encode(b, n, out);
}

/* ---- ring buffer ---------------------------------------------------------- */

/* Single-producer single-consumer byte ring of variable-size records, one
 * per (thread, tracer): the producer is the thread, the consumer the
 * exporter. Records are 8-byte aligned and never wrap; a PAD record fills
 * the tail end when the next one does not fit there. */
enum { __CST_REC_PAD = 1, __CST_REC_SPAN = 2 };

typedef struct __cst_ring {
  /* Line 1: the producer's position (read by the consumer). */
  _Alignas(64) atomic_uint_fast64_t head;
  uint64_t tail_cache; /* producer's last view of tail */
  /* Line 2: producer-owned counters, read only for statistics, kept off
   * the head's line so those reads never disturb the hot path. */
  _Alignas(64) atomic_uint_fast64_t started, sampled, dropped_full, dropped_attrs;
  /* Line 3: the consumer's side. */
  _Alignas(64) atomic_uint_fast64_t tail;
  uint64_t head_cache;  /* consumer's last view of head */
  atomic_int wake_sent; /* set by the producer when it woke the exporter */
  _Alignas(64) uint8_t *data;
  uint32_t cap, mask;
  atomic_int orphaned; /* the owning thread exited */
  struct __cst_ring *next;
  struct cst_tracer *t;
  struct cst_span *free_spans; /* owner-only span cache */
  uint32_t n_free;
} __cst_ring;

int __cst_ring_init(__cst_ring *r, uint32_t cap);
void __cst_ring_release(__cst_ring *r);
/* Copies len bytes (len multiple of 8, first 4 bytes = len, next 4 = type)
 * into the ring. Returns 0, or -1 when full. Producer only. */
int __cst_ring_push(__cst_ring *r, const void *rec, uint32_t len);
/* Consumer: the next record or NULL; __cst_ring_pop advances past it. */
const uint8_t *__cst_ring_peek(__cst_ring *r);
void __cst_ring_pop(__cst_ring *r, uint32_t len);
uint64_t __cst_ring_used(const __cst_ring *r);

/* ---- span records --------------------------------------------------------- */

typedef struct __cst_rec {
  uint32_t len, type;
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_id[8];
  uint64_t start_ns, end_ns;
  uint32_t dropped_attrs, dropped_events, dropped_links;
  uint8_t kind, status, trace_flags, has_parent, parent_remote, pad_[3];
} __cst_rec;

/* Items after the header: tag byte then fields (unaligned, native order). */
enum {
  __CST_IT_NAME = 1, /* u16 len, bytes */
  __CST_IT_ATTR =
      2, /* u8 type, u16 klen, key, value (str: u32 len + bytes; int/double: 8; bool: 1) */
  __CST_IT_EVENT = 3, /* u64 time, u16 nlen, name, u16 nattrs, u32 dropped; nattrs SUBATTR follow */
  __CST_IT_SUBATTR = 4,
  __CST_IT_LINK = 5,       /* 16 trace, 8 span, u32 flags, u16 tslen, ts, u16 nattrs, u32 dropped */
  __CST_IT_STATUS = 6,     /* u16 len, message */
  __CST_IT_TRACESTATE = 7, /* u16 len, bytes */
};

/* ---- spans, tracer ---------------------------------------------------------- */

#define CST_SPAN_INLINE 448
#define CST_SPAN_CACHE 64

struct cst_span {
  cst_context ctx;
  uint8_t parent_id[8];
  uint8_t recording, kind, status, has_parent, parent_remote, status_final, in_scope;
  uint16_t n_attrs, n_events, n_links;
  uint32_t dropped_attrs, dropped_events, dropped_links;
  uint64_t start_ns;
  struct cst_tracer *t;
  struct cst_span *scope_prev;
  struct cst_span *next_free;
  uint8_t *buf; /* inline_buf or heap */
  uint32_t len, cap;
  _Alignas(8) uint8_t inline_buf[CST_SPAN_INLINE];
};

typedef struct __cst_resolved {
  int udp;
  int family;
  socklen_t addrlen;
  struct sockaddr_storage addr;
} __cst_resolved;

struct __cst_exporter;
struct __cst_metric;

struct cst_tracer {
  uint64_t gen;      /* unique per tracer, for the per-thread cache */
  uint64_t fork_gen; /* __cst_fork_gen at creation: inert when it differs */
  cst_config cfg;    /* strings below are owned copies */
  char *service_name;
  cst_sampler_kind sampler_root; /* ALWAYS_ON / ALWAYS_OFF / RATIO */
  int parent_based;
  double ratio;
  uint32_t max_span_bytes;
  pthread_key_t key;
  pthread_mutex_t reg_mu; /* ring list changes, metric list */
  _Atomic(__cst_ring *) rings;
  atomic_uint n_rings;
  /* counters from rings whose thread exited */
  atomic_uint_fast64_t retired_started, retired_sampled, retired_dropped_full,
      retired_dropped_attrs, dropped_threads;
  /* exporter-owned counters */
  atomic_uint_fast64_t spans_exported, spans_rejected, dropped_too_large, dropped_export,
      export_errors, frames_sent, frames_acked, reconnects, breaker_opens, unacked_bytes,
      metric_exports;
  /* encoded Resource (field 1 of ResourceSpans/Metrics, tag included) */
  uint8_t *resource_pb;
  size_t resource_len;
  __cst_resolved ep;
  struct __cst_exporter *ex;
  pthread_mutex_t metrics_mu;
  struct __cst_metric *metrics; /* list under metrics_mu */
  uint64_t start_ns;
};

extern atomic_uint_fast64_t __cst_fork_gen;

/* Per-thread state shared by all tracers. */
typedef struct __cst_tls {
  cst_span *current;
  __cst_ring *ring; /* cache for ring_gen */
  uint64_t ring_gen;
  uint64_t rng;
  uint64_t rng_fork_gen; /* 0 = unseeded */
  uint32_t stripe;       /* metric stripe + 1, 0 = unassigned */
} __cst_tls;
extern CST_TLS __cst_tls __cst_t;

void __cst_rng_seed(void);
/* wyrand: one multiply per 64 bits, passes BigCrush; IDs need uniqueness,
 * not secrecy. __cst_rand_next assumes __cst_rand_ready() ran. */
static inline void __cst_rand_ready(void) {
  if (CST_UNLIKELY(__cst_t.rng_fork_gen !=
                   atomic_load_explicit(&__cst_fork_gen, memory_order_relaxed) + 1))
    __cst_rng_seed();
}
static inline uint64_t __cst_rand_next(void) {
  __cst_t.rng += 0xa0761d6478bd642full;
  __uint128_t m = (__uint128_t)__cst_t.rng * (__cst_t.rng ^ 0xe7037ed1a0b428dbull);
  return (uint64_t)(m >> 64) ^ (uint64_t)m;
}
static inline uint64_t __cst_rand64(void) {
  __cst_rand_ready();
  return __cst_rand_next();
}
uint64_t __cst_now(void);
/* Called by exporter threads: keeps the TSC calibration fresh (base.c). */
void __cst_clock_calibrate(void);
int __cst_clock_tsc(void); /* 1 when spans read the calibrated TSC */
void __cst_clock_after_fork(void);

__cst_ring *__cst_ring_for(struct cst_tracer *t); /* NULL when over max_threads / ENOMEM */
void __cst_log(const struct cst_tracer *t, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sampling decision for a new span; returns 1 to record. */
int __cst_should_sample(const struct cst_tracer *t, const cst_context *parent,
                        const uint8_t trace_id[16]);

/* config.c */
int __cst_parse_endpoint(const char *s, __cst_resolved *out);
int __cst_parse_sampler(const char *s, cst_sampler_kind *out);
int __cst_parse_propagators(const char *s, unsigned *out);
/* Calls cb for each k=v of an OTEL_RESOURCE_ATTRIBUTES string (values
 * percent-decoded into a scratch buffer). Returns 0, or -1 when malformed
 * (then cb was not called at all). */
int __cst_parse_kv_list(const char *s,
                        void (*cb)(void *, const char *, size_t, const char *, size_t), void *ud);

/* exporter.c */
int __cst_exporter_start(struct cst_tracer *t);
void __cst_exporter_stop(struct cst_tracer *t);    /* flushes, joins, frees */
void __cst_exporter_abandon(struct cst_tracer *t); /* forked child: frees without the thread */
/* settled 0: returns once everything is sent (acknowledged over TCP),
 * without waiting for UDP's error window (benchmarks pace with it). */
int __cst_exporter_flush(struct cst_tracer *t, uint32_t timeout_ms, int settled);
void __cst_exporter_wake(struct cst_tracer *t);
void __cst_ring_free_orphan(struct cst_tracer *t, __cst_ring *r);

/* metrics.c */
void __cst_metrics_free_all(struct cst_tracer *t);
/* Appends Metric messages (field 2 of ScopeMetrics): first the library's
 * health metrics from st, then every instrument, starting at *cursor, while
 * b stays under limit bytes. Advances *cursor; returns 1 when all were
 * written, 0 when the caller should start another frame. */
int __cst_metrics_encode(struct cst_tracer *t, const cst_stats *st, __cst_buf *b, uint64_t now,
                         size_t *cursor, size_t limit);

/* The writers below are inline (common/buf.h): the exporter calls them a
 * few dozen times per span, and the fast path is a bounds check and a
 * store. */
#define __cst_buf_reserve cs_buf_reserve
#define __cst_pb_raw cs_buf_put
#define __cst_pb_varint cs_buf_varint
static inline void __cst_pb_tag(__cst_buf *b, uint32_t field, uint32_t wt) {
  __cst_pb_varint(b, (uint64_t)field << 3 | wt);
}
static inline void __cst_pb_uint(__cst_buf *b, uint32_t field, uint64_t v) { /* skipped when 0 */
  if (!v)
    return;
  __cst_pb_tag(b, field, 0);
  __cst_pb_varint(b, v);
}
static inline void __cst_pb_bytes(__cst_buf *b, uint32_t field, const void *p, size_t n) {
  __cst_pb_tag(b, field, 2);
  __cst_pb_varint(b, n);
  __cst_pb_raw(b, p, n);
}
static inline void __cst_pb_fixed64(__cst_buf *b, uint32_t field, uint64_t v) {
  __cst_pb_tag(b, field, 1);
  if (__cst_buf_reserve(b, 8))
    return;
  for (int i = 0; i < 8; i++)
    b->p[b->n + (size_t)i] = (uint8_t)(v >> (8 * i));
  b->n += 8;
}
static inline void __cst_pb_fixed32(__cst_buf *b, uint32_t field, uint32_t v) {
  __cst_pb_tag(b, field, 5);
  if (__cst_buf_reserve(b, 4))
    return;
  for (int i = 0; i < 4; i++)
    b->p[b->n + (size_t)i] = (uint8_t)(v >> (8 * i));
  b->n += 4;
}
static inline void __cst_pb_double(__cst_buf *b, uint32_t field, double v) {
  uint64_t bits;
  __builtin_memcpy(&bits, &v, 8);
  __cst_pb_fixed64(b, field, bits);
}
/* Nested message: tag plus a one-byte length placeholder; __cst_pb_end
 * fills it in, shifting the body when the length needs more bytes. */
static inline size_t __cst_pb_begin(__cst_buf *b, uint32_t field) {
  __cst_pb_tag(b, field, 2);
  if (__cst_buf_reserve(b, 1))
    return 0;
  b->p[b->n++] = 0;
  return b->n - 1;
}
void __cst_pb_end_long(__cst_buf *b, size_t off, size_t body);
static inline void __cst_pb_end(__cst_buf *b, size_t off) {
  if (b->err)
    return;
  size_t body = b->n - off - 1;
  if (CST_LIKELY(body < 0x80))
    b->p[off] = (uint8_t)body;
  else
    __cst_pb_end_long(b, off, body);
}
/* KeyValue (field given) with a string / int / double / bool AnyValue. */
void __cst_pb_kv_str(__cst_buf *b, uint32_t field, const char *k, size_t kl, const char *v,
                     size_t vl);
void __cst_pb_kv_int(__cst_buf *b, uint32_t field, const char *k, size_t kl, int64_t v);
void __cst_pb_kv_double(__cst_buf *b, uint32_t field, const char *k, size_t kl, double v);
void __cst_pb_kv_bool(__cst_buf *b, uint32_t field, const char *k, size_t kl, int v);

/* encode.c: appends one span record as a Span message (field 2 of
 * ScopeSpans). Returns 0, -1 when the record is malformed. */
int __cst_encode_span(__cst_buf *b, const uint8_t *rec, uint32_t len);

#endif
