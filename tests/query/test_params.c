/* Query-parameter parsing: Jaeger/Go durations, bounded integers, hex
 * trace and span IDs, tag conditions, dependency edges and the cursor. */
#include <string.h>

#include "check.h"
#include "duration.h"
#include "params.h"

static int dur(const char *s, uint64_t *v) { return cs_qp_duration(s, strlen(s), v); }

static void params_parses_go_durations(void) {
  uint64_t v = 0;
  CHECK_EQ(dur("1.2s", &v), 0); CHECK_EQ(v, 1200000000ull);
  CHECK_EQ(dur("100ms", &v), 0); CHECK_EQ(v, 100000000ull);
  CHECK_EQ(dur("5us", &v), 0); CHECK_EQ(v, 5000ull);
  CHECK_EQ(dur("5\xc2\xb5s", &v), 0); CHECK_EQ(v, 5000ull);
  CHECK_EQ(dur("250ns", &v), 0); CHECK_EQ(v, 250ull);
  CHECK_EQ(dur("1h30m", &v), 0); CHECK_EQ(v, 5400000000000ull);
  CHECK_EQ(dur("1m0.5s", &v), 0); CHECK_EQ(v, 60500000000ull);
  CHECK_EQ(dur(".5s", &v), 0); CHECK_EQ(v, 500000000ull);
  CHECK_EQ(dur("0", &v), 0); CHECK_EQ(v, 0);
  CHECK_EQ(dur("1.000000001s", &v), 0); CHECK_EQ(v, 1000000001ull);
}

static void params_parses_days_like_every_duration(void) {
  /* The unit the collector's --retention 7d takes works in queries too. */
  uint64_t v = 0;
  const uint64_t day = 86400ull * 1000000000ull;
  CHECK_EQ(dur("7d", &v), 0); CHECK(v == 7 * day);
  CHECK_EQ(dur("2d", &v), 0); CHECK(v == 2 * day);
  CHECK_EQ(dur("1d12h", &v), 0); CHECK(v == day + day / 2);
  CHECK_EQ(dur("1.5d", &v), 0); CHECK(v == day + day / 2);
  CHECK_EQ(dur("106751d", &v), 0);
  CHECK_EQ(dur("106752d", &v), -1); /* past INT64_MAX nanoseconds */
  CHECK_EQ(dur("d", &v), -1);
  CHECK_EQ(dur("7dd", &v), -1);
  CHECK_EQ(dur("7D", &v), -1);
  char b[32];
  CHECK(strcmp(cs_duration_format(7 * day, b, sizeof b), "7d") == 0);
  CHECK(strcmp(cs_duration_format(36 * 3600ull * 1000000000ull, b, sizeof b), "36h") == 0);
  CHECK(strcmp(cs_duration_format(90ull * 1000000000ull, b, sizeof b), "90s") == 0);
  CHECK(strcmp(cs_duration_format(250000000ull, b, sizeof b), "250ms") == 0);
  CHECK(strcmp(cs_duration_format(1001, b, sizeof b), "1001ns") == 0);
  CHECK(strcmp(cs_duration_format(0, b, sizeof b), "0") == 0);
}

static void params_rejects_bad_durations(void) {
  uint64_t v;
  const char *bad[] = {"", "1", "10", "-1s", "1x", "s", "1.s.", "ms", "1 s", " 1s", "1s ",
                       "1e3s", "+1s", "99999999999999999999h", "5000000h", "2562048h", "1.2.3s", "."};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (dur(bad[i], &v) == 0) {
      fprintf(stderr, "accepted bad duration \"%s\"\n", bad[i]);
      CHECK(0);
    }
}

static void params_parses_bounded_integers(void) {
  uint64_t v;
  CHECK_EQ(cs_qp_u64("42", 2, 100, &v), 0); CHECK_EQ(v, 42);
  CHECK_EQ(cs_qp_u64("18446744073709551615", 20, UINT64_MAX, &v), 0);
  CHECK(v == UINT64_MAX);
  CHECK_EQ(cs_qp_u64("18446744073709551616", 20, UINT64_MAX, &v), -1);
  CHECK_EQ(cs_qp_u64("101", 3, 100, &v), -1);
  CHECK_EQ(cs_qp_u64("-1", 2, 100, &v), -1);
  CHECK_EQ(cs_qp_u64("", 0, 100, &v), -1);
  CHECK_EQ(cs_qp_u64("1a", 2, 100, &v), -1);
}

static void params_parses_hex_ids(void) {
  uint8_t t[16], s[8];
  CHECK_EQ(cs_qp_trace_id("0123456789abcdef0123456789ABCDEF", 32, t), 0);
  CHECK_EQ(t[0], 0x01); CHECK_EQ(t[15], 0xef);
  /* Jaeger prints 64-bit IDs as 16 digits: they are the low half. */
  CHECK_EQ(cs_qp_trace_id("abc", 3, t), 0);
  CHECK_EQ(t[14], 0x0a); CHECK_EQ(t[15], 0xbc); CHECK_EQ(t[0], 0);
  CHECK_EQ(cs_qp_trace_id("0123456789abcdef0123456789abcdef0", 33, t), -1);
  CHECK_EQ(cs_qp_trace_id("xyz", 3, t), -1);
  CHECK_EQ(cs_qp_trace_id("0000", 4, t), -1);
  CHECK_EQ(cs_qp_trace_id("", 0, t), -1);
  CHECK_EQ(cs_qp_span_id("00f067aa0ba902b7", 16, s), 0);
  CHECK_EQ(s[7], 0xb7);
  CHECK_EQ(cs_qp_span_id("00f067aa0ba902b71", 17, s), -1);
}

static void params_splits_tags_at_first_colon(void) {
  cs_str k, v;
  CHECK_EQ(cs_qp_tag("http.url:http://x:80/", 21, &k, &v), 0);
  CHECK_STRN(k.p, k.n, "http.url");
  CHECK_STRN(v.p, v.n, "http://x:80/");
  CHECK_EQ(cs_qp_tag(":v", 2, &k, &v), -1);
  CHECK_EQ(cs_qp_tag("novalue", 7, &k, &v), -1);
  CHECK_EQ(cs_qp_tag("k:", 2, &k, &v), 0);
  CHECK_EQ(v.n, 0);
}

static void params_splits_edges_at_first_gt(void) {
  cs_str a, b;
  CHECK_EQ(cs_qp_edge("front>cart", 10, &a, &b), 0);
  CHECK(a.n == 5 && memcmp(a.p, "front", 5) == 0);
  CHECK(b.n == 4 && memcmp(b.p, "cart", 4) == 0);
  CHECK_EQ(cs_qp_edge("a>b>c", 5, &a, &b), 0);
  CHECK(a.n == 1 && b.n == 3);
  CHECK_EQ(cs_qp_edge("cart", 4, &a, &b), -1);
  CHECK_EQ(cs_qp_edge(">cart", 5, &a, &b), -1);
  CHECK_EQ(cs_qp_edge("cart>", 5, &a, &b), -1);
  CHECK_EQ(cs_qp_edge("cart>cart", 9, &a, &b), -1);
  CHECK_EQ(cs_qp_edge("a>bc", 3, &a, &b), 0); /* the length is honoured */
  CHECK(b.n == 1);
}

static void params_cursor_round_trips(void) {
  cs_cursor c = {0x1234567890abcdefull, {0}}, d;
  for (int i = 0; i < 16; i++) c.trace_id[i] = (uint8_t)(i * 17);
  char buf[CS_CURSOR_LEN + 1];
  cs_cursor_encode(&c, buf);
  CHECK_EQ(strlen(buf), CS_CURSOR_LEN);
  CHECK_EQ(cs_cursor_decode(buf, strlen(buf), &d), 0);
  CHECK(d.start_ns == c.start_ns);
  CHECK(memcmp(d.trace_id, c.trace_id, 16) == 0);
  buf[5] = 'g';
  CHECK_EQ(cs_cursor_decode(buf, strlen(buf), &d), -1);
  CHECK_EQ(cs_cursor_decode("1abc", 4, &d), -1);
}

static int target(const char *s, size_t *np, const char **why) {
  return cs_qp_check_target(s, strlen(s), np, why);
}

static void params_target_refuses_nul_and_bad_escapes(void) {
  size_t np = 99;
  const char *why = NULL;
  const char *bad[] = {"/index.html%00.png", "/a%zz", "/a%2",          "/a%",
                       "/a?x=%00",           "/a?x=%0g", "/a\x01b", "/a?x=1%"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why = NULL;
    CHECK_EQ(target(bad[i], &np, &why), -1);
    CHECK(why != NULL);
  }
  CHECK_EQ(target("/index.html%00", &np, &why), -1);
  CHECK_STR(why, "NUL (%00) in the URL");
  CHECK_EQ(target("/index%2Ehtml%2f%41", &np, &why), 0);
  CHECK_EQ(np, 0);
}

static void params_target_counts_parameters(void) {
  size_t np = 99;
  const char *why = NULL;
  CHECK_EQ(target("/api/v1/search", &np, &why), 0);
  CHECK_EQ(np, 0);
  CHECK_EQ(target("/api/v1/search?", &np, &why), 0);
  CHECK_EQ(np, 0);
  CHECK_EQ(target("/api/v1/search?a=1", &np, &why), 0);
  CHECK_EQ(np, 1);
  CHECK_EQ(target("/s?a=1&b&c=%26&d=?&", &np, &why), 0);
  CHECK_EQ(np, 5);
  CHECK_EQ(target("/a&b?x", &np, &why), 0); /* '&' in the path is not a separator */
  CHECK_EQ(np, 1);
}

int main(void) {
  RUN(params_parses_go_durations);
  RUN(params_parses_days_like_every_duration);
  RUN(params_rejects_bad_durations);
  RUN(params_parses_bounded_integers);
  RUN(params_parses_hex_ids);
  RUN(params_splits_tags_at_first_colon);
  RUN(params_splits_edges_at_first_gt);
  RUN(params_cursor_round_trips);
  RUN(params_target_refuses_nul_and_bad_escapes);
  RUN(params_target_counts_parameters);
  return CHECK_DONE();
}
