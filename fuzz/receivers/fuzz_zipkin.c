/* libFuzzer target for the Zipkin v2 decoders (collector/zipkin.c), JSON
 * and protobuf, each fed every input: whatever the body, every span that
 * comes out must satisfy the validator and carry valid UTF-8. */
#include <stdint.h>

#include "check_spans.h"
#include "otlp_json.h"
#include "zipkin.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_limits lim;
  cs_limits_default(&lim);
  lim.max_attrs = 8;
  lim.max_events = 4;
  cs_arena a;
  cs_arena_init(&a, 16384, cs_otlp_json_arena_cap(size));
  cs_span *spans;
  size_t n;
  cs_reject_counts rej = {0};
  if (cs_zipkin_decode((const char *)data, size, &a, &lim, &spans, &n, &rej, NULL, 0) == CS_DECODE_OK)
    fz_check_spans(spans, n, &lim);
  cs_arena_release(&a);
  /* The same bytes as a protobuf ListOfSpans. */
  cs_arena_init(&a, 16384, cs_otlp_json_arena_cap(size));
  if (cs_zipkin_decode_proto(data, size, &a, &lim, &spans, &n, &rej, NULL, 0) == CS_DECODE_OK)
    fz_check_spans(spans, n, &lim);
  cs_arena_release(&a);
  return 0;
}
