/* Latency statistics per service and operation over a time window
 * (/api/v1/stats). By default from the store's per-minute rows
 * (stats_store.c); with exact=true, or a step that is not whole minutes,
 * by scanning the window's spans and sorting their durations, so the
 * percentiles are exact nearest-rank values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

/* Count, errors, rate and percentiles of sorted durations d[0..n). */
static void agg_fields(cs_json *j, const uint64_t *d, size_t n, uint64_t errs) {
  cs_json_key(j, "count"), cs_json_uint(j, n);
  cs_json_key(j, "errors"), cs_json_uint(j, errs);
  cs_json_key(j, "errorRate"), cs_json_double(j, n ? (double)errs / (double)n : 0.0);
  cs_json_key(j, "p50Ns"), cs_json_uint(j, q_percentile(d, n, 0.50));
  cs_json_key(j, "p90Ns"), cs_json_uint(j, q_percentile(d, n, 0.90));
  cs_json_key(j, "p95Ns"), cs_json_uint(j, q_percentile(d, n, 0.95));
  cs_json_key(j, "p99Ns"), cs_json_uint(j, q_percentile(d, n, 0.99));
  cs_json_key(j, "maxNs"), cs_json_uint(j, n ? d[n - 1] : 0);
}

/* Sorted durations d[0..n) counted into readable buckets (the shape the
 * store path gives, with exact counts). */
static void histogram(cs_json *j, const uint64_t *d, size_t n) {
  cs_json_key(j, "histogram"), cs_json_arr(j);
  if (n) {
    uint64_t le[Q_HIST_MAX];
    size_t nb = q_hist_bounds(d[0], d[n - 1], le), i = 0;
    for (size_t b = 0; b < nb; b++) {
      size_t k = i;
      while (k < n && (d[k] <= le[b] || b + 1 == nb)) k++;
      cs_json_obj(j);
      cs_json_key(j, "leNs"), cs_json_uint(j, le[b]);
      cs_json_key(j, "count"), cs_json_uint(j, k - i);
      cs_json_end(j);
      i = k;
    }
  }
  cs_json_end(j);
}

/* Aggregate and histogram of one group r[0..n), sorted by (bucket, dur). */
static void group_agg(cs_json *j, const q_rec *r, size_t n, uint64_t *tmp) {
  uint64_t errs = 0;
  for (size_t i = 0; i < n; i++) tmp[i] = r[i].dur, errs += r[i].err;
  qsort(tmp, n, sizeof(uint64_t), q_u64_cmp);
  agg_fields(j, tmp, n, errs);
  histogram(j, tmp, n);
}

/* Per-bucket series of one group r[0..n), sorted by (bucket, dur); only
 * buckets with spans are listed. */
static void group_series(cs_json *j, const q_rec *r, size_t n, uint64_t *tmp, uint64_t start_ns,
                         uint64_t step_ns) {
  cs_json_key(j, "series"), cs_json_arr(j);
  for (size_t i = 0; i < n;) {
    size_t k = i;
    uint64_t errs = 0;
    while (k < n && r[k].bucket == r[i].bucket) tmp[k - i] = r[k].dur, errs += r[k].err, k++;
    cs_json_obj(j);
    cs_json_key(j, "timeUs"), cs_json_uint(j, (start_ns + r[i].bucket * step_ns) / 1000);
    agg_fields(j, tmp, k - i, errs);
    cs_json_end(j);
    i = k;
  }
  cs_json_end(j);
}

typedef struct stats_ctx {
  qreq *x;
  cs_str service, operation;
  unsigned kinds; /* 1 << CS_KIND_* of the kinds counted */
  uint64_t start_ns, end_ns, step_ns;
  q_strmap ops;
  q_recs v;
  int overflow;
} stats_ctx;

static int stats_trace(void *ud, const cs_span *spans, size_t n) {
  stats_ctx *c = ud;
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = &spans[i];
    if (!s->resource || !q_str_eq(s->resource->service, c->service)) continue;
    if (c->operation.n && !q_str_eq(s->name, c->operation)) continue;
    if (s->kind >= 32 || !(c->kinds & (1u << s->kind))) continue;
    if (s->start_ns < c->start_ns || s->start_ns >= c->end_ns) continue;
    int32_t g = q_strmap_intern(&c->ops, s->name.p, s->name.n);
    q_rec r = {s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0, (uint32_t)g,
             (uint32_t)((s->start_ns - c->start_ns) / c->step_ns),
             s->status_code == CS_STATUS_ERROR};
    if (g < 0 || q_recs_push(&c->v, r)) {
      c->overflow = 1;
      return q_error(c->x, 422,
                     "window holds too many spans or operations to summarise: narrow it");
    }
  }
  return 0;
}

static const char *const kind_names[] = {"unspecified", "internal", "server",
                                         "client",      "producer", "consumer"};
#define KINDS_ALL 0x3fu
/* Requests, as Jaeger's service performance monitoring counts them: the
 * spans where a service answers a call or takes a message. */
#define KINDS_DEFAULT ((1u << CS_KIND_SERVER) | (1u << CS_KIND_CONSUMER))

/* "server", "server,consumer" or "all" to a mask; 0 when malformed. */
static unsigned kinds_from(cs_str k) {
  if (q_str_eqc(k, "all")) return KINDS_ALL;
  unsigned mask = 0;
  size_t i = 0;
  while (i <= k.n) {
    size_t e = i;
    while (e < k.n && k.p[e] != ',') e++;
    cs_str one = {k.p + i, (uint32_t)(e - i)};
    int found = 0;
    for (unsigned n = 0; n < 6; n++)
      if (q_str_eqc(one, kind_names[n])) mask |= 1u << n, found = 1;
    if (!found) return 0;
    i = e + 1;
  }
  return mask;
}

void q_json_span_kinds(cs_json *j, unsigned kinds) {
  cs_json_key(j, "spanKinds"), cs_json_arr(j);
  for (unsigned n = 0; n < 6; n++)
    if (kinds & (1u << n)) cs_json_str(j, kind_names[n]);
  cs_json_end(j);
}

/* GET /api/v1/stats?service=&operation=&spanKind=&start=&end=&lookback=&step= */
void h_v1_stats(qreq *x) {
  stats_ctx c;
  memset(&c, 0, sizeof c);
  c.x = x;
  c.kinds = KINDS_DEFAULT;
  cs_str kind;
  if (q_arg_str(x, "service", 1024, &c.service) || q_arg_str(x, "operation", 1024, &c.operation) ||
      q_arg_str(x, "spanKind", 80, &kind))
    return;
  if (!c.service.n) {
    q_error(x, 400, "parameter 'service' is required");
    return;
  }
  if (kind.n && !(c.kinds = kinds_from(kind))) {
    q_error(x, 400, "bad spanKind: %.80s (want server, client, producer, consumer, internal, "
                    "unspecified, a comma list of them, or all)", kind.p);
    return;
  }
  if (q_arg_window(x, 3600ull * 1000000000ull, &c.start_ns, &c.end_ns)) return;
  if (q_arg_duration(x, "step", 60ull * 1000000000ull, &c.step_ns)) return;
  if (c.step_ns < 1000000000ull) {
    q_error(x, 400, "step too small: at least 1s");
    return;
  }
  if (c.end_ns == c.start_ns) c.end_ns++;
  if ((c.end_ns - c.start_ns) / c.step_ns > 10080) {
    q_error(x, 400, "too many steps: at most 10080 per window, use a larger step");
    return;
  }
  /* The store's per-minute rows answer unless the caller asks for exact
   * values or a step they cannot give. */
  const char *exact = cs_http_arg(x->r, "exact");
  if ((!exact || strcmp(exact, "true") != 0) && c.step_ns % 60000000000ull == 0) {
    q_stats_from_store(x, c.service, c.operation, c.kinds, c.start_ns, c.end_ns, c.step_ns);
    return;
  }
  if (q_strmap_init(&c.ops, x->a, 10000)) {
    q_error(x, 500, "out of memory");
    return;
  }
  c.v.max = 8u << 20;
  cs_index_query iq;
  memset(&iq, 0, sizeof iq);
  iq.kind = c.operation.n ? CS_IDX_OPERATION : CS_IDX_SERVICE;
  iq.service = c.service;
  iq.operation = c.operation;
  /* A trace that started up to the lookback before the window may still
   * hold spans inside it; traces longer than that are rare enough to miss. */
  iq.start_ns = c.start_ns > 60000000000ull ? c.start_ns - 60000000000ull : 0;
  iq.end_ns = c.end_ns;
  if (q_heavy_enter(x)) return;
  int rc = q_for_each_trace(x, &iq, stats_trace, &c);
  q_heavy_leave(x);
  if (rc) {
    free(c.v.r);
    return;
  }
  uint64_t *tmp = cs_arena_alloc(x->a, sizeof(uint64_t) * (c.v.n ? c.v.n : 1));
  /* Operation names in order for a stable output. */
  uint32_t *order = cs_arena_alloc(x->a, sizeof(uint32_t) * (c.ops.n ? c.ops.n : 1));
  if (!tmp || !order) {
    free(c.v.r);
    q_error(x, 500, "out of memory");
    return;
  }
  qsort(c.v.r, c.v.n, sizeof(q_rec), q_rec_cmp);
  size_t *first = cs_arena_alloc(x->a, sizeof(size_t) * (c.ops.n + 1));
  if (!first) {
    free(c.v.r);
    q_error(x, 500, "out of memory");
    return;
  }
  for (size_t g = 0, i = 0; g <= c.ops.n; g++) {
    while (i < c.v.n && c.v.r[i].group < g) i++;
    first[g] = i;
  }
  for (size_t g = 0; g < c.ops.n; g++) order[g] = (uint32_t)g;
  /* Insertion sort by name: operation counts are small. */
  for (size_t g = 1; g < c.ops.n; g++) {
    uint32_t v = order[g];
    size_t k = g;
    while (k > 0) {
      cs_str a = c.ops.keys[order[k - 1]], b = c.ops.keys[v];
      size_t m = a.n < b.n ? a.n : b.n;
      int cmp = m ? memcmp(a.p, b.p, m) : 0;
      if (cmp < 0 || (cmp == 0 && a.n <= b.n)) break;
      order[k] = order[k - 1];
      k--;
    }
    order[k] = v;
  }
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "service"), cs_json_cs(j, c.service);
  cs_json_key(j, "startTimeUs"), cs_json_uint(j, c.start_ns / 1000);
  cs_json_key(j, "endTimeUs"), cs_json_uint(j, c.end_ns / 1000);
  cs_json_key(j, "stepNs"), cs_json_uint(j, c.step_ns);
  q_json_span_kinds(j, c.kinds);
  cs_json_key(j, "source"), cs_json_str(j, "exact");
  cs_json_key(j, "scannedTraces"), cs_json_uint(j, x->scanned);
  cs_json_key(j, "operations"), cs_json_arr(j);
  for (size_t o = 0; o < c.ops.n; o++) {
    uint32_t g = order[o];
    const q_rec *r = c.v.r + first[g];
    size_t n = first[g + 1] - first[g];
    cs_json_obj(j);
    cs_json_key(j, "operation"), cs_json_cs(j, c.ops.keys[g]);
    group_agg(j, r, n, tmp);
    group_series(j, r, n, tmp, c.start_ns, c.step_ns);
    cs_json_end(j);
  }
  cs_json_end(j);
  /* Totals over every operation: one group. */
  for (size_t i = 0; i < c.v.n; i++) c.v.r[i].group = 0;
  qsort(c.v.r, c.v.n, sizeof(q_rec), q_rec_cmp);
  cs_json_key(j, "total"), cs_json_obj(j);
  group_agg(j, c.v.r, c.v.n, tmp);
  group_series(j, c.v.r, c.v.n, tmp, c.start_ns, c.step_ns);
  cs_json_end(j);
  cs_json_end(j);
  free(c.v.r);
  q_send_json(x, 200);
}

