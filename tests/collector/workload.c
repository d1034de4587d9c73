/* See workload.h. */
#include "workload.h"

#include <stdio.h>

#include "store.h"

static const char *const svc_names[3] = {"frontend", "cart", "payment"};

uint64_t wl_start(uint64_t no) { return WL_T0 + no * 1000000ull; }
uint64_t wl_duration(int n) { return (uint64_t)n * 1000 + 500; }

int wl_errors(int n) {
  int e = 0;
  for (int i = 0; i < n; i++) e += i % 7 == 3;
  return e;
}

int wl_services(int n) { return n >= 3 ? 3 : n; }

void wl_trace_id(uint64_t no, uint8_t out[16]) {
  uint64_t hi = 0xc0ffee0000000000ull | no, lo = no * 2654435761u + 1;
  for (int i = 0; i < 8; i++) {
    out[i] = (uint8_t)(hi >> (56 - 8 * i));
    out[8 + i] = (uint8_t)(lo >> (56 - 8 * i));
  }
}

void wl_add_trace(ob *b, const char *prefix, uint64_t no, int n) {
  ob_rs *rs[3];
  for (int k = 0; k < 3; k++) {
    char svc[64];
    snprintf(svc, sizeof svc, "%s%s", prefix ? prefix : "", svc_names[k]);
    rs[k] = ob_resource(b, svc);
  }
  uint64_t hi = 0xc0ffee0000000000ull | no, lo = no * 2654435761u + 1;
  uint64_t start = wl_start(no);
  for (int i = 0; i < n; i++) {
    uint64_t sid = no * 1000 + (uint64_t)i + 1;
    uint64_t parent = i == 0 ? 0 : no * 1000 + 1;
    char name[32];
    if (i == 0) snprintf(name, sizeof name, "GET /checkout");
    else snprintf(name, sizeof name, "op-%d", i % 3);
    uint64_t s0 = i == 0 ? start : start + (uint64_t)i * 1000;
    uint64_t s1 = i == 0 ? start + wl_duration(n) : s0 + 500;
    ob_span *s = ob_add_span(b, rs[i % 3], hi, lo, sid, parent, name, s0, s1);
    if (i == 0) {
      char v[32];
      snprintf(v, sizeof v, "sess-%d", (int)(no % 4));
      ob_span_attr(b, s, "sessionId", ob_str(b, v));
      snprintf(v, sizeof v, "/checkout/%d", (int)(no % 2));
      ob_span_attr(b, s, "http.route", ob_str(b, v));
    }
    ob_span_attr(b, s, "span.index", ob_int(b, i));
    if (i % 7 == 3) ob_span_status(b, s, 2, "failed");
  }
}

uint64_t wl_count_incomplete(const char *data_dir, uint64_t n_traces, int spans_per_trace) {
  cs_store_opts so = {.dir = data_dir};
  cs_store *st = NULL;
  char err[256] = "";
  if (cs_store_open(&so, &st, err, sizeof err) != CS_STORE_OK) {
    fprintf(stderr, "  cannot open the store in %s: %s\n", data_dir, err);
    return UINT64_MAX;
  }
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  uint64_t missing = 0;
  for (uint64_t t = 0; t < n_traces; t++) {
    uint8_t id[16];
    wl_trace_id(t, id);
    cs_span *spans;
    size_t n = 0;
    int rc = cs_store_get_trace(st, id, &a, &spans, &n);
    if ((rc != CS_STORE_OK || n != (size_t)spans_per_trace) && missing++ < 5)
      fprintf(stderr, "  trace %llu of an acknowledged frame: %zu spans (%s), want %d\n",
              (unsigned long long)t, n, cs_store_strerror(rc), spans_per_trace);
    cs_arena_reset(&a);
  }
  cs_arena_release(&a);
  cs_store_close(st);
  return missing;
}
