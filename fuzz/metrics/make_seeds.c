/* Writes the seed corpus for fuzz_metrics: OTLP metric requests of every
 * kind (built with the tests' helpers and packed with protobuf-c) and a few
 * Accept headers, each prefixed by the mode byte. Run once; the output is
 * committed (fuzz/metrics/corpus). */
#include <stdio.h>
#include <stdlib.h>

#include <string.h>
#include "otlp_build.h"

static const char *dir;

static void put(const char *name, uint8_t mode, const void *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputc(mode, f);
  fwrite(p, 1, n, f);
  fclose(f);
}

static void put_req(const char *name, ot_req *r) {
  size_t n = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__get_packed_size(r);
  uint8_t *buf = malloc(n + 1);
  opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__pack(r, buf);
  put(name, 0, buf, n);
  free(buf);
}

int main(int argc, char **argv) {
  if (argc != 2) return 2;
  dir = argv[1];
  ot b = {0};
  ot_req *r = ot_request(&b, "shop", "i-1", "host");
  ot_metric *c = ot_metric_add(&b, r, "http.requests", "{request}", "Requests");
  ot_make_sum(&b, c, 1, OT_CUMULATIVE);
  ot_point(&b, c, 3, 10, 2, ot_kv_str(&b, "method", "GET"), ot_kv_int(&b, "code", 200));
  put_req("sum_cumulative", r);
  ot_metric *g = ot_metric_add(&b, r, "queue.depth", "", "");
  ot_make_gauge(&b, g);
  ot_point(&b, g, -1.5, 10, 1, ot_kv_str(&b, "q\"\\\n", "v\xff"));
  put_req("sum_and_gauge", r);
  ot_metric *h = ot_metric_add(&b, r, "latency", "ms", "Latency");
  ot_make_histogram(&b, h, OT_DELTA);
  const double bounds[] = {1, 10, 100};
  const uint64_t counts[] = {1, 2, 3, 4};
  ot_hpoint(&b, h, bounds, 3, counts, 123, 20, 1, ot_kv_str(&b, "le", "x"));
  put_req("with_histogram", r);
  ot_metric *d = ot_metric_add(&b, r, "updown", "By/s", "");
  ot_make_sum(&b, d, 0, OT_DELTA);
  ot_point(&b, d, 7, 30, 0);
  put_req("all_kinds", r);
  ot_free(&b);
  const char *accepts[] = {
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
      "text/plain", "*/*;q=0.2, application/openmetrics-text;q=0.1"};
  for (int i = 0; i < 3; i++) {
    char name[32];
    snprintf(name, sizeof name, "accept_%d", i);
    put(name, 1, accepts[i], strlen(accepts[i]));
  }
  return 0;
}
