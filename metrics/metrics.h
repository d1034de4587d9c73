/* The metrics registry behind /metrics: series of counters, gauges and
 * histograms fed by OTLP metric requests from libtrace, by RED aggregates
 * derived from committed spans, and by the daemons' own health numbers, and
 * rendered as Prometheus text 0.0.4 or OpenMetrics 1.0 text.
 * Naming, staleness and cap rules are documented in docs/metrics.md. */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"

struct Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest;

/* Errors: 0 is success, failures are negative. */
#define CS_METRICS_ERRNO_MAP(X)                                                 \
  X(OK, 0, "ok")                                                                \
  X(ENOMEM, -1, "out of memory")                                                \
  X(EINVAL, -2, "invalid argument")                                             \
  X(ECAP, -3, "series cap reached, new series refused")                         \
  X(ETYPE, -4, "metric name already registered with another type or buckets")   \
  X(ETOOBIG, -5, "rendered output exceeds the size cap")

enum cs_metrics_err {
#define CS_METRICS_ERR_ENUM_(name, val, msg) CS_METRICS_##name = (val),
  CS_METRICS_ERRNO_MAP(CS_METRICS_ERR_ENUM_)
#undef CS_METRICS_ERR_ENUM_
};

/* Returns a static message for an error code ("unknown error" otherwise).
 * Thread-safety: safe from any thread. */
const char *cs_metrics_strerror(int err);

typedef struct cs_metrics cs_metrics;

typedef struct cs_metrics_opts {
  /* Series of ingested metrics (OTLP, span RED) not updated for this long are
   * dropped from the output and freed. 0 means the default, 5 minutes. */
  uint64_t stale_ns;
  /* Most ingested series held at once; new series beyond it are refused and
   * counted. 0 means the default, 50,000. */
  size_t max_series;
  /* Hard cap on one rendered response. 0 means the default, 64 MiB. */
  size_t max_render_bytes;
} cs_metrics_opts;

#define CS_METRICS_DEFAULT_STALE_NS (300ull * 1000000000ull)
#define CS_METRICS_DEFAULT_MAX_SERIES 50000
#define CS_METRICS_DEFAULT_MAX_RENDER (64u << 20)

/* Creates an empty registry. opts may be NULL for all defaults; it is
 * copied. Returns NULL when out of memory.
 * Thread-safety: the registry it returns is safe to use from any thread. */
cs_metrics *cs_metrics_new(const cs_metrics_opts *opts);

/* Frees the registry and every series. Accepts NULL. No other thread may be
 * using the registry. */
void cs_metrics_free(cs_metrics *reg);

/* One label. Names are sanitized to [a-zA-Z_][a-zA-Z0-9_]*, values are
 * made valid UTF-8 and capped at 1024 bytes; a label with an empty value is
 * the same as no label (as in Prometheus). Both strings are copied. */
typedef struct cs_metrics_label {
  const char *name;
  const char *value;
} cs_metrics_label;

/* The daemons' own metrics ("self-health"). These series are never expired
 * and are not subject to the series cap, so callers must keep their label
 * sets bounded (a reason enum, a route name, never raw user input).
 * name is sanitized; help is copied the first time a name is seen; a name
 * already used with another type gives CS_METRICS_ETYPE. Counters are
 * rendered with a `_total` suffix (do not include it in name; if present it
 * is stripped), so name "callscope_spans_received" becomes
 * callscope_spans_received_total.
 *
 * counter_add adds v (>= 0, else EINVAL); counter_set replaces the value,
 * for counters that already live as atomics elsewhere (use it from a render
 * hook). gauge_set / gauge_add set or move a gauge. histogram_observe adds
 * one observation; bounds (strictly increasing, finite, at most 64) are
 * fixed by the first call for a name, later calls with different bounds get
 * CS_METRICS_ETYPE.
 * Thread-safety: safe from any thread; each call takes the registry lock
 * once. */
int cs_metrics_counter_add(cs_metrics *reg, const char *name, const char *help,
                           const cs_metrics_label *labels, size_t n_labels, double v);
int cs_metrics_counter_set(cs_metrics *reg, const char *name, const char *help,
                           const cs_metrics_label *labels, size_t n_labels, double v);
int cs_metrics_gauge_set(cs_metrics *reg, const char *name, const char *help,
                         const cs_metrics_label *labels, size_t n_labels, double v);
int cs_metrics_gauge_add(cs_metrics *reg, const char *name, const char *help,
                         const cs_metrics_label *labels, size_t n_labels, double v);
int cs_metrics_histogram_observe(cs_metrics *reg, const char *name, const char *help,
                                 const double *bounds, size_t n_bounds,
                                 const cs_metrics_label *labels, size_t n_labels, double v);

/* Latency buckets in seconds used for span durations; handy for the
 * daemons' own request latency histograms too. */
extern const double cs_metrics_latency_bounds[];
extern const size_t cs_metrics_latency_n_bounds;

/* A hook run at the start of every render, before the registry lock is
 * taken, so it may call cs_metrics_counter_set / gauge_set to publish values
 * that live elsewhere (queue depths, RocksDB sizes, atomics). Hooks run in
 * registration order; at most 32. Returns 0 or CS_METRICS_ENOMEM.
 * Thread-safety: register before serving renders; the hook itself may run
 * on any HTTP thread, possibly concurrently with itself. */
typedef void (*cs_metrics_render_hook)(cs_metrics *reg, void *ud);
int cs_metrics_add_render_hook(cs_metrics *reg, cs_metrics_render_hook fn, void *ud);

/* RED metrics from a batch of committed spans: callscope_span_calls_total,
 * callscope_span_errors_total and the callscope_span_duration_seconds
 * histogram, per service, operation, span_kind (and status_code). The batch
 * is aggregated first, then the lock is taken once. The spans are only read
 * during the call. Returns 0, or CS_METRICS_ENOMEM; series refused by the
 * cap are counted, not errors.
 * Thread-safety: safe from any thread. */
int cs_metrics_ingest_spans(cs_metrics *reg, const cs_span *spans, size_t n);

/* The services' own metrics from a decoded OTLP request: Sum (monotonic ->
 * counter, else gauge), Gauge, Histogram (explicit buckets), delta
 * temporality accumulated into cumulative values, attributes as labels plus
 * `service` and `instance` from the resource. Points that cannot be
 * represented are counted in callscope_metrics_points_rejected_total by
 * reason. The request is only read during the call. Returns 0, or
 * CS_METRICS_ENOMEM / EINVAL (NULL request).
 * Thread-safety: safe from any thread. */
int cs_metrics_ingest_otlp(
    cs_metrics *reg,
    const struct Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req);

/* Drops ingested series not updated within stale_ns of now_ns (monotonic
 * clock, CLOCK_MONOTONIC nanoseconds). Renders do this themselves; exposed
 * for tests and for idle daemons. Returns the number of series dropped.
 * Thread-safety: safe from any thread. */
size_t cs_metrics_expire(cs_metrics *reg, uint64_t now_ns);

/* Number of series currently held (ingested and self-health together).
 * Thread-safety: safe from any thread. */
size_t cs_metrics_series_count(cs_metrics *reg);

/* Renders every family, sorted by name, series sorted by labels, as
 * Prometheus text 0.0.4 (openmetrics == 0) or OpenMetrics 1.0 text
 * (openmetrics != 0, ends with "# EOF"). Runs the render hooks and expires
 * stale series first. On success *buf is a NUL-terminated heap string the
 * caller frees with free(), *len its length without the NUL. Errors:
 * ENOMEM, ETOOBIG (output above max_render_bytes); *buf is NULL then.
 * Thread-safety: safe from any thread; the registry lock is held while the
 * text is written, so the output is one consistent snapshot. */
int cs_metrics_render(cs_metrics *reg, int openmetrics, char **buf, size_t *len);

#define CS_METRICS_CONTENT_TYPE_TEXT "text/plain; version=0.0.4; charset=utf-8"
#define CS_METRICS_CONTENT_TYPE_OPENMETRICS \
  "application/openmetrics-text; version=1.0.0; charset=utf-8"

/* Picks the format from an HTTP Accept header (NULL or empty means text):
 * OpenMetrics when application/openmetrics-text has a higher q than any
 * other acceptable type, else Prometheus text. Sets *openmetrics to 1 or 0
 * and returns the matching static Content-Type string.
 * Thread-safety: safe from any thread. */
const char *cs_metrics_negotiate(const char *accept, int *openmetrics);

#endif
