/* The registry: families indexed by name, series indexed by label key, one
 * mutex over all of it. Writers batch their work so each ingest call takes
 * the lock once; renders hold it while writing so output is a snapshot.
 * Also here: the series cap, staleness, render hooks and the self-health
 * API the collector and query server call directly. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "internal.h"
#include "log.h"

const char *cs_metrics_strerror(int err) {
#define CS_METRICS_ERR_STR_(name, val, msg) \
  if (err == (val)) return msg;
  CS_METRICS_ERRNO_MAP(CS_METRICS_ERR_STR_)
#undef CS_METRICS_ERR_STR_
  return "unknown error";
}

uint64_t __cs_metrics_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint32_t __cs_metrics_hash(const char *p, size_t n, uint32_t h) {
  h ^= 2166136261u;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 16777619u;
  return h;
}

cs_metrics *cs_metrics_new(const cs_metrics_opts *opts) {
  cs_metrics *reg = calloc(1, sizeof *reg);
  if (!reg) return NULL;
  if (opts) reg->opts = *opts;
  if (!reg->opts.stale_ns) reg->opts.stale_ns = CS_METRICS_DEFAULT_STALE_NS;
  if (!reg->opts.max_series) reg->opts.max_series = CS_METRICS_DEFAULT_MAX_SERIES;
  if (!reg->opts.max_render_bytes) reg->opts.max_render_bytes = CS_METRICS_DEFAULT_MAX_RENDER;
  if (pthread_mutex_init(&reg->mu, NULL) != 0) {
    free(reg);
    return NULL;
  }
  reg->last_sweep_ns = __cs_metrics_now_ns();
  return reg;
}

static void series_free(series *s) {
  if (!s) return;
  free(s->key);
  free(s->bounds); /* counts live in the same block */
  free(s);
}

static void family_free(family *f) {
  if (!f) return;
  for (size_t i = 0; i < f->n; i++) series_free(f->v[i]);
  free(f->v);
  free(f->tab);
  free(f->name);
  free(f->help);
  free(f->unit);
  free(f->bounds);
  free(f);
}

void cs_metrics_free(cs_metrics *reg) {
  if (!reg) return;
  for (size_t i = 0; i < reg->n_fams; i++) family_free(reg->fams[i]);
  free(reg->fams);
  free(reg->ftab);
  pthread_mutex_destroy(&reg->mu);
  free(reg);
}

int cs_metrics_add_render_hook(cs_metrics *reg, cs_metrics_render_hook fn, void *ud) {
  if (!reg || !fn) return CS_METRICS_EINVAL;
  pthread_mutex_lock(&reg->mu);
  int rc = CS_METRICS_ENOMEM;
  if (reg->n_hooks < CS_METRICS_MAX_HOOKS) {
    reg->hooks[reg->n_hooks] = fn;
    reg->hook_ud[reg->n_hooks] = ud;
    reg->n_hooks++;
    rc = 0;
  }
  pthread_mutex_unlock(&reg->mu);
  return rc;
}

static char *dup_n(const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

/* --- family index ------------------------------------------------------ */

/* Rebuilds the name index at a new size; when that allocation fails and
 * keep_old is set, refills the old table in place (no allocation), so the
 * index never points at freed families. */
static int ftab_rebuild(cs_metrics *reg, size_t cap) {
  family **t = calloc(cap, sizeof *t);
  if (!t) {
    if (!reg->ftab) return -1;
    t = reg->ftab;
    cap = reg->ftab_cap;
    memset(t, 0, cap * sizeof *t);
    reg->ftab = NULL;
  }
  for (size_t i = 0; i < reg->n_fams; i++) {
    family *f = reg->fams[i];
    size_t h = __cs_metrics_hash(f->name, strlen(f->name), 0) & (cap - 1);
    while (t[h]) h = (h + 1) & (cap - 1);
    t[h] = f;
  }
  free(reg->ftab);
  reg->ftab = t;
  reg->ftab_cap = cap;
  return 0;
}

static int same_bounds(const double *a, uint32_t na, const double *b, uint32_t nb) {
  return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

static family *find_family(const cs_metrics *reg, const char *name, size_t nlen) {
  if (!reg->ftab_cap)
    return NULL;
  size_t h = __cs_metrics_hash(name, nlen, 0) & (reg->ftab_cap - 1);
  for (family *f; (f = reg->ftab[h]); h = (h + 1) & (reg->ftab_cap - 1))
    if (strlen(f->name) == nlen && !memcmp(f->name, name, nlen))
      return f;
  return NULL;
}

/* Sample-name suffixes a family of each type owns in OpenMetrics (the text
 * format uses a subset), "" (the family name itself) first. */
static const char *const *type_suffixes(int type) {
  static const char *const counter[] = {"", "_total", "_created", NULL};
  static const char *const histogram[] = {"", "_bucket", "_count", "_sum", "_created", NULL};
  static const char *const gauge[] = {"", NULL};
  return type == MT_COUNTER ? counter : type == MT_HISTOGRAM ? histogram : gauge;
}

/* Whether a new family (name, type) would share a sample or family name
 * with an existing one: counter "x" and gauge "x_total", or histogram "x"
 * and gauge "x_count". Both formats reject such a page as a whole (Python's
 * OpenMetrics parser: "Clashing name"; promtool: a second TYPE line), so
 * the newcomer is refused instead. */
static int name_clashes(const cs_metrics *reg, const char *name, size_t nlen, int type) {
  static const char *const all[] = {"", "_total", "_created", "_bucket", "_count", "_sum", NULL};
  char want[CS_METRICS_MAX_NAME + 16];
  if (nlen > CS_METRICS_MAX_NAME)
    return 0;
  for (const char *const *s1 = type_suffixes(type); *s1; s1++) {
    size_t l1 = strlen(*s1), wn = nlen + l1;
    memcpy(want, name, nlen);
    memcpy(want + nlen, *s1, l1);
    for (const char *const *s2 = all; *s2; s2++) {
      size_t l2 = strlen(*s2);
      if (wn <= l2 || memcmp(want + wn - l2, *s2, l2))
        continue;
      const family *f = find_family(reg, want, wn - l2);
      if (!f)
        continue;
      for (const char *const *s3 = type_suffixes(f->type); *s3; s3++)
        if (!strcmp(*s3, *s2))
          return 1;
    }
  }
  return 0;
}

family *__cs_metrics_family(cs_metrics *reg, const char *name, const char *help,
                            const char *unit, int type, int internal, const double *bounds,
                            uint32_t n_bounds, int *err) {
  size_t nlen = strlen(name);
  family *f = find_family(reg, name, nlen);
  if (f) {
    /* One name, one meaning: a second type, or a self-health histogram
     * with other buckets, would make the output unparseable. */
    if (f->type != type || f->internal != internal ||
        (internal && type == MT_HISTOGRAM &&
         !same_bounds(f->bounds, f->n_bounds, bounds, n_bounds))) {
      *err = CS_METRICS_ETYPE;
      return NULL;
    }
    return f;
  }
  if (name_clashes(reg, name, nlen, type)) {
    *err = CS_METRICS_ETYPE;
    return NULL;
  }
  *err = CS_METRICS_ENOMEM;
  if (reg->n_fams == reg->cap_fams) {
    size_t cap = reg->cap_fams ? 2 * reg->cap_fams : 16;
    family **v = realloc(reg->fams, cap * sizeof *v);
    if (!v) return NULL;
    reg->fams = v;
    reg->cap_fams = cap;
  }
  if ((reg->n_fams + 1) * 2 > reg->ftab_cap) {
    if (ftab_rebuild(reg, reg->ftab_cap ? 2 * reg->ftab_cap : 32)) return NULL;
  }
  f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->type = type;
  f->internal = internal;
  f->sorted = 1;
  f->name = dup_n(name, nlen);
  mbuf hb;
  __cs_metrics_buf_init(&hb, 4 * CS_METRICS_MAX_HELP);
  if (help) __cs_metrics_buf_utf8(&hb, help, strnlen(help, 4 * CS_METRICS_MAX_HELP), CS_METRICS_MAX_HELP);
  f->help = dup_n(hb.s ? hb.s : "", hb.n);
  __cs_metrics_buf_release(&hb);
  if (unit && unit[0]) f->unit = dup_n(unit, strlen(unit));
  if (n_bounds) {
    f->bounds = malloc(n_bounds * sizeof *bounds);
    if (f->bounds) memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
    f->n_bounds = n_bounds;
  }
  if (!f->name || !f->help || (unit && unit[0] && !f->unit) || (n_bounds && !f->bounds)) {
    family_free(f);
    return NULL;
  }
  reg->fams[reg->n_fams++] = f;
  reg->fams_sorted = 0;
  size_t h = __cs_metrics_hash(name, nlen, 0) & (reg->ftab_cap - 1);
  while (reg->ftab[h]) h = (h + 1) & (reg->ftab_cap - 1);
  reg->ftab[h] = f;
  *err = 0;
  return f;
}

/* --- series index ------------------------------------------------------ */

/* Same fallback as ftab_rebuild: never leaves stale pointers behind. */
static int tab_rebuild(family *f, size_t cap) {
  series **t = calloc(cap, sizeof *t);
  if (!t) {
    if (!f->tab) return -1;
    t = f->tab;
    cap = f->tab_cap;
    memset(t, 0, cap * sizeof *t);
    f->tab = NULL;
  }
  for (size_t i = 0; i < f->n; i++) {
    size_t h = f->v[i]->hash & (cap - 1);
    while (t[h]) h = (h + 1) & (cap - 1);
    t[h] = f->v[i];
  }
  free(f->tab);
  f->tab = t;
  f->tab_cap = cap;
  return 0;
}

int __cs_metrics_series_rebucket(series *s, const double *bounds, uint32_t n_bounds) {
  /* bounds and counts share one block: n doubles, then n+1 counters. */
  void *blk = calloc(1, n_bounds * sizeof(double) + (n_bounds + 1) * sizeof(uint64_t));
  if (!blk) return CS_METRICS_ENOMEM;
  free(s->bounds);
  s->bounds = blk;
  s->counts = (uint64_t *)(s->bounds + n_bounds);
  s->n_bounds = n_bounds;
  if (n_bounds) memcpy(s->bounds, bounds, n_bounds * sizeof(double));
  s->sum = 0;
  s->no_sum = 0;
  s->count = 0;
  return 0;
}

static void log_cap(cs_metrics *reg, const family *f, uint64_t now) {
  /* One line per ten seconds at most: an explosion must not flood the log. */
  if (reg->last_cap_log_ns && now - reg->last_cap_log_ns < 10ull * 1000000000ull) {
    reg->cap_log_suppressed++;
    return;
  }
  cs_log(CS_LOG_WARN, "metrics",
         "series cap reached: new series of %s refused, limit %zu, %llu more refused since last report",
         f->name, reg->opts.max_series, (unsigned long long)reg->cap_log_suppressed);
  reg->last_cap_log_ns = now;
  reg->cap_log_suppressed = 0;
}

series *__cs_metrics_series(cs_metrics *reg, family *f, const char *key, size_t key_len,
                            const double *bounds, uint32_t n_bounds, int *err) {
  uint32_t hash = __cs_metrics_hash(key, key_len, 0x9e3779b9u);
  if (f->tab_cap) {
    size_t h = hash & (f->tab_cap - 1);
    for (series *s; (s = f->tab[h]); h = (h + 1) & (f->tab_cap - 1)) {
      if (s->hash == hash && s->key_len == key_len && memcmp(s->key, key, key_len) == 0) return s;
    }
  }
  if (!f->internal && reg->n_external >= reg->opts.max_series) {
    reg->dropped++;
    log_cap(reg, f, __cs_metrics_now_ns());
    *err = CS_METRICS_ECAP;
    return NULL;
  }
  *err = CS_METRICS_ENOMEM;
  if (f->n == f->cap) {
    size_t cap = f->cap ? 2 * f->cap : 4;
    series **v = realloc(f->v, cap * sizeof *v);
    if (!v) return NULL;
    f->v = v;
    f->cap = cap;
  }
  if ((f->n + 1) * 2 > f->tab_cap) {
    if (tab_rebuild(f, f->tab_cap ? 2 * f->tab_cap : 8)) return NULL;
  }
  series *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->key = dup_n(key, key_len);
  s->key_len = (uint32_t)key_len;
  s->hash = hash;
  if (!s->key || (f->type == MT_HISTOGRAM && __cs_metrics_series_rebucket(s, bounds, n_bounds))) {
    series_free(s);
    return NULL;
  }
  f->v[f->n++] = s;
  if (f->n > 1) f->sorted = 0;
  size_t h = hash & (f->tab_cap - 1);
  while (f->tab[h]) h = (h + 1) & (f->tab_cap - 1);
  f->tab[h] = s;
  if (f->internal) reg->n_internal++;
  else reg->n_external++;
  *err = 0;
  return s;
}

/* --- staleness --------------------------------------------------------- */

size_t __cs_metrics_expire_locked(cs_metrics *reg, uint64_t now) {
  size_t dropped = 0, kept_fams = 0;
  for (size_t i = 0; i < reg->n_fams; i++) {
    family *f = reg->fams[i];
    if (!f->internal) {
      size_t kept = 0;
      for (size_t j = 0; j < f->n; j++) {
        series *s = f->v[j];
        if (now > s->touched_ns && now - s->touched_ns > reg->opts.stale_ns) {
          series_free(s);
          dropped++;
        } else {
          f->v[kept++] = s;
        }
      }
      if (kept == 0) { /* also families whose first series the cap refused */
        reg->n_external -= f->n;
        f->n = 0; /* its series were freed above */
        family_free(f);
        continue;
      }
      if (kept != f->n) {
        reg->n_external -= f->n - kept;
        f->n = kept;
        /* Order is kept by the compaction, so a sorted family stays so. */
        size_t cap = 8;
        while (cap < 2 * kept) cap *= 2;
        tab_rebuild(f, cap);
      }
    }
    reg->fams[kept_fams++] = f;
  }
  if (kept_fams != reg->n_fams) {
    reg->n_fams = kept_fams;
    size_t cap = 32;
    while (cap < 2 * (kept_fams + 1)) cap *= 2;
    ftab_rebuild(reg, cap);
  }
  reg->expired += dropped;
  reg->last_sweep_ns = now;
  return dropped;
}

size_t cs_metrics_expire(cs_metrics *reg, uint64_t now_ns) {
  pthread_mutex_lock(&reg->mu);
  size_t n = __cs_metrics_expire_locked(reg, now_ns);
  pthread_mutex_unlock(&reg->mu);
  return n;
}

/* Ingest paths sweep now and then, so an endpoint nobody scrapes still
 * frees its stale series instead of filling up to the cap. */
void __cs_metrics_maybe_expire(cs_metrics *reg, uint64_t now) {
  uint64_t every = reg->opts.stale_ns / 4;
  if (every > 10ull * 1000000000ull) every = 10ull * 1000000000ull;
  if (now - reg->last_sweep_ns >= every) __cs_metrics_expire_locked(reg, now);
}

size_t cs_metrics_series_count(cs_metrics *reg) {
  pthread_mutex_lock(&reg->mu);
  size_t n = reg->n_external + reg->n_internal;
  pthread_mutex_unlock(&reg->mu);
  return n;
}

/* --- self-health API --------------------------------------------------- */

enum { OP_ADD, OP_SET, OP_OBSERVE };

static int direct(cs_metrics *reg, int type, int op, const char *name, const char *help,
                  const double *bounds, size_t n_bounds, const cs_metrics_label *labels,
                  size_t n_labels, double v) {
  if (!reg || !name || (n_labels && !labels) || n_labels > CS_METRICS_MAX_LABELS)
    return CS_METRICS_EINVAL;
  if (type == MT_COUNTER && (!(v >= 0) || v != v)) return CS_METRICS_EINVAL;
  if (type == MT_HISTOGRAM) {
    if (n_bounds > CS_METRICS_MAX_BOUNDS || (n_bounds && !bounds) || v != v)
      return CS_METRICS_EINVAL;
    for (size_t i = 0; i < n_bounds; i++) {
      if (bounds[i] != bounds[i] || bounds[i] - bounds[i] != 0) return CS_METRICS_EINVAL;
      if (i && !(bounds[i] > bounds[i - 1])) return CS_METRICS_EINVAL;
    }
  }
  char fname[CS_METRICS_MAX_NAME + 1], unit[8];
  if (!__cs_metrics_family_name(name, NULL, type, fname, sizeof fname, unit, sizeof unit))
    return CS_METRICS_EINVAL;
  mlabel ml[CS_METRICS_MAX_LABELS];
  for (size_t i = 0; i < n_labels; i++) {
    const char *ln = labels[i].name ? labels[i].name : "";
    __cs_metrics_sanitize_label(ln, strnlen(ln, CS_METRICS_MAX_NAME), ml[i].name, sizeof ml[i].name);
    ml[i].value = labels[i].value ? labels[i].value : "";
    ml[i].value_len = strnlen(ml[i].value, 4 * CS_METRICS_MAX_VALUE);
  }
  mbuf key;
  __cs_metrics_buf_init(&key, CS_METRICS_MAX_KEY);
  __cs_metrics_build_key(&key, ml, n_labels);
  if (key.err) {
    int e = key.err == CS_BUF_ENOMEM ? CS_METRICS_ENOMEM : CS_METRICS_EINVAL;
    __cs_metrics_buf_release(&key);
    return e;
  }
  /* The OpenMetrics UNIT line needs the unit as the name's suffix; for our
   * own metrics the base units we use are enough. */
  const char *om_unit = NULL;
  static const char *base_units[] = {"seconds", "bytes", "ratio"};
  size_t fl = strlen(fname);
  for (size_t i = 0; i < sizeof base_units / sizeof base_units[0]; i++) {
    size_t ul = strlen(base_units[i]);
    if (fl > ul + 1 && fname[fl - ul - 1] == '_' && !strcmp(fname + fl - ul, base_units[i]))
      om_unit = base_units[i];
  }
  int err = 0;
  pthread_mutex_lock(&reg->mu);
  family *f = __cs_metrics_family(reg, fname, help, om_unit, type, 1, bounds, (uint32_t)n_bounds, &err);
  series *s =
      f ? __cs_metrics_series(reg, f, key.s ? key.s : "", key.n, bounds, (uint32_t)n_bounds, &err)
        : NULL;
  if (s) {
    s->touched_ns = __cs_metrics_now_ns();
    if (type == MT_HISTOGRAM) {
      uint32_t i = 0;
      while (i < s->n_bounds && v > s->bounds[i]) i++;
      s->counts[i]++;
      s->count++;
      s->sum += v;
    } else if (op == OP_SET) {
      s->value = v;
    } else {
      s->value += v;
    }
  }
  pthread_mutex_unlock(&reg->mu);
  __cs_metrics_buf_release(&key);
  return err;
}

int cs_metrics_counter_add(cs_metrics *reg, const char *name, const char *help,
                           const cs_metrics_label *labels, size_t n_labels, double v) {
  return direct(reg, MT_COUNTER, OP_ADD, name, help, NULL, 0, labels, n_labels, v);
}

int cs_metrics_counter_set(cs_metrics *reg, const char *name, const char *help,
                           const cs_metrics_label *labels, size_t n_labels, double v) {
  return direct(reg, MT_COUNTER, OP_SET, name, help, NULL, 0, labels, n_labels, v);
}

int cs_metrics_gauge_set(cs_metrics *reg, const char *name, const char *help,
                         const cs_metrics_label *labels, size_t n_labels, double v) {
  return direct(reg, MT_GAUGE, OP_SET, name, help, NULL, 0, labels, n_labels, v);
}

int cs_metrics_gauge_add(cs_metrics *reg, const char *name, const char *help,
                         const cs_metrics_label *labels, size_t n_labels, double v) {
  if (v != v) return CS_METRICS_EINVAL;
  return direct(reg, MT_GAUGE, OP_ADD, name, help, NULL, 0, labels, n_labels, v);
}

int cs_metrics_histogram_observe(cs_metrics *reg, const char *name, const char *help,
                                 const double *bounds, size_t n_bounds,
                                 const cs_metrics_label *labels, size_t n_labels, double v) {
  return direct(reg, MT_HISTOGRAM, OP_OBSERVE, name, help, bounds, n_bounds, labels, n_labels, v);
}
