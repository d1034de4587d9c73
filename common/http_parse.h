/* HTTP/1.1 request framing (RFC 9112) for the collector's receivers and the
 * query server's head check (query/http_gate.c): where
 * a request head ends, what it says, and chunked bodies. Strict wherever
 * leniency would let us and another party (a proxy, a client library) frame
 * one message two ways: conflicting Content-Length values, Content-Length
 * with Transfer-Encoding, obsolete line folding, whitespace before a colon,
 * control bytes and bare CRs are refused. Every size is capped by
 * cs_http_limits, so no head or chunk line can grow without bound.
 * Trusted: nothing; the bytes come from the network. The results point into
 * the caller's buffer. Thread-safety: pure functions over caller state. */
#ifndef CS_HTTP_PARSE_H
#define CS_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_http_limits {
  size_t max_line;     /* request line, bytes without the CRLF (414 above) */
  size_t max_head;     /* request line plus header fields (431 above) */
  uint32_t max_fields; /* header fields (431 above) */
  uint32_t max_params; /* query parameters (414 above) */
} cs_http_limits;

/* 8 KiB request line, 32 KiB head, 128 fields, 256 query parameters. */
void cs_http_limits_default(cs_http_limits *l);

typedef struct cs_http_slice {
  const char *p; /* NULL when absent */
  size_t n;
} cs_http_slice;

/* Where the search for the end of a head stands; zero it for a new head. */
typedef struct cs_http_scan {
  size_t pos;    /* bytes already searched */
  size_t ls;     /* where the line being searched starts */
  int line_done; /* the request line's LF has been seen */
} cs_http_scan;

/* Skips the empty lines a client may send before a request line (RFC 9112
 * section 2.2). Returns how many leading bytes of buf are CR or LF. */
size_t cs_http_skip_empty_lines(const char *buf, size_t n);

/* Looks for the end of the head (the empty line) in buf[0..n), which
 * starts with the request line. Searches only bytes not searched before.
 * Returns the head's length including the empty line, 0 when more bytes
 * are needed, or -414 / -431 as soon as the request line or the head has
 * grown past its limit without ending. */
long cs_http_head_end(const char *buf, size_t n, cs_http_scan *scan, const cs_http_limits *lim);

typedef struct cs_http_req {
  cs_http_slice method, target, path; /* path: without the query, "*" or from absolute-form */
  int minor;                          /* HTTP/1.<minor>: 0 or 1 */
  int keep_alive;                     /* after this request, per version and Connection */
  int expect_continue;                /* Expect: 100-continue */
  int chunked;                        /* Transfer-Encoding: chunked */
  int64_t content_length;             /* -1 when absent */
  uint32_t n_fields;
  cs_http_slice host, content_type, content_encoding, origin;
  char err[128]; /* why, when refused */
} cs_http_req;

/* Parses a complete head of n bytes (cs_http_head_end's length). Returns 0,
 * or the HTTP status that refuses it with rq->err set: 400 (malformed,
 * ambiguous framing), 414, 431, 417 (an expectation other than
 * 100-continue), 501 (a transfer coding other than chunked), 505 (not
 * HTTP/1.x). */
int cs_http_parse_head(const char *buf, size_t n, const cs_http_limits *lim, cs_http_req *rq);

/* Incremental chunked body decoder; zero it (or cs_http_chunked_init) per
 * body. Chunk extensions are skipped (at most 1 KiB per line), trailer
 * fields discarded (at most 8 KiB). */
typedef struct cs_http_chunked {
  int state;
  uint64_t left;  /* data bytes left in the current chunk */
  size_t line;    /* bytes of the current size, extension or trailer line */
  size_t trailer; /* trailer bytes so far */
  char err[96];
} cs_http_chunked;

void cs_http_chunked_init(cs_http_chunked *d);

/* Receives decoded body bytes; a nonzero return stops decoding. */
typedef int (*cs_http_sink)(void *ud, const uint8_t *p, size_t n);

/* Decodes from in[0..n), handing data to sink. Sets *used to the bytes
 * consumed. Returns 1 when the body (with its trailer) is complete: bytes
 * after *used belong to the next request; 0 when all n bytes were consumed
 * and more are needed; -1 on malformed framing (d->err says why; answer
 * 400 and close); -2 when the sink returned nonzero. Chunk sizes above
 * 2^40 are malformed. */
int cs_http_chunked_feed(cs_http_chunked *d, const uint8_t *in, size_t n, size_t *used,
                         cs_http_sink sink, void *ud);

/* Strictly parses a Content-Length value (digits only, at most 15). Returns
 * the value or -1. */
int64_t cs_http_parse_length(const char *p, size_t n);

#endif
