/* Span validation and UTF-8 repair (see validate.h). Rules are checked in a
 * fixed order so that a span breaking several rules is always counted under
 * the same reason. */
#include "validate.h"

#include <string.h>

const char *cs_reject_name(int reason) {
  switch (reason) {
#define CS_REJECT_STR(name, val, str) case CS_REJ_##name: return str;
    CS_REJECT_MAP(CS_REJECT_STR)
#undef CS_REJECT_STR
  }
  return "unknown";
}

void cs_limits_default(cs_limits *lim) {
  lim->max_name_len = 1024;
  lim->max_key_len = 256;
  lim->max_value_len = 32768;
  lim->max_attrs = 256;
  lim->max_events = 256;
  lim->max_links = 128;
  lim->max_depth = 8;
}

static int all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static int check_attrs(const cs_attr *a, uint32_t n, const cs_limits *lim) {
  if (n > lim->max_attrs) return CS_REJ_TOO_MANY_ATTRS;
  for (uint32_t i = 0; i < n; i++) {
    if (a[i].key.n > lim->max_key_len) return CS_REJ_KEY_TOO_LONG;
    switch (a[i].type) {
    case CS_VAL_STR:
    case CS_VAL_BYTES:
    case CS_VAL_ARRAY:
    case CS_VAL_KVLIST:
      if (a[i].v.s.n > lim->max_value_len) return CS_REJ_VALUE_TOO_LONG;
      break;
    default: break;
    }
  }
  return 0;
}

int cs_resource_check(const cs_resource *r, const cs_limits *lim) {
  int rc = check_attrs(r->attrs, r->n_attrs, lim);
  if (rc) return rc;
  if (r->service.n > lim->max_value_len) return CS_REJ_VALUE_TOO_LONG;
  return 0;
}

int cs_span_check(const cs_span *s, const cs_limits *lim) {
  if (all_zero(s->trace_id, 16)) return CS_REJ_ZERO_TRACE_ID;
  if (all_zero(s->span_id, 8)) return CS_REJ_ZERO_SPAN_ID;
  if (s->start_ns == 0) return CS_REJ_NO_START;
  if (s->end_ns < s->start_ns) return CS_REJ_END_BEFORE_START;
  if (s->name.n > lim->max_name_len) return CS_REJ_NAME_TOO_LONG;
  if (s->status_msg.n > lim->max_value_len || s->trace_state.n > lim->max_value_len ||
      s->scope_name.n > lim->max_value_len || s->scope_version.n > lim->max_value_len)
    return CS_REJ_VALUE_TOO_LONG;
  int rc = check_attrs(s->attrs, s->n_attrs, lim);
  if (rc) return rc;
  if (s->n_events > lim->max_events) return CS_REJ_TOO_MANY_EVENTS;
  for (uint32_t i = 0; i < s->n_events; i++) {
    if (s->events[i].name.n > lim->max_name_len) return CS_REJ_NAME_TOO_LONG;
    if ((rc = check_attrs(s->events[i].attrs, s->events[i].n_attrs, lim))) return rc;
  }
  if (s->n_links > lim->max_links) return CS_REJ_TOO_MANY_LINKS;
  for (uint32_t i = 0; i < s->n_links; i++) {
    const cs_link *l = &s->links[i];
    if (all_zero(l->trace_id, 16) || all_zero(l->span_id, 8)) return CS_REJ_LINK_ID;
    if (l->trace_state.n > lim->max_value_len) return CS_REJ_VALUE_TOO_LONG;
    if ((rc = check_attrs(l->attrs, l->n_attrs, lim))) return rc;
  }
  if (s->resource && (rc = cs_resource_check(s->resource, lim))) return rc;
  return 0;
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid.
 * Follows RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c < 0xc2) return 0;
  if (c < 0xe0) return n >= 2 && (p[1] & 0xc0) == 0x80 ? 2 : 0;
  if (c < 0xf0) {
    if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80) return 0;
    if (c == 0xe0 && p[1] < 0xa0) return 0; /* overlong */
    if (c == 0xed && p[1] >= 0xa0) return 0; /* surrogate */
    return 3;
  }
  if (c < 0xf5) {
    if (n < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
      return 0;
    if (c == 0xf0 && p[1] < 0x90) return 0;  /* overlong */
    if (c == 0xf4 && p[1] >= 0x90) return 0; /* > U+10FFFF */
    return 4;
  }
  return 0;
}

int cs_utf8_valid(const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < n) {
    /* ASCII fast path, eight bytes at a time: most telemetry is ASCII. */
    if (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (!(w & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    size_t k = utf8_seq(p + i, n - i);
    if (!k) return 0;
    i += k;
  }
  return 1;
}

size_t cs_utf8_prefix(const char *s, size_t n, int *valid) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  int ok = 1;
  while (i < n) {
    if (i + 8 <= n) {
      /* A byte is 0 or >= 0x80 exactly when it sets its high bit in w or in
       * w - 0x01..01 (a borrow only ever starts at a zero byte). */
      uint64_t w;
      memcpy(&w, p + i, 8);
      if (!((w | (w - 0x0101010101010101ull)) & 0x8080808080808080ull)) {
        i += 8;
        continue;
      }
    }
    if (p[i] == 0) break;
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    /* No valid sequence contains a NUL, so the scan for it goes on past
     * invalid bytes. */
    size_t k = utf8_seq(p + i, n - i);
    if (!k) {
      ok = 0;
      k = 1;
    }
    i += k;
  }
  *valid = ok;
  return i;
}

int cs_utf8_repair(cs_arena *a, cs_str *s) {
  if (cs_utf8_valid(s->p, s->n)) return 0;
  /* Each invalid byte becomes U+FFFD (3 bytes), so 3n bounds the copy. */
  size_t cap = (size_t)s->n * 3;
  char *out = cs_arena_alloc(a, cap + 1);
  if (!out) return -1;
  const unsigned char *p = (const unsigned char *)s->p;
  size_t i = 0, o = 0;
  while (i < s->n) {
    size_t k = utf8_seq(p + i, s->n - i);
    if (k) {
      memcpy(out + o, p + i, k);
      o += k;
      i += k;
    } else {
      out[o++] = (char)0xef;
      out[o++] = (char)0xbf;
      out[o++] = (char)0xbd;
      i++;
    }
  }
  out[o] = '\0';
  s->p = out;
  s->n = (uint32_t)o;
  return 1;
}
