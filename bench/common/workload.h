/* The benchmark workload: a deterministic (seeded) generator of realistic
 * traces in the internal span model. Five services, about 20 spans per
 * trace, 6 attributes per span, one session ID per trace, nested durations,
 * about 2% error spans. docs/benchmarks.md documents the shape. */
#ifndef CS_WORKLOAD_H
#define CS_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "span.h"

#define CS_WORKLOAD_SERVICES 5
#define CS_WORKLOAD_INSTANCES 2  /* hosts per service: 10 resources */
#define CS_WORKLOAD_SESSIONS 400 /* distinct session IDs */
#define CS_WORKLOAD_ATTRS 6      /* attributes on every span */
#define CS_WORKLOAD_MAX_TRACE_SPANS 40
#define CS_WORKLOAD_FIXED_START_NS 1767225600000000000ull /* 2026-01-01 UTC */

typedef struct cs_workload {
  uint64_t rng;
  uint64_t now_ns; /* start time of the next trace */
  uint64_t gap_ns; /* mean gap between trace starts */
  uint64_t traces; /* generated so far */
  uint64_t spans;
  uint64_t errors;
  cs_resource resources[CS_WORKLOAD_SERVICES * CS_WORKLOAD_INSTANCES];
  cs_attr res_attrs[CS_WORKLOAD_SERVICES * CS_WORKLOAD_INSTANCES][4];
  char hosts[CS_WORKLOAD_SERVICES * CS_WORKLOAD_INSTANCES][32];
  char sessions[CS_WORKLOAD_SESSIONS][24];
  uint8_t session_tier[CS_WORKLOAD_SESSIONS];
} cs_workload;

/* Prepares a generator. The same seed gives the same spans (IDs, names,
 * attributes, timestamps). start_ns is the start of the first trace; 0 means
 * the fixed CS_WORKLOAD_FIXED_START_NS. Traces start on average 100 us apart
 * (simulated time, unrelated to how fast they are generated).
 * Spans point into the workload (resources, session strings): keep it alive
 * and in place while they are used. Thread-safety: one workload per thread. */
void cs_workload_init(cs_workload *w, uint64_t seed, uint64_t start_ns);

/* Generates one whole trace into a new array allocated from a: *out gets
 * the spans (root first, parents before children) and the count is
 * returned, between 15 and CS_WORKLOAD_MAX_TRACE_SPANS. Every span has
 * session_id set. Returns 0 when the arena is exhausted. */
size_t cs_workload_next_trace(cs_workload *w, cs_arena *a, cs_span **out);

/* Generates whole traces into one array allocated from a until it holds
 * at least n_spans spans; returns the count (n_spans to n_spans +
 * CS_WORKLOAD_MAX_TRACE_SPANS - 1), or 0 when the arena is exhausted. */
size_t cs_workload_batch(cs_workload *w, cs_arena *a, size_t n_spans, cs_span **out);

/* Service names, index 0 ("frontend") to CS_WORKLOAD_SERVICES - 1. */
const char *cs_workload_service(int i);

#endif
