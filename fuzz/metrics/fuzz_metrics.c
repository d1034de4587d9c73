/* Fuzz target for the metrics registry: the input's first byte picks a
 * mode. 0: the rest is a protobuf ExportMetricsServiceRequest, unpacked as
 * the collector would, ingested into a registry that lives across inputs
 * (small series cap), then rendered in both formats and checked. 1: the
 * rest is an Accept header for format negotiation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"

static cs_metrics *reg;
static unsigned inputs;

/* Every line of the text is a comment or "name[{labels}] value". */
static void check_output(const char *p, size_t n, int om) {
  if (n == 0 || p[n - 1] != '\n') abort();
  if (strlen(p) != n) abort(); /* no NUL inside */
  if (om && (n < 6 || memcmp(p + n - 6, "# EOF\n", 6) != 0)) abort();
  for (size_t i = 0; i < n;) {
    const char *e = memchr(p + i, '\n', n - i);
    if (!e) abort();
    if (p[i] != '#' && !memchr(p + i, ' ', (size_t)(e - (p + i)))) abort();
    i = (size_t)(e - p) + 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  if (data[0] == 1) {
    char accept[512];
    size_t n = size - 1 < sizeof accept - 1 ? size - 1 : sizeof accept - 1;
    memcpy(accept, data + 1, n);
    accept[n] = 0;
    int om = -1;
    const char *ct = cs_metrics_negotiate(accept, &om);
    if ((om != 0 && om != 1) || !ct) abort();
    return 0;
  }
  if (data[0] != 0) return 0;
  if (!reg || ++inputs % 2000 == 0) {
    /* Start over now and then so memory stays bounded over long runs. */
    cs_metrics_free(reg);
    cs_metrics_opts o = {.max_series = 2000, .max_render_bytes = 8u << 20};
    reg = cs_metrics_new(&o);
    cs_log_min_level = CS_LOG_ERROR;
  }
  Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *req =
      opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
          NULL, size - 1, data + 1);
  if (!req) return 0;
  cs_metrics_ingest_otlp(reg, req);
  opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(req, NULL);
  for (int om = 0; om < 2; om++) {
    char *buf;
    size_t len;
    if (cs_metrics_render(reg, om, &buf, &len) == 0) {
      check_output(buf, len, om);
      free(buf);
    }
  }
  return 0;
}
