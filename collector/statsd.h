/* StatsD lines and their aggregation: counters, gauges (set or +/-
 * delta), timers (ms) and histograms/distributions, sample rates and
 * DogStatsD tags. Aggregates are flushed as an OTLP metrics request (delta
 * sums and histograms, gauges) so they reach /metrics through the same
 * metrics sink as OTLP metrics. No I/O here: recv_statsd.c owns the
 * socket; tests and the fuzzer drive these functions directly.
 *
 * Trusted sizes: none from the datagram. Lines are parsed within the
 * datagram's length; names longer than CS_STATSD_MAX_NAME and more than
 * CS_STATSD_MAX_TAGS tags refuse the line; the number of series is capped
 * (max_series, 10,000 by default) and a new name past it is dropped and
 * counted. */
#ifndef CS_STATSD_H
#define CS_STATSD_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "decode.h"
#include "span.h"

#define CS_STATSD_MAX_TAGS 32
#define CS_STATSD_MAX_NAME 200

enum cs_statsd_type { CS_STATSD_COUNTER = 'c', CS_STATSD_GAUGE = 'g', CS_STATSD_TIMER = 't',
                      CS_STATSD_HISTOGRAM = 'h' };

typedef struct cs_statsd_line {
  cs_str name;
  double value;
  int type;      /* enum cs_statsd_type */
  int gauge_delta; /* gauge written with a leading + or - */
  double rate;   /* sample rate in (0, 1] */
  cs_str tag_keys[CS_STATSD_MAX_TAGS], tag_vals[CS_STATSD_MAX_TAGS];
  uint32_t n_tags;
} cs_statsd_line;

/* Parses one line "name:value|type[|@rate][|#k:v,k2]" (no newline).
 * Unknown DogStatsD sections (|c:..., |T...) are skipped; a tag without a
 * value gets "true". Sets (|s) and anything malformed return -1.
 * Strings point into p. Thread-safety: pure function. */
int cs_statsd_parse_line(const char *p, size_t n, cs_statsd_line *out);

typedef struct cs_statsd_agg cs_statsd_agg;

/* An aggregation table of at most max_series series. NULL on ENOMEM. */
cs_statsd_agg *cs_statsd_agg_new(size_t max_series);
void cs_statsd_agg_free(cs_statsd_agg *g);

/* Adds a parsed line. Returns 0, or -1 when the table is full (dropped). */
int cs_statsd_agg_add(cs_statsd_agg *g, const cs_statsd_line *l, uint64_t now_ns);

/* Feeds every line of a datagram; counts well-formed, malformed and
 * dropped lines (added to). */
void cs_statsd_agg_datagram(cs_statsd_agg *g, const char *p, size_t n, uint64_t now_ns,
                            uint64_t *ok, uint64_t *bad, uint64_t *dropped);

/* Builds an ExportMetricsServiceRequest (resource service.name "statsd")
 * in a of everything updated since the last flush, resets counters and
 * histograms, and forgets series idle for longer than idle_ns. *req is
 * NULL when there is nothing to send; *points counts data points.
 * Returns 0 or -1 (arena cap). time_ns is the wall-clock point time. */
int cs_statsd_agg_flush(cs_statsd_agg *g, cs_arena *a, uint64_t time_ns, uint64_t idle_ns,
                        cs_otlp_metrics **req, cs_resource **res, size_t *points);

/* Bucket bounds: timers in milliseconds, histograms unitless. */
extern const double cs_statsd_timer_bounds[];
extern const size_t cs_statsd_timer_n_bounds;

#endif
