/* RED metrics derived from committed spans: calls, errors and a duration
 * histogram per service, operation, span kind and status. A batch is first
 * aggregated per distinct key without the lock, label keys are built, and
 * then the registry lock is taken once to apply the sums. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const double cs_metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                            0.05,   0.1,   0.25,   0.5,   1,    2.5,
                                            5,      10,    30,     60};
#define NB (sizeof cs_metrics_latency_bounds / sizeof cs_metrics_latency_bounds[0])
const size_t cs_metrics_latency_n_bounds = NB;

#define AGG_SLOTS 512 /* index slots; a power of two */
#define AGG_MAX 256   /* distinct keys per chunk; a larger batch is applied in chunks */

typedef struct agg {
  cs_str service, op;
  uint8_t kind, status;
  uint64_t calls;
  double sum;
  uint64_t counts[NB + 1];
  size_t key_off, key_len;         /* calls and duration: 4 labels */
  size_t err_key_off, err_key_len; /* errors: without status_code */
} agg;

typedef struct aggs {
  agg a[AGG_MAX];
  int16_t slot[AGG_SLOTS]; /* index into a, -1 empty */
  size_t n;
} aggs;

static const char *kind_name(uint8_t k) {
  static const char *names[] = {"unspecified", "internal", "server",
                                "client",      "producer", "consumer"};
  return k < sizeof names / sizeof names[0] ? names[k] : "unspecified";
}

static const char *status_name(uint8_t s) {
  return s == CS_STATUS_OK ? "ok" : s == CS_STATUS_ERROR ? "error" : "unset";
}

static cs_str span_service(const cs_span *s) {
  if (s->resource && s->resource->service.n) return s->resource->service;
  return CS_STR_LIT("unknown_service");
}

static int cs_str_eq(cs_str a, cs_str b) { return a.n == b.n && (a.n == 0 || !memcmp(a.p, b.p, a.n)); }

/* Returns 0, or 1 when the chunk is full and must be applied first. */
static int add_span(aggs *g, const cs_span *sp) {
  cs_str svc = span_service(sp);
  uint8_t kind = sp->kind <= CS_KIND_CONSUMER ? sp->kind : 0;
  uint8_t status = sp->status_code <= CS_STATUS_ERROR ? sp->status_code : 0;
  uint32_t h = __cs_metrics_hash(svc.p, svc.n, 0);
  h = __cs_metrics_hash(sp->name.p, sp->name.n, h);
  h = (h ^ (uint32_t)(kind * 31 + status)) * 16777619u;
  size_t i = h & (AGG_SLOTS - 1);
  agg *a = NULL;
  for (; g->slot[i] >= 0; i = (i + 1) & (AGG_SLOTS - 1)) {
    agg *c = &g->a[g->slot[i]];
    if (c->kind == kind && c->status == status && cs_str_eq(c->op, sp->name) &&
        cs_str_eq(c->service, svc)) {
      a = c;
      break;
    }
  }
  if (!a) {
    if (g->n == AGG_MAX) return 1;
    a = &g->a[g->n];
    memset(a, 0, sizeof *a);
    a->service = svc;
    a->op = sp->name;
    a->kind = kind;
    a->status = status;
    g->slot[i] = (int16_t)g->n++;
  }
  double d = sp->end_ns > sp->start_ns ? (double)(sp->end_ns - sp->start_ns) / 1e9 : 0.0;
  size_t b = 0;
  while (b < NB && d > cs_metrics_latency_bounds[b]) b++;
  a->counts[b]++;
  a->calls++;
  a->sum += d;
  return 0;
}

static void build_keys(aggs *g, mbuf *keys) {
  for (size_t i = 0; i < g->n; i++) {
    agg *a = &g->a[i];
    mlabel l[4];
    memcpy(l[0].name, "service", 8);
    l[0].value = a->service.p, l[0].value_len = a->service.n;
    memcpy(l[1].name, "operation", 10);
    l[1].value = a->op.p, l[1].value_len = a->op.n;
    memcpy(l[2].name, "span_kind", 10);
    l[2].value = kind_name(a->kind), l[2].value_len = strlen(l[2].value);
    memcpy(l[3].name, "status_code", 12);
    l[3].value = status_name(a->status), l[3].value_len = strlen(l[3].value);
    a->key_off = keys->n;
    __cs_metrics_build_key(keys, l, 4);
    a->key_len = keys->n - a->key_off;
    /* The same labels without status_code (sorted last, so dropping the
     * final element keeps the order). */
    a->err_key_off = keys->n;
    __cs_metrics_build_key(keys, l, 3);
    a->err_key_len = keys->n - a->err_key_off;
  }
}

static int apply(cs_metrics *reg, aggs *g, mbuf *keys) {
  int err = 0, rc = 0;
  uint64_t now = __cs_metrics_now_ns();
  pthread_mutex_lock(&reg->mu);
  family *calls = __cs_metrics_family(reg, "callscope_span_calls",
                                      "Spans received, per service, operation, span kind and status",
                                      NULL, MT_COUNTER, 0, NULL, 0, &err);
  family *errs = __cs_metrics_family(reg, "callscope_span_errors",
                                     "Spans with status ERROR, per service, operation and span kind",
                                     NULL, MT_COUNTER, 0, NULL, 0, &err);
  family *dur = __cs_metrics_family(
      reg, "callscope_span_duration_seconds",
      "Span duration (end minus start), per service, operation, span kind and status", "seconds",
      MT_HISTOGRAM, 0, NULL, 0, &err);
  for (size_t i = 0; i < g->n; i++) {
    agg *a = &g->a[i];
    const char *k = keys->s + a->key_off;
    series *s;
    if (calls && (s = __cs_metrics_series(reg, calls, k, a->key_len, NULL, 0, &err))) {
      s->value += (double)a->calls;
      s->touched_ns = now;
    }
    if (errs && (s = __cs_metrics_series(reg, errs, keys->s + a->err_key_off, a->err_key_len, NULL,
                                         0, &err))) {
      if (a->status == CS_STATUS_ERROR) s->value += (double)a->calls;
      s->touched_ns = now;
    }
    if (dur && (s = __cs_metrics_series(reg, dur, k, a->key_len, cs_metrics_latency_bounds,
                                        (uint32_t)NB, &err))) {
      for (size_t b = 0; b <= NB; b++) s->counts[b] += a->counts[b];
      s->count += a->calls;
      s->sum += a->sum;
      s->touched_ns = now;
    }
    if (err == CS_METRICS_ENOMEM) rc = err;
  }
  if (!calls || !errs || !dur) rc = err == CS_METRICS_ENOMEM ? err : rc;
  __cs_metrics_maybe_expire(reg, now);
  pthread_mutex_unlock(&reg->mu);
  return rc;
}

static int flush(cs_metrics *reg, aggs *g) {
  mbuf keys;
  __cs_metrics_buf_init(&keys, (size_t)AGG_MAX * 2 * CS_METRICS_MAX_KEY);
  build_keys(g, &keys);
  int rc = keys.err ? CS_METRICS_ENOMEM : apply(reg, g, &keys);
  __cs_metrics_buf_release(&keys);
  g->n = 0;
  memset(g->slot, 0xff, sizeof g->slot);
  return rc;
}

int cs_metrics_ingest_spans(cs_metrics *reg, const cs_span *spans, size_t n) {
  if (!reg || (n && !spans)) return CS_METRICS_EINVAL;
  if (n == 0) return 0;
  aggs *g = malloc(sizeof *g);
  if (!g) return CS_METRICS_ENOMEM;
  g->n = 0;
  memset(g->slot, 0xff, sizeof g->slot);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    if (add_span(g, &spans[i])) {
      int r = flush(reg, g);
      if (r) rc = r;
      add_span(g, &spans[i]);
    }
  }
  int r = flush(reg, g);
  if (r) rc = r;
  free(g);
  return rc;
}
