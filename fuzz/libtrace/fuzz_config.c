/* Fuzz target for libtrace's environment parsing (cst_config_init in
 * libtrace/src/config.c). The input is split at NUL bytes into the values
 * of OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, CALLSCOPE_ENDPOINT,
 * OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG, OTEL_PROPAGATORS and
 * OTEL_METRIC_EXPORT_INTERVAL, set in the real environment. Host names are
 * never looked up: this target is built with getaddrinfo renamed to a
 * wrapper that adds AI_NUMERICHOST, so no input waits on DNS. Checks beyond
 * "no crash": the result is OK or CST_EENV; an accepted value is in cfg;
 * accepted resource attributes have trimmed, non-empty keys and values
 * within the 1 KiB decode buffer; the ratio is within [0, 1]; only known
 * propagator bits are set. */
#include <netdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#undef getaddrinfo
int getaddrinfo(const char *restrict node, const char *restrict service,
                const struct addrinfo *restrict hints, struct addrinfo **restrict res);

int cs_fuzz_getaddrinfo(const char *restrict node, const char *restrict service,
                        const struct addrinfo *restrict hints, struct addrinfo **restrict res);
int cs_fuzz_getaddrinfo(const char *restrict node, const char *restrict service,
                        const struct addrinfo *restrict hints, struct addrinfo **restrict res) {
  struct addrinfo h = *hints;
  h.ai_flags |= AI_NUMERICHOST;
  return getaddrinfo(node, service, &h, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"OTEL_SERVICE_NAME",          "OTEL_RESOURCE_ATTRIBUTES",
                                    "CALLSCOPE_ENDPOINT",         "OTEL_TRACES_SAMPLER",
                                    "OTEL_TRACES_SAMPLER_ARG",    "OTEL_PROPAGATORS",
                                    "OTEL_METRIC_EXPORT_INTERVAL"};
#define NV (sizeof names / sizeof names[0])
#define VMAX 4096

/* putenv'ed once; the values are rewritten in place, so the environment
 * does not grow with every input (setenv keeps every old value). */
static char env[NV][32 + VMAX];
static char *value[NV];

static void kv_check(void *ud, const char *k, size_t kn, const char *v, size_t vn) {
  size_t *members = ud;
  if (kn == 0 || vn > 1024)
    abort();
  if (k[0] == ' ' || k[0] == '\t' || k[kn - 1] == ' ' || k[kn - 1] == '\t')
    abort();
  if (memchr(k, '=', kn) || memchr(k, ',', kn))
    abort();
  ++*members;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int ready;
  if (!ready) {
    for (size_t i = 0; i < NV; i++) {
      size_t n = strlen(names[i]);
      memcpy(env[i], names[i], n);
      env[i][n] = '=';
      value[i] = env[i] + n + 1;
      if (putenv(env[i]) != 0)
        abort();
    }
    ready = 1;
  }
  size_t off = 0;
  for (size_t i = 0; i < NV; i++) {
    const uint8_t *end = off < size ? memchr(data + off, 0, size - off) : NULL;
    size_t n = off < size ? (end ? (size_t)(end - (data + off)) : size - off) : 0;
    if (n >= VMAX)
      n = VMAX - 1;
    if (n)
      memcpy(value[i], data + off, n);
    value[i][n] = '\0';
    off += end ? (size_t)(end - (data + off)) + 1 : n;
  }

  cst_config cfg;
  int rc = cst_config_init(&cfg);
  if (rc != CST_OK && rc != CST_EENV)
    abort();
  if (value[0][0] && cfg.service_name != value[0])
    abort();
  if (cfg.resource_attributes) {
    if (cfg.resource_attributes != value[1])
      abort();
    size_t members = 0, commas = 0;
    if (__cst_parse_kv_list(cfg.resource_attributes, kv_check, &members) != 0)
      abort();
    for (const char *p = value[1]; *p; p++)
      commas += *p == ',';
    if (members > commas + 1)
      abort();
  } else if (value[1][0] && rc == CST_OK) {
    abort();
  }
  if (cfg.endpoint && cfg.endpoint != value[2])
    abort();
  if (value[2][0] && !cfg.endpoint && rc == CST_OK)
    abort();
  if (!(cfg.sampler_ratio >= 0 && cfg.sampler_ratio <= 1))
    abort();
  if (cfg.propagators & ~(unsigned)(CST_PROP_TRACECONTEXT | CST_PROP_BAGGAGE | CST_PROP_B3 |
                                    CST_PROP_B3_MULTI | CST_PROP_NONE))
    abort();
  if (value[6][0] && rc == CST_OK && cfg.metrics_interval_ms == 0)
    abort();
  return 0;
}
