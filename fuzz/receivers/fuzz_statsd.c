/* libFuzzer target for the StatsD parser and aggregator
 * (collector/statsd.c): a datagram goes through parsing and aggregation
 * into a small table, then a flush; the request it builds must pack as
 * protobuf and the line counts must add up. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "statsd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs_statsd_agg *g = cs_statsd_agg_new(64);
  if (!g) return 0;
  uint64_t ok = 0, bad = 0, dropped = 0;
  cs_statsd_agg_datagram(g, (const char *)data, size, 1000, &ok, &bad, &dropped);
  size_t lines = 0;
  for (size_t i = 0; i < size; i++) lines += data[i] == '\n';
  if (ok + bad + dropped > lines + 1) abort();
  cs_arena a;
  cs_arena_init(&a, 16384, 64u << 20);
  cs_otlp_metrics *m;
  cs_resource *res;
  size_t points;
  if (cs_statsd_agg_flush(g, &a, 2000, 1000000, &m, &res, &points) == 0 && m) {
    if (points == 0 || points > ok) abort();
    size_t len = protobuf_c_message_get_packed_size(&m->base);
    uint8_t *buf = malloc(len + 1);
    if (!buf || protobuf_c_message_pack(&m->base, buf) != len) abort();
    free(buf);
  }
  cs_arena_release(&a);
  cs_statsd_agg_free(g);
  return 0;
}
