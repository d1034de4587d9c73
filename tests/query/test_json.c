/* JSON writer (escaping, nesting, limits) and the flat-object parser used
 * for the `tags` argument. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"

static char *render_str(const char *s, size_t n) {
  cs_json j;
  cs_json_init(&j, 0);
  cs_json_strn(&j, s, n);
  return cs_json_take(&j, NULL);
}

static void json_escapes_quotes_controls_and_bad_utf8(void) {
  char *o = render_str("a\"b\\c\nd\te\x01", 10);
  CHECK_STR(o, "\"a\\\"b\\\\c\\nd\\te\\u0001\"");
  free(o);
  /* Valid UTF-8 passes through; invalid bytes become U+FFFD escapes. */
  o = render_str("\xc3\xa9\xff\xe2\x82", 5);
  CHECK_STR(o, "\"\xc3\xa9\\ufffd\\ufffd\\ufffd\"");
  free(o);
  /* An embedded NUL is escaped, not a terminator. */
  o = render_str("a\0b", 3);
  CHECK_STR(o, "\"a\\u0000b\"");
  free(o);
  /* Overlong encoding of '/' and a UTF-16 surrogate are invalid. */
  o = render_str("\xc0\xaf\xed\xa0\x80", 5);
  CHECK(o && !strstr(o, "\xc0"));
  free(o);
}

static void json_nests_with_commas(void) {
  cs_json j;
  cs_json_init(&j, 0);
  cs_json_obj(&j);
  cs_json_key(&j, "a"), cs_json_int(&j, -3);
  cs_json_key(&j, "b"), cs_json_arr(&j);
  cs_json_uint(&j, 1), cs_json_bool(&j, 1), cs_json_null(&j), cs_json_double(&j, 0.5);
  cs_json_double(&j, 1.0 / 0.0);
  cs_json_int(&j, INT64_MIN), cs_json_int(&j, 0), cs_json_uint(&j, UINT64_MAX);
  cs_json_end(&j);
  cs_json_key(&j, "c"), cs_json_obj(&j), cs_json_end(&j);
  uint8_t id[2] = {0xab, 0x01};
  cs_json_key(&j, "d"), cs_json_hex(&j, id, 2);
  cs_json_key(&j, "e"), cs_json_arr(&j);
  cs_json_base64(&j, (const uint8_t *)"Man", 3), cs_json_base64(&j, (const uint8_t *)"Ma", 2);
  cs_json_base64(&j, (const uint8_t *)"M", 1), cs_json_base64(&j, (const uint8_t *)"", 0);
  cs_json_end(&j);
  cs_json_end(&j);
  char *o = cs_json_take(&j, NULL);
  CHECK_STR(o, "{\"a\":-3,\"b\":[1,true,null,0.5,null,-9223372036854775808,0,18446744073709551615],\"c\":{},\"d\":\"ab01\",\"e\":[\"TWFu\",\"TWE=\",\"TQ==\",\"\"]}");
  free(o);
}

static void json_fails_whole_at_limit(void) {
  cs_json j;
  cs_json_init(&j, 64);
  cs_json_arr(&j);
  for (int i = 0; i < 100; i++) cs_json_str(&j, "0123456789");
  cs_json_end(&j);
  CHECK(j.err);
  CHECK(cs_json_take(&j, NULL) == NULL);
  cs_json_release(&j);
  /* Nesting past the depth limit fails too. */
  cs_json_init(&j, 0);
  for (int i = 0; i < CS_JSON_MAX_DEPTH + 2; i++) cs_json_arr(&j);
  CHECK(j.err);
  cs_json_release(&j);
}

static void json_parses_flat_objects(void) {
  cs_arena a;
  cs_arena_init(&a, 0, 1 << 20);
  cs_str *k, *v;
  size_t n;
  char err[128];
  const char *in = " {\"http.status_code\": 500, \"error\":true, \"x\":\"a\\\"\\u00e9\\ud83d\\ude00\", \"n\":null} ";
  CHECK_EQ(cs_json_parse_flat(in, strlen(in), &a, &k, &v, &n, 8, err, sizeof err), 0);
  CHECK_EQ(n, 4);
  CHECK_STRN(k[0].p, k[0].n, "http.status_code");
  CHECK_STRN(v[0].p, v[0].n, "500");
  CHECK_STRN(v[1].p, v[1].n, "true");
  CHECK_STRN(v[2].p, v[2].n, "a\"\xc3\xa9\xf0\x9f\x98\x80");
  CHECK_EQ(v[3].n, 0);
  const char *bad[] = {"", "[]", "{", "{\"a\"}", "{\"a\":}", "{\"a\":{}}", "{\"a\":[1]}",
                       "{\"a\":1,}", "{\"a\":1} x", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\x\"}",
                       "{\"a\":\"\x01\"}", "{a:1}", "{\"a\":\"\\u12\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    if (cs_json_parse_flat(bad[i], strlen(bad[i]), &a, &k, &v, &n, 8, err, sizeof err) == 0) {
      fprintf(stderr, "accepted bad JSON %s\n", bad[i]);
      CHECK(0);
    }
  /* More pairs than allowed. */
  const char *many = "{\"a\":1,\"b\":2,\"c\":3}";
  CHECK_EQ(cs_json_parse_flat(many, strlen(many), &a, &k, &v, &n, 2, err, sizeof err), -1);
  cs_arena_release(&a);
}

int main(void) {
  RUN(json_escapes_quotes_controls_and_bad_utf8);
  RUN(json_nests_with_commas);
  RUN(json_fails_whole_at_limit);
  RUN(json_parses_flat_objects);
  return CHECK_DONE();
}
