/* libFuzzer target over everything the collector does to untrusted bytes:
 * frame parsing (datagrams and TCP streams split at fuzzer-chosen points),
 * OTLP trace and metrics decoding, conversion and validation. The first
 * input byte picks the mode (and for payloads, the limits); the rest is the
 * input. Every span that comes
 * out must satisfy the validator and carry valid UTF-8, and the wire trace
 * decoder must agree with the protobuf-c one it replaced (decode_ref.h),
 * or we abort. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "decode_ref.h"
#include "framer.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cs_limits lim_small, lim_default;
/* The limits of the current input: small caps reach the reject paths with
 * small inputs; the defaults are what the daemon runs with. */
static cs_limits lim;

static void check_str(cs_str s) {
  if (s.n && !s.p) abort();
  if (!cs_utf8_valid(s.p, s.n)) abort();
}

static void check_attrs(const cs_attr *a, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    check_str(a[i].key);
    if (a[i].type == CS_VAL_STR || a[i].type == CS_VAL_ARRAY || a[i].type == CS_VAL_KVLIST)
      check_str(a[i].v.s);
  }
}

static void decode_payload(int type, const uint8_t *p, size_t n) {
  cs_arena a;
  cs_arena_init(&a, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
  if (type == CS_FRAME_TRACES) {
    cs_span *spans;
    size_t ns;
    cs_reject_counts rej;
    memset(&rej, 0, sizeof rej);
    if (cs_decode_traces(p, n, &a, &lim, &spans, &ns, &rej) == CS_DECODE_OK) {
      for (size_t i = 0; i < ns; i++) {
        const cs_span *s = &spans[i];
        if (cs_span_check(s, &lim) != 0 || !s->resource) abort();
        check_str(s->name);
        check_str(s->resource->service);
        check_attrs(s->attrs, s->n_attrs);
        check_attrs(s->resource->attrs, s->resource->n_attrs);
        for (uint32_t e = 0; e < s->n_events; e++) check_attrs(s->events[e].attrs, s->events[e].n_attrs);
        for (uint32_t l = 0; l < s->n_links; l++) {
          check_str(s->links[l].trace_state);
          check_attrs(s->links[l].attrs, s->links[l].n_attrs);
        }
      }
    }
    char why[256];
    if (cs_decode_diff(p, n, &lim, why, sizeof why) == CS_DIFF_DIFFERENT) {
      fprintf(stderr, "trace decoders differ: %s\n", why);
      abort();
    }
  } else if (type == CS_FRAME_METRICS) {
    cs_otlp_metrics *m;
    cs_resource *res;
    size_t points;
    if (cs_decode_metrics(p, n, &a, &lim, &m, &res, &points) == CS_DECODE_OK)
      for (size_t i = 0; i < m->n_resource_metrics; i++) check_str(res[i].service);
  }
  if (a.reserved > a.cap) abort();
  cs_arena_release(&a);
}

static int on_frame(void *ud, const cs_frame_hdr *h, const uint8_t *payload) {
  (void)ud;
  decode_payload(h->type, payload, h->len);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!lim_small.max_name_len) {
    cs_limits_default(&lim_default);
    lim_small = lim_default;
    lim_small.max_attrs = 16;
    lim_small.max_value_len = 256;
    lim_small.max_depth = 4;
  }
  if (size < 1) return 0;
  uint8_t mode = data[0];
  data++, size--;
  /* Mode bit 2 picks the default limits for payloads (modes 0 and 1). */
  lim = (mode & 3) < 2 && (mode & 4) ? lim_default : lim_small;
  switch (mode & 3) {
  case 0: decode_payload(CS_FRAME_TRACES, data, size); break;
  case 1: decode_payload(CS_FRAME_METRICS, data, size); break;
  case 2: {
    cs_frame_hdr h;
    const uint8_t *payload;
    if (cs_frame_parse_datagram(data, size, CS_FRAME_MAX_UDP, &h, &payload) == CS_WIRE_OK)
      decode_payload(h.type, payload, h.len);
    break;
  }
  case 3: {
    /* A TCP stream in reads of (mode >> 2) + 1 bytes. */
    size_t step = (size_t)(mode >> 2) + 1;
    cs_framer_budget budget = {0, 1u << 20};
    cs_framer f;
    cs_framer_init(&f, 1u << 16, &budget);
    for (size_t off = 0; off < size; off += step) {
      size_t n = size - off < step ? size - off : step;
      if (cs_framer_feed(&f, data + off, n, on_frame, NULL) != 0) break;
    }
    cs_framer_release(&f);
    if (budget.used != 0) abort();
    break;
  }
  }
  return 0;
}
