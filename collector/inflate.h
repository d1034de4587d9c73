/* Capped gzip inflation for the HTTP receivers' Content-Encoding: gzip
 * bodies (OTLP/HTTP and Zipkin). The only code in the collector that
 * touches zlib. No I/O; the fuzzer (fuzz/receivers/fuzz_inflate.c) drives
 * it directly. */
#ifndef CS_INFLATE_H
#define CS_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/* Inflates the gzip (or zlib) stream in[0..n) into a new buffer of at
 * most limit bytes (plus one spare byte). Trusts nothing in the input: the
 * output buffer starts at min(4n + 1024, limit) and doubles up to limit,
 * so no input makes it allocate more than limit + 1 bytes in one block
 * (twice that for the moment realloc copies).
 * Returns 0 and sets *out (malloc'ed, the caller frees) and *out_len;
 * otherwise the HTTP status to answer: 413 when the output would exceed
 * limit, 400 when the stream is corrupt or truncated, 503 when out of
 * memory, and *out is untouched. Thread-safety: pure function. */
int cs_inflate_capped(const uint8_t *in, size_t n, size_t limit, uint8_t **out, size_t *out_len);

#endif
