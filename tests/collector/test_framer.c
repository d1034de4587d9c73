/* TCP reassembly: frames split at every byte position, many frames per
 * read, framing errors, and the shared buffer budget. */
#include <stdlib.h>

#include "check.h"
#include "framer.h"

typedef struct seen {
  int n;
  uint64_t seqs[64];
  size_t lens[64];
  int payload_ok;
} seen;

static int on_frame(void *ud, const cs_frame_hdr *h, const uint8_t *payload) {
  seen *s = ud;
  if (s->n < 64) {
    s->seqs[s->n] = h->seq;
    s->lens[s->n] = h->len;
  }
  for (uint32_t i = 0; i < h->len; i++)
    if (payload[i] != (uint8_t)(h->seq + i)) s->payload_ok = 0;
  s->n++;
  return 0;
}

/* Three frames back to back: payloads of 0, 5 and 300 bytes. */
static size_t make_stream(uint8_t *out) {
  size_t n = 0;
  uint32_t lens[3] = {0, 5, 300};
  for (int f = 0; f < 3; f++) {
    cs_frame_write_header(out + n, CS_FRAME_TRACES, 0, lens[f], 10 + (uint64_t)f);
    n += CS_FRAME_HDR_LEN;
    for (uint32_t i = 0; i < lens[f]; i++) out[n++] = (uint8_t)(10 + f + i);
  }
  return n;
}

static void framer_handles_many_frames_in_one_read(void) {
  uint8_t buf[1024];
  size_t n = make_stream(buf);
  cs_framer f;
  cs_framer_init(&f, 1000, NULL);
  seen s = {.payload_ok = 1};
  CHECK_EQ(cs_framer_feed(&f, buf, n, on_frame, &s), 0);
  CHECK_EQ(s.n, 3);
  CHECK(s.seqs[0] == 10 && s.seqs[1] == 11 && s.seqs[2] == 12);
  CHECK(s.lens[2] == 300);
  CHECK(s.payload_ok);
  CHECK_EQ(cs_framer_pending(&f), 0);
  CHECK(f.buf == NULL); /* nothing copied when frames arrive whole */
  cs_framer_release(&f);
}

static void framer_reassembles_every_split(void) {
  uint8_t buf[1024];
  size_t n = make_stream(buf);
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b += 7) {
      cs_framer f;
      cs_framer_budget budget = {0, 0};
      cs_framer_init(&f, 1000, &budget);
      seen s = {.payload_ok = 1};
      int rc = cs_framer_feed(&f, buf, a, on_frame, &s);
      rc |= cs_framer_feed(&f, buf + a, b - a, on_frame, &s);
      rc |= cs_framer_feed(&f, buf + b, n - b, on_frame, &s);
      if (s.n != 3 || rc || !s.payload_ok) {
        fprintf(stderr, "  split at %zu,%zu: %d frames rc=%d\n", a, b, s.n, rc);
        CHECK(0);
        return;
      }
      cs_framer_release(&f);
      CHECK_EQ(budget.used, 0);
    }
  }
}

static void framer_reassembles_byte_by_byte(void) {
  uint8_t buf[1024];
  size_t n = make_stream(buf);
  cs_framer f;
  cs_framer_init(&f, 1000, NULL);
  seen s = {.payload_ok = 1};
  for (size_t i = 0; i < n; i++) CHECK_EQ(cs_framer_feed(&f, buf + i, 1, on_frame, &s), 0);
  CHECK_EQ(s.n, 3);
  CHECK(s.payload_ok);
  cs_framer_release(&f);
}

static void framer_rejects_bad_magic_and_oversize(void) {
  uint8_t buf[64];
  cs_framer f;
  seen s = {.payload_ok = 1};
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 10, 1);
  buf[1] = 'X';
  cs_framer_init(&f, 1000, NULL);
  /* Detected from the first bytes, without waiting for a full header. */
  CHECK_EQ(cs_framer_feed(&f, buf, 2, on_frame, &s), CS_WIRE_EMAGIC);
  cs_framer_release(&f);

  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 5000, 1);
  cs_framer_init(&f, 1000, NULL);
  CHECK_EQ(cs_framer_feed(&f, buf, 20, on_frame, &s), CS_WIRE_ETOOBIG);
  cs_framer_release(&f);

  /* Split header: the error appears when the header completes. */
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 10, 1);
  buf[4] = 9;
  cs_framer_init(&f, 1000, NULL);
  CHECK_EQ(cs_framer_feed(&f, buf, 10, on_frame, &s), 0);
  CHECK_EQ(cs_framer_feed(&f, buf + 10, 10, on_frame, &s), CS_WIRE_EVERSION);
  cs_framer_release(&f);

  /* A good frame, then garbage in the same read: the good one is seen. */
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 0, 77);
  memset(buf + 20, 0xee, 20);
  cs_framer_init(&f, 1000, NULL);
  s.n = 0;
  CHECK_EQ(cs_framer_feed(&f, buf, 40, on_frame, &s), CS_WIRE_EMAGIC);
  CHECK_EQ(s.n, 1);
  cs_framer_release(&f);
  CHECK_EQ(s.n, 1);
}

static void framer_charges_partial_frames_to_budget(void) {
  uint8_t hdr[CS_FRAME_HDR_LEN];
  cs_framer_budget budget = {0, 1000};
  cs_framer a, b;
  cs_framer_init(&a, 100000, &budget);
  cs_framer_init(&b, 100000, &budget);
  seen s = {.payload_ok = 1};
  cs_frame_write_header(hdr, CS_FRAME_TRACES, 0, 600, 1);
  CHECK_EQ(cs_framer_feed(&a, hdr, sizeof hdr, on_frame, &s), 0);
  CHECK_EQ(budget.used, 620);
  /* A second peer announcing 600 bytes no longer fits. */
  CHECK_EQ(cs_framer_feed(&b, hdr, sizeof hdr, on_frame, &s), CS_FRAMER_EBUDGET);
  cs_framer_release(&a);
  cs_framer_release(&b);
  CHECK_EQ(budget.used, 0);
}

int main(void) {
  RUN(framer_handles_many_frames_in_one_read);
  RUN(framer_reassembles_every_split);
  RUN(framer_reassembles_byte_by_byte);
  RUN(framer_rejects_bad_magic_and_oversize);
  RUN(framer_charges_partial_frames_to_budget);
  return CHECK_DONE();
}
