/* Internals shared by the query server's files: the server object, the
 * per-request context every handler works in, and the helpers for
 * arguments, errors, limits and span output. Not API. */
#ifndef CS_QUERY_INT_H
#define CS_QUERY_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "agg.h"
#include "http.h"
#include "json.h"
#include "params.h"
#include "query.h"
#include "span.h"
#include "tree.h"

struct cs_query {
  cs_query_opts o;
  char *addr, *ui_dir, **index_keys;
  cs_store *st;
  cs_http *http;
  cs_query_metrics_fn metrics;
  void *metrics_ud;
  cs_query_observer_fn observer;
  void *observer_ud;
  atomic_uint heavy; /* scans in flight */
  cs_agg deps;       /* per-minute edge sketches for dependencies */
  int deps_ok;
};

/* One request being answered. */
typedef struct qreq {
  cs_query *q;
  cs_http_req *r;
  cs_arena *a;
  cs_json j;
  const char *const *caps; /* route captures (the '*' of the pattern) */
  cs_str cap;
  uint64_t deadline_ns;
  int jaeger;     /* errors in Jaeger's envelope */
  int heavy;      /* holds a heavy-query slot */
  int timed_out;  /* the deadline passed during a scan */
  int scan_capped;
  uint32_t scanned;
} qreq;

uint64_t q_now_ns(void);      /* monotonic */
uint64_t q_wall_ns(void);     /* realtime */

/* Replies with a JSON error (Jaeger envelope on Jaeger routes); always
 * returns -1 so handlers can `return q_error(...)`. */
int q_error(qreq *x, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Sends the JSON built in x->j with the given status (500 if it
 * overflowed its limit). */
void q_send_json(qreq *x, int status);
/* True once the request's deadline has passed; sets timed_out. */
int q_expired(qreq *x);
/* Replies 503 for a timed-out or 422 for a scan-capped query; returns -1. */
int q_scan_error(qreq *x);

/* Arguments. Each returns 0 (with the default when absent) or replies
 * 400 and returns -1. */
int q_arg_u64(qreq *x, const char *name, uint64_t def, uint64_t max, uint64_t *out);
int q_arg_duration(qreq *x, const char *name, uint64_t def, uint64_t *out);
int q_arg_limit(qreq *x, const char *name, uint32_t *out);
/* start/end in microseconds since the epoch (Jaeger's units); default
 * end = now, start = end - lookback. Checks start <= end and the range cap. */
int q_arg_window(qreq *x, uint64_t default_lookback_ns, uint64_t *start_ns, uint64_t *end_ns);
/* A string argument (NULL when absent), bounded in length. */
int q_arg_str(qreq *x, const char *name, size_t max, cs_str *out);

/* Heavy-query slots: -1 after replying 429 when all are taken. */
int q_heavy_enter(qreq *x);
void q_heavy_leave(qreq *x);

/* Is key one the store indexes (exactly, or a session spelling)? */
int q_key_indexed(const cs_query *q, cs_str key);

/* Value of an attribute as text for comparisons ("true", "42", ...);
 * returns a view into buf or the attribute. */
cs_str q_attr_text(const cs_attr *at, char *buf, size_t buflen);
/* Does the span (or its resource) carry key=value? */
int q_span_has(const cs_span *s, cs_str key, cs_str val);
int q_str_eq(cs_str a, cs_str b);
int q_str_eqc(cs_str a, const char *b);
const char *q_kind_name(int kind); /* "server", ... "" for unspecified */

/* Writes one attribute value as a native JSON value. */
void q_json_attr_value(cs_json *j, const cs_attr *at);

/* Set of 16-byte trace IDs for deduplicating index scans. */
typedef struct q_idset {
  uint8_t (*keys)[16];
  uint8_t *used;
  size_t cap, n;
  cs_arena *a;
} q_idset;
int q_idset_init(q_idset *s, cs_arena *a, size_t hint);
/* 1 if newly added, 0 if present, -1 when out of memory. */
int q_idset_add(q_idset *s, const uint8_t id[16]);

/* String interning for grouping (operations, service pairs): keys are
 * copied into the arena; at most max distinct keys. */
typedef struct q_strmap {
  cs_str *keys;
  int32_t *slots; /* key index + 1; 0 = empty */
  size_t n, max, cap;
  cs_arena *a;
} q_strmap;
int q_strmap_init(q_strmap *m, cs_arena *a, size_t max);
/* Index of the key, adding it if new; -1 when full or out of memory. */
int32_t q_strmap_intern(q_strmap *m, const char *p, size_t n);

/* Handlers. */
void h_jaeger_services(qreq *x);
void h_jaeger_operations_path(qreq *x);
void h_jaeger_operations(qreq *x);
void h_jaeger_traces(qreq *x);
void h_jaeger_trace(qreq *x);
void h_jaeger_dependencies(qreq *x);
void h_v1_search(qreq *x);
void h_v1_session(qreq *x);
void h_v1_trace(qreq *x);
void h_v1_tree(qreq *x);
void h_v1_stats(qreq *x);
void h_v1_dependencies(qreq *x);
void h_v1_services(qreq *x);
void h_static(qreq *x);
void h_metrics(qreq *x);
/* Content type for a file name by extension. */
const char *q_content_type(const char *path);
/* Dependencies over [start, end): Jaeger's shape or Callscope's. */
void q_dependencies(qreq *x, uint64_t start_ns, uint64_t end_ns, int jaeger_shape);

/* Search (search.c), shared by /api/traces and /api/v1/search. */
typedef struct q_cond {
  cs_str key, val;
} q_cond;

typedef struct q_search {
  cs_str service, operation, session;
  q_cond *conds;
  size_t n_conds;
  cs_str edge_parent, edge_child; /* a span of child has a parent span of parent */
  uint64_t min_dur_ns, max_dur_ns; /* max 0 = unbounded */
  uint64_t start_ns, end_ns;
  uint32_t limit;
  int span_level;     /* Jaeger: one span must match service, op, tags, duration */
  int load_spans;     /* keep the matched traces' spans */
  const cs_cursor *after;
} q_search;

typedef struct q_hit {
  uint8_t trace_id[16];
  uint64_t index_ns; /* the index entry's time, for the cursor */
  cs_trace_summary sum;
  int have_sum;
  cs_span *spans;
  size_t n_spans;
} q_hit;

/* Returns 0 with hits (at most limit) and *more when another match
 * exists; -1 after replying with an error. */
int q_run_search(qreq *x, const q_search *s, q_hit **hits, size_t *n, int *more);
/* Parses repeated `name=k:v` and the JSON object argument json_name into
 * conditions. -1 after replying 400. */
int q_parse_conds(qreq *x, const char *name, const char *json_name, q_cond **conds, size_t *n);

/* Output pieces. */
void q_json_summary(cs_json *j, const cs_trace_summary *s);
/* Writes one trace in Jaeger's shape (skew-adjusted, with warnings). */
int q_json_jaeger_trace(qreq *x, const uint8_t trace_id[16], const cs_span *spans, size_t n);
/* Loads a trace, enforcing the span cap. -1 after replying. */
int q_load_trace(qreq *x, const uint8_t tid[16], cs_span **spans, size_t *n);

/* Scans (scan.c): fn sees each distinct trace the index query finds, its
 * spans in a scratch arena valid during the call; returning nonzero (after
 * replying) stops with -1. Returns 0, or -1 after replying (deadline, scan
 * cap, storage error). */
typedef int (*q_trace_fn)(void *ud, const cs_span *spans, size_t n);
int q_for_each_trace(qreq *x, const cs_index_query *iq, q_trace_fn fn, void *ud);

/* One span reduced for statistics: duration, group (operation or edge),
 * time bucket, error flag; arrays grow with malloc up to max records. */
typedef struct q_rec {
  uint64_t dur;
  uint32_t group;
  uint32_t bucket;
  uint8_t err;
} q_rec;
typedef struct q_recs {
  q_rec *r;
  size_t n, cap, max;
} q_recs;
int q_recs_push(q_recs *v, q_rec r);
int q_rec_cmp(const void *a, const void *b); /* by group, bucket, duration */
int q_u64_cmp(const void *a, const void *b);

/* /api/v1/stats from the store's per-minute rows (stats_store.c); the
 * step is a whole number of minutes. kinds is a mask of 1 << CS_KIND_*
 * values to count. Always replies. */
void q_stats_from_store(qreq *x, cs_str service, cs_str operation, unsigned kinds,
                        uint64_t start_ns, uint64_t end_ns, uint64_t step_ns);
/* Writes "spanKinds":[...] naming the kinds in mask (stats.c). */
void q_json_span_kinds(cs_json *j, unsigned kinds);
/* Readable histogram bounds (1, 2, 5 or finer times a power of ten, in ns)
 * from the first >= lo to the first >= hi, at most Q_HIST_MAX; returns how
 * many. Shared by both stats paths so their histograms look alike. */
#define Q_HIST_MAX 32
size_t q_hist_bounds(uint64_t lo, uint64_t hi, uint64_t le[Q_HIST_MAX]);

/* A time moved by a skew shift, in microseconds, never below zero. */
static inline uint64_t q_shift_us(uint64_t t_ns, int64_t skew_ns) {
  if (skew_ns < 0 && t_ns < (uint64_t)(-skew_ns)) return 0;
  return (uint64_t)((int64_t)t_ns + skew_ns) / 1000;
}

/* Percentile by nearest rank over sorted values: the smallest value with at
 * least q of all values at or below it. */
uint64_t q_percentile(const uint64_t *sorted, size_t n, double q);

#define Q_MAX_CONDS 32
#define Q_MAX_TAGS_JSON 8192

#endif
