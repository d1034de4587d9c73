/* Fuzz target for libtrace's reader of what the collector sends back on
 * the TCP connection: ACK frames (__cst_tx_read in libtrace/src/transport.c,
 * the real code, reading from a socketpair). The input is a queue to ack
 * and a stream cut into reads:
 *   byte 0: frames queued (low 4 bits), metrics frames among them (bit 4)
 *   byte 1: index of the frame being sent (send_cur; >= queued: none)
 *   then chunks: one length byte L, then L bytes the "collector" sends,
 *   each followed by one read; L = 0 is the collector closing its end.
 * Queued frames have seq 1..n and n+i spans. Checks beyond "no crash":
 * every ack removes at most one frame, never the one being sent; acked
 * spans split exactly into exported + rejected; q_bytes and unacked_bytes
 * match the queue; the read buffer never holds more than a partial frame;
 * a malformed reply closes the connection. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "exporter_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void on_log(void *user, int level, const char *msg) {
  if (!msg[0])
    abort();
}

static frame *new_frame(uint64_t seq, uint8_t type, uint32_t n) {
  frame *f = calloc(1, sizeof *f);
  if (!f)
    abort();
  f->seq = seq;
  f->type = type;
  f->n = type == CS_FRAME_TRACES ? n : 0;
  f->len = CS_FRAME_HDR_LEN + 16;
  f->data = calloc(1, f->len);
  if (!f->data)
    abort();
  return f;
}

static void check_queue(struct __cst_exporter *ex, uint64_t *n_frames) {
  uint64_t bytes = 0, n = 0;
  int cur_found = ex->send_cur == NULL;
  for (frame *f = ex->q_head; f; f = f->next) {
    bytes += f->len, n++;
    cur_found |= f == ex->send_cur;
    if (!f->next && f != ex->q_tail)
      abort();
  }
  if (!ex->q_head && ex->q_tail)
    abort();
  if (bytes != ex->q_bytes || atomic_load(&ex->t->unacked_bytes) != bytes || !cur_found)
    abort();
  *n_frames = n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  static cst_tracer t; /* only the fields the transport reads */
  memset(&t, 0, sizeof t);
  t.cfg.breaker_failures = 8;
  t.cfg.breaker_open_ms = 2000;
  t.cfg.backoff_initial_ms = 50;
  t.cfg.backoff_max_ms = 2000;
  t.cfg.log = on_log;
  t.cfg.log_level = CST_LOG_DEBUG;
  struct __cst_exporter *ex = calloc(1, sizeof *ex);
  if (!ex)
    abort();
  ex->t = &t;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
    abort();
  ex->fd = sv[0];
  ex->state = CONNECTED;

  uint32_t queued = data[0] & 15, spans = 0;
  for (uint32_t i = 0; i < queued; i++) {
    uint8_t type = (data[0] & 16) && i % 2 ? CS_FRAME_METRICS : CS_FRAME_TRACES;
    frame *f = new_frame(i + 1, type, queued + i);
    spans += f->n;
    __cst_tx_enqueue(ex, f);
  }
  frame *cur = ex->q_head;
  for (uint32_t i = 0; cur && i < data[1]; i++)
    cur = cur->next;
  ex->send_cur = cur; /* enqueue made the head current: the fuzzer picks */
  uint64_t left = queued;
  check_queue(ex, &left);

  size_t off = 2;
  while (off < size && ex->state == CONNECTED) {
    size_t n = data[off++];
    if (n > size - off)
      n = size - off;
    if (n == 0)
      shutdown(sv[1], SHUT_WR);
    else if (write(sv[1], data + off, n) != (ssize_t)n)
      abort();
    off += n;
    uint64_t before = left;
    __cst_tx_read(ex);
    check_queue(ex, &left);
    if (left > before)
      abort();
    if (ex->state == CONNECTED) {
      if (ex->rlen >= CS_FRAME_HDR_LEN + 64)
        abort(); /* only a partial frame stays */
    } else if (ex->fd != -1 || ex->rlen != 0) {
      abort();
    }
  }

  uint64_t acked = atomic_load(&t.frames_acked);
  if (acked != queued - left)
    abort();
  uint64_t counted = atomic_load(&t.spans_exported) + atomic_load(&t.spans_rejected);
  if (counted > spans)
    abort();
  uint64_t unacked_spans = 0;
  for (frame *f = ex->q_head; f; f = f->next)
    unacked_spans += f->n;
  if (counted + unacked_spans != spans)
    abort();
  if (ex->send_cur && ex->send_cur != cur)
    abort();

  while (ex->q_head) {
    frame *f = ex->q_head;
    ex->q_head = f->next;
    __cst_frame_free(f);
  }
  if (ex->fd >= 0)
    close(ex->fd);
  close(sv[1]);
  free(ex);
  return 0;
}
