/* Capped gzip inflation (see inflate.h). */
#include "inflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int cs_inflate_capped(const uint8_t *in, size_t n, size_t limit, uint8_t **out, size_t *out_len) {
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK)
    return 503;
  size_t cap = n * 4 + 1024, len = 0;
  if (cap > limit)
    cap = limit;
  uint8_t *buf = malloc(cap + 1);
  int status = 0;
  if (!buf) {
    inflateEnd(&z);
    return 503;
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)(n > UINT32_MAX ? UINT32_MAX : n);
  for (;;) {
    if (len == cap && cap < limit) {
      size_t ncap = cap * 2 > limit ? limit : cap * 2;
      uint8_t *nb = realloc(buf, ncap + 1);
      if (!nb) {
        status = 503;
        break;
      }
      buf = nb;
      cap = ncap;
    }
    /* Full at the limit: the spare byte tells a stream that ends exactly
     * there (or is corrupt there) from one with more to come. */
    z.next_out = buf + len;
    size_t room = len == cap ? 1 : cap - len;
    z.avail_out = (uInt)(room > UINT32_MAX ? UINT32_MAX : room);
    int zr = inflate(&z, Z_NO_FLUSH);
    len = (size_t)(z.next_out - buf);
    if (len > cap) {
      status = 413;
      break;
    }
    if (zr == Z_STREAM_END)
      break;
    if (zr == Z_BUF_ERROR && z.avail_in == 0) { /* truncated input */
      status = 400;
      break;
    }
    if (zr != Z_OK && zr != Z_BUF_ERROR) {
      status = 400;
      break;
    }
  }
  inflateEnd(&z);
  if (status) {
    free(buf);
    return status;
  }
  *out = buf;
  *out_len = len;
  return 0;
}
