/* Helpers every handler uses: error replies, bounded argument parsing,
 * deadlines and heavy-query slots, attribute matching, trace-ID sets and
 * percentiles. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "query_int.h"
#include "session.h"

uint64_t q_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t q_wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void q_send_json(qreq *x, int status) {
  size_t len;
  char *body = cs_json_take(&x->j, &len);
  if (!body) {
    cs_json_release(&x->j);
    cs_json_init(&x->j, 4096);
    /* Fixed text: the writer that just failed cannot be trusted to format. */
    static const char v1[] = "{\"error\":{\"code\":500,\"message\":\"response too large\"}}";
    static const char jg[] = "{\"data\":null,\"total\":0,\"limit\":0,\"offset\":0,"
                             "\"errors\":[{\"code\":500,\"msg\":\"response too large\"}]}";
    const char *msg = x->jaeger ? jg : v1;
    len = strlen(msg);
    body = malloc(len + 1);
    if (!body) {
      x->r->status = 500;
      return;
    }
    memcpy(body, msg, len + 1);
    status = 500;
  }
  free(x->r->body);
  x->r->body = body;
  x->r->body_len = len;
  x->r->status = status;
  x->r->content_type = "application/json";
}

int q_error(qreq *x, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cs_json_release(&x->j);
  cs_json_init(&x->j, 8192);
  cs_json *j = &x->j;
  cs_json_obj(j);
  if (x->jaeger) {
    /* Jaeger's structured response: data null, errors [{code, msg}]. */
    cs_json_key(j, "data"), cs_json_null(j);
    cs_json_key(j, "total"), cs_json_int(j, 0);
    cs_json_key(j, "limit"), cs_json_int(j, 0);
    cs_json_key(j, "offset"), cs_json_int(j, 0);
    cs_json_key(j, "errors"), cs_json_arr(j);
    cs_json_obj(j);
    cs_json_key(j, "code"), cs_json_int(j, status);
    cs_json_key(j, "msg"), cs_json_str(j, msg);
    cs_json_end(j);
    cs_json_end(j);
  } else {
    cs_json_key(j, "error"), cs_json_obj(j);
    cs_json_key(j, "code"), cs_json_int(j, status);
    cs_json_key(j, "message"), cs_json_str(j, msg);
    cs_json_end(j);
  }
  cs_json_end(j);
  q_send_json(x, status);
  return -1;
}

int q_expired(qreq *x) {
  if (x->timed_out) return 1;
  if (q_now_ns() > x->deadline_ns) x->timed_out = 1;
  return x->timed_out;
}

int q_scan_error(qreq *x) {
  if (x->timed_out)
    return q_error(x, 503,
                   "query timed out after %.3f ms: narrow the time range or add filters",
                   (double)x->q->o.limits.timeout_us / 1000.0);
  return q_error(x, 422,
                 "query would examine more than %u traces: narrow the time range or add filters",
                 x->q->o.limits.max_scan);
}

int q_arg_str(qreq *x, const char *name, size_t max, cs_str *out) {
  const char *v = cs_http_arg(x->r, name);
  out->p = NULL;
  out->n = 0;
  if (!v) return 0;
  size_t n = strnlen(v, max + 1);
  if (n > max) return q_error(x, 400, "parameter %s too long: limit %zu bytes", name, max);
  out->p = v;
  out->n = (uint32_t)n;
  return 0;
}

int q_arg_u64(qreq *x, const char *name, uint64_t def, uint64_t max, uint64_t *out) {
  const char *v = cs_http_arg(x->r, name);
  *out = def;
  if (!v || !*v) return 0;
  if (cs_qp_u64(v, strnlen(v, 64), max, out))
    return q_error(x, 400, "bad %s: %.64s (want an integer from 0 to %llu)", name, v,
                   (unsigned long long)max);
  return 0;
}

int q_arg_duration(qreq *x, const char *name, uint64_t def, uint64_t *out) {
  const char *v = cs_http_arg(x->r, name);
  *out = def;
  if (!v || !*v) return 0;
  if (cs_qp_duration(v, strnlen(v, 65), out))
    return q_error(x, 400, "bad %s: %.64s (want a duration such as 100ms, 1.5s, 2h or 7d)",
                   name, v);
  return 0;
}

int q_arg_limit(qreq *x, const char *name, uint32_t *out) {
  uint64_t v;
  const cs_query_limits *l = &x->q->o.limits;
  const char *s = cs_http_arg(x->r, name);
  if (s && *s && cs_qp_u64(s, strnlen(s, 64), UINT64_MAX, &v) == 0 && v > l->max_limit)
    return q_error(x, 400, "limit %llu too large: at most %u", (unsigned long long)v,
                   l->max_limit);
  if (q_arg_u64(x, name, l->default_limit, l->max_limit, &v)) return -1;
  /* Jaeger treats limit=0 as "the default". */
  *out = v ? (uint32_t)v : l->default_limit;
  return 0;
}

int q_arg_window(qreq *x, uint64_t default_lookback_ns, uint64_t *start_ns, uint64_t *end_ns) {
  const uint64_t max_us = UINT64_MAX / 1000 / 2;
  uint64_t s_us, e_us, lookback;
  uint64_t now = q_wall_ns();
  if (q_arg_u64(x, "end", now / 1000, max_us, &e_us)) return -1;
  /* Jaeger UI sends lookback=custom next to explicit start/end: lookback
   * only matters without a start. */
  const char *st = cs_http_arg(x->r, "start");
  lookback = default_lookback_ns;
  const uint64_t max_range = x->q->o.limits.max_range_ns;
  char lim[32];
  if (!st || !*st) {
    if (q_arg_duration(x, "lookback", default_lookback_ns, &lookback)) return -1;
    if (lookback > max_range)
      return q_error(x, 400, "lookback %.64s too long: at most %s", cs_http_arg(x->r, "lookback"),
                     cs_duration_format(max_range, lim, sizeof lim));
  }
  uint64_t e = e_us * 1000;
  uint64_t def_start = e > lookback ? e - lookback : 0;
  if (q_arg_u64(x, "start", def_start / 1000, max_us, &s_us)) return -1;
  uint64_t s = s_us * 1000;
  if (s > e)
    return q_error(x, 400, "start (%llu) is after end (%llu)", (unsigned long long)s_us,
                   (unsigned long long)e_us);
  if (e - s > max_range)
    return q_error(x, 400, "time range of %llu s too wide: at most %s (%llu s)",
                   (unsigned long long)((e - s) / 1000000000ull),
                   cs_duration_format(max_range, lim, sizeof lim),
                   (unsigned long long)(max_range / 1000000000ull));
  *start_ns = s;
  *end_ns = e;
  return 0;
}

int q_heavy_enter(qreq *x) {
  unsigned cur = atomic_fetch_add(&x->q->heavy, 1);
  if (cur >= x->q->o.limits.max_heavy) {
    atomic_fetch_sub(&x->q->heavy, 1);
    return q_error(x, 429, "too many heavy queries in progress (%u): retry shortly",
                   x->q->o.limits.max_heavy);
  }
  x->heavy = 1;
  return 0;
}

void q_heavy_leave(qreq *x) {
  if (x->heavy) atomic_fetch_sub(&x->q->heavy, 1);
  x->heavy = 0;
}

int q_str_eq(cs_str a, cs_str b) { return a.n == b.n && (!a.n || memcmp(a.p, b.p, a.n) == 0); }

int q_str_eqc(cs_str a, const char *b) {
  size_t n = strlen(b);
  return a.n == n && (!n || memcmp(a.p, b, n) == 0);
}

int q_key_indexed(const cs_query *q, cs_str key) {
  if (cs_is_session_key(key.p, key.n)) return 1;
  for (size_t i = 0; i < q->o.n_index_keys; i++)
    if (q_str_eqc(key, q->index_keys[i])) return 1;
  return 0;
}

cs_str q_attr_text(const cs_attr *at, char *buf, size_t buflen) {
  int n = 0;
  switch (at->type) {
  case CS_VAL_BOOL: return at->v.b ? CS_STR_LIT("true") : CS_STR_LIT("false");
  case CS_VAL_INT: n = snprintf(buf, buflen, "%lld", (long long)at->v.i); break;
  case CS_VAL_DOUBLE: n = snprintf(buf, buflen, "%.17g", at->v.d); break;
  default: return at->v.s;
  }
  if (n < 0) n = 0;
  if ((size_t)n >= buflen) n = (int)buflen - 1;
  return (cs_str){buf, (uint32_t)n};
}

static int attrs_have(const cs_attr *attrs, uint32_t n, cs_str key, cs_str val) {
  char buf[40];
  for (uint32_t i = 0; i < n; i++) {
    if (!q_str_eq(attrs[i].key, key)) continue;
    if (q_str_eq(q_attr_text(&attrs[i], buf, sizeof buf), val)) return 1;
  }
  return 0;
}

int q_span_has(const cs_span *s, cs_str key, cs_str val) {
  if (attrs_have(s->attrs, s->n_attrs, key, val)) return 1;
  /* The tags Jaeger derives from span fields are searchable too. */
  if (q_str_eqc(key, "error") && q_str_eqc(val, "true") && s->status_code == CS_STATUS_ERROR)
    return 1;
  if (q_str_eqc(key, "otel.status_code"))
    return (s->status_code == CS_STATUS_ERROR && q_str_eqc(val, "ERROR")) ||
           (s->status_code == CS_STATUS_OK && q_str_eqc(val, "OK"));
  if (q_str_eqc(key, "span.kind") && s->kind && q_str_eqc(val, q_kind_name(s->kind))) return 1;
  if (s->resource && attrs_have(s->resource->attrs, s->resource->n_attrs, key, val)) return 1;
  /* Session spellings all mean the normalised session ID. */
  if (s->session_id.n && cs_is_session_key(key.p, key.n) && q_str_eq(s->session_id, val))
    return 1;
  for (uint32_t e = 0; e < s->n_events; e++)
    if (attrs_have(s->events[e].attrs, s->events[e].n_attrs, key, val)) return 1;
  return 0;
}

const char *q_kind_name(int kind) {
  switch (kind) {
  case CS_KIND_INTERNAL: return "internal";
  case CS_KIND_SERVER: return "server";
  case CS_KIND_CLIENT: return "client";
  case CS_KIND_PRODUCER: return "producer";
  case CS_KIND_CONSUMER: return "consumer";
  default: return "";
  }
}

void q_json_attr_value(cs_json *j, const cs_attr *at) {
  switch (at->type) {
  case CS_VAL_BOOL: cs_json_bool(j, at->v.b); break;
  case CS_VAL_INT: cs_json_int(j, at->v.i); break;
  case CS_VAL_DOUBLE: cs_json_double(j, at->v.d); break;
  case CS_VAL_BYTES: cs_json_base64(j, (const uint8_t *)at->v.s.p, at->v.s.n); break;
  default: cs_json_cs(j, at->v.s);
  }
}

static uint64_t id16_hash(const uint8_t id[16]) {
  uint64_t a, b;
  memcpy(&a, id, 8);
  memcpy(&b, id + 8, 8);
  uint64_t h = a ^ (b * 0x9e3779b97f4a7c15ull);
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  return h ^ (h >> 29);
}

int q_idset_init(q_idset *s, cs_arena *a, size_t hint) {
  size_t cap = 64;
  while (cap < hint * 2) cap *= 2;
  s->a = a;
  s->cap = cap;
  s->n = 0;
  s->keys = cs_arena_alloc(a, 16 * cap);
  s->used = cs_arena_calloc(a, cap);
  return s->keys && s->used ? 0 : -1;
}

static void put_raw(q_idset *s, const uint8_t id[16]) {
  size_t i = id16_hash(id) & (s->cap - 1);
  while (s->used[i]) i = (i + 1) & (s->cap - 1);
  s->used[i] = 1;
  memcpy(s->keys[i], id, 16);
  s->n++;
}

int q_idset_add(q_idset *s, const uint8_t id[16]) {
  for (size_t i = id16_hash(id) & (s->cap - 1); s->used[i]; i = (i + 1) & (s->cap - 1))
    if (memcmp(s->keys[i], id, 16) == 0) return 0;
  if ((s->n + 1) * 2 > s->cap) {
    q_idset old = *s;
    s->cap *= 2;
    s->n = 0;
    s->keys = cs_arena_alloc(s->a, 16 * s->cap);
    s->used = cs_arena_calloc(s->a, s->cap);
    if (!s->keys || !s->used) return -1;
    for (size_t i = 0; i < old.cap; i++)
      if (old.used[i]) put_raw(s, old.keys[i]);
  }
  put_raw(s, id);
  return 1;
}

uint64_t q_percentile(const uint64_t *sorted, size_t n, double q) {
  if (!n) return 0;
  double r = q * (double)n;
  size_t rank = (size_t)r;
  if ((double)rank < r) rank++; /* ceil */
  if (rank < 1) rank = 1;
  if (rank > n) rank = n;
  return sorted[rank - 1];
}

void q_json_summary(cs_json *j, const cs_trace_summary *s) {
  cs_json_obj(j);
  cs_json_key(j, "traceID"), cs_json_hex(j, s->trace_id, 16);
  cs_json_key(j, "startTimeUs"), cs_json_uint(j, s->start_ns / 1000);
  cs_json_key(j, "durationNs"), cs_json_uint(j, s->duration_ns);
  cs_json_key(j, "rootService"), cs_json_cs(j, s->root_service);
  cs_json_key(j, "rootOperation"), cs_json_cs(j, s->root_name);
  /* Names a trace whose root never arrived without fetching its tree. */
  cs_json_key(j, "firstService"), cs_json_cs(j, s->first_service);
  cs_json_key(j, "firstOperation"), cs_json_cs(j, s->first_name);
  cs_json_key(j, "spanCount"), cs_json_uint(j, s->n_spans);
  cs_json_key(j, "errorCount"), cs_json_uint(j, s->n_errors);
  cs_json_key(j, "services"), cs_json_arr(j);
  for (uint32_t i = 0; i < s->n_services; i++) cs_json_cs(j, s->services[i]);
  cs_json_end(j);
  cs_json_end(j);
}

int q_load_trace(qreq *x, const uint8_t tid[16], cs_span **spans, size_t *n) {
  int rc = cs_store_get_trace(x->q->st, tid, x->a, spans, n);
  if (rc == CS_STORE_ELIMIT || rc == CS_STORE_ENOMEM)
    return q_error(x, 422, "trace too large for this request's memory limit (%zu MiB)",
                   x->q->o.limits.arena_mb);
  if (rc) return q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
  /* The store keys spans by trace and may leave the field unset. */
  for (size_t i = 0; i < *n; i++) memcpy((*spans)[i].trace_id, tid, 16);
  if (*n > x->q->o.limits.max_spans)
    return q_error(x, 422, "trace has %zu spans, more than the limit of %u per response", *n,
                   x->q->o.limits.max_spans);
  return 0;
}

static uint64_t str_hash(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
  return h;
}

int q_strmap_init(q_strmap *m, cs_arena *a, size_t max) {
  m->a = a;
  m->max = max;
  m->n = 0;
  m->cap = 64;
  while (m->cap < max * 2) m->cap *= 2;
  m->keys = cs_arena_alloc(a, sizeof(cs_str) * max);
  m->slots = cs_arena_calloc(a, sizeof(int32_t) * m->cap);
  return m->keys && m->slots ? 0 : -1;
}

int32_t q_strmap_intern(q_strmap *m, const char *p, size_t n) {
  size_t i = str_hash(p, n) & (m->cap - 1);
  for (; m->slots[i]; i = (i + 1) & (m->cap - 1)) {
    cs_str k = m->keys[m->slots[i] - 1];
    if (k.n == n && (!n || memcmp(k.p, p, n) == 0)) return m->slots[i] - 1;
  }
  if (m->n >= m->max) return -1;
  char *c = cs_arena_strndup(m->a, p ? p : "", n);
  if (!c) return -1;
  m->keys[m->n] = (cs_str){c, (uint32_t)n};
  m->slots[i] = (int32_t)++m->n;
  return (int32_t)(m->n - 1);
}
