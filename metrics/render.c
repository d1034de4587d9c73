/* Writes the registry as Prometheus text 0.0.4 or OpenMetrics 1.0 text,
 * families sorted by name and series by label key so output is stable, and
 * picks the format from a scraper's Accept header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

static const char *reject_names[REJ_N] = {
    [REJ_TYPE_CONFLICT] = "type_conflict",     [REJ_UNSUPPORTED] = "unsupported",
    [REJ_INVALID] = "invalid",                 [REJ_TOO_MANY_LABELS] = "too_many_labels",
    [REJ_OLD_POINT] = "out_of_order",          [REJ_RESERVED] = "reserved_name",
};

static void self_set(cs_metrics *reg, const char *name, const char *help, int type,
                     const char *key, double v) {
  int err;
  family *f = __cs_metrics_family(reg, name, help, NULL, type, 1, NULL, 0, &err);
  series *s = f ? __cs_metrics_series(reg, f, key, strlen(key), NULL, 0, &err) : NULL;
  if (!s) return;
  s->value = v;
  s->touched_ns = __cs_metrics_now_ns();
}

/* The registry's own health, refreshed under the lock at each render. */
static void self_metrics(cs_metrics *reg) {
  self_set(reg, "callscope_metrics_series",
           "Ingested series (OTLP and span-derived) held by the metrics registry", MT_GAUGE, "",
           (double)reg->n_external);
  self_set(reg, "callscope_metrics_series_limit",
           "Most ingested series the registry holds; new series beyond it are refused",
           MT_GAUGE, "", (double)reg->opts.max_series);
  self_set(reg, "callscope_metrics_series_dropped",
           "New series refused because the series cap was reached", MT_COUNTER, "",
           (double)reg->dropped);
  self_set(reg, "callscope_metrics_series_expired",
           "Series dropped after receiving no update for the staleness period", MT_COUNTER, "",
           (double)reg->expired);
  for (int r = 0; r < REJ_N; r++) {
    char key[64];
    snprintf(key, sizeof key, "reason=\"%s\"", reject_names[r]);
    self_set(reg, "callscope_metrics_points_rejected",
             "OTLP metric points that could not be represented, by reason", MT_COUNTER, key,
             (double)reg->rejected[r]);
  }
}

static int cmp_family(const void *a, const void *b) {
  return strcmp((*(family *const *)a)->name, (*(family *const *)b)->name);
}

static int cmp_series(const void *a, const void *b) {
  const series *x = *(series *const *)a, *y = *(series *const *)b;
  size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
  int c = memcmp(x->key, y->key, n);
  if (c) return c;
  return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static void put_sample(mbuf *b, const char *name, const char *suffix, const series *s,
                       const char *le_text, size_t le_len) {
  __cs_metrics_buf_str(b, name);
  __cs_metrics_buf_str(b, suffix);
  if (s->key_len || le_text) {
    __cs_metrics_buf_char(b, '{');
    __cs_metrics_buf_add(b, s->key, s->key_len);
    if (le_text) {
      if (s->key_len) __cs_metrics_buf_char(b, ',');
      __cs_metrics_buf_add(b, "le=\"", 4);
      __cs_metrics_buf_add(b, le_text, le_len);
      __cs_metrics_buf_char(b, '"');
    }
    __cs_metrics_buf_char(b, '}');
  }
  __cs_metrics_buf_char(b, ' ');
}

/* le texts of one bucket layout, formatted once and reused while the
 * following series share the layout (all span-derived series do). */
typedef struct le_cache {
  const series *owner; /* series whose bounds were formatted */
  char text[CS_METRICS_MAX_BOUNDS][32];
  uint8_t len[CS_METRICS_MAX_BOUNDS];
} le_cache;

static void le_prepare(le_cache *c, const series *s) {
  const series *o = c->owner;
  if (o && o->n_bounds == s->n_bounds &&
      (s->n_bounds == 0 || memcmp(o->bounds, s->bounds, s->n_bounds * sizeof(double)) == 0)) {
    c->owner = s;
    return;
  }
  for (uint32_t i = 0; i < s->n_bounds && i < CS_METRICS_MAX_BOUNDS; i++)
    c->len[i] = (uint8_t)__cs_metrics_fmt_double(c->text[i], sizeof c->text[i], s->bounds[i]);
  c->owner = s;
}

static void put_histogram(mbuf *b, const family *f, const series *s, le_cache *c, int om) {
  le_prepare(c, s);
  uint64_t cum = 0;
  for (uint32_t i = 0; i <= s->n_bounds; i++) {
    cum += s->counts[i];
    if (i == s->n_bounds) {
      /* _count is the sum of the buckets, so +Inf and _count agree. */
      put_sample(b, f->name, "_bucket", s, "+Inf", 4);
      cum = s->count;
    } else {
      put_sample(b, f->name, "_bucket", s, c->text[i], c->len[i]);
    }
    __cs_metrics_buf_u64(b, cum);
    __cs_metrics_buf_char(b, '\n');
  }
  /* OpenMetrics: _sum is counter-like (never NaN or negative, and absent
   * when buckets are negative), and _count appears if and only if _sum
   * does; the +Inf bucket carries the count either way. Text 0.0.4 has no
   * such rules: it prints the sum whenever there is one (NaN included) and
   * always the count. */
  int has_sum = !s->no_sum;
  int om_sum = has_sum && s->sum >= 0 && (s->n_bounds == 0 || s->bounds[0] >= 0);
  if (om ? om_sum : has_sum) {
    put_sample(b, f->name, "_sum", s, NULL, 0);
    __cs_metrics_buf_double(b, s->sum);
    __cs_metrics_buf_char(b, '\n');
  }
  if (!om || om_sum) {
    put_sample(b, f->name, "_count", s, NULL, 0);
    __cs_metrics_buf_u64(b, s->count);
    __cs_metrics_buf_char(b, '\n');
  }
}

static void put_family(mbuf *b, family *f, int om) {
  static const char *types[] = {"", "counter", "gauge", "histogram"};
  if (f->n == 0) return;
  if (!f->sorted) {
    qsort(f->v, f->n, sizeof *f->v, cmp_series);
    f->sorted = 1;
  }
  /* Text 0.0.4 names a counter family by its sample name (with _total);
   * OpenMetrics names the family without it and adds it to samples. */
  const char *fam_suffix = (!om && f->type == MT_COUNTER) ? "_total" : "";
  if (f->help[0]) {
    __cs_metrics_buf_add(b, "# HELP ", 7);
    __cs_metrics_buf_str(b, f->name);
    __cs_metrics_buf_str(b, fam_suffix);
    __cs_metrics_buf_char(b, ' ');
    __cs_metrics_buf_escape_help(b, f->help, strlen(f->help), om);
    __cs_metrics_buf_char(b, '\n');
  }
  __cs_metrics_buf_add(b, "# TYPE ", 7);
  __cs_metrics_buf_str(b, f->name);
  __cs_metrics_buf_str(b, fam_suffix);
  __cs_metrics_buf_char(b, ' ');
  __cs_metrics_buf_str(b, types[f->type]);
  __cs_metrics_buf_char(b, '\n');
  if (om && f->unit) {
    __cs_metrics_buf_add(b, "# UNIT ", 7);
    __cs_metrics_buf_str(b, f->name);
    __cs_metrics_buf_char(b, ' ');
    __cs_metrics_buf_str(b, f->unit);
    __cs_metrics_buf_char(b, '\n');
  }
  le_cache *lc = NULL;
  if (f->type == MT_HISTOGRAM && !(lc = malloc(sizeof *lc))) {
    b->err = CS_BUF_ENOMEM;
    return;
  }
  if (lc) lc->owner = NULL;
  for (size_t i = 0; i < f->n && !b->err; i++) {
    const series *s = f->v[i];
    if (f->type == MT_HISTOGRAM) {
      put_histogram(b, f, s, lc, om);
      continue;
    }
    put_sample(b, f->name, f->type == MT_COUNTER ? "_total" : "", s, NULL, 0);
    __cs_metrics_buf_double(b, s->value);
    __cs_metrics_buf_char(b, '\n');
  }
  free(lc);
}

int cs_metrics_render(cs_metrics *reg, int openmetrics, char **out, size_t *len) {
  if (!reg || !out || !len) return CS_METRICS_EINVAL;
  *out = NULL;
  *len = 0;
  /* Hooks run unlocked: they publish through the locking API. */
  cs_metrics_render_hook hooks[CS_METRICS_MAX_HOOKS];
  void *uds[CS_METRICS_MAX_HOOKS];
  pthread_mutex_lock(&reg->mu);
  int n_hooks = reg->n_hooks;
  memcpy(hooks, reg->hooks, sizeof hooks);
  memcpy(uds, reg->hook_ud, sizeof uds);
  pthread_mutex_unlock(&reg->mu);
  for (int i = 0; i < n_hooks; i++) hooks[i](reg, uds[i]);

  mbuf b;
  __cs_metrics_buf_init(&b, reg->opts.max_render_bytes);
  pthread_mutex_lock(&reg->mu);
  size_t hint = reg->last_render_len;
  pthread_mutex_unlock(&reg->mu);
  /* Outside the lock: a large first allocation costs page faults. */
  __cs_metrics_buf_reserve(&b, hint + hint / 8 + 4096);
  pthread_mutex_lock(&reg->mu);
  __cs_metrics_expire_locked(reg, __cs_metrics_now_ns());
  self_metrics(reg);
  if (!reg->fams_sorted) {
    qsort(reg->fams, reg->n_fams, sizeof *reg->fams, cmp_family);
    reg->fams_sorted = 1;
  }
  for (size_t i = 0; i < reg->n_fams && !b.err; i++) put_family(&b, reg->fams[i], openmetrics);
  if (!b.err) reg->last_render_len = b.n;
  pthread_mutex_unlock(&reg->mu);
  if (openmetrics) __cs_metrics_buf_add(&b, "# EOF\n", 6);
  if (b.err || !b.p) {
    int err = b.err == CS_BUF_ETOOBIG ? CS_METRICS_ETOOBIG : CS_METRICS_ENOMEM;
    __cs_metrics_buf_release(&b);
    return err;
  }
  *out = b.s;
  *len = b.n;
  return 0;
}

/* --- Accept header ----------------------------------------------------- */

static const char *trim(const char *s, const char *e, const char **end) {
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  *end = e;
  return s;
}

/* q of one media range: 1 unless a q= parameter says otherwise. */
static double range_q(const char *p, const char *e) {
  double q = 1.0;
  while (p < e) {
    const char *semi = memchr(p, ';', (size_t)(e - p));
    const char *pe = semi ? semi : e, *te;
    const char *t = trim(p, pe, &te);
    if (te - t >= 2 && (t[0] == 'q' || t[0] == 'Q') && t[1] == '=') {
      char num[16];
      size_t n = (size_t)(te - t - 2);
      if (n >= sizeof num) n = sizeof num - 1;
      memcpy(num, t + 2, n);
      num[n] = 0;
      char *endp;
      double v = strtod(num, &endp);
      q = (endp != num && v >= 0 && v <= 1) ? v : 0;
    }
    p = semi ? semi + 1 : e;
  }
  return q;
}

static int type_is(const char *t, const char *te, const char *want) {
  size_t n = strlen(want);
  return (size_t)(te - t) == n && strncasecmp(t, want, n) == 0;
}

const char *cs_metrics_negotiate(const char *accept, int *openmetrics) {
  double q_om = 0, q_text = 0;
  if (!accept) accept = "";
  size_t alen = strnlen(accept, 4096); /* headers are capped upstream too */
  const char *p = accept, *end = accept + alen;
  while (p < end) {
    const char *comma = memchr(p, ',', (size_t)(end - p));
    const char *re = comma ? comma : end;
    const char *semi = memchr(p, ';', (size_t)(re - p));
    const char *te;
    const char *t = trim(p, semi ? semi : re, &te);
    double q = range_q(semi ? semi + 1 : re, re);
    if (type_is(t, te, "application/openmetrics-text")) {
      if (q > q_om) q_om = q;
    } else if (type_is(t, te, "text/plain") || type_is(t, te, "text/*") ||
               type_is(t, te, "*/*")) {
      if (q > q_text) q_text = q;
    }
    p = comma ? comma + 1 : end;
  }
  int om = q_om > 0 && q_om >= q_text;
  if (openmetrics) *openmetrics = om;
  return om ? CS_METRICS_CONTENT_TYPE_OPENMETRICS : CS_METRICS_CONTENT_TYPE_TEXT;
}
