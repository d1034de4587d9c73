/* TCP frame reassembly (see framer.h). */
#include "framer.h"

#include <stdlib.h>
#include <string.h>

void cs_framer_init(cs_framer *f, uint32_t max_payload, cs_framer_budget *budget) {
  memset(f, 0, sizeof *f);
  f->max_payload = max_payload;
  f->budget = budget;
}

static void drop_buf(cs_framer *f) {
  if (f->budget) f->budget->used -= f->cap;
  free(f->buf);
  f->buf = NULL;
  f->cap = 0;
}

void cs_framer_release(cs_framer *f) {
  drop_buf(f);
  f->len = 0;
}

/* Makes room for want bytes in the partial-frame buffer. */
static int reserve(cs_framer *f, size_t want) {
  if (want <= f->cap) return 0;
  if (f->budget && f->budget->limit && f->budget->used - f->cap + want > f->budget->limit)
    return CS_FRAMER_EBUDGET;
  uint8_t *nb = realloc(f->buf, want);
  if (!nb) return CS_FRAMER_EBUDGET;
  if (f->budget) f->budget->used += want - f->cap;
  f->buf = nb;
  f->cap = want;
  return 0;
}

/* Appends up to the end of the current frame; returns bytes taken or a
 * negative error. */
static long fill(cs_framer *f, const uint8_t *data, size_t n) {
  size_t taken = 0;
  if (f->len < CS_FRAME_HDR_LEN) {
    size_t k = CS_FRAME_HDR_LEN - f->len;
    if (k > n) k = n;
    int rc = reserve(f, CS_FRAME_HDR_LEN);
    if (rc) return rc;
    memcpy(f->buf + f->len, data, k);
    f->len += k;
    taken = k;
    rc = cs_frame_parse_header(f->buf, f->len, f->max_payload, &f->hdr);
    if (rc == CS_WIRE_NEED_MORE) return (long)taken;
    if (rc != CS_WIRE_OK) return rc;
    /* Header known: size the buffer for the whole frame at once. */
    if ((rc = reserve(f, CS_FRAME_HDR_LEN + (size_t)f->hdr.len))) return rc;
  }
  size_t want = CS_FRAME_HDR_LEN + (size_t)f->hdr.len - f->len;
  size_t k = want < n - taken ? want : n - taken;
  memcpy(f->buf + f->len, data + taken, k);
  f->len += k;
  return (long)(taken + k);
}

int cs_framer_feed(cs_framer *f, const uint8_t *data, size_t n, cs_framer_cb cb, void *ud) {
  size_t off = 0;
  int rc;
  if (f->len) {
    long k = fill(f, data, n);
    if (k < 0) return (int)k;
    off = (size_t)k;
    if (f->len < CS_FRAME_HDR_LEN || f->len < CS_FRAME_HDR_LEN + (size_t)f->hdr.len) return 0;
    rc = cb(ud, &f->hdr, f->buf + CS_FRAME_HDR_LEN);
    f->len = 0;
    /* Keep a small buffer for the next straggler; give big ones back. */
    if (f->cap > 65536) drop_buf(f);
    if (rc) return rc;
  }
  while (off < n) {
    cs_frame_hdr h;
    rc = cs_frame_parse_header(data + off, n - off, f->max_payload, &h);
    if (rc == CS_WIRE_OK && n - off >= CS_FRAME_HDR_LEN + (size_t)h.len) {
      rc = cb(ud, &h, data + off + CS_FRAME_HDR_LEN);
      off += CS_FRAME_HDR_LEN + (size_t)h.len;
      if (rc) return rc;
      continue;
    }
    if (rc != CS_WIRE_OK && rc != CS_WIRE_NEED_MORE) return rc;
    long k = fill(f, data + off, n - off);
    if (k < 0) return (int)k;
    off += (size_t)k;
  }
  return 0;
}
