/* The bounded JSON parser (common/json_parse.c): exact 64-bit integers,
 * escapes, depth and memory caps, and malformed input. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "json_parse.h"

static cs_jp_val *parse(cs_arena *a, const char *s, int *rc) {
  cs_jp_val *v = NULL;
  *rc = cs_jp_parse(s, strlen(s), a, 32, &v, NULL, 0);
  return v;
}

static void json_keeps_64bit_integers_exact(void) {
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  int rc;
  cs_jp_val *v = parse(&a, "{\"a\":\"18446744073709551615\",\"b\":9007199254740993,\"c\":-9223372036854775808}", &rc);
  CHECK_EQ(rc, CS_JP_OK);
  uint64_t u = 0;
  int64_t i = 0;
  CHECK_EQ(cs_jp_u64(cs_jp_get(v, "a"), &u), 0);
  CHECK(u == UINT64_MAX);
  CHECK_EQ(cs_jp_i64(cs_jp_get(v, "b"), &i), 0);
  CHECK(i == 9007199254740993ll); /* 2^53 + 1: a double would round it */
  CHECK_EQ(cs_jp_i64(cs_jp_get(v, "c"), &i), 0);
  CHECK(i == INT64_MIN);
  CHECK_EQ(cs_jp_u64(cs_jp_get(v, "c"), &u), -1); /* negative as unsigned */
  v = parse(&a, "[18446744073709551616, 1.5, \"12x\", 1e3]", &rc);
  CHECK_EQ(rc, CS_JP_OK);
  CHECK_EQ(cs_jp_u64(v->child, &u), -1);             /* overflow */
  CHECK_EQ(cs_jp_i64(v->child->next, &i), -1);       /* fraction */
  CHECK_EQ(cs_jp_i64(v->child->next->next, &i), -1); /* junk */
  double d = 0;
  CHECK_EQ(cs_jp_double(v->child->next->next->next, &d), 0);
  CHECK(d == 1000.0);
  cs_arena_release(&a);
}

static void json_unescapes_strings(void) {
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  int rc;
  cs_jp_val *v = parse(&a, "[\"a\\\"b\\\\c\\/\\n\", \"\\u00fc\\ud83d\\ude00\", \"\\ud800x\"]", &rc);
  CHECK_EQ(rc, CS_JP_OK);
  CHECK_STR(v->child->s, "a\"b\\c/\n");
  CHECK_STR(v->child->next->s, "\xc3\xbc\xf0\x9f\x98\x80");
  CHECK_STR(v->child->next->next->s, "\xef\xbf\xbdx"); /* lone surrogate */
  v = parse(&a, "{\"k\\u0041\":null,\"t\":true,\"f\":false}", &rc);
  CHECK_EQ(rc, CS_JP_OK);
  CHECK(cs_jp_get(v, "kA") && cs_jp_get(v, "kA")->type == CS_JP_NULL);
  CHECK(cs_jp_get(v, "t")->b == 1 && cs_jp_get(v, "f")->type == CS_JP_BOOL);
  CHECK(cs_jp_double(&(cs_jp_val){.type = CS_JP_STR, .s = "NaN", .n = 3}, &(double){0}) == 0);
  cs_arena_release(&a);
}

static void json_rejects_malformed(void) {
  static const char *bad[] = {"", "{", "[1,]", "{\"a\"}", "{\"a\":1,}", "[01]", "[1.]", "[-]",
                              "\"abc", "\"a\x01\"", "[tru]", "{} x", "[\"\\x\"]", "[\"\\u12\"]",
                              "{1:2}", "[1 2]", "nul"};
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc;
    parse(&a, bad[i], &rc);
    if (rc != CS_JP_ESYNTAX) fprintf(stderr, "accepted: %s\n", bad[i]);
    CHECK_EQ(rc, CS_JP_ESYNTAX);
  }
  char err[128];
  cs_jp_val *v;
  CHECK_EQ(cs_jp_parse("[1,x]", 5, &a, 8, &v, err, sizeof err), CS_JP_ESYNTAX);
  CHECK(strstr(err, "offset 3") != NULL);
  cs_arena_release(&a);
}

static void json_caps_depth_and_memory(void) {
  char deep[300];
  memset(deep, '[', 200);
  deep[200] = '\0';
  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  int rc;
  parse(&a, deep, &rc);
  CHECK_EQ(rc, CS_JP_EDEPTH);
  cs_arena_release(&a);
  /* 100,000 tiny values need ~6 MB of nodes: a 1 MiB arena refuses. */
  size_t n = 200001;
  char *big = malloc(n + 2);
  big[0] = '[';
  for (size_t i = 1; i < n; i += 2) big[i] = '0', big[i + 1] = ',';
  big[n - 1] = ']';
  cs_arena_init(&a, 4096, 1 << 20);
  cs_jp_val *v;
  CHECK_EQ(cs_jp_parse(big, n, &a, 32, &v, NULL, 0), CS_JP_ENOMEM);
  CHECK(a.reserved <= (1u << 20));
  cs_arena_release(&a);
  free(big);
}

int main(void) {
  RUN(json_keeps_64bit_integers_exact);
  RUN(json_unescapes_strings);
  RUN(json_rejects_malformed);
  RUN(json_caps_depth_and_memory);
  return cs_check_failures ? 1 : 0;
}
