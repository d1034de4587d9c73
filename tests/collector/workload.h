/* Test helper: a small deterministic trace workload (traces across three
 * services with sessions, an indexed route attribute and some errors) and
 * the expectations to check a store against. */
#ifndef CS_TEST_WORKLOAD_H
#define CS_TEST_WORKLOAD_H

#include <stdint.h>

#include "otlp_build.h"

#define WL_T0 1700000000000000000ull

/* Adds trace number no with n spans (n >= 1) to b: root "GET /checkout" in
 * "frontend" with sessionId "sess-<no%4>" and http.route "/checkout/<no%2>";
 * children spread over frontend, cart and payment; every span with
 * i % 7 == 3 has status ERROR. */
void wl_add_trace(ob *b, const char *prefix_service, uint64_t no, int n);

/* Trace ID of trace no (hi, lo as in ob_add_span). */
void wl_trace_id(uint64_t no, uint8_t out[16]);

/* Expected summary values of trace no with n spans. */
uint64_t wl_start(uint64_t no);
uint64_t wl_duration(int n);
int wl_errors(int n);
int wl_services(int n); /* distinct services */

/* Opens the store in data_dir and counts the traces among 0 .. n_traces-1
 * that do not hold exactly spans_per_trace spans (the first few are
 * printed). Returns that count, or UINT64_MAX when the store does not
 * open. The daemon must have stopped. */
uint64_t wl_count_incomplete(const char *data_dir, uint64_t n_traces, int spans_per_trace);

#endif
