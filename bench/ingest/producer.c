/* The load generator's frame producer: draws whole traces from the workload
 * and encodes them, a chunk at a time, as OTLP inside a native frame. The
 * payload is encoded back to front at the end of the buffer so the header
 * is then written just before it and one memmove puts the frame at buf[0]. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "loadgen.h"
#include "otlp_encode.h"
#include "wire.h"

atomic_int lg_stop;

double lg_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void lg_pace(uint64_t rate, double t0, uint64_t sent, uint64_t more) {
  if (!rate)
    return;
  for (;;) {
    double due = t0 + (double)(sent + more) / (double)rate; /* when these may go */
    double wait = due - lg_now();
    if (wait <= 0 || atomic_load(&lg_stop))
      return;
    if (wait > 0.05)
      wait = 0.05; /* stay responsive to stop */
    struct timespec ts = {0, (long)(wait * 1e9)};
    nanosleep(&ts, NULL);
  }
}

static uint64_t realtime_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int lg_producer_init(lg_producer *p, const lg_config *cfg, int index, uint32_t max_spans,
                     size_t max_frame) {
  memset(p, 0, sizeof *p);
  p->w = calloc(1, sizeof *p->w);
  if (!p->w)
    return -1;
  /* Each connection gets its own seed: trace IDs never collide. */
  uint64_t seed = cfg->seed * 1000003u + (uint64_t)index * 7919u + 1;
  cs_workload_init(p->w, seed, cfg->start_ns ? cfg->start_ns : realtime_ns());
  if (cfg->gap_ns)
    p->w->gap_ns = cfg->gap_ns;
  cs_arena_init(&p->arena, 1 << 20, (size_t)256 << 20);
  p->max_spans = max_spans ? max_spans : 1;
  p->max_frame = max_frame;
  p->per_service = cfg->per_service;
  return 0;
}

void lg_producer_release(lg_producer *p) {
  cs_arena_release(&p->arena);
  free(p->w);
  p->w = NULL;
}

static int service_of(const lg_producer *p, const cs_span *s) {
  return (int)((s->resource - p->w->resources) / CS_WORKLOAD_INSTANCES);
}

/* Stable counting sort of the batch by service, so that each service's
 * spans form one run. */
static int sort_by_service(lg_producer *p) {
  cs_span *out = cs_arena_alloc(&p->arena, sizeof(cs_span) * p->n);
  if (!out)
    return -1;
  size_t start[CS_WORKLOAD_SERVICES + 1] = {0};
  for (size_t i = 0; i < p->n; i++)
    start[service_of(p, &p->spans[i]) + 1]++;
  for (int k = 0; k < CS_WORKLOAD_SERVICES; k++)
    start[k + 1] += start[k];
  for (size_t i = 0; i < p->n; i++)
    out[start[service_of(p, &p->spans[i])]++] = p->spans[i];
  p->spans = out;
  return 0;
}

int lg_producer_next(lg_producer *p, uint8_t *buf, size_t cap, uint64_t seq, size_t *len,
                     uint32_t *nspans) {
  if (p->pos >= p->n) {
    cs_arena_reset(&p->arena);
    size_t want = p->per_service ? (size_t)p->max_spans * CS_WORKLOAD_SERVICES : p->max_spans;
    p->n = cs_workload_batch(p->w, &p->arena, want, &p->spans);
    p->pos = 0;
    if (!p->n || (p->per_service && sort_by_service(p) != 0))
      return -1;
  }
  /* A batch holds whole traces, max_spans up to max_spans + 39: send it as
   * one frame rather than leave a small remainder frame behind. */
  size_t take = p->n - p->pos;
  if (p->per_service) {
    int svc = service_of(p, &p->spans[p->pos]);
    take = 1;
    while (p->pos + take < p->n && service_of(p, &p->spans[p->pos + take]) == svc)
      take++;
  }
  if (take >= (size_t)p->max_spans + CS_WORKLOAD_MAX_TRACE_SPANS)
    take = p->max_spans;
  size_t limit = p->max_frame < cap ? p->max_frame : cap;
  for (;;) {
    size_t plen = 0;
    int rc = limit > CS_FRAME_HDR_LEN
                 ? cs_otlp_encode_traces_tail(p->spans + p->pos, take, buf + CS_FRAME_HDR_LEN,
                                              limit - CS_FRAME_HDR_LEN, &plen)
                 : CS_OTLP_ENOSPC;
    if (rc == 0) {
      uint8_t *payload = buf + limit - plen;
      cs_frame_write_header(payload - CS_FRAME_HDR_LEN, CS_FRAME_TRACES, 0, (uint32_t)plen, seq);
      memmove(buf, payload - CS_FRAME_HDR_LEN, CS_FRAME_HDR_LEN + plen);
      *len = CS_FRAME_HDR_LEN + plen;
      *nspans = (uint32_t)take;
      p->pos += take;
      return 0;
    }
    if (take == 1)
      return -1;
    take /= 2; /* too big for one frame: halve until it fits */
  }
}
