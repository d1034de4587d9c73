/* TCP stream reassembly: turns the bytes of one connection, as they arrive
 * in reads of any size, into whole frames. Complete frames inside a read
 * are handed over in place; only the partial frame at the end of a read is
 * copied, into a buffer sized to that frame and charged to a budget shared
 * by all connections, so no peer can make us buffer without bound.
 *
 * Trusted sizes: none from the peer. A frame's length is believed only
 * after cs_frame_parse_header has checked it against max_payload, and the
 * partial-frame buffer is charged to the shared budget before it grows. */
#ifndef CS_FRAMER_H
#define CS_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Returned by cs_framer_feed when buffering a partial frame would exceed
 * the shared budget (besides the negative CS_WIRE_* framing errors). */
#define CS_FRAMER_EBUDGET (-100)

typedef struct cs_framer_budget {
  size_t used;  /* bytes held in partial-frame buffers right now */
  size_t limit; /* 0 = unlimited */
} cs_framer_budget;

typedef struct cs_framer {
  uint8_t *buf;       /* partial frame, NULL when none */
  size_t len, cap;
  cs_frame_hdr hdr;   /* valid once len >= CS_FRAME_HDR_LEN */
  uint32_t max_payload;
  cs_framer_budget *budget; /* may be NULL */
} cs_framer;

/* Called once per complete frame; payload is valid only during the call.
 * A nonzero return stops cs_framer_feed, which returns that value. */
typedef int (*cs_framer_cb)(void *ud, const cs_frame_hdr *h, const uint8_t *payload);

void cs_framer_init(cs_framer *f, uint32_t max_payload, cs_framer_budget *budget);

/* Consumes n bytes. Returns 0, a negative CS_WIRE_* error (the stream is
 * unusable: close the connection), CS_FRAMER_EBUDGET, or the callback's
 * nonzero return. Thread-safety: one framer, one thread; the budget is
 * shared by framers of one thread. */
int cs_framer_feed(cs_framer *f, const uint8_t *data, size_t n, cs_framer_cb cb, void *ud);

/* Bytes of an incomplete frame currently buffered. */
static inline size_t cs_framer_pending(const cs_framer *f) { return f->len; }

/* Frees the buffer and returns its bytes to the budget. */
void cs_framer_release(cs_framer *f);

#endif
