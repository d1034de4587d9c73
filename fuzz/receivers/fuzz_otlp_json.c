/* libFuzzer target for the OTLP/HTTP JSON decoder (collector/otlp_json.c
 * over common/json_parse.c): the first byte picks traces or metrics, the
 * rest is the body. Spans must satisfy the validator; metrics requests
 * must re-encode as protobuf. */
#include <stdint.h>

#include "check_spans.h"
#include "otlp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  cs_limits lim;
  cs_limits_default(&lim);
  lim.max_attrs = 16; /* small caps reach the reject paths sooner */
  lim.max_value_len = 256;
  const char *json = (const char *)data + 1;
  size_t n = size - 1;
  cs_arena a;
  cs_arena_init(&a, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
  if (data[0] & 1) {
    cs_otlp_metrics *m;
    cs_resource *res;
    size_t points;
    if (cs_decode_metrics_json(json, n, &a, &lim, &m, &res, &points, NULL, 0) == CS_DECODE_OK) {
      size_t len = protobuf_c_message_get_packed_size(&m->base);
      uint8_t *buf = malloc(len + 1);
      if (!buf || protobuf_c_message_pack(&m->base, buf) != len) abort();
      free(buf);
    }
  } else {
    cs_span *spans;
    size_t ns;
    cs_reject_counts rej = {0};
    char err[128];
    if (cs_decode_traces_json(json, n, &a, &lim, &spans, &ns, &rej, err, sizeof err) == CS_DECODE_OK)
      fz_check_spans(spans, ns, &lim);
  }
  cs_arena_release(&a);
  return 0;
}
