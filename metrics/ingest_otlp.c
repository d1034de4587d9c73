/* The services' own metrics from decoded OTLP ExportMetricsServiceRequest
 * structs: Sum, Gauge and explicit-bucket Histogram points become series
 * labelled by their attributes plus `service` and `instance`. Delta points
 * are accumulated so the output is always cumulative. Label keys of one
 * metric are built before the registry lock is taken. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hexb64.h"
#include "internal.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Metrics__V1__Metric Metric;
typedef Opentelemetry__Proto__Metrics__V1__NumberDataPoint NumberDataPoint;
typedef Opentelemetry__Proto__Metrics__V1__HistogramDataPoint HistogramDataPoint;

#define TEMP_DELTA OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA
#define TEMP_CUMULATIVE \
  OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE
#define FLAG_NO_RECORDED_VALUE 1u
#define MAX_JSON_DEPTH 8

/* --- attribute values as label text ------------------------------------ */

static void put_json_string(mbuf *b, const char *s, size_t n) {
  __cs_metrics_buf_char(b, '"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      __cs_metrics_buf_char(b, '\\');
      __cs_metrics_buf_char(b, (char)c);
    } else if (c < 0x20) {
      char esc[8];
      int k = snprintf(esc, sizeof esc, "\\u%04x", c);
      __cs_metrics_buf_add(b, esc, (size_t)k);
    } else {
      __cs_metrics_buf_char(b, (char)c);
    }
  }
  __cs_metrics_buf_char(b, '"');
}

static void put_base64(mbuf *b, const uint8_t *p, size_t n) {
  char o[4 * 256];
  /* In slices of 768 input bytes, which encode to whole 1,024-character
   * groups with no padding between them. */
  while (n) {
    size_t k = n < 768 ? n : 768;
    cs_b64_encode(p, k, o);
    __cs_metrics_buf_add(b, o, cs_b64_encoded_len(k));
    p += k, n -= k;
  }
}

/* Strings as they are, scalars in their usual text, bytes as base64,
 * arrays and maps as compact JSON (the Prometheus compatibility rules). */
static void put_any(mbuf *b, const AnyValue *v, int json, int depth) {
  if (!v) return;
  char tmp[32];
  int k;
  switch (v->value_case) {
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
    if (!v->string_value) break;
    if (json) put_json_string(b, v->string_value, strlen(v->string_value));
    else __cs_metrics_buf_str(b, v->string_value);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
    __cs_metrics_buf_str(b, v->bool_value ? "true" : "false");
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
    k = snprintf(tmp, sizeof tmp, "%lld", (long long)v->int_value);
    __cs_metrics_buf_add(b, tmp, (size_t)k);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
    __cs_metrics_buf_double(b, v->double_value);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
    if (json) __cs_metrics_buf_char(b, '"');
    put_base64(b, v->bytes_value.data, v->bytes_value.len);
    if (json) __cs_metrics_buf_char(b, '"');
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
    if (depth >= MAX_JSON_DEPTH || !v->array_value) {
      __cs_metrics_buf_str(b, "null");
      break;
    }
    __cs_metrics_buf_char(b, '[');
    for (size_t i = 0; i < v->array_value->n_values; i++) {
      if (i) __cs_metrics_buf_char(b, ',');
      put_any(b, v->array_value->values[i], 1, depth + 1);
    }
    __cs_metrics_buf_char(b, ']');
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
    if (depth >= MAX_JSON_DEPTH || !v->kvlist_value) {
      __cs_metrics_buf_str(b, "null");
      break;
    }
    __cs_metrics_buf_char(b, '{');
    for (size_t i = 0; i < v->kvlist_value->n_values; i++) {
      const KeyValue *kv = v->kvlist_value->values[i];
      if (i) __cs_metrics_buf_char(b, ',');
      const char *key = kv && kv->key ? kv->key : "";
      put_json_string(b, key, strlen(key));
      __cs_metrics_buf_char(b, ':');
      if (kv && kv->value) put_any(b, kv->value, 1, depth + 1);
      else __cs_metrics_buf_str(b, "null");
    }
    __cs_metrics_buf_char(b, '}');
    break;
  default:
    break;
  }
}

static const AnyValue *find_attr(KeyValue **kv, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (kv[i] && kv[i]->key && !strcmp(kv[i]->key, key)) return kv[i]->value;
  return NULL;
}

/* --- label keys -------------------------------------------------------- */

typedef struct point_key {
  size_t off, len;
  int rej; /* -1 ok, else REJ_* */
} point_key;

/* Resource-level labels, rendered once per ResourceMetrics. */
typedef struct res_labels {
  mbuf text; /* service value, then instance value */
  size_t service_len, instance_len;
} res_labels;

static void res_labels_init(res_labels *r, const Opentelemetry__Proto__Resource__V1__Resource *res) {
  __cs_metrics_buf_init(&r->text, 2 * 4 * CS_METRICS_MAX_VALUE);
  KeyValue **kv = res ? res->attributes : NULL;
  size_t n = res ? res->n_attributes : 0;
  const AnyValue *svc = find_attr(kv, n, "service.name");
  if (svc) put_any(&r->text, svc, 0, 0);
  if (r->text.n == 0) __cs_metrics_buf_str(&r->text, "unknown_service");
  r->service_len = r->text.n;
  const AnyValue *inst = find_attr(kv, n, "service.instance.id");
  if (!inst) inst = find_attr(kv, n, "host.name");
  if (inst) put_any(&r->text, inst, 0, 0);
  r->instance_len = r->text.n - r->service_len;
}

static int reserved_label(const char *name, int histogram) {
  return !strcmp(name, "service") || !strcmp(name, "instance") || !strcmp(name, "quantile") ||
         (histogram && !strcmp(name, "le"));
}

/* Appends one point's label key to keys; returns -1 or a REJ_* reason. */
static int point_key_build(mbuf *keys, const res_labels *r, KeyValue **attrs, size_t n_attrs,
                           int histogram) {
  if (n_attrs > CS_METRICS_MAX_LABELS - 2) return REJ_TOO_MANY_LABELS;
  mlabel l[CS_METRICS_MAX_LABELS];
  size_t offs[CS_METRICS_MAX_LABELS];
  mbuf vals;
  __cs_metrics_buf_init(&vals, (size_t)CS_METRICS_MAX_LABELS * 4 * CS_METRICS_MAX_VALUE);
  size_t n = 0;
  for (size_t i = 0; i < n_attrs; i++) {
    const KeyValue *kv = attrs[i];
    if (!kv || !kv->key) continue;
    char tmp[CS_METRICS_MAX_NAME + 1];
    size_t tn = __cs_metrics_sanitize_label(kv->key, strnlen(kv->key, CS_METRICS_MAX_NAME), tmp,
                                            sizeof tmp);
    if (!tn) continue;
    /* Resource labels win; a point attribute that collides is kept under
     * exported_<name>, as Prometheus does with honor_labels off. */
    snprintf(l[n].name, sizeof l[n].name, "%s%s", reserved_label(tmp, histogram) ? "exported_" : "",
             tmp);
    offs[n] = vals.n;
    size_t before = vals.n;
    put_any(&vals, kv->value, 0, 0);
    l[n].value_len = vals.n - before;
    n++;
  }
  int rc = -1;
  if (vals.err == CS_BUF_ENOMEM)
    rc = REJ_INVALID;
  for (size_t i = 0; i < n; i++)
    l[i].value = vals.s ? vals.s + offs[i] : "";
  memcpy(l[n].name, "service", 8);
  l[n].value = r->text.s ? r->text.s : "", l[n].value_len = r->service_len, n++;
  memcpy(l[n].name, "instance", 9);
  l[n].value = r->text.s ? r->text.s + r->service_len : "", l[n].value_len = r->instance_len, n++;
  if (rc < 0) {
    /* Each key is built alone under its own cap, so one oversized label
     * set is rejected without disturbing the keys of other points. */
    mbuf one;
    __cs_metrics_buf_init(&one, CS_METRICS_MAX_KEY);
    __cs_metrics_build_key(&one, l, n);
    if (one.err == CS_BUF_ETOOBIG)
      rc = REJ_TOO_MANY_LABELS;
    else if (one.err) rc = REJ_INVALID;
    else __cs_metrics_buf_add(keys, one.p, one.n);
    __cs_metrics_buf_release(&one);
  }
  __cs_metrics_buf_release(&vals);
  return rc;
}

/* --- applying points --------------------------------------------------- */

static int bounds_valid(const double *b, size_t n) {
  if (n > CS_METRICS_MAX_BOUNDS) return 0;
  for (size_t i = 0; i < n; i++) {
    if (b[i] != b[i] || b[i] - b[i] != 0) return 0; /* NaN or infinite */
    if (i && !(b[i] > b[i - 1])) return 0;
  }
  return 1;
}

static int same_bounds(const series *s, const double *b, size_t n) {
  return s->n_bounds == n && (n == 0 || memcmp(s->bounds, b, n * sizeof *b) == 0);
}

/* Out-of-order and replayed points: a delta point not newer than the last
 * one applied would be counted twice (a retried batch), so it is skipped;
 * an older cumulative point would move the value backwards. */
static int stale_point(const series *s, uint64_t t, int delta) {
  if (!t || !s->last_point_ns) return 0;
  return delta ? t <= s->last_point_ns : t < s->last_point_ns;
}

static int number_value(const NumberDataPoint *p, double *v) {
  if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_DOUBLE)
    *v = p->as_double;
  else if (p->value_case == OPENTELEMETRY__PROTO__METRICS__V1__NUMBER_DATA_POINT__VALUE_AS_INT)
    *v = (double)p->as_int;
  else
    return -1;
  return 0;
}

/* Checks that need no series, done before the lock so a bad point never
 * creates an empty series. Returns -1 or a REJ_* reason. */
static int check_number(const NumberDataPoint *p, int type) {
  double v;
  if (number_value(p, &v)) return REJ_INVALID;
  if (type == MT_COUNTER && !(v >= 0)) return REJ_INVALID; /* negative or NaN */
  return -1;
}

static int check_histogram(const HistogramDataPoint *p) {
  if (p->n_bucket_counts == 0) return -1;
  if (p->n_bucket_counts != p->n_explicit_bounds + 1) return REJ_INVALID;
  return bounds_valid(p->explicit_bounds, p->n_explicit_bounds) ? -1 : REJ_INVALID;
}

static int apply_number(series *s, const NumberDataPoint *p, int delta) {
  double v = 0;
  number_value(p, &v);
  if (stale_point(s, p->time_unix_nano, delta)) return REJ_OLD_POINT;
  if (delta) s->value += v;
  else s->value = v;
  if (p->time_unix_nano) s->last_point_ns = p->time_unix_nano;
  return -1;
}

/* The sum of a histogram point is optional in OTLP (see metrics.proto). */
static int has_sum(const HistogramDataPoint *p) {
  return p->sum_present_case ==
         OPENTELEMETRY__PROTO__METRICS__V1__HISTOGRAM_DATA_POINT__SUM_PRESENT_SUM;
}

static int apply_histogram(series *s, const HistogramDataPoint *p, int delta) {
  size_t nb = p->n_explicit_bounds;
  uint64_t only_inf = p->count;
  const uint64_t *counts = p->bucket_counts;
  if (p->n_bucket_counts == 0) {
    /* No bucket information: the whole count is the +Inf bucket. */
    nb = 0;
    counts = &only_inf;
  }
  if (stale_point(s, p->time_unix_nano, delta)) return REJ_OLD_POINT;
  if (!same_bounds(s, p->explicit_bounds, nb)) {
    /* A cumulative point carries the whole state, so new buckets simply
     * replace the old; deltas cannot be merged across different buckets. */
    if (delta && s->count) return REJ_INVALID;
    if (__cs_metrics_series_rebucket(s, p->explicit_bounds, (uint32_t)nb)) return REJ_INVALID;
  }
  uint64_t total = 0;
  for (size_t i = 0; i <= nb; i++) total += counts[i];
  if (delta) {
    for (size_t i = 0; i <= nb; i++) s->counts[i] += counts[i];
    s->count += total;
    /* One delta without a sum leaves the running sum unknown for good. */
    if (has_sum(p))
      s->sum += p->sum;
    else
      s->no_sum = 1;
  } else {
    memcpy(s->counts, counts, (nb + 1) * sizeof *counts);
    s->count = total;
    s->sum = has_sum(p) ? p->sum : 0;
    s->no_sum = !has_sum(p);
  }
  if (p->time_unix_nano) s->last_point_ns = p->time_unix_nano;
  return -1;
}

static void reject(cs_metrics *reg, int reason, size_t n) {
  pthread_mutex_lock(&reg->mu);
  reg->rejected[reason] += n;
  pthread_mutex_unlock(&reg->mu);
}

static int ingest_metric(cs_metrics *reg, const res_labels *r, const Metric *m) {
  int type, delta = 0;
  size_t np = 0;
  NumberDataPoint **num = NULL;
  HistogramDataPoint **hist = NULL;
  switch (m->data_case) {
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE:
    type = MT_GAUGE;
    if (m->gauge) np = m->gauge->n_data_points, num = m->gauge->data_points;
    break;
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM:
    if (!m->sum) return 0;
    type = m->sum->is_monotonic ? MT_COUNTER : MT_GAUGE;
    np = m->sum->n_data_points, num = m->sum->data_points;
    if (m->sum->aggregation_temporality == TEMP_DELTA) delta = 1;
    else if (m->sum->aggregation_temporality != TEMP_CUMULATIVE) {
      reject(reg, REJ_INVALID, np);
      return 0;
    }
    break;
  case OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM:
    if (!m->histogram) return 0;
    type = MT_HISTOGRAM;
    np = m->histogram->n_data_points, hist = m->histogram->data_points;
    if (m->histogram->aggregation_temporality == TEMP_DELTA) delta = 1;
    else if (m->histogram->aggregation_temporality != TEMP_CUMULATIVE) {
      reject(reg, REJ_INVALID, np);
      return 0;
    }
    break;
  default:
    /* Exponential histograms and summaries are not decoded yet. */
    reject(reg, REJ_UNSUPPORTED, 1);
    return 0;
  }
  if (np == 0) return 0;
  char fname[CS_METRICS_MAX_NAME + 1], unit[CS_METRICS_MAX_NAME + 1];
  if (!m->name || !__cs_metrics_family_name(m->name, m->unit, type, fname, sizeof fname, unit,
                                            sizeof unit)) {
    reject(reg, REJ_INVALID, np);
    return 0;
  }
  /* callscope_* belongs to Callscope's own series (RED, self-health): a
   * service must not be able to overwrite or shadow them. The one family a
   * service sends itself is libtrace's health (callscope.trace.*: spans
   * exported, dropped, queue depth), per service and instance. */
  if (!strncmp(fname, "callscope_", 10) && strncmp(fname, "callscope_trace_", 16)) {
    reject(reg, REJ_RESERVED, np);
    return 0;
  }
  const char *help = m->description && m->description[0] ? m->description : m->name;

  point_key *pk = calloc(np, sizeof *pk);
  if (!pk) return CS_METRICS_ENOMEM;
  mbuf keys;
  __cs_metrics_buf_init(&keys, np * (size_t)CS_METRICS_MAX_KEY);
  for (size_t i = 0; i < np; i++) {
    pk[i].off = keys.n;
    pk[i].rej = -1;
    if (num && num[i]) {
      if (num[i]->flags & FLAG_NO_RECORDED_VALUE) pk[i].rej = -2;
      else if ((pk[i].rej = check_number(num[i], type)) < 0)
        pk[i].rej = point_key_build(&keys, r, num[i]->attributes, num[i]->n_attributes, 0);
    } else if (hist && hist[i]) {
      if (hist[i]->flags & FLAG_NO_RECORDED_VALUE) pk[i].rej = -2;
      else if ((pk[i].rej = check_histogram(hist[i])) < 0)
        pk[i].rej = point_key_build(&keys, r, hist[i]->attributes, hist[i]->n_attributes, 1);
    } else {
      pk[i].rej = -2;
    }
    pk[i].len = keys.n - pk[i].off;
  }
  int rc = keys.err == CS_BUF_ENOMEM ? CS_METRICS_ENOMEM : 0;
  if (!rc) {
    uint64_t now = __cs_metrics_now_ns();
    int err = 0;
    pthread_mutex_lock(&reg->mu);
    family *f = __cs_metrics_family(reg, fname, help, unit, type, 0, NULL, 0, &err);
    for (size_t i = 0; i < np; i++) {
      int rej = pk[i].rej;
      if (rej == -2) continue; /* no recorded value: nothing to do */
      if (rej < 0 && !f) rej = err == CS_METRICS_ETYPE ? REJ_TYPE_CONFLICT : REJ_INVALID;
      if (rej < 0) {
        series *s = __cs_metrics_series(reg, f, keys.s + pk[i].off, pk[i].len, NULL, 0, &err);
        if (!s) continue; /* the cap counted it */
        rej = hist ? apply_histogram(s, hist[i], delta) : apply_number(s, num[i], delta);
        s->touched_ns = now;
      }
      if (rej >= 0) reg->rejected[rej]++;
    }
    __cs_metrics_maybe_expire(reg, now);
    pthread_mutex_unlock(&reg->mu);
  }
  __cs_metrics_buf_release(&keys);
  free(pk);
  return rc;
}

int cs_metrics_ingest_otlp(
    cs_metrics *reg,
    const struct Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req) {
  if (!reg || !req) return CS_METRICS_EINVAL;
  int rc = 0;
  for (size_t i = 0; i < req->n_resource_metrics; i++) {
    const Opentelemetry__Proto__Metrics__V1__ResourceMetrics *rm = req->resource_metrics[i];
    if (!rm) continue;
    res_labels r;
    res_labels_init(&r, rm->resource);
    for (size_t j = 0; j < rm->n_scope_metrics; j++) {
      const Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm = rm->scope_metrics[j];
      if (!sm) continue;
      for (size_t k = 0; k < sm->n_metrics; k++) {
        if (!sm->metrics[k]) continue;
        int e = ingest_metric(reg, &r, sm->metrics[k]);
        if (e) rc = e;
      }
    }
    __cs_metrics_buf_release(&r.text);
  }
  return rc;
}
