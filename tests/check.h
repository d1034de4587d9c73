/* A minimal test harness: assertions print both values and are never
 * compiled out; a test binary returns non-zero if any check failed. */
#ifndef CS_CHECK_H
#define CS_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int cs_check_failures;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      cs_check_failures++;                                                   \
    }                                                                        \
  } while (0)

#define CHECK_INT(a, op, b)                                                  \
  do {                                                                       \
    long long va_ = (long long)(a), vb_ = (long long)(b);                    \
    if (!(va_ op vb_)) {                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s %s %s (%lld vs %lld)\n", __FILE__, \
              __LINE__, #a, #op, #b, va_, vb_);                              \
      cs_check_failures++;                                                   \
    }                                                                        \
  } while (0)

#define CHECK_EQ(a, b) CHECK_INT(a, ==, b)

#define CHECK_STR(a, b)                                                      \
  do {                                                                       \
    const char *sa_ = (a), *sb_ = (b);                                       \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s == %s (\"%s\" vs \"%s\")\n",  \
              __FILE__, __LINE__, #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)"); \
      cs_check_failures++;                                                   \
    }                                                                        \
  } while (0)

/* Compares a (pointer, length) string with a C string. */
#define CHECK_STRN(p, n, b)                                                  \
  do {                                                                       \
    const char *sb_ = (b);                                                   \
    size_t na_ = (size_t)(n);                                                \
    if (na_ != strlen(sb_) || memcmp((p), sb_, na_) != 0) {                  \
      fprintf(stderr, "%s:%d: CHECK failed: %s == \"%s\" (\"%.*s\")\n", __FILE__, \
              __LINE__, #p, sb_, (int)na_, (const char *)(p));               \
      cs_check_failures++;                                                   \
    }                                                                        \
  } while (0)

#define RUN(test)                                                            \
  do {                                                                       \
    int before_ = cs_check_failures;                                         \
    test();                                                                  \
    fprintf(stderr, "%s %s\n", cs_check_failures == before_ ? "ok  " : "FAIL", #test); \
  } while (0)

#define CHECK_DONE() (cs_check_failures ? 1 : 0)

#endif
