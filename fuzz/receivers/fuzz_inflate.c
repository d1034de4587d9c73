/* libFuzzer target for the receivers' gzip inflation (collector/inflate.c)
 * under its caps. The first byte picks the output cap: the daemon's default
 * --http-max-inflated (32 MiB) or a small one from the next two bytes, so
 * the 413 path is reached; the rest is the body. Checks beyond "no crash":
 * the result agrees with a plain streaming inflate (same bytes when it fits,
 * 413 when the stream holds more than the cap, 400 when corrupt), and under
 * ASan no single allocation exceeds the cap + 1 (beyond zlib's own state)
 * and the bytes held at once stay under twice that (the old and the new
 * buffer while realloc copies). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "inflate.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CS_FUZZ_HOOKS 1
#endif
#endif

#define DEFAULT_CAP ((size_t)32 << 20) /* collector.c: http_max_inflated */
#define ZLIB_SLACK ((size_t)64 << 10)  /* inflate state (~7 KiB) + 32 KiB window */

#ifdef CS_FUZZ_HOOKS
#include <sanitizer/allocator_interface.h>

static int tracking;
static size_t live, peak, biggest;

static void on_malloc(const volatile void *p, size_t n) {
  if (!tracking)
    return;
  live += n;
  if (live > peak)
    peak = live;
  if (n > biggest)
    biggest = n;
}

static void on_free(const volatile void *p) {
  if (tracking && p)
    live -= __sanitizer_get_allocated_size(p);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reference: inflate in 16 KiB steps, keeping only a CRC and a count.
 * Returns 0 (complete within cap), 413 (more than cap bytes) or 400. */
static int reference(const uint8_t *in, size_t n, size_t cap, size_t *total, uLong *crc) {
  static uint8_t chunk[16384];
  z_stream z;
  memset(&z, 0, sizeof z);
  if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK)
    abort();
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)n;
  *total = 0;
  *crc = crc32(0, Z_NULL, 0);
  int rc;
  for (;;) {
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    int zr = inflate(&z, Z_NO_FLUSH);
    size_t got = sizeof chunk - z.avail_out;
    if (*total + got > cap) {
      rc = 413;
      break;
    }
    *crc = crc32(*crc, chunk, (uInt)got);
    *total += got;
    if (zr == Z_STREAM_END) {
      rc = 0;
      break;
    }
    if (zr != Z_OK) { /* Z_BUF_ERROR: input used up; Z_NEED_DICT, errors */
      rc = 400;
      break;
    }
  }
  inflateEnd(&z);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  size_t cap = data[0] & 1 ? DEFAULT_CAP : (size_t)(data[1] | data[2] << 8);
  data += 3, size -= 3;

  uint8_t *out = (uint8_t *)"untouched";
  size_t len = 12345;
#ifdef CS_FUZZ_HOOKS
  static int installed;
  if (!installed)
    installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
  live = peak = biggest = 0;
  tracking = 1;
#endif
  int rc = cs_inflate_capped(data, size, cap, &out, &len);
#ifdef CS_FUZZ_HOOKS
  tracking = 0;
  if (biggest > cap + 1 && biggest > ZLIB_SLACK) {
    fprintf(stderr, "allocation of %zu bytes, cap %zu\n", biggest, cap);
    abort();
  }
  if (peak > 2 * (cap + 1) + ZLIB_SLACK) {
    fprintf(stderr, "%zu bytes held at once, cap %zu\n", peak, cap);
    abort();
  }
#endif

  size_t want_len;
  uLong want_crc;
  int want = reference(data, size, cap, &want_len, &want_crc);
  if (rc != want) {
    fprintf(stderr, "status %d, reference %d (cap %zu, reference output %zu bytes)\n", rc, want,
            cap, want_len);
    abort();
  }
  if (rc != 0) {
    if (len != 12345 || memcmp(out, "untouched", 10) != 0)
      abort(); /* outputs set on error */
    return 0;
  }
  if (len != want_len || len > cap || crc32(crc32(0, Z_NULL, 0), out, (uInt)len) != want_crc) {
    fprintf(stderr, "output of %zu bytes differs from the reference's %zu\n", len, want_len);
    abort();
  }
  free(out);
  return 0;
}
