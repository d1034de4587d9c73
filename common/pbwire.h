/* The project's one protobuf wire codec: a reader over a bounded byte range
 * (the decoders, the store's codecs) and the varint writer every encoder
 * uses (OTLP encode, OTLP JSON, libtrace, the store).
 *
 * Trusted sizes, reader: none; every length prefix is checked against the
 * bytes left before it is used. Writer: pb_put_varint writes at most
 * PB_VARINT_MAX bytes, which the caller must have reserved.
 *
 * The reader works over a bounded byte range. Every read checks the bytes left, so no input makes
 * it read past the end; the accepted encodings are protobuf-c's (tags of at
 * most 5 bytes, varints of at most 10, length prefixes of at most 5 bytes
 * whose value fits what is left), so both decoders refuse the same input. */
#ifndef CS_PBWIRE_H
#define CS_PBWIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2, PB_I32 = 5 };
enum { PB_VARINT_MAX = 10 };

/* Bytes the varint of v takes (1 to PB_VARINT_MAX). */
static inline size_t pb_varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80)
    v >>= 7, n++;
  return n;
}

/* Writes the varint of v at p, which has room for PB_VARINT_MAX bytes;
 * returns the bytes written. */
static inline size_t pb_put_varint(uint8_t *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (uint8_t)v;
  return n;
}

typedef struct pb_rd {
  const uint8_t *p, *end;
} pb_rd;

/* One field as read by pb_field: its number, wire type and value. For
 * PB_LEN, (p, n) is the payload and v its length; otherwise v is the value
 * (little-endian for PB_I64/PB_I32) and (p, n) its bytes. raw/raw_n span
 * everything after the tag (the length prefix included). */
typedef struct pb_field {
  uint32_t num;
  unsigned wt;
  uint64_t v;
  const uint8_t *p;
  size_t n;
  const uint8_t *raw;
  size_t raw_n;
} pb_field;

static inline void pb_init(pb_rd *r, const uint8_t *p, size_t n) {
  r->p = p;
  r->end = n ? p + n : p; /* p may be NULL for an empty payload */
}

static inline int pb_more(const pb_rd *r) {
  return r->p < r->end;
}

/* Varint of at most max bytes; returns bytes used, 0 when unterminated. */
static inline size_t pb_read_varint(const uint8_t *p, size_t left, size_t max, uint64_t *v) {
  if (left && p[0] < 0x80) {
    *v = p[0];
    return 1;
  }
  uint64_t r = 0;
  size_t lim = left < max ? left : max;
  for (size_t i = 0; i < lim; i++) {
    /* Bits past the 64th fall off, as in protobuf-c's parse_uint64. */
    if (7 * i < 64)
      r |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      *v = r;
      return i + 1;
    }
  }
  return 0;
}

/* Reads the next field (r must have bytes left: pb_more); 0 on success, -1
 * on malformed or truncated input
 * (including wire types 3, 4, 6 and 7: groups are not supported). */
static inline int pb_field_next(pb_rd *r, pb_field *f) {
  size_t left = (size_t)(r->end - r->p);
  const uint8_t *p = r->p;
  size_t k;
  /* Field number 0 is invalid; like protobuf-c, only a first byte without
   * field bits is refused (0x80 0x00 reads as an unknown field 0). */
  if ((p[0] & 0xf8) == 0)
    return -1;
  if (p[0] < 0x80) {
    f->num = p[0] >> 3;
    f->wt = p[0] & 7;
    k = 1;
  } else {
    /* Up to 5 bytes; the field number keeps the low 32 bits of what
     * follows the wire type (protobuf-c reads it the same way). */
    uint64_t t;
    if (!(k = pb_read_varint(p, left, 5, &t)))
      return -1;
    f->num = (uint32_t)(t >> 3);
    f->wt = (unsigned)(t & 7);
  }
  p += k;
  left -= k;
  f->raw = p;
  switch (f->wt) {
  case PB_VARINT:
    if (!(k = pb_read_varint(p, left, 10, &f->v)))
      return -1;
    break;
  case PB_I64:
    if (left < 8)
      return -1;
    memcpy(&f->v, p, 8);
    k = 8;
    break;
  case PB_I32: {
    if (left < 4)
      return -1;
    uint32_t v32;
    memcpy(&v32, p, 4);
    f->v = v32;
    k = 4;
    break;
  }
  case PB_LEN: {
    uint64_t len;
    size_t h = pb_read_varint(p, left, 5, &len);
    if (!h || len > left - h)
      return -1;
    f->v = len;
    f->raw_n = h + (size_t)len;
    f->p = p + h;
    f->n = (size_t)len;
    r->p = p + f->raw_n;
    return 0;
  }
  default: return -1;
  }
  f->p = p;
  f->n = k;
  f->raw_n = k;
  r->p = p + k;
  return 0;
}

#endif
