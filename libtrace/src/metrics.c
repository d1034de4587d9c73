/* Metric instruments with labels bound once to a handle. Each instrument
 * keeps one cache-line slot per recording thread: the first 64 live threads
 * own a slot each and update it with a relaxed load and store (no locked
 * instruction, no shared cache line); further threads share a last slot
 * updated with atomic read-modify-write. The exporter sums the slots and
 * writes cumulative OTLP metrics, plus the library's own health metrics. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define OWNED 64            /* slots owned by one live thread each */
#define STRIPES (OWNED + 1) /* + the shared overflow slot */
#define SHARED OWNED
#define MAX_LABELS 32

enum { M_COUNTER = 1, M_UPDOWN, M_GAUGE, M_HIST };

typedef struct stripe64 {
  _Alignas(64) atomic_uint_fast64_t v;
} stripe64;

typedef struct __cst_metric {
  struct __cst_metric *next, *prev;
  cst_tracer *t;
  int kind;
  char *name, *unit, *desc;
  size_t n_labels;
  cst_label *labels; /* owned copies */
  uint64_t start_ns;
} __cst_metric;

struct cst_counter {
  __cst_metric m;
  stripe64 s[STRIPES];
};

struct cst_updown {
  __cst_metric m;
  stripe64 s[STRIPES];
};

struct cst_gauge {
  __cst_metric m;
  atomic_uint_fast64_t bits;
  atomic_int set;
};

/* Per stripe: sum, min, max (double bits), then n_bounds + 1 buckets. */
enum { H_SUM, H_MIN, H_MAX, H_BUCKETS };

struct cst_histogram {
  __cst_metric m;
  size_t nb;
  double bounds[CST_HISTOGRAM_MAX_BOUNDS];
  size_t stride; /* words per stripe, a multiple of 8 (one cache line) */
  atomic_uint_fast64_t *cells;
};

/* Slot ownership: a bitmap of OWNED slots; a thread takes the lowest free
 * one on its first metric update and gives it back when it exits. The
 * values stay in the slot, so a later owner just keeps adding. */
static atomic_uint_fast64_t slots_used;
static pthread_key_t slot_key;
static pthread_once_t slot_once = PTHREAD_ONCE_INIT;

static void slot_release(void *p) {
  uint64_t bit = 1ull << ((uintptr_t)p - 1);
  atomic_fetch_and(&slots_used, ~bit);
  __cst_t.stripe = 0;
}

static void slot_init(void) {
  pthread_key_create(&slot_key, slot_release);
}

static __attribute__((noinline)) uint32_t slot_take(void) {
  pthread_once(&slot_once, slot_init);
  uint64_t used = atomic_load(&slots_used);
  for (;;) {
    if (~used == 0)
      return __cst_t.stripe = SHARED + 1;
    unsigned i = (unsigned)__builtin_ctzll(~used);
    if (atomic_compare_exchange_weak(&slots_used, &used, used | 1ull << i)) {
      pthread_setspecific(slot_key, (void *)(uintptr_t)(i + 1));
      return __cst_t.stripe = i + 1;
    }
  }
}

static inline unsigned my_stripe(void) {
  uint32_t s = __cst_t.stripe;
  if (CST_UNLIKELY(!s))
    s = slot_take();
  return s - 1;
}

/* Adds to a slot: plain load + store when the thread owns it. */
static inline void slot_add(atomic_uint_fast64_t *v, unsigned slot, uint64_t d) {
  if (CST_LIKELY(slot != SHARED))
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + d,
                          memory_order_relaxed);
  else
    atomic_fetch_add_explicit(v, d, memory_order_relaxed);
}

static uint64_t dbits(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

static double bitsd(uint64_t u) {
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* Instrument names follow OpenTelemetry: a letter, then up to 254 of
 * letters, digits, '_', '.', '-', '/'. */
static int name_ok(const char *n) {
  size_t len = n ? strlen(n) : 0;
  if (len == 0 || len > 255)
    return 0;
  if (!((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z')))
    return 0;
  for (size_t i = 1; i < len; i++) {
    char c = n[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
          c == '.' || c == '-' || c == '/'))
      return 0;
  }
  return 1;
}

static void meta_release(__cst_metric *m) {
  free(m->name);
  free(m->unit);
  free(m->desc);
  for (size_t i = 0; i < m->n_labels; i++) {
    free((char *)m->labels[i].key);
    free((char *)m->labels[i].value);
  }
  free(m->labels);
}

static int meta_init(__cst_metric *m, cst_tracer *t, int kind, const char *name, const char *unit,
                     const char *desc, const cst_label *labels, size_t n) {
  if (!t || !name_ok(name) || n > MAX_LABELS || (n && !labels))
    return -1;
  m->t = t;
  m->kind = kind;
  m->start_ns = __cst_now();
  m->name = strdup(name);
  m->unit = strdup(unit ? unit : "");
  m->desc = strdup(desc ? desc : "");
  m->labels = calloc(n ? n : 1, sizeof *m->labels);
  int bad = !m->name || !m->unit || !m->desc || !m->labels;
  for (size_t i = 0; i < n && !bad; i++) {
    if (!labels[i].key || !*labels[i].key) {
      bad = 1;
      break;
    }
    m->labels[i].key = strdup(labels[i].key);
    m->labels[i].value = strdup(labels[i].value ? labels[i].value : "");
    m->n_labels = i + 1;
    bad = !m->labels[i].key || !m->labels[i].value;
  }
  if (bad) {
    meta_release(m);
    return -1;
  }
  return 0;
}

static void link_metric(__cst_metric *m) {
  cst_tracer *t = m->t;
  pthread_mutex_lock(&t->metrics_mu);
  m->prev = NULL;
  m->next = t->metrics;
  if (t->metrics)
    t->metrics->prev = m;
  t->metrics = m;
  pthread_mutex_unlock(&t->metrics_mu);
}

static void unlink_metric(__cst_metric *m) {
  cst_tracer *t = m->t;
  pthread_mutex_lock(&t->metrics_mu);
  if (m->prev)
    m->prev->next = m->next;
  else
    t->metrics = m->next;
  if (m->next)
    m->next->prev = m->prev;
  pthread_mutex_unlock(&t->metrics_mu);
}

static void *metric_alloc(size_t size) {
  void *p = aligned_alloc(64, (size + 63) & ~(size_t)63);
  if (p)
    memset(p, 0, size);
  return p;
}

#define SIMPLE_CTOR(type, kind)                                                                    \
  type *c = metric_alloc(sizeof *c);                                                               \
  if (!c)                                                                                          \
    return NULL;                                                                                   \
  if (meta_init(&c->m, t, kind, name, unit, description, labels, n_labels) != 0) {                 \
    free(c);                                                                                       \
    return NULL;                                                                                   \
  }                                                                                                \
  link_metric(&c->m);                                                                              \
  return c;

cst_counter *cst_counter_new(cst_tracer *t, const char *name, const char *unit,
                             const char *description, const cst_label *labels,
                             size_t n_labels){SIMPLE_CTOR(cst_counter, M_COUNTER)}

cst_updown *cst_updown_new(cst_tracer *t, const char *name, const char *unit,
                           const char *description, const cst_label *labels,
                           size_t n_labels){SIMPLE_CTOR(cst_updown, M_UPDOWN)}

cst_gauge *cst_gauge_new(cst_tracer *t, const char *name, const char *unit, const char *description,
                         const cst_label *labels, size_t n_labels) {
  SIMPLE_CTOR(cst_gauge, M_GAUGE)
}

void cst_counter_add(cst_counter *c, uint64_t delta) {
  if (!c)
    return;
  unsigned slot = my_stripe();
  slot_add(&c->s[slot].v, slot, delta);
}

void cst_updown_add(cst_updown *u, int64_t delta) {
  if (!u)
    return;
  unsigned slot = my_stripe();
  slot_add(&u->s[slot].v, slot, (uint64_t)delta);
}

void cst_gauge_set(cst_gauge *g, double value) {
  if (!g)
    return;
  atomic_store_explicit(&g->bits, dbits(value), memory_order_relaxed);
  if (CST_UNLIKELY(!atomic_load_explicit(&g->set, memory_order_relaxed)))
    atomic_store_explicit(&g->set, 1, memory_order_release);
}

/* Latency in seconds, the base unit (Prometheus lints other time units):
 * OpenTelemetry's HTTP duration buckets, plus 0. */
static const double default_bounds[] = {0,   0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                        0.5, 0.75,  1,    2.5,   5,    7.5,   10};

cst_histogram *cst_histogram_new(cst_tracer *t, const char *name, const char *unit,
                                 const char *description, const cst_label *labels, size_t n_labels,
                                 const double *bounds, size_t n_bounds) {
  if (!bounds) {
    bounds = default_bounds;
    n_bounds = sizeof default_bounds / sizeof default_bounds[0];
  }
  if (n_bounds > CST_HISTOGRAM_MAX_BOUNDS)
    return NULL;
  for (size_t i = 0; i < n_bounds; i++)
    if (!isfinite(bounds[i]) || (i && !(bounds[i] > bounds[i - 1])))
      return NULL;
  cst_histogram *h = metric_alloc(sizeof *h);
  if (!h)
    return NULL;
  h->nb = n_bounds;
  memcpy(h->bounds, bounds, n_bounds * sizeof *bounds);
  h->stride = (H_BUCKETS + n_bounds + 1 + 7) & ~(size_t)7;
  h->cells = aligned_alloc(64, STRIPES * h->stride * sizeof *h->cells);
  if (!h->cells || meta_init(&h->m, t, M_HIST, name, unit, description, labels, n_labels) != 0) {
    free(h->cells);
    free(h);
    return NULL;
  }
  for (size_t s = 0; s < STRIPES; s++) {
    atomic_uint_fast64_t *c = h->cells + s * h->stride;
    for (size_t i = 0; i < h->stride; i++)
      atomic_init(&c[i], 0);
    atomic_init(&c[H_SUM], dbits(0.0));
    atomic_init(&c[H_MIN], dbits(INFINITY));
    atomic_init(&c[H_MAX], dbits(-INFINITY));
  }
  link_metric(&h->m);
  return h;
}

void cst_histogram_record(cst_histogram *h, double v) {
  if (!h || v != v)
    return;
  size_t i = 0;
  while (i < h->nb && v > h->bounds[i])
    i++;
  unsigned slot = my_stripe();
  atomic_uint_fast64_t *c = h->cells + slot * h->stride;
  slot_add(&c[H_BUCKETS + i], slot, 1);
  if (CST_LIKELY(slot != SHARED)) {
    /* Owned slot: no other writer, so plain read-compute-store. */
    double sum = bitsd(atomic_load_explicit(&c[H_SUM], memory_order_relaxed));
    atomic_store_explicit(&c[H_SUM], dbits(sum + v), memory_order_relaxed);
    if (v < bitsd(atomic_load_explicit(&c[H_MIN], memory_order_relaxed)))
      atomic_store_explicit(&c[H_MIN], dbits(v), memory_order_relaxed);
    if (v > bitsd(atomic_load_explicit(&c[H_MAX], memory_order_relaxed)))
      atomic_store_explicit(&c[H_MAX], dbits(v), memory_order_relaxed);
    return;
  }
  uint64_t old = atomic_load_explicit(&c[H_SUM], memory_order_relaxed);
  while (!atomic_compare_exchange_weak_explicit(&c[H_SUM], &old, dbits(bitsd(old) + v),
                                                memory_order_relaxed, memory_order_relaxed)) {
  }
  old = atomic_load_explicit(&c[H_MIN], memory_order_relaxed);
  while (v < bitsd(old) &&
         !atomic_compare_exchange_weak_explicit(&c[H_MIN], &old, dbits(v), memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
  old = atomic_load_explicit(&c[H_MAX], memory_order_relaxed);
  while (v > bitsd(old) &&
         !atomic_compare_exchange_weak_explicit(&c[H_MAX], &old, dbits(v), memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

static void metric_free(__cst_metric *m) {
  if (!m)
    return;
  unlink_metric(m);
  meta_release(m);
  if (m->kind == M_HIST)
    free(((cst_histogram *)m)->cells);
  free(m);
}

void cst_counter_free(cst_counter *c) {
  metric_free(c ? &c->m : NULL);
}
void cst_updown_free(cst_updown *u) {
  metric_free(u ? &u->m : NULL);
}
void cst_gauge_free(cst_gauge *g) {
  metric_free(g ? &g->m : NULL);
}
void cst_histogram_free(cst_histogram *h) {
  metric_free(h ? &h->m : NULL);
}

/* Tracer teardown: no other thread may touch the handles any more (and in
 * a forked child the lock may have been held at fork), so no locking. */
void __cst_metrics_free_all(cst_tracer *t) {
  __cst_metric *m = t->metrics;
  t->metrics = NULL;
  while (m) {
    __cst_metric *next = m->next;
    meta_release(m);
    if (m->kind == M_HIST)
      free(((cst_histogram *)m)->cells);
    free(m);
    m = next;
  }
}

/* ---- export ------------------------------------------------------------- */

static void labels_pb(__cst_buf *b, uint32_t field, const cst_label *l, size_t n) {
  for (size_t i = 0; i < n; i++)
    __cst_pb_kv_str(b, field, l[i].key, strlen(l[i].key), l[i].value, strlen(l[i].value));
}

static size_t metric_head(__cst_buf *b, const char *name, const char *desc, const char *unit) {
  size_t m = __cst_pb_begin(b, 2); /* ScopeMetrics.metrics */
  __cst_pb_bytes(b, 1, name, strlen(name));
  if (*desc)
    __cst_pb_bytes(b, 2, desc, strlen(desc));
  if (*unit)
    __cst_pb_bytes(b, 3, unit, strlen(unit));
  return m;
}

static void sum_pb(__cst_buf *b, const char *name, const char *desc, const char *unit,
                   const cst_label *l, size_t nl, uint64_t start, uint64_t now, int64_t v,
                   int monotonic) {
  size_t m = metric_head(b, name, desc, unit);
  size_t sum = __cst_pb_begin(b, 7);
  size_t dp = __cst_pb_begin(b, 1);
  labels_pb(b, 7, l, nl);
  __cst_pb_fixed64(b, 2, start);
  __cst_pb_fixed64(b, 3, now);
  __cst_pb_fixed64(b, 6, (uint64_t)v); /* as_int, sfixed64 */
  __cst_pb_end(b, dp);
  __cst_pb_uint(b, 2, 2); /* AGGREGATION_TEMPORALITY_CUMULATIVE */
  __cst_pb_uint(b, 3, monotonic ? 1 : 0);
  __cst_pb_end(b, sum);
  __cst_pb_end(b, m);
}

static void gauge_pb(__cst_buf *b, const char *name, const char *desc, const char *unit,
                     const cst_label *l, size_t nl, uint64_t now, double v) {
  size_t m = metric_head(b, name, desc, unit);
  size_t g = __cst_pb_begin(b, 5);
  size_t dp = __cst_pb_begin(b, 1);
  labels_pb(b, 7, l, nl);
  __cst_pb_fixed64(b, 3, now);
  __cst_pb_double(b, 4, v); /* as_double */
  __cst_pb_end(b, dp);
  __cst_pb_end(b, g);
  __cst_pb_end(b, m);
}

static void hist_pb(__cst_buf *b, const cst_histogram *h, uint64_t now) {
  uint64_t buckets[CST_HISTOGRAM_MAX_BOUNDS + 1] = {0}, count = 0;
  double sum = 0, mn = INFINITY, mx = -INFINITY;
  for (size_t s = 0; s < STRIPES; s++) {
    atomic_uint_fast64_t *c = h->cells + s * h->stride;
    for (size_t i = 0; i <= h->nb; i++) {
      uint64_t v = atomic_load_explicit(&c[H_BUCKETS + i], memory_order_relaxed);
      buckets[i] += v;
      count += v;
    }
    sum += bitsd(atomic_load_explicit(&c[H_SUM], memory_order_relaxed));
    double a = bitsd(atomic_load_explicit(&c[H_MIN], memory_order_relaxed));
    double z = bitsd(atomic_load_explicit(&c[H_MAX], memory_order_relaxed));
    if (a < mn)
      mn = a;
    if (z > mx)
      mx = z;
  }
  const __cst_metric *m = &h->m;
  size_t mo = metric_head(b, m->name, m->desc, m->unit);
  size_t hi = __cst_pb_begin(b, 9);
  size_t dp = __cst_pb_begin(b, 1);
  labels_pb(b, 9, m->labels, m->n_labels);
  __cst_pb_fixed64(b, 2, m->start_ns);
  __cst_pb_fixed64(b, 3, now);
  __cst_pb_fixed64(b, 4, count);
  __cst_pb_double(b, 5, sum);
  size_t bc = __cst_pb_begin(b, 6); /* packed fixed64 */
  for (size_t i = 0; i <= h->nb; i++) {
    uint8_t le[8];
    for (int k = 0; k < 8; k++)
      le[k] = (uint8_t)(buckets[i] >> (8 * k));
    __cst_pb_raw(b, le, 8);
  }
  __cst_pb_end(b, bc);
  if (h->nb) {
    size_t eb = __cst_pb_begin(b, 7); /* packed double */
    for (size_t i = 0; i < h->nb; i++) {
      uint64_t u = dbits(h->bounds[i]);
      uint8_t le[8];
      for (int k = 0; k < 8; k++)
        le[k] = (uint8_t)(u >> (8 * k));
      __cst_pb_raw(b, le, 8);
    }
    __cst_pb_end(b, eb);
  }
  if (count) {
    __cst_pb_double(b, 11, mn);
    __cst_pb_double(b, 12, mx);
  }
  __cst_pb_end(b, dp);
  __cst_pb_uint(b, 2, 2);
  __cst_pb_end(b, hi);
  __cst_pb_end(b, mo);
}

static int64_t stripes_sum(const stripe64 *s) {
  uint64_t v = 0;
  for (size_t i = 0; i < STRIPES; i++)
    v += atomic_load_explicit(&s[i].v, memory_order_relaxed);
  return (int64_t)v;
}

#define N_HEALTH 13

static void health_pb(__cst_buf *b, const cst_tracer *t, const cst_stats *st, size_t i,
                      uint64_t now) {
  static const cst_label reasons[] = {{"reason", "queue_full"}, {"reason", "too_large"},
                                      {"reason", "threads"},    {"reason", "export"},
                                      {"reason", "limits"},     {"reason", "rejected"}};
  uint64_t s0 = t->start_ns;
  switch (i) {
  case 0:
    sum_pb(b, "callscope.trace.spans.started", "spans started", "{span}", NULL, 0, s0, now,
           (int64_t)st->spans_started, 1);
    break;
  case 1:
    sum_pb(b, "callscope.trace.spans.sampled", "spans recorded", "{span}", NULL, 0, s0, now,
           (int64_t)st->spans_sampled, 1);
    break;
  case 2:
    sum_pb(b, "callscope.trace.spans.exported",
           "spans acknowledged (TCP), or sent with no error reported within 100 ms (UDP)", "{span}",
           NULL, 0, s0, now, (int64_t)st->spans_exported, 1);
    break;
  case 3:
    sum_pb(b, "callscope.trace.spans.dropped", "spans dropped", "{span}", &reasons[0], 1, s0, now,
           (int64_t)st->dropped_queue_full, 1);
    break;
  case 4:
    sum_pb(b, "callscope.trace.spans.dropped", "spans dropped", "{span}", &reasons[1], 1, s0, now,
           (int64_t)st->dropped_too_large, 1);
    break;
  case 5:
    sum_pb(b, "callscope.trace.spans.dropped", "spans dropped", "{span}", &reasons[2], 1, s0, now,
           (int64_t)st->dropped_threads, 1);
    break;
  case 6:
    sum_pb(b, "callscope.trace.spans.dropped", "spans dropped", "{span}", &reasons[3], 1, s0, now,
           (int64_t)st->dropped_export, 1);
    break;
  case 7:
    sum_pb(b, "callscope.trace.dropped_items", "attributes, events and links over limits", "1",
           &reasons[4], 1, s0, now, (int64_t)st->dropped_attributes, 1);
    break;
  case 8:
    sum_pb(b, "callscope.trace.export.errors", "failed sends and connections", "1", NULL, 0, s0,
           now, (int64_t)st->export_errors, 1);
    break;
  case 9:
    gauge_pb(b, "callscope.trace.queue.bytes", "bytes waiting in span rings", "By", NULL, 0, now,
             (double)st->queue_bytes);
    break;
  case 10:
    gauge_pb(b, "callscope.trace.unacked.bytes", "TCP bytes waiting for acknowledgement", "By",
             NULL, 0, now, (double)st->unacked_bytes);
    break;
  case 11:
    /* Acknowledged but not accepted by the collector (validation). */
    sum_pb(b, "callscope.trace.spans.dropped", "spans dropped", "{span}", &reasons[5], 1, s0, now,
           (int64_t)st->spans_rejected, 1);
    break;
  default:
    sum_pb(b, "callscope.trace.reconnects", "TCP reconnections", "1", NULL, 0, s0, now,
           (int64_t)st->reconnects, 1);
    break;
  }
}

static void metric_pb(__cst_buf *b, const __cst_metric *m, uint64_t now) {
  switch (m->kind) {
  case M_COUNTER:
    sum_pb(b, m->name, m->desc, m->unit, m->labels, m->n_labels, m->start_ns, now,
           stripes_sum(((const cst_counter *)m)->s), 1);
    break;
  case M_UPDOWN:
    sum_pb(b, m->name, m->desc, m->unit, m->labels, m->n_labels, m->start_ns, now,
           stripes_sum(((const cst_updown *)m)->s), 0);
    break;
  case M_GAUGE: {
    const cst_gauge *g = (const cst_gauge *)m;
    if (atomic_load_explicit(&((cst_gauge *)g)->set, memory_order_acquire))
      gauge_pb(b, m->name, m->desc, m->unit, m->labels, m->n_labels, now,
               bitsd(atomic_load_explicit(&((cst_gauge *)g)->bits, memory_order_relaxed)));
    break;
  }
  default: hist_pb(b, (const cst_histogram *)m, now);
  }
}

int __cst_metrics_encode(cst_tracer *t, const cst_stats *st, __cst_buf *b, uint64_t now,
                         size_t *cursor, size_t limit) {
  size_t idx = 0, wrote = 0;
  pthread_mutex_lock(&t->metrics_mu);
  const __cst_metric *m = t->metrics;
  for (;; idx++) {
    if (idx >= N_HEALTH && !m)
      break;
    if (idx >= *cursor) {
      size_t before = b->n;
      if (idx < N_HEALTH)
        health_pb(b, t, st, idx, now);
      else
        metric_pb(b, m, now);
      if (b->err || b->n > limit) {
        b->n = before;
        b->err = 0;
        if (wrote)
          break; /* next frame */
        /* Alone it does not fit a frame: skip it. */
      } else {
        wrote++;
      }
      *cursor = idx + 1;
    }
    if (idx >= N_HEALTH)
      m = m->next;
  }
  pthread_mutex_unlock(&t->metrics_mu);
  return idx >= N_HEALTH && !m;
}
