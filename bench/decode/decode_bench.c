/* How long cs_decode_traces takes per span on the ingest benchmark's
 * workload (bench/common), one core, nothing else in the way: frames are
 * encoded up front with the OTLP encoder the load generator uses, then
 * decoded (with validation, session lookup and the arena) round after
 * round. Times are this thread's CPU time and the best round is reported,
 * since the machine is shared and noisy.
 *   decode_bench [SPANS_PER_FRAME [FRAMES [ROUNDS]]]   (default 1000 20 15) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode.h"
#include "otlp_encode.h"
#include "parse.h"
#include "workload.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef struct frame {
  uint8_t *p;
  size_t n, spans;
} frame;

int main(int argc, char **argv) {
  uint64_t per = 1000, n_frames = 20, rounds = 15;
  if ((argc > 1 && cs_parse_u64(argv[1], 1, 100000, &per)) ||
      (argc > 2 && cs_parse_u64(argv[2], 1, 10000, &n_frames)) ||
      (argc > 3 && cs_parse_u64(argv[3], 1, 1000, &rounds))) {
    fprintf(stderr, "usage: %s [SPANS_PER_FRAME [FRAMES [ROUNDS]]]\n", argv[0]);
    return 2;
  }
  static cs_workload w;
  cs_workload_init(&w, 1, 0);
  frame *frames = calloc(n_frames, sizeof *frames);
  size_t bytes = 0, spans = 0;
  for (uint64_t f = 0; f < n_frames; f++) {
    cs_arena a;
    cs_arena_init(&a, 1 << 20, (size_t)256 << 20);
    cs_span *s;
    size_t n = cs_workload_batch(&w, &a, per, &s);
    size_t cap = n * 2048 + 4096;
    frames[f].p = malloc(cap);
    if (!n || !frames[f].p || cs_otlp_encode_traces(s, n, frames[f].p, cap, &frames[f].n)) {
      fprintf(stderr, "cannot build frame %llu\n", (unsigned long long)f);
      return 1;
    }
    frames[f].spans = n;
    bytes += frames[f].n;
    spans += n;
    cs_arena_release(&a);
  }
  cs_limits lim;
  cs_limits_default(&lim);
  double best = 1e30;
  size_t arena_bytes = 0;
  for (uint64_t r = 0; r < rounds; r++) {
    double t0 = now();
    size_t ok = 0;
    for (uint64_t f = 0; f < n_frames; f++) {
      cs_arena a;
      cs_arena_init(&a, cs_decode_arena_chunk(frames[f].n), cs_decode_arena_cap(frames[f].n));
      cs_span *s;
      size_t ns = 0;
      cs_reject_counts rej;
      memset(&rej, 0, sizeof rej);
      if (cs_decode_traces(frames[f].p, frames[f].n, &a, &lim, &s, &ns, &rej) != CS_DECODE_OK ||
          ns != frames[f].spans) {
        fprintf(stderr, "frame %llu: decoded %zu of %zu spans\n", (unsigned long long)f, ns,
                frames[f].spans);
        return 1;
      }
      ok += ns;
      if (r == 0)
        arena_bytes += a.reserved;
      cs_arena_release(&a);
    }
    double ns_per = (now() - t0) * 1e9 / (double)ok;
    if (ns_per < best)
      best = ns_per;
  }
  printf("result spans_per_frame=%llu frames=%llu bytes_per_span=%.1f decode_ns_per_span=%.1f "
         "spans_per_s=%.0f arena_bytes_per_span=%.0f\n",
         (unsigned long long)per, (unsigned long long)n_frames, (double)bytes / (double)spans, best,
         1e9 / best, (double)arena_bytes / (double)spans);
  return 0;
}
