/* Configuration: defaults, the OpenTelemetry-style environment variables,
 * and the small parsers behind them (endpoint URLs, sampler names,
 * propagator lists, OTEL_RESOURCE_ATTRIBUTES). */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int __cst_parse_sampler(const char *s, cst_sampler_kind *out) {
  static const struct {
    const char *name;
    cst_sampler_kind k;
  } names[] = {
      {"always_on", CST_SAMPLER_ALWAYS_ON},
      {"always_off", CST_SAMPLER_ALWAYS_OFF},
      {"traceidratio", CST_SAMPLER_RATIO},
      {"parentbased_always_on", CST_SAMPLER_PARENT_ALWAYS_ON},
      {"parentbased_always_off", CST_SAMPLER_PARENT_ALWAYS_OFF},
      {"parentbased_traceidratio", CST_SAMPLER_PARENT_RATIO},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcasecmp(s, names[i].name) == 0) {
      *out = names[i].k;
      return 0;
    }
  return -1;
}

int __cst_parse_propagators(const char *s, unsigned *out) {
  unsigned f = 0;
  while (*s) {
    size_t n = strcspn(s, ",");
    const char *w = s;
    while (n && (*w == ' ' || *w == '\t'))
      w++, n--;
    while (n && (w[n - 1] == ' ' || w[n - 1] == '\t'))
      n--;
#define CST_IS_(lit) (n == sizeof(lit) - 1 && strncasecmp(w, lit, n) == 0)
    if (CST_IS_("tracecontext"))
      f |= CST_PROP_TRACECONTEXT;
    else if (CST_IS_("baggage"))
      f |= CST_PROP_BAGGAGE;
    else if (CST_IS_("b3"))
      f |= CST_PROP_B3;
    else if (CST_IS_("b3multi"))
      f |= CST_PROP_B3_MULTI;
    else if (CST_IS_("none") || n == 0)
      ;
    else
      return -1;
#undef CST_IS_
    s += strcspn(s, ",");
    if (*s == ',')
      s++;
  }
  *out = f;
  return 0;
}

static int parse_u32(const char *s, uint32_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < 0 || v > UINT32_MAX)
    return -1;
  *out = (uint32_t)v;
  return 0;
}

int __cst_parse_endpoint(const char *s, __cst_resolved *out) {
  memset(out, 0, sizeof *out);
  if (strncmp(s, "udp://", 6) == 0)
    out->udp = 1;
  else if (strncmp(s, "tcp://", 6) != 0)
    return CST_EENDPOINT;
  s += 6;
  char host[256];
  const char *colon;
  size_t hn;
  if (*s == '[') {
    const char *rb = strchr(s, ']');
    if (!rb || rb[1] != ':')
      return CST_EENDPOINT;
    hn = (size_t)(rb - s - 1);
    s++;
    colon = rb + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon)
      return CST_EENDPOINT;
    hn = (size_t)(colon - s);
  }
  if (hn == 0 || hn >= sizeof host)
    return CST_EENDPOINT;
  memcpy(host, s, hn);
  host[hn] = 0;
  uint32_t port;
  if (parse_u32(colon + 1, &port) || port == 0 || port > 65535)
    return CST_EENDPOINT;
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = out->udp ? SOCK_DGRAM : SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || !res)
    return CST_EENDPOINT;
  if (res->ai_addrlen > sizeof out->addr) {
    freeaddrinfo(res);
    return CST_EENDPOINT;
  }
  memcpy(&out->addr, res->ai_addr, res->ai_addrlen);
  out->addrlen = res->ai_addrlen;
  out->family = res->ai_family;
  freeaddrinfo(res);
  return CST_OK;
}

/* Two passes: validate everything first, so a malformed list applies
 * nothing (the OpenTelemetry rule for OTEL_RESOURCE_ATTRIBUTES). */
int __cst_parse_kv_list(const char *s,
                        void (*cb)(void *, const char *, size_t, const char *, size_t), void *ud) {
  char val[1024];
  for (int pass = 0; pass < 2; pass++) {
    const char *p = s;
    while (*p) {
      size_t n = strcspn(p, ",");
      const char *eq = memchr(p, '=', n);
      if (!eq) {
        if (n == 0 || strspn(p, " \t") == n)
          goto next; /* empty member */
        return -1;
      }
      const char *k = p;
      size_t kn = (size_t)(eq - p);
      while (kn && (*k == ' ' || *k == '\t'))
        k++, kn--;
      while (kn && (k[kn - 1] == ' ' || k[kn - 1] == '\t'))
        kn--;
      if (kn == 0)
        return -1;
      const char *v = eq + 1;
      size_t vn = n - (size_t)(v - p), o = 0;
      while (vn && (*v == ' ' || *v == '\t'))
        v++, vn--;
      while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
        vn--;
      for (size_t i = 0; i < vn; i++) {
        if (o >= sizeof val)
          return -1;
        if (v[i] == '%') {
          if (i + 2 >= vn || cs_hexval((unsigned char)v[i + 1]) < 0 ||
              cs_hexval((unsigned char)v[i + 2]) < 0)
            return -1;
          val[o++] =
              (char)(cs_hexval((unsigned char)v[i + 1]) << 4 | cs_hexval((unsigned char)v[i + 2]));
          i += 2;
        } else {
          val[o++] = v[i];
        }
      }
      if (pass == 1)
        cb(ud, k, kn, val, o);
    next:
      p += n;
      if (*p == ',')
        p++;
    }
  }
  return 0;
}

static void noop_kv(void *ud, const char *k, size_t kn, const char *v, size_t vn) {}

void cst_config_defaults(cst_config *cfg) {
  if (!cfg)
    return;
  memset(cfg, 0, sizeof *cfg);
  cfg->log_level = CST_LOG_WARN;
  cfg->sampler_ratio = 1.0;
}

int cst_config_init(cst_config *cfg) {
  if (!cfg)
    return CST_EINVAL;
  cst_config_defaults(cfg);
  int rc = CST_OK;
  const char *v;
  if ((v = getenv("OTEL_SERVICE_NAME")) && *v)
    cfg->service_name = v;
  if ((v = getenv("OTEL_RESOURCE_ATTRIBUTES")) && *v) {
    if (__cst_parse_kv_list(v, noop_kv, NULL) == 0)
      cfg->resource_attributes = v;
    else
      rc = CST_EENV;
  }
  if ((v = getenv("CALLSCOPE_ENDPOINT")) && *v) {
    __cst_resolved r;
    if (__cst_parse_endpoint(v, &r) == CST_OK)
      cfg->endpoint = v;
    else
      rc = CST_EENV;
  }
  if ((v = getenv("OTEL_TRACES_SAMPLER")) && *v) {
    if (__cst_parse_sampler(v, &cfg->sampler))
      rc = CST_EENV;
  }
  if ((v = getenv("OTEL_TRACES_SAMPLER_ARG")) && *v) {
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0 && d <= 1))
      rc = CST_EENV;
    else
      cfg->sampler_ratio = d;
  }
  if ((v = getenv("OTEL_PROPAGATORS")) && *v) {
    unsigned f;
    if (__cst_parse_propagators(v, &f))
      rc = CST_EENV;
    else
      cfg->propagators = f ? f : CST_PROP_NONE;
  }
  if ((v = getenv("OTEL_METRIC_EXPORT_INTERVAL")) && *v) {
    if (parse_u32(v, &cfg->metrics_interval_ms) || cfg->metrics_interval_ms == 0) {
      cfg->metrics_interval_ms = 0;
      rc = CST_EENV;
    }
  }
  return rc;
}
