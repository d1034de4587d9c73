/* Query-parameter parsers (see params.h). Hand-written rather than strtod
 * and friends: those accept locale-dependent forms, leading spaces, signs
 * and hex floats that a URL parameter should not. */
#include "params.h"

#include "duration.h"
#include "hexb64.h"

#include <stdio.h>
#include <string.h>

int cs_qp_u64(const char *s, size_t n, uint64_t max, uint64_t *out) {
  if (!s || n == 0 || n > 20) return -1;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    uint64_t d = (uint64_t)(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) return -1;
    v = v * 10 + d;
  }
  if (v > max) return -1;
  *out = v;
  return 0;
}

int cs_qp_duration(const char *s, size_t n, uint64_t *ns) { return cs_duration_parse(s, n, ns); }

static int parse_hex_id(const char *s, size_t n, uint8_t *out, size_t bytes) {
  if (!s || n == 0 || n > bytes * 2) return -1;
  memset(out, 0, bytes);
  int nonzero = 0;
  /* Right-align the digits: the last digit is the low nibble of out[bytes-1]. */
  for (size_t k = 0; k < n; k++) {
    int v = cs_hexval((unsigned char)(s[n - 1 - k]));
    if (v < 0) return -1;
    if (v) nonzero = 1;
    size_t byte = bytes - 1 - k / 2;
    out[byte] |= (uint8_t)(k % 2 ? v << 4 : v);
  }
  return nonzero ? 0 : -1;
}

int cs_qp_trace_id(const char *s, size_t n, uint8_t out[16]) {
  return parse_hex_id(s, n, out, 16);
}

int cs_qp_span_id(const char *s, size_t n, uint8_t out[8]) { return parse_hex_id(s, n, out, 8); }

int cs_qp_tag(const char *s, size_t n, cs_str *key, cs_str *val) {
  const char *c = memchr(s, ':', n);
  if (!c || c == s) return -1;
  key->p = s;
  key->n = (uint32_t)(c - s);
  val->p = c + 1;
  val->n = (uint32_t)(n - (size_t)(c - s) - 1);
  return 0;
}

int cs_qp_edge(const char *s, size_t n, cs_str *parent, cs_str *child) {
  const char *c = memchr(s, '>', n);
  if (!c || c == s || c == s + n - 1) return -1;
  parent->p = s;
  parent->n = (uint32_t)(c - s);
  child->p = c + 1;
  child->n = (uint32_t)(n - (size_t)(c - s) - 1);
  if (parent->n == child->n && memcmp(parent->p, child->p, child->n) == 0) return -1;
  return 0;
}

void cs_cursor_encode(const cs_cursor *c, char out[CS_CURSOR_LEN + 1]) {
  static const char hex[] = "0123456789abcdef";
  out[0] = '1';
  for (int i = 0; i < 16; i++) out[1 + i] = hex[(c->start_ns >> (60 - 4 * i)) & 15];
  for (int i = 0; i < 16; i++) {
    out[17 + 2 * i] = hex[c->trace_id[i] >> 4];
    out[18 + 2 * i] = hex[c->trace_id[i] & 15];
  }
  out[CS_CURSOR_LEN] = '\0';
}

int cs_cursor_decode(const char *s, size_t n, cs_cursor *c) {
  if (!s || n != CS_CURSOR_LEN || s[0] != '1') return -1;
  uint64_t t = 0;
  for (int i = 0; i < 16; i++) {
    int v = cs_hexval((unsigned char)(s[1 + i]));
    if (v < 0) return -1;
    t = (t << 4) | (uint64_t)v;
  }
  for (int i = 0; i < 16; i++) {
    int hi = cs_hexval((unsigned char)(s[17 + 2 * i])),
        lo = cs_hexval((unsigned char)(s[18 + 2 * i]));
    if (hi < 0 || lo < 0) return -1;
    c->trace_id[i] = (uint8_t)(hi << 4 | lo);
  }
  c->start_ns = t;
  return 0;
}

int cs_qp_check_target(const char *s, size_t n, size_t *n_params, const char **why) {
  size_t params = 0;
  int in_query = 0;
  *n_params = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x20 || c == 0x7f) {
      *why = "control character in the URL";
      return -1;
    }
    if (c == '%') {
      int hi = i + 2 < n ? cs_hexval((unsigned char)(s[i + 1])) : -1,
          lo = i + 2 < n ? cs_hexval((unsigned char)(s[i + 2])) : -1;
      if (hi < 0 || lo < 0) {
        *why = "bad percent-escape in the URL";
        return -1;
      }
      if (hi == 0 && lo == 0) {
        *why = "NUL (%00) in the URL";
        return -1;
      }
      i += 2;
    } else if (c == '?' && !in_query) {
      in_query = 1;
      params = i + 1 < n; /* "?" alone has none */
    } else if (c == '&' && in_query) {
      params++;
    }
  }
  *n_params = params;
  return 0;
}
