/* StatsD line parsing and aggregation (see statsd.h). Series live in a
 * chained hash table keyed by type, name and sorted tags; the table has a
 * hard cap so a sender inventing names cannot grow it without bound. */
#include "statsd.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Metrics__V1__Metric pb_metric;
typedef Opentelemetry__Proto__Common__V1__KeyValue pb_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue pb_any;

const double cs_statsd_timer_bounds[] = {1,   2,    5,    10,   25,    50,    100,   250,
                                         500, 1000, 2500, 5000, 10000, 30000, 60000};
const size_t cs_statsd_timer_n_bounds = sizeof cs_statsd_timer_bounds / sizeof cs_statsd_timer_bounds[0];
#define NB (sizeof cs_statsd_timer_bounds / sizeof cs_statsd_timer_bounds[0])

typedef struct series {
  struct series *next;
  uint64_t hash;
  char *key;     /* type, name, NUL, then "k\x1fv\x1e" per tag (sorted) */
  size_t key_len;
  int type;
  int dirty;
  uint64_t last_ns;
  double value;  /* counter: delta since flush; gauge: current value */
  double count, sum; /* timer/histogram since flush (weighted by 1/rate) */
  double buckets[NB + 1];
} series;

struct cs_statsd_agg {
  series **tab;
  size_t n_tab, n, max;
};

/* ---- parsing ---- */

static int parse_double(const char *p, size_t n, double *out) {
  char buf[64];
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, p, n);
  buf[n] = '\0';
  /* strtod also takes "inf", "nan" and hex: StatsD values are decimal. */
  for (size_t i = 0; i < n; i++)
    if (!strchr("0123456789.eE+-", buf[i])) return -1;
  char *end;
  double d = strtod(buf, &end);
  if (end != buf + n || !isfinite(d)) return -1;
  *out = d;
  return 0;
}

static int parse_tags(const char *p, size_t n, cs_statsd_line *l) {
  size_t i = 0;
  while (i < n) {
    size_t j = i;
    while (j < n && p[j] != ',') j++;
    if (j > i) {
      if (l->n_tags == CS_STATSD_MAX_TAGS) return -1;
      const char *colon = memchr(p + i, ':', j - i);
      cs_str *k = &l->tag_keys[l->n_tags], *v = &l->tag_vals[l->n_tags];
      if (colon) {
        k->p = p + i;
        k->n = (uint32_t)(colon - (p + i));
        v->p = colon + 1;
        v->n = (uint32_t)(p + j - colon - 1);
      } else {
        k->p = p + i;
        k->n = (uint32_t)(j - i);
        *v = CS_STR_LIT("true");
      }
      if (k->n == 0) return -1;
      l->n_tags++;
    }
    i = j + 1;
  }
  return 0;
}

int cs_statsd_parse_line(const char *p, size_t n, cs_statsd_line *l) {
  memset(l, 0, sizeof *l);
  l->rate = 1;
  if (n && p[n - 1] == '\r') n--;
  const char *colon = memchr(p, ':', n);
  if (!colon || colon == p || (size_t)(colon - p) > CS_STATSD_MAX_NAME) return -1;
  l->name.p = p;
  l->name.n = (uint32_t)(colon - p);
  for (uint32_t i = 0; i < l->name.n; i++)
    if ((unsigned char)p[i] <= ' ' || p[i] == '|' || p[i] == '#' || p[i] == '@') return -1;
  const char *v = colon + 1, *end = p + n;
  const char *bar = memchr(v, '|', (size_t)(end - v));
  if (!bar) return -1;
  if (parse_double(v, (size_t)(bar - v), &l->value)) return -1;
  const char *t = bar + 1;
  const char *tend = memchr(t, '|', (size_t)(end - t));
  if (!tend) tend = end;
  size_t tn = (size_t)(tend - t);
  if (tn == 1 && t[0] == 'c') l->type = CS_STATSD_COUNTER;
  else if (tn == 1 && t[0] == 'g') l->type = CS_STATSD_GAUGE;
  else if (tn == 2 && t[0] == 'm' && t[1] == 's') l->type = CS_STATSD_TIMER;
  else if (tn == 1 && (t[0] == 'h' || t[0] == 'd')) l->type = CS_STATSD_HISTOGRAM;
  else return -1; /* sets (s) and unknown types */
  if (l->type == CS_STATSD_GAUGE && (v[0] == '+' || v[0] == '-')) l->gauge_delta = 1;
  if (l->type == CS_STATSD_COUNTER && l->value < 0) return -1;
  if ((l->type == CS_STATSD_TIMER || l->type == CS_STATSD_HISTOGRAM) && l->value < 0) return -1;
  for (const char *s = tend; s < end;) {
    s++; /* past '|' */
    const char *se = memchr(s, '|', (size_t)(end - s));
    if (!se) se = end;
    if (s < se && s[0] == '@') {
      if (parse_double(s + 1, (size_t)(se - s - 1), &l->rate) || !(l->rate > 0) || l->rate > 1)
        return -1;
    } else if (s < se && s[0] == '#') {
      if (parse_tags(s + 1, (size_t)(se - s - 1), l)) return -1;
    } else if (s == se) {
      return -1; /* empty section */
    }
    s = se;
  }
  return 0;
}

/* ---- aggregation ---- */

cs_statsd_agg *cs_statsd_agg_new(size_t max_series) {
  cs_statsd_agg *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->n_tab = 1024;
  g->tab = calloc(g->n_tab, sizeof *g->tab);
  if (!g->tab) {
    free(g);
    return NULL;
  }
  g->max = max_series ? max_series : 10000;
  return g;
}

void cs_statsd_agg_free(cs_statsd_agg *g) {
  if (!g) return;
  for (size_t i = 0; i < g->n_tab; i++)
    for (series *s = g->tab[i], *next; s; s = next) {
      next = s->next;
      free(s->key);
      free(s);
    }
  free(g->tab);
  free(g);
}

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

static int tag_cmp(const cs_str *a, const cs_str *b) {
  uint32_t n = a->n < b->n ? a->n : b->n;
  int c = memcmp(a->p, b->p, n);
  return c ? c : (a->n > b->n) - (a->n < b->n);
}

/* The series key: type, name, NUL, then tags sorted by key so that tag
 * order does not split a series. */
static char *make_key(const cs_statsd_line *l, size_t *len) {
  uint32_t ord[CS_STATSD_MAX_TAGS];
  size_t n = 2 + l->name.n;
  for (uint32_t i = 0; i < l->n_tags; i++) {
    ord[i] = i;
    n += l->tag_keys[i].n + l->tag_vals[i].n + 2;
  }
  for (uint32_t i = 1; i < l->n_tags; i++) /* insertion sort: few tags */
    for (uint32_t j = i; j > 0 && tag_cmp(&l->tag_keys[ord[j]], &l->tag_keys[ord[j - 1]]) < 0; j--) {
      uint32_t t = ord[j];
      ord[j] = ord[j - 1];
      ord[j - 1] = t;
    }
  char *k = malloc(n + 1);
  if (!k) return NULL;
  size_t o = 0;
  k[o++] = (char)l->type;
  memcpy(k + o, l->name.p, l->name.n);
  o += l->name.n;
  k[o++] = '\0';
  for (uint32_t i = 0; i < l->n_tags; i++) {
    const cs_str *tk = &l->tag_keys[ord[i]], *tv = &l->tag_vals[ord[i]];
    memcpy(k + o, tk->p, tk->n);
    o += tk->n;
    k[o++] = '\x1f';
    memcpy(k + o, tv->p, tv->n);
    o += tv->n;
    k[o++] = '\x1e';
  }
  k[o] = '\0';
  *len = o;
  return k;
}

int cs_statsd_agg_add(cs_statsd_agg *g, const cs_statsd_line *l, uint64_t now_ns) {
  size_t klen;
  char *key = make_key(l, &klen);
  if (!key) return -1;
  uint64_t h = hash_bytes(key, klen);
  series **slot = &g->tab[h % g->n_tab], *s;
  for (s = *slot; s; s = s->next)
    if (s->hash == h && s->key_len == klen && !memcmp(s->key, key, klen)) break;
  if (s) {
    free(key);
  } else {
    if (g->n >= g->max || !(s = calloc(1, sizeof *s))) {
      free(key);
      return -1;
    }
    s->key = key;
    s->key_len = klen;
    s->hash = h;
    s->type = l->type;
    s->next = *slot;
    *slot = s;
    g->n++;
  }
  s->dirty = 1;
  s->last_ns = now_ns;
  double w = 1.0 / l->rate;
  switch (l->type) {
  case CS_STATSD_COUNTER: s->value += l->value * w; break;
  case CS_STATSD_GAUGE: s->value = l->gauge_delta ? s->value + l->value : l->value; break;
  default: {
    size_t b = 0;
    while (b < NB && l->value > cs_statsd_timer_bounds[b]) b++;
    s->buckets[b] += w;
    s->count += w;
    s->sum += l->value * w;
  }
  }
  return 0;
}

void cs_statsd_agg_datagram(cs_statsd_agg *g, const char *p, size_t n, uint64_t now_ns,
                            uint64_t *ok, uint64_t *bad, uint64_t *dropped) {
  size_t i = 0;
  while (i < n) {
    const char *nl = memchr(p + i, '\n', n - i);
    size_t j = nl ? (size_t)(nl - p) : n;
    if (j > i) {
      cs_statsd_line l;
      if (cs_statsd_parse_line(p + i, j - i, &l)) (*bad)++;
      else if (cs_statsd_agg_add(g, &l, now_ns)) (*dropped)++;
      else (*ok)++;
    }
    i = j + 1;
  }
}

/* ---- flushing into an OTLP request ---- */

static pb_kv *kv_new(cs_arena *a, const char *k, size_t kn, const char *v, size_t vn) {
  pb_kv *kv = cs_arena_alloc(a, sizeof *kv);
  pb_any *any = cs_arena_alloc(a, sizeof *any);
  char *ks = cs_arena_strndup(a, k, kn), *vs = cs_arena_strndup(a, v, vn);
  if (!kv || !any || !ks || !vs) return NULL;
  *kv = (pb_kv)OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
  *any = (pb_any)OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
  any->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
  any->string_value = vs;
  kv->key = ks;
  kv->value = any;
  return kv;
}

/* Tags of a series key as KeyValues. */
static int key_attrs(cs_arena *a, const series *s, pb_kv ***out, size_t *n) {
  const char *p = s->key + 1 + strlen(s->key + 1) + 1, *end = s->key + s->key_len;
  size_t cnt = 0;
  for (const char *q = p; q < end; q++) cnt += *q == '\x1e';
  *n = 0;
  *out = NULL;
  if (!cnt) return 0;
  pb_kv **kvs = cs_arena_alloc(a, cnt * sizeof *kvs);
  if (!kvs) return -1;
  while (p < end) {
    const char *us = memchr(p, '\x1f', (size_t)(end - p));
    const char *rs = us ? memchr(us, '\x1e', (size_t)(end - us)) : NULL;
    if (!rs) break;
    if (!(kvs[*n] = kv_new(a, p, (size_t)(us - p), us + 1, (size_t)(rs - us - 1)))) return -1;
    (*n)++;
    p = rs + 1;
  }
  *out = kvs;
  return 0;
}

static pb_metric *metric_of(cs_arena *a, series *s, uint64_t t) {
  pb_metric *m = cs_arena_alloc(a, sizeof *m);
  if (!m) return NULL;
  *m = (pb_metric)OPENTELEMETRY__PROTO__METRICS__V1__METRIC__INIT;
  m->name = s->key + 1;
  pb_kv **attrs;
  size_t n_attrs;
  if (key_attrs(a, s, &attrs, &n_attrs)) return NULL;
  if (s->type == CS_STATSD_COUNTER || s->type == CS_STATSD_GAUGE) {
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p = cs_arena_alloc(a, sizeof *p);
    Opentelemetry__Proto__Metrics__V1__NumberDataPoint **pp = cs_arena_alloc(a, sizeof *pp);
    if (!p || !pp) return NULL;
    *p = (Opentelemetry__Proto__Metrics__V1__NumberDataPoint)
        OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__INIT;
    p->attributes = attrs;
    p->n_attributes = n_attrs;
    p->time_unix_nano = t;
    p->value_case = OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE;
    p->as_double = s->value;
    *pp = p;
    if (s->type == CS_STATSD_COUNTER) {
      Opentelemetry__Proto__Metrics__V1__Sum *sum = cs_arena_alloc(a, sizeof *sum);
      if (!sum) return NULL;
      *sum = (Opentelemetry__Proto__Metrics__V1__Sum)OPENTELEMETRY__PROTO__METRICS__V1__SUM__INIT;
      sum->aggregation_temporality =
          OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA;
      sum->is_monotonic = 1;
      sum->data_points = pp;
      sum->n_data_points = 1;
      m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM;
      m->sum = sum;
    } else {
      Opentelemetry__Proto__Metrics__V1__Gauge *g = cs_arena_alloc(a, sizeof *g);
      if (!g) return NULL;
      *g = (Opentelemetry__Proto__Metrics__V1__Gauge)OPENTELEMETRY__PROTO__METRICS__V1__GAUGE__INIT;
      g->data_points = pp;
      g->n_data_points = 1;
      m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE;
      m->gauge = g;
    }
    return m;
  }
  Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p = cs_arena_alloc(a, sizeof *p);
  Opentelemetry__Proto__Metrics__V1__HistogramDataPoint **pp = cs_arena_alloc(a, sizeof *pp);
  Opentelemetry__Proto__Metrics__V1__Histogram *h = cs_arena_alloc(a, sizeof *h);
  uint64_t *counts = cs_arena_alloc(a, (NB + 1) * sizeof *counts);
  if (!p || !pp || !h || !counts) return NULL;
  *p = (Opentelemetry__Proto__Metrics__V1__HistogramDataPoint)
      OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__INIT;
  uint64_t total = 0;
  for (size_t i = 0; i <= NB; i++) total += counts[i] = (uint64_t)llround(s->buckets[i]);
  p->attributes = attrs;
  p->n_attributes = n_attrs;
  p->time_unix_nano = t;
  p->count = total;
  p->sum = s->sum;
  p->sum_present_case = OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
  p->bucket_counts = counts;
  p->n_bucket_counts = NB + 1;
  p->explicit_bounds = (double *)cs_statsd_timer_bounds;
  p->n_explicit_bounds = NB;
  *pp = p;
  *h = (Opentelemetry__Proto__Metrics__V1__Histogram)OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM__INIT;
  h->aggregation_temporality =
      OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA;
  h->data_points = pp;
  h->n_data_points = 1;
  m->data_case = OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM;
  m->histogram = h;
  return m;
}

int cs_statsd_agg_flush(cs_statsd_agg *g, cs_arena *a, uint64_t time_ns, uint64_t idle_ns,
                        cs_otlp_metrics **req_out, cs_resource **res_out, size_t *points) {
  *req_out = NULL;
  *res_out = NULL;
  *points = 0;
  size_t dirty = 0;
  for (size_t i = 0; i < g->n_tab; i++)
    for (series **pp = &g->tab[i]; *pp;) {
      series *s = *pp;
      if (!s->dirty && time_ns - s->last_ns > idle_ns) {
        *pp = s->next;
        free(s->key);
        free(s);
        g->n--;
        continue;
      }
      dirty += s->dirty;
      pp = &s->next;
    }
  if (!dirty) return 0;
  pb_metric **ms = cs_arena_alloc(a, dirty * sizeof *ms);
  if (!ms) return -1;
  size_t k = 0;
  for (size_t i = 0; i < g->n_tab; i++)
    for (series *s = g->tab[i]; s; s = s->next) {
      if (!s->dirty) continue;
      /* Series names are copied: the table may forget them before the
       * writer thread reads the request. */
      pb_metric *m = metric_of(a, s, time_ns);
      if (!m || !(m->name = cs_arena_strndup(a, s->key + 1, strlen(s->key + 1)))) return -1;
      ms[k++] = m;
      s->dirty = 0;
      if (s->type != CS_STATSD_GAUGE) {
        s->value = s->count = s->sum = 0;
        memset(s->buckets, 0, sizeof s->buckets);
      }
    }
  cs_otlp_metrics *req = cs_arena_alloc(a, sizeof *req);
  cs_otlp_resource_metrics *rm = cs_arena_alloc(a, sizeof *rm), **rms = cs_arena_alloc(a, sizeof *rms);
  Opentelemetry__Proto__Resource__V1__Resource *r = cs_arena_alloc(a, sizeof *r);
  Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = cs_arena_alloc(a, sizeof *sm), **sms = cs_arena_alloc(a, sizeof *sms);
  pb_kv **rattr = cs_arena_alloc(a, sizeof *rattr);
  cs_resource *res = cs_arena_calloc(a, sizeof *res);
  cs_attr *cattr = cs_arena_calloc(a, sizeof *cattr);
  if (!req || !rm || !rms || !r || !sm || !sms || !rattr || !res || !cattr ||
      !(rattr[0] = kv_new(a, "service.name", 12, "statsd", 6)))
    return -1;
  *r = (Opentelemetry__Proto__Resource__V1__Resource)OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
  r->attributes = rattr;
  r->n_attributes = 1;
  *sm = (Opentelemetry__Proto__Metrics__V1__ScopeMetrics)OPENTELEMETRY__PROTO__METRICS__V1__SCOPE_METRICS__INIT;
  sm->metrics = ms;
  sm->n_metrics = k;
  sms[0] = sm;
  *rm = (cs_otlp_resource_metrics)OPENTELEMETRY__PROTO__METRICS__V1__RESOURCE_METRICS__INIT;
  rm->resource = r;
  rm->scope_metrics = sms;
  rm->n_scope_metrics = 1;
  rms[0] = rm;
  *req = (cs_otlp_metrics)OPENTELEMETRY__PROTO__COLLECTOR__METRICS__V1__EXPORT_METRICS_SERVICE_REQUEST__INIT;
  req->resource_metrics = rms;
  req->n_resource_metrics = 1;
  res->service = CS_STR_LIT("statsd");
  cattr->key = CS_STR_LIT("service.name");
  cattr->type = CS_VAL_STR;
  cattr->v.s = res->service;
  res->attrs = cattr;
  res->n_attrs = 1;
  *req_out = req;
  *res_out = res;
  *points = k;
  return 0;
}
