/* Validation of decoded spans against configured limits. Every receiver
 * (native frames, OTLP/HTTP, Zipkin) runs its spans through cs_span_check so
 * that one set of rules decides what reaches the store; each rejected span is
 * counted under exactly one reason. */
#ifndef CS_VALIDATE_H
#define CS_VALIDATE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "span.h"

/* Reject reasons: name used in logs and metrics, value is an index. */
#define CS_REJECT_MAP(X)                                                   \
  X(TRACE_ID_LEN, 0, "trace_id_len")       /* trace ID not 16 bytes */     \
  X(SPAN_ID_LEN, 1, "span_id_len")         /* span ID not 8 bytes */       \
  X(PARENT_ID_LEN, 2, "parent_id_len")     /* parent neither 0 nor 8 */    \
  X(ZERO_TRACE_ID, 3, "zero_trace_id")                                     \
  X(ZERO_SPAN_ID, 4, "zero_span_id")                                       \
  X(NO_START, 5, "no_start_time")          /* start_time 0 */              \
  X(END_BEFORE_START, 6, "end_before_start")                               \
  X(NAME_TOO_LONG, 7, "name_too_long")     /* span or event name */        \
  X(KEY_TOO_LONG, 8, "attr_key_too_long")                                  \
  X(VALUE_TOO_LONG, 9, "attr_value_too_long") /* also status, tracestate */ \
  X(TOO_MANY_ATTRS, 10, "too_many_attrs")  /* span, event, link, resource */ \
  X(TOO_MANY_EVENTS, 11, "too_many_events")                                \
  X(TOO_MANY_LINKS, 12, "too_many_links")                                  \
  X(LINK_ID, 13, "bad_link_id")            /* link IDs wrong length/zero */ \
  X(TOO_DEEP, 14, "value_too_deep")        /* nested arrays/kvlists */   \
  X(EXPIRED, 15, "expired")  /* ends before now - retention (collector.c) */ \
  X(FUTURE, 16, "future")    /* ends over max_future_s after now (same)   */

enum cs_reject {
#define CS_REJECT_ENUM(name, val, str) CS_REJ_##name = val,
  CS_REJECT_MAP(CS_REJECT_ENUM)
#undef CS_REJECT_ENUM
      CS_REJ__COUNT
};

/* Name of a reject reason ("end_before_start"); "unknown" out of range. */
const char *cs_reject_name(int reason);

typedef struct cs_reject_counts {
  uint32_t n[CS_REJ__COUNT]; /* rejected spans per reason */
  uint32_t utf8_repaired;    /* strings whose invalid UTF-8 was replaced */
} cs_reject_counts;

static inline uint32_t cs_reject_total(const cs_reject_counts *r) {
  uint32_t t = 0;
  for (int i = 0; i < CS_REJ__COUNT; i++) t += r->n[i];
  return t;
}

typedef struct cs_limits {
  uint32_t max_name_len;  /* span and event names, bytes */
  uint32_t max_key_len;   /* attribute keys */
  uint32_t max_value_len; /* string/bytes values, JSON of arrays/kvlists,
                             status message, trace state */
  uint32_t max_attrs;     /* per span, event, link and resource */
  uint32_t max_events;    /* per span */
  uint32_t max_links;     /* per span */
  uint32_t max_depth;     /* nesting of arrays/kvlists inside a value */
} cs_limits;

/* Fills the defaults documented in docs/wire.md ("Limits"). */
void cs_limits_default(cs_limits *lim);

/* Checks a converted span (IDs non-zero, times, sizes, counts). Returns 0
 * when valid, else the CS_REJ_* reason (ID lengths are checked by the
 * protocol decoder, which sees them before they become fixed arrays).
 * Thread-safety: pure function. */
int cs_span_check(const cs_span *s, const cs_limits *lim);

/* Same rules for a resource's attributes (shared by many spans). */
int cs_resource_check(const cs_resource *r, const cs_limits *lim);

/* Makes *s valid UTF-8: returns 0 when it already was; otherwise replaces
 * every invalid sequence with U+FFFD in a copy allocated from a, points *s
 * at the copy and returns 1 (-1 when the arena is exhausted).
 * Thread-safety: uses only a. */
int cs_utf8_repair(cs_arena *a, cs_str *s);

/* Length of p[0..n) up to its first NUL byte (n when there is none), and in
 * *valid whether that prefix is valid UTF-8: one pass over wire strings,
 * eight bytes at a time while they are ASCII. Thread-safety: pure. */
size_t cs_utf8_prefix(const char *p, size_t n, int *valid);

/* True when p[0..n) is all ASCII without NUL: the common case that needs
 * neither cut nor repair, inline so that short strings cost no call.
 * A byte is 0 or >= 0x80 exactly when it sets its high bit in w or in
 * w - 0x01..01 (a borrow only ever starts at a zero byte). */
static inline int cs_ascii_nonul(const char *p, size_t n) {
  const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
  uint64_t w;
  size_t i = 0;
  if (n >= 8) {
    for (; i + 8 <= n; i += 8) {
      memcpy(&w, p + i, 8);
      if ((w | (w - ones)) & highs) return 0;
    }
    if (i == n) return 1;
    memcpy(&w, p + n - 8, 8); /* the tail, overlapping what was checked */
    return !((w | (w - ones)) & highs);
  }
  for (; i < n; i++)
    if ((unsigned char)p[i] - 1u >= 0x7fu) return 0;
  return 1;
}

/* True when p[0..n) is valid UTF-8 (no overlongs, no surrogates). */
int cs_utf8_valid(const char *p, size_t n);

#endif
