/* The project's one hex and base64 codec. Every decoder is told the room
 * it may write and refuses input that would need more, so a caller never
 * has to get a size formula right (issue: a base64 value overflowed a
 * buffer sized for hex). Header-only, with no allocation, so libtrace can
 * compile it in without linking cs_common.
 *
 * Trusted sizes: none from the input. Encoded lengths are computed here
 * (cs_b64_encoded_len refuses n that would overflow); the decoders check
 * every output byte against cap before writing it. */
#ifndef CS_HEXB64_H
#define CS_HEXB64_H

#include <stddef.h>
#include <stdint.h>

/* Value of one hex digit, or -1. Upper and lower case are accepted. */
static inline int cs_hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Writes 2n lowercase hex digits (no NUL) to out. */
static inline void cs_hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
}

enum { CS_HEX_ANY_CASE = 0, CS_HEX_LOWER_ONLY = 1 };

/* Decodes n hex digits into out (room for cap bytes). Returns the number of
 * bytes written, or -1 when n is odd, a digit is not hex (or not lowercase
 * under CS_HEX_LOWER_ONLY, as W3C trace context requires) or n/2 > cap;
 * nothing past out + cap is ever written. */
static inline ptrdiff_t cs_hex_decode(const char *s, size_t n, uint8_t *out, size_t cap, int flags) {
  if (n % 2 || n / 2 > cap) return -1;
  for (size_t i = 0; i < n; i += 2) {
    int hi = cs_hexval((unsigned char)s[i]), lo = cs_hexval((unsigned char)s[i + 1]);
    if (hi < 0 || lo < 0) return -1;
    if ((flags & CS_HEX_LOWER_ONLY) && ((s[i] >= 'A' && s[i] <= 'F') || (s[i + 1] >= 'A' && s[i + 1] <= 'F')))
      return -1;
    out[i / 2] = (uint8_t)(hi << 4 | lo);
  }
  return (ptrdiff_t)(n / 2);
}

/* Length of the padded standard base64 of n bytes; 0 when it would not fit
 * a size_t (callers treat that as too large). */
static inline size_t cs_b64_encoded_len(size_t n) {
  if (n > (SIZE_MAX - 2) / 4 * 3) return 0;
  return (n + 2) / 3 * 4;
}

/* Writes cs_b64_encoded_len(n) characters of padded standard base64 (no
 * NUL) to out. */
static inline void cs_b64_encode(const uint8_t *in, size_t n, char *out) {
  static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *out++ = tab[v >> 18], *out++ = tab[(v >> 12) & 63], *out++ = tab[(v >> 6) & 63], *out++ = tab[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *out++ = tab[v >> 18], *out++ = tab[(v >> 12) & 63], *out++ = '=', *out++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *out++ = tab[v >> 18], *out++ = tab[(v >> 12) & 63], *out++ = tab[(v >> 6) & 63], *out++ = '=';
  }
}

/* Value of one base64 digit in either alphabet (standard "+/" or URL-safe
 * "-_", as protobuf's JSON mapping accepts both), or -1. */
static inline int cs_b64val(int c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* The exact number of bytes cs_b64_decode writes for s: the digits before
 * the first '=' (padding and anything after it are ignored), 6 bits each,
 * whole bytes only. */
static inline size_t cs_b64_decoded_len(const char *s, size_t n) {
  size_t d = 0;
  while (d < n && s[d] != '=') d++;
  return d / 4 * 3 + (d % 4) * 6 / 8;
}

/* Decodes base64 (either alphabet, padded or not) into out, room for cap
 * bytes. Returns the bytes written, or -1 on a character that is not base64
 * or when the result would exceed cap (nothing past out + cap is written). */
static inline ptrdiff_t cs_b64_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n && s[i] != '='; i++) {
    int x = cs_b64val((unsigned char)s[i]);
    if (x < 0) return -1;
    acc = acc << 6 | (uint32_t)x;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o >= cap) return -1;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (ptrdiff_t)o;
}

#endif
