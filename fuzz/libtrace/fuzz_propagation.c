/* Fuzz target for libtrace's decoders of outside input: the propagation
 * headers. The input is split at '\n' into the values of traceparent,
 * tracestate, baggage, b3, X-B3-TraceId, X-B3-SpanId, X-B3-ParentSpanId,
 * X-B3-Sampled, X-B3-Flags. Checks beyond "no crash": an extracted valid
 * context re-injects and re-extracts to the same IDs, flags and baggage. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "callscope/trace.h"

static const char *const keys[] = {
    "traceparent", "tracestate",        "baggage",      "b3",        "X-B3-TraceId",
    "X-B3-SpanId", "X-B3-ParentSpanId", "X-B3-Sampled", "X-B3-Flags"};
#define NK (sizeof keys / sizeof keys[0])

typedef struct hdrs {
  const char *v[NK];
  size_t n[NK];
  char *own[NK];
} hdrs;

static const char *get(void *u, const char *key, size_t *len) {
  hdrs *h = u;
  for (size_t i = 0; i < NK; i++)
    if (strcasecmp(keys[i], key) == 0 && h->v[i]) {
      *len = h->n[i];
      return h->v[i];
    }
  return NULL;
}

static int set(void *u, const char *key, const char *value) {
  hdrs *h = u;
  for (size_t i = 0; i < NK; i++)
    if (strcasecmp(keys[i], key) == 0) {
      free(h->own[i]);
      h->own[i] = strdup(value);
      h->v[i] = h->own[i];
      h->n[i] = h->own[i] ? strlen(h->own[i]) : 0;
      return h->own[i] ? 0 : -1;
    }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  hdrs in;
  memset(&in, 0, sizeof in);
  size_t k = 0, start = 0;
  for (size_t i = 0; i <= size && k < NK; i++)
    if (i == size || data[i] == '\n') {
      in.v[k] = (const char *)data + start; /* not NUL-terminated: as carriers may do */
      in.n[k++] = i - start;
      start = i + 1;
    }
  cst_carrier c = {get, set, &in};
  unsigned all = CST_PROP_TRACECONTEXT | CST_PROP_BAGGAGE | CST_PROP_B3 | CST_PROP_B3_MULTI;
  cst_context *x = cst_extract(&c, all);
  if (!x)
    return 0;
  hdrs out;
  memset(&out, 0, sizeof out);
  cst_carrier o = {get, set, &out};
  cst_inject(x, &o, all);
  cst_context *y = cst_extract(&o, all);
  if (y) {
    uint8_t a[16], b[16], sa[8], sb[8];
    cst_context_trace_id(x, a);
    cst_context_trace_id(y, b);
    cst_context_span_id(x, sa);
    cst_context_span_id(y, sb);
    if (cst_context_is_valid(x) != cst_context_is_valid(y) || memcmp(a, b, 16) ||
        memcmp(sa, sb, 8) ||
        (cst_context_is_valid(x) && cst_context_is_sampled(x) != cst_context_is_sampled(y)))
      abort();
    const char *s1 = cst_context_session(x), *s2 = cst_context_session(y);
    if ((s1 == NULL) != (s2 == NULL) || (s1 && strcmp(s1, s2) != 0))
      abort();
    cst_context_free(y);
  }
  cst_context_free(x);
  for (size_t i = 0; i < NK; i++)
    free(out.own[i]);
  return 0;
}
