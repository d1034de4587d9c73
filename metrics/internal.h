/* Internals shared by the metrics files: the registry's families and series,
 * a capped growable buffer, and the name/label helpers. Nothing here is API;
 * every shared symbol carries the __cs_metrics prefix. */
#ifndef CS_METRICS_INTERNAL_H
#define CS_METRICS_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "metrics.h"

enum { MT_COUNTER = 1, MT_GAUGE = 2, MT_HISTOGRAM = 3 };

#define CS_METRICS_MAX_NAME 200     /* sanitized metric and label names */
#define CS_METRICS_MAX_VALUE 1024   /* one label value, bytes of UTF-8 */
#define CS_METRICS_MAX_LABELS 64    /* labels on one series */
#define CS_METRICS_MAX_BOUNDS 64    /* histogram bucket bounds */
#define CS_METRICS_MAX_HELP 1024
#define CS_METRICS_MAX_KEY 16384    /* a rendered label set */

/* Every metrics output and label key is written into the project's capped
 * buffer (common/buf.h), read as text through .s; the text is always
 * NUL-terminated after an append. After a failed append err is set
 * (CS_BUF_ETOOBIG or CS_BUF_ENOMEM) and later appends do nothing, so
 * writers check once at the end. */
typedef cs_buf mbuf;

void __cs_metrics_buf_init(mbuf *b, size_t max);
void __cs_metrics_buf_release(mbuf *b);
/* Makes room for n bytes up front (a hint; failure is ignored). */
void __cs_metrics_buf_reserve(mbuf *b, size_t n);
void __cs_metrics_buf_add(mbuf *b, const void *p, size_t n);
void __cs_metrics_buf_str(mbuf *b, const char *s);
void __cs_metrics_buf_char(mbuf *b, char c);
/* Shortest text that reads back as the same double; +Inf, -Inf, NaN. */
void __cs_metrics_buf_double(mbuf *b, double v);
void __cs_metrics_buf_u64(mbuf *b, uint64_t v);
/* The same text into out (cap >= 32), returns its length; no NUL. */
size_t __cs_metrics_fmt_double(char *out, size_t cap, double v);

/* One series: a label set and its value(s). Histogram counts are per
 * bucket (not cumulative); counts[n_bounds] is the +Inf bucket. */
typedef struct series {
  char *key;        /* rendered labels: a="x",b="y" (sorted, escaped); "" for none */
  uint32_t key_len;
  uint32_t hash;
  uint64_t touched_ns;    /* monotonic time of the last update */
  uint64_t last_point_ns; /* OTLP point time, to skip replays and old points */
  double value;           /* counter or gauge */
  double sum;             /* histogram */
  int no_sum;             /* histogram: an OTLP point came without a sum (it is optional) */
  uint64_t count;         /* histogram */
  uint32_t n_bounds;
  double *bounds;
  uint64_t *counts;
} series;

typedef struct family {
  char *name;     /* sanitized; counters without the _total suffix */
  char *help;     /* already valid UTF-8, capped */
  char *unit;     /* OpenMetrics unit when name ends in _<unit>, or NULL */
  int type;       /* MT_* */
  int internal;   /* self-health: never expires, not capped */
  double *bounds; /* direct-API histograms: fixed bounds */
  uint32_t n_bounds;
  series **v;     /* all series, in insertion order until sorted */
  size_t n, cap;
  int sorted;
  series **tab;   /* open-addressing index over v, tab_cap a power of two */
  size_t tab_cap;
} family;

#define CS_METRICS_MAX_HOOKS 32

enum { REJ_TYPE_CONFLICT, REJ_UNSUPPORTED, REJ_INVALID, REJ_TOO_MANY_LABELS, REJ_OLD_POINT,
       REJ_RESERVED, REJ_N };

struct cs_metrics {
  pthread_mutex_t mu;
  cs_metrics_opts opts;
  family **fams;     /* sorted by name when fams_sorted */
  size_t n_fams, cap_fams;
  int fams_sorted;
  family **ftab;     /* open-addressing index by name */
  size_t ftab_cap;
  size_t n_external; /* series counted against max_series */
  size_t n_internal;
  uint64_t dropped;  /* new series refused by the cap */
  uint64_t expired;
  uint64_t rejected[REJ_N];
  size_t last_render_len; /* sizes the next render's buffer up front */
  uint64_t last_sweep_ns;
  uint64_t last_cap_log_ns;
  uint64_t cap_log_suppressed;
  cs_metrics_render_hook hooks[CS_METRICS_MAX_HOOKS];
  void *hook_ud[CS_METRICS_MAX_HOOKS];
  int n_hooks;
};

uint64_t __cs_metrics_now_ns(void);
uint32_t __cs_metrics_hash(const char *p, size_t n, uint32_t seed);

/* Finds or creates a family; the caller holds reg->mu. name must already be
 * sanitized (and without _total for counters). Returns NULL with *err set
 * to ETYPE (type or bounds mismatch) or ENOMEM. */
family *__cs_metrics_family(cs_metrics *reg, const char *name, const char *help,
                            const char *unit, int type, int internal, const double *bounds,
                            uint32_t n_bounds, int *err);

/* Finds or creates the series with a rendered label key in fam; the caller
 * holds reg->mu. New external series beyond the cap are refused: NULL with
 * *err = ECAP (counted and logged here). For histograms the new series gets
 * n_bounds/bounds copied. */
series *__cs_metrics_series(cs_metrics *reg, family *fam, const char *key, size_t key_len,
                            const double *bounds, uint32_t n_bounds, int *err);

/* Drops stale ingested series and empty ingested families now; the caller
 * holds reg->mu. Returns the number of series dropped. */
size_t __cs_metrics_expire_locked(cs_metrics *reg, uint64_t now);
/* Expires stale series if the last sweep is older than min(stale/4, 10 s);
 * the caller holds reg->mu. */
void __cs_metrics_maybe_expire(cs_metrics *reg, uint64_t now);

/* Replaces a histogram series' buckets (cumulative OTLP points whose bounds
 * changed). Returns 0 or ENOMEM. */
int __cs_metrics_series_rebucket(series *s, const double *bounds, uint32_t n_bounds);

/* Names and labels (names.c). */

/* Writes a sanitized metric name into out (cap bytes, NUL-terminated):
 * anything outside [a-zA-Z0-9_] becomes '_', runs of '_' collapse, a leading
 * digit gets a '_' prefix. Returns the length, 0 when nothing is left. */
size_t __cs_metrics_sanitize_metric(const char *in, size_t n, char *out, size_t cap);
/* The same for label names, without collapsing; a leading digit gets a
 * "key_" prefix, a leading "__" (reserved in Prometheus) a "key" prefix. */
size_t __cs_metrics_sanitize_label(const char *in, size_t n, char *out, size_t cap);
/* The Prometheus suffix for an OTLP/UCUM unit ("s" -> "seconds",
 * "By/s" -> "bytes_per_second", "{req}" -> ""), written into out. gauge
 * says whether "1" may become "ratio". Returns the length. */
size_t __cs_metrics_unit_suffix(const char *unit, int gauge, char *out, size_t cap);
/* Builds the final family name from an OTLP name and unit: sanitized, unit
 * suffix appended unless already there, a trailing _total stripped from
 * counters. Sets *unit_out to the unit suffix used (or "" if none). */
size_t __cs_metrics_family_name(const char *name, const char *unit, int type, char *out,
                                size_t cap, char *unit_out, size_t unit_cap);
/* Appends at most max bytes of s as valid UTF-8 (invalid bytes become
 * U+FFFD, a cut never splits a character). */
void __cs_metrics_buf_utf8(mbuf *b, const char *s, size_t n, size_t max);
/* Appends a label value escaped for the exposition formats: \\, \", \n. */
void __cs_metrics_buf_escape_value(mbuf *b, const char *s, size_t n);
/* Appends HELP text escaped: \\ and \n (text 0.0.4), plus \" (OpenMetrics). */
void __cs_metrics_buf_escape_help(mbuf *b, const char *s, size_t n, int openmetrics);

/* A label while a key is being built: name sanitized, value raw. */
typedef struct mlabel {
  char name[CS_METRICS_MAX_NAME + 16];
  const char *value;
  size_t value_len;
} mlabel;

/* Renders labels into the canonical key: sorted by name, empty values
 * dropped, values made valid UTF-8, capped and escaped. Labels with the
 * same name after sanitizing are joined with ';' in input order. Sorts the
 * array in place. */
void __cs_metrics_build_key(mbuf *key, mlabel *labels, size_t n);

#endif
