/* The wire decoder (collector/decode_traces.c) against the protobuf-c
 * decoder it replaced (decode_ref.c): same result code, spans, rejects and
 * repairs on the ingest benchmark's frames, on the fuzz corpus, on
 * hand-made edge cases and on many thousands of mutations of all of these,
 * under the default limits and under small ones that reach every reject
 * path. Usage: test_decode_diff [CORPUS_DIR]. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/common/workload.h" /* tests/collector has a workload.h too */
#include "check.h"
#include "decode_ref.h"
#include "otlp_build.h"
#include "otlp_encode.h"
#include "wire.h"

typedef struct input {
  uint8_t *p;
  size_t n;
} input;

static input *inputs;
static size_t n_inputs, cap_inputs;
static size_t n_structured; /* inputs[0, n_structured): built, not from the corpus */

static void add_input(const uint8_t *p, size_t n) {
  if (n_inputs == cap_inputs) {
    cap_inputs = cap_inputs ? cap_inputs * 2 : 256;
    inputs = realloc(inputs, cap_inputs * sizeof *inputs);
  }
  inputs[n_inputs].p = malloc(n ? n : 1);
  if (n)
    memcpy(inputs[n_inputs].p, p, n);
  inputs[n_inputs++].n = n;
}

static cs_limits lim_default, lim_small;

typedef struct tally {
  size_t same_ok, same_err, skipped, different, spans;
} tally;

static void hexdump(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && i < 512; i++)
    fprintf(stderr, "%02x%s", p[i], i % 32 == 31 ? "\n" : "");
  fprintf(stderr, "%s", n > 512 ? " ...\n" : "\n");
}

static void compare(const uint8_t *p, size_t n, const cs_limits *lim, tally *t) {
  char why[256];
  int r = cs_decode_diff(p, n, lim, why, sizeof why);
  if (r == CS_DIFF_SKIPPED) {
    t->skipped++;
    return;
  }
  if (r == CS_DIFF_DIFFERENT) {
    if (t->different++ < 3) {
      fprintf(stderr, "  decoders differ (%s) on %zu bytes:\n", why, n);
      hexdump(p, n);
    }
    return;
  }
  /* Same: count what the comparison covered. */
  cs_arena a;
  cs_arena_init(&a, cs_decode_arena_chunk(n), cs_decode_arena_cap(n));
  cs_span *s;
  size_t ns = 0;
  cs_reject_counts rej;
  memset(&rej, 0, sizeof rej);
  if (cs_decode_traces(p, n, &a, lim, &s, &ns, &rej) == CS_DECODE_OK) {
    t->same_ok++;
    t->spans += ns;
  } else {
    t->same_err++;
  }
  cs_arena_release(&a);
}

/* Frames of the ingest benchmark's workload, 1 to 1000 spans each. */
static void workload_frames_decode_the_same(void) {
  static cs_workload w;
  cs_workload_init(&w, 7, 0);
  tally t = {0};
  static const size_t sizes[] = {1, 2, 5, 20, 100, 1000};
  for (size_t k = 0; k < 60; k++) {
    cs_arena a;
    cs_arena_init(&a, 1 << 20, (size_t)64 << 20);
    cs_span *s;
    size_t n = cs_workload_batch(&w, &a, sizes[k % 6], &s);
    size_t cap = n * 2048 + 4096, len = 0;
    uint8_t *buf = malloc(cap);
    CHECK(n > 0 && buf && cs_otlp_encode_traces(s, n, buf, cap, &len) == 0);
    compare(buf, len, &lim_default, &t);
    compare(buf, len, &lim_small, &t);
    if (n <= 40)
      add_input(buf, len); /* mutated later */
    free(buf);
    cs_arena_release(&a);
  }
  fprintf(stderr, "  workload: %zu same (%zu spans), %zu different\n", t.same_ok, t.spans,
          t.different);
  CHECK_EQ(t.different, 0);
  CHECK_EQ(t.same_ok, 120);
  CHECK(t.spans > 10000);
}

/* Requests that exercise every conversion and reject path. */
static void add_edge_cases(void) {
  for (int v = 0; v < 12; v++) {
    ob b;
    ob_init(&b);
    ob_rs *rs = ob_resource(&b, v == 1 ? "svc\xff\xfe" : v == 2 ? "" : "checkout");
    ob_resource_attr(&b, rs, "session_id", ob_str(&b, v == 3 ? "" : "res-sess"));
    if (v == 4)
      for (int i = 0; i < 20; i++)
        ob_resource_attr(&b, rs, "r", ob_int(&b, i));
    for (int i = 0; i < 6; i++) {
      ob_span *s = ob_add_span(&b, rs, 1, 2, (uint64_t)(i + 1), i ? 1 : 0,
                               i == 2 ? "bad\xc3name" : "op", 100, i == 5 ? 50 : 200);
      s->kind = (Opentelemetry__Proto__Trace__V1__Span__SpanKind)(v == 5 ? 9 : i % 6);
      s->flags = 0x100u | (uint32_t)i;
      s->dropped_attributes_count = (uint32_t)v;
      s->dropped_events_count = 2;
      s->dropped_links_count = 3;
      if (v == 6 && i == 1)
        s->trace_id.len = 3;
      ob_span_attr(&b, s, "k", ob_str(&b, i == 3 ? "v\xed\xa0\x80" : "v"));
      ob_span_attr(&b, s, "n", ob_int(&b, -i));
      ob_span_attr(&b, s, "d", ob_dbl(&b, i * 0.25));
      ob_span_attr(&b, s, "b", ob_bool(&b, i & 1));
      ob_span_attr(&b, s, "raw", ob_bytes(&b, "\x00\xff\x01", 3));
      ob_any *deep = ob_int(&b, 1);
      for (int d = 0; d < (v == 7 ? 6 : 2); d++) {
        ob_any **one = cs_arena_alloc(&b.a, sizeof *one);
        *one = deep;
        deep = ob_array(&b, one, 1);
      }
      ob_span_attr(&b, s, "deep", deep);
      ob_kv *kvs[3] = {ob_kvp(&b, "x", ob_str(&b, "q\"\\\n\x01")), ob_kvp(&b, "y\xff", NULL),
                       ob_kvp(&b, "z", ob_bytes(&b, "hello", 5))};
      ob_span_attr(&b, s, "obj", ob_kvlist(&b, kvs, 3));
      if (i == 4)
        ob_span_attr(&b, s, "SessionID", ob_str(&b, "span-sess"));
      ob_span_event(&b, s, i == 1 ? "ev\xff" : "ev", 150);
      if (v == 8)
        ob_span_event(&b, s, "ev2", 160);
      ob_span_link(&b, s, 3, 4, i == 0 && v == 9 ? 0 : 5);
      ob_span_status(&b, s, i % 4, i == 2 ? "st\xfe" : "msg");
    }
    size_t len;
    uint8_t *buf = ob_pack(&b, 0, 0, &len);
    add_input(buf, len);
    free(buf);
    ob_release(&b);
  }
}

static void edge_cases_decode_the_same(void) {
  size_t first = n_inputs;
  add_edge_cases();
  tally t = {0};
  for (size_t i = first; i < n_inputs; i++) {
    compare(inputs[i].p, inputs[i].n, &lim_default, &t);
    compare(inputs[i].p, inputs[i].n, &lim_small, &t);
  }
  fprintf(stderr, "  edge cases: %zu same (%zu spans), %zu different\n", t.same_ok, t.spans,
          t.different);
  CHECK_EQ(t.different, 0);
  CHECK_EQ(t.same_ok, 2 * (n_inputs - first));
}

static const char *corpus_dir;

static void corpus_decodes_the_same(void) {
  const char *dir = corpus_dir;
  n_structured = n_inputs;
  DIR *d = dir ? opendir(dir) : NULL;
  if (!d) {
    fprintf(stderr, "  no corpus directory (%s)\n", dir ? dir : "none given");
    CHECK(d != NULL);
    return;
  }
  tally t = {0};
  size_t files = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f)
      continue;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n < 1)
      continue;
    files++;
    /* The first byte is the fuzzer's mode; a datagram's payload too. */
    compare(buf + 1, n - 1, &lim_default, &t);
    compare(buf + 1, n - 1, &lim_small, &t);
    add_input(buf + 1, n - 1);
    cs_frame_hdr h;
    const uint8_t *payload;
    if (cs_frame_parse_datagram(buf + 1, n - 1, CS_FRAME_MAX_UDP, &h, &payload) == CS_WIRE_OK &&
        h.type == CS_FRAME_TRACES) {
      compare(payload, h.len, &lim_default, &t);
      add_input(payload, h.len);
    }
  }
  closedir(d);
  fprintf(
      stderr,
      "  corpus: %zu files, %zu same ok (%zu spans), %zu same error, %zu skipped, %zu different\n",
      files, t.same_ok, t.spans, t.same_err, t.skipped, t.different);
  CHECK(files > 50);
  CHECK_EQ(t.different, 0);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* One random edit: flip, overwrite, truncate, insert, delete or duplicate
 * a run of bytes. The result is in out (capacity n + 64). */
static size_t mutate(const uint8_t *p, size_t n, uint8_t *out) {
  memcpy(out, p, n);
  if (n == 0) {
    out[0] = (uint8_t)rnd();
    return 1;
  }
  size_t at = rnd() % n, k = 1 + rnd() % 8;
  switch (rnd() % 7) {
  case 0: out[at] ^= (uint8_t)(1u << (rnd() % 8)); return n;
  case 1: out[at] = (uint8_t)rnd(); return n;
  case 2: return at;
  case 3: /* insert k random bytes */
    memmove(out + at + k, out + at, n - at);
    for (size_t i = 0; i < k; i++)
      out[at + i] = (uint8_t)rnd();
    return n + k;
  case 4:
    if (k > n - at)
      k = n - at;
    memmove(out + at, out + at + k, n - at - k);
    return n - k;
  case 5: { /* duplicate a run: repeated fields, or a field twice */
    if (k > n - at)
      k = n - at;
    memmove(out + at + k, out + at, n - at);
    return n + k;
  }
  default: /* a small varint-ish value, often a length or tag */
    out[at] = (uint8_t)(rnd() % 0x90);
    return n;
  }
}

static void mutations_decode_the_same(void) {
  tally t = {0};
  size_t rounds = 100000;
  uint8_t *buf = NULL;
  size_t cap = 0;
  for (size_t r = 0; r < rounds; r++) {
    /* Half from the well-formed requests, half from the corpus. */
    const input *in = &inputs[rnd() % 2 && n_structured ? rnd() % n_structured : rnd() % n_inputs];
    if (in->n > 20000)
      continue;
    if (cap < in->n * 2 + 128) {
      cap = in->n * 2 + 128;
      buf = realloc(buf, cap);
    }
    size_t n = mutate(in->p, in->n, buf);
    if (rnd() % 3 == 0) { /* a second edit now and then */
      uint8_t *tmp = malloc(n + 64);
      memcpy(tmp, buf, n);
      n = mutate(tmp, n, buf);
      free(tmp);
    }
    compare(buf, n, r % 2 ? &lim_small : &lim_default, &t);
  }
  free(buf);
  fprintf(stderr,
          "  mutations: %zu same ok (%zu spans), %zu same error, %zu skipped, %zu different\n",
          t.same_ok, t.spans, t.same_err, t.skipped, t.different);
  CHECK_EQ(t.different, 0);
  /* The mutations reach both outcomes, and most are compared. */
  CHECK(t.same_ok > rounds / 10);
  CHECK(t.same_err > rounds / 10);
  CHECK(t.skipped < rounds / 4);
}

int main(int argc, char **argv) {
  cs_limits_default(&lim_default);
  cs_limits_default(&lim_small);
  lim_small.max_attrs = 16;
  lim_small.max_value_len = 64;
  lim_small.max_name_len = 16;
  lim_small.max_key_len = 8;
  lim_small.max_events = 1;
  lim_small.max_links = 1;
  lim_small.max_depth = 4;
  RUN(workload_frames_decode_the_same);
  RUN(edge_cases_decode_the_same);
  corpus_dir = argc > 1 ? argv[1] : NULL;
  RUN(corpus_decodes_the_same);
  RUN(mutations_decode_the_same);
  for (size_t i = 0; i < n_inputs; i++)
    free(inputs[i].p);
  free(inputs);
  return CHECK_DONE();
}
