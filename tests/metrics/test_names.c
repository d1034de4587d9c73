/* Unit tests of metrics/names.c: metric and label name sanitizing, OTLP
 * unit suffixes, UTF-8 repair and escaping, canonical label keys. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "internal.h"

static const char *metric(const char *in) {
  static char out[CS_METRICS_MAX_NAME + 1];
  __cs_metrics_sanitize_metric(in, strlen(in), out, sizeof out);
  return out;
}

static const char *label(const char *in) {
  static char out[CS_METRICS_MAX_NAME + 1];
  __cs_metrics_sanitize_label(in, strlen(in), out, sizeof out);
  return out;
}

static const char *fam(const char *name, const char *unit, int type, const char **u) {
  static char out[CS_METRICS_MAX_NAME + 1], us[CS_METRICS_MAX_NAME + 1];
  __cs_metrics_family_name(name, unit, type, out, sizeof out, us, sizeof us);
  if (u) *u = us;
  return out;
}

static void names_sanitize_metric_names(void) {
  CHECK_STR(metric("http.server.duration"), "http_server_duration");
  CHECK_STR(metric("a..b--c"), "a_b_c");
  CHECK_STR(metric("2xx.count"), "_2xx_count");
  CHECK_STR(metric("ns:metric"), "ns_metric");
  CHECK_STR(metric("caf\xc3\xa9"), "caf_");
  CHECK_STR(metric("ok_name_1"), "ok_name_1");
  CHECK_STR(metric("..."), "");
  char big[600];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = 0;
  CHECK_INT(strlen(metric(big)), ==, CS_METRICS_MAX_NAME);
}

static void names_sanitize_label_names(void) {
  CHECK_STR(label("http.method"), "http_method");
  CHECK_STR(label("1st"), "key_1st");
  CHECK_STR(label("__name__"), "key__name__");
  CHECK_STR(label("_private"), "_private");
  CHECK_STR(label("a-b c"), "a_b_c");
}

static void names_unit_suffixes_follow_otel_prometheus_rules(void) {
  const char *u;
  CHECK_STR(fam("http.server.duration", "s", MT_HISTOGRAM, &u), "http_server_duration_seconds");
  CHECK_STR(u, "seconds");
  CHECK_STR(fam("rpc.latency", "ms", MT_HISTOGRAM, &u), "rpc_latency_milliseconds");
  CHECK_STR(fam("request_size_bytes", "By", MT_HISTOGRAM, &u), "request_size_bytes");
  CHECK_STR(u, "bytes");
  CHECK_STR(fam("requests", "{request}", MT_COUNTER, &u), "requests");
  CHECK_STR(u, "");
  CHECK_STR(fam("requests_total", "1", MT_COUNTER, &u), "requests");
  CHECK_STR(fam("cpu.utilization", "1", MT_GAUGE, &u), "cpu_utilization_ratio");
  CHECK_STR(fam("throughput", "By/s", MT_GAUGE, &u), "throughput_bytes_per_second");
  CHECK_STR(u, "bytes_per_second");
  CHECK_STR(fam("events", "{event}/min", MT_GAUGE, &u), "events_per_min");
  CHECK_STR(fam("io", "MiBy", MT_COUNTER, &u), "io_mebibytes");
  CHECK_STR(fam("temp", "Cel", MT_GAUGE, &u), "temp_celsius");
  CHECK_STR(fam("weird", "furlongs", MT_GAUGE, &u), "weird_furlongs");
  CHECK_STR(fam("plain", "", MT_GAUGE, &u), "plain");
}

static const char *esc(const char *in, size_t n) {
  static char out[8192];
  mbuf b;
  __cs_metrics_buf_init(&b, sizeof out - 1);
  __cs_metrics_buf_escape_value(&b, in, n);
  memcpy(out, b.s ? b.s : "", b.n);
  out[b.n] = 0;
  __cs_metrics_buf_release(&b);
  return out;
}

static void names_label_values_escaped_and_utf8_repaired(void) {
  CHECK_STR(esc("a\\b\"c\nd", 8), "a\\\\b\\\"c\\nd");
  CHECK_STR(esc("caf\xc3\xa9", 5), "caf\xc3\xa9");
  /* A lone continuation byte, an overlong '/', a surrogate, a truncated
   * sequence: each becomes U+FFFD. */
  CHECK_STR(esc("x\x80y", 3), "x\xef\xbf\xbdy");
  CHECK_STR(esc("\xc0\xaf", 2), "\xef\xbf\xbd\xef\xbf\xbd");
  CHECK_STR(esc("\xed\xa0\x80", 3), "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
  CHECK_STR(esc("ab\xe2\x82", 4), "ab\xef\xbf\xbd\xef\xbf\xbd");
  /* Values are capped on a character boundary. */
  char big[3000];
  for (size_t i = 0; i + 1 < sizeof big; i += 2) big[i] = (char)0xc3, big[i + 1] = (char)0xa9;
  CHECK_INT(strlen(esc(big, sizeof big)), ==, CS_METRICS_MAX_VALUE);
  CHECK_INT((unsigned char)esc(big, sizeof big)[CS_METRICS_MAX_VALUE - 2], ==, 0xc3);
}

static void names_help_escaping_differs_by_format(void) {
  mbuf b;
  __cs_metrics_buf_init(&b, 100);
  __cs_metrics_buf_escape_help(&b, "a\"b\\c\nd", 7, 0);
  CHECK_STR(b.s, "a\"b\\\\c\\nd");
  __cs_metrics_buf_release(&b);
  __cs_metrics_buf_init(&b, 100);
  __cs_metrics_buf_escape_help(&b, "a\"b\\c\nd", 7, 1);
  CHECK_STR(b.s, "a\\\"b\\\\c\\nd");
  __cs_metrics_buf_release(&b);
}

static void names_key_is_sorted_and_drops_empty_values(void) {
  mlabel l[4];
  const char *names[] = {"zone", "a", "m", "a"};
  const char *vals[] = {"z1", "x", "", "y"};
  for (int i = 0; i < 4; i++) {
    snprintf(l[i].name, sizeof l[i].name, "%s", names[i]);
    l[i].value = vals[i];
    l[i].value_len = strlen(vals[i]);
  }
  mbuf b;
  __cs_metrics_buf_init(&b, 1000);
  __cs_metrics_build_key(&b, l, 4);
  /* Duplicate names after sanitizing join with ';' in input order. */
  CHECK_STR(b.s, "a=\"x;y\",zone=\"z1\"");
  __cs_metrics_buf_release(&b);
}

static void names_doubles_round_trip(void) {
  double vals[] = {0.1, 1e-9, 123456789.125, 1.0 / 3, 2.5e300, -0.0005};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    mbuf b;
    __cs_metrics_buf_init(&b, 100);
    __cs_metrics_buf_double(&b, vals[i]);
    CHECK(strtod(b.s, NULL) == vals[i]);
    __cs_metrics_buf_release(&b);
  }
  mbuf b;
  __cs_metrics_buf_init(&b, 100);
  __cs_metrics_buf_double(&b, 42);
  __cs_metrics_buf_char(&b, ' ');
  __cs_metrics_buf_double(&b, INFINITY);
  __cs_metrics_buf_char(&b, ' ');
  __cs_metrics_buf_double(&b, NAN);
  CHECK_STR(b.s, "42 +Inf NaN");
  __cs_metrics_buf_release(&b);
}

static void names_buffer_cap_is_enforced(void) {
  mbuf b;
  __cs_metrics_buf_init(&b, 10);
  __cs_metrics_buf_str(&b, "0123456789");
  CHECK_EQ(b.err, 0);
  __cs_metrics_buf_char(&b, 'x');
  CHECK_EQ(b.err, CS_BUF_ETOOBIG);
  CHECK_EQ(b.n, 10);
  __cs_metrics_buf_release(&b);
}

int main(void) {
  RUN(names_sanitize_metric_names);
  RUN(names_sanitize_label_names);
  RUN(names_unit_suffixes_follow_otel_prometheus_rules);
  RUN(names_label_values_escaped_and_utf8_repaired);
  RUN(names_help_escaping_differs_by_format);
  RUN(names_key_is_sorted_and_drops_empty_values);
  RUN(names_doubles_round_trip);
  RUN(names_buffer_cap_is_enforced);
  return CHECK_DONE();
}
