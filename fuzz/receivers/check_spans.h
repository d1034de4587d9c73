/* Invariants every span a receiver's decoder emits must hold, shared by
 * the receiver fuzz targets: it passes the validator, and every string is
 * valid UTF-8 of the length it claims. A violation aborts, which libFuzzer
 * reports as a crash. */
#ifndef CS_FUZZ_CHECK_SPANS_H
#define CS_FUZZ_CHECK_SPANS_H

#include <stdlib.h>

#include "span.h"
#include "validate.h"

static void fz_str(cs_str s) {
  if (s.n && !s.p) abort();
  if (!cs_utf8_valid(s.p, s.n)) abort();
}

static void fz_attrs(const cs_attr *a, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    fz_str(a[i].key);
    if (a[i].type == CS_VAL_STR || a[i].type == CS_VAL_ARRAY || a[i].type == CS_VAL_KVLIST) fz_str(a[i].v.s);
  }
}

static void fz_check_spans(const cs_span *s, size_t n, const cs_limits *lim) {
  for (size_t i = 0; i < n; i++) {
    if (cs_span_check(&s[i], lim) || !s[i].resource) abort();
    fz_str(s[i].name);
    fz_str(s[i].status_msg);
    fz_str(s[i].resource->service);
    fz_attrs(s[i].attrs, s[i].n_attrs);
    fz_attrs(s[i].resource->attrs, s[i].resource->n_attrs);
    for (uint32_t e = 0; e < s[i].n_events; e++) {
      fz_str(s[i].events[e].name);
      fz_attrs(s[i].events[e].attrs, s[i].events[e].n_attrs);
    }
  }
}

#endif
