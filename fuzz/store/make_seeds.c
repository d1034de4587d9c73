/* Writes the seed corpora of the store's fuzz targets with the store's
 * own encoders: chunks (spans with attributes of every type, events,
 * links, a parent inside and one outside the chunk, global dictionary
 * references), posting values and keys, summaries and statistics rows,
 * each prefixed by the mode byte its target reads first. Run once; the
 * output is committed (fuzz/store/corpus/{chunk,posting,summary}). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "fixtures.h"
#include "keys.h"
#include "posting.h"
#include "stats.h"
#include "summary.h"

static const char *dir;

static void put(const char *sub, const char *name, int mode, const uint8_t *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  if (mode >= 0)
    fputc(mode, f);
  fwrite(p, 1, n, f);
  fclose(f);
}

/* Global IDs of the fuzz target's dictionary: 0 "GET /", 1 "frontend". */
static int seed_globals(void *ud, uint32_t id, cs_str *out) {
  (void)ud;
  if (id > 1)
    return -1;
  *out = id ? CS_STR_LIT("frontend") : CS_STR_LIT("GET /");
  return 0;
}

static void chunks(void) {
  cs_span sp[3];
  cs_event ev;
  cs_link ln;
  fx_rich_spans(sp, &ev, &ln);
  const cs_span *ptr[3] = {&sp[1], &sp[0], &sp[2]};
  cs__chunk_enc *e = cs__chunk_enc_new(NULL);
  for (size_t n = 0; n <= 3; n++) {
    cs_buf b = {0};
    if (cs__chunk_encode(e, ptr, n, &b))
      exit(1);
    char name[32];
    snprintf(name, sizeof name, "spans-%zu", n);
    put("chunk", name, -1, b.p, b.n);
    cs_buf_free(&b);
  }
  cs__chunk_enc_free(e);
  /* A chunk whose name and service are global references (sid 1 = global
   * 0, 3 = global 1), written by hand: the encoder only promotes strings
   * seen in several chunks. Header: version, 1 span, base, 0 strings, 1
   * resource: service, 0 attrs, scope name, scope version. */
  const uint8_t g[] = {CS__CHUNK_VERSION,
                       1,
                       0,
                       0,
                       1,
                       3,
                       0,
                       0,
                       0,
                       1,
                       2,
                       3,
                       4,
                       5,
                       6,
                       7,
                       8,
                       0,
                       1,
                       0x22,
                       0,
                       10,
                       20,
                       0,
                       0,
                       0,
                       0};
  cs_span one;
  size_t got;
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs__strsrc gs = {seed_globals, NULL};
  if (cs__chunk_decode(g, sizeof g, &a, &gs, &one, 1, &got) || got != 1 || one.name.n != 5) {
    fprintf(stderr, "hand-written global chunk does not decode\n");
    exit(1);
  }
  cs_arena_release(&a);
  put("chunk", "global-refs", -1, g, sizeof g);
}

static void postings(void) {
  const uint64_t t0 = 1700000000000000000ull, slot = t0 >> CS__SLOT_SHIFT;
  cs__post p[4];
  memset(p, 0, sizeof p);
  for (int i = 0; i < 4; i++) {
    p[i].start_ns = t0 + (uint64_t)i * 1000;
    fx_id(p[i].tid, 16, (uint64_t)i + 1);
  }
  for (int nf = 0; nf <= 1; nf++) {
    cs__post q[4];
    memcpy(q, p, sizeof q);
    size_t n = cs__post_sort(q, 4, nf);
    cs_buf b = {0};
    uint8_t s5[5];
    for (int i = 0; i < 5; i++)
      s5[i] = (uint8_t)(slot >> (8 * (4 - i)));
    cs_buf_put(&b, s5, 5);
    cs__post_encode(q, n, nf, &b);
    put("posting", nf ? "value-newest-first" : "value-oldest-first", nf ? 0x80 : 0, b.p, b.n);
    cs_buf_free(&b);
  }
  static const uint8_t types[] = {CS__K_CHUNK,   CS__K_SUMMARY, CS__K_ALL,     CS__K_SERVICE,
                                  CS__K_OP,      CS__K_ATTR,    CS__K_SESSION, CS__K_DURATION,
                                  CS__K_SVCNAME, CS__K_OPNAME};
  for (size_t i = 0; i < sizeof types; i++) {
    cs__key k = {.type = types[i],
                 .chunk_id = 7,
                 .start_ns = t0,
                 .slot = slot,
                 .duration_ns = 1234,
                 .a = CS_STR_LIT("svc"),
                 .b = CS_STR_LIT("op"),
                 .kind = 2};
    fx_id(k.trace_id, 16, 5);
    cs_buf b = {0};
    cs__key_encode(&b, &k);
    char name[32];
    snprintf(name, sizeof name, "key-%02x", types[i]);
    put("posting", name, 1, b.p, b.n);
    cs_buf_free(&b);
  }
}

static void summaries(void) {
  cs__sum s;
  cs__sum_init(&s);
  s.start_ns = 1700000000000000000ull;
  s.end_ns = s.start_ns + 5000;
  s.n_spans = 3;
  s.n_errors = 1;
  s.has_root = 1;
  s.root_start = s.start_ns;
  s.root_svc = CS_STR_LIT("frontend");
  s.root_name = CS_STR_LIT("GET /");
  cs__sum_offer_first(&s, s.start_ns, s.root_svc, s.root_name);
  cs__sum_add_service(&s, CS_STR_LIT("frontend"));
  cs__sum_add_service(&s, CS_STR_LIT("backend"));
  s.ids[s.n_ids++] = 42;
  cs_buf b = {0};
  cs__sum_encode(&s, &b);
  put("summary", "summary-root-first", 0, b.p, b.n);
  cs_buf_free(&b);
  cs__sum_offer_first(&s, s.start_ns - 10, CS_STR_LIT("backend"), CS_STR_LIT("early"));
  s.ids[s.n_ids++] = 43;
  cs__sum_encode(&s, &b);
  put("summary", "summary-own-first", 0, b.p, b.n);
  cs_buf_free(&b);
  cs__stats st;
  memset(&st, 0, sizeof st);
  st.count = 5;
  st.errors = 1;
  st.sum_ns = 123456;
  st.max_ns = 99999;
  st.n = 3;
  st.bucket[0] = 10, st.bucket[1] = 200, st.bucket[2] = CS_STATS_BUCKETS - 1;
  st.bucket_count[0] = 2, st.bucket_count[1] = 2, st.bucket_count[2] = 1;
  cs__stats_encode(&st, &b);
  put("summary", "stats-row", 1, b.p, b.n);
  cs_buf_free(&b);
}

int main(int argc, char **argv) {
  if (argc != 2)
    return 2;
  dir = argv[1];
  chunks();
  postings();
  summaries();
  return 0;
}
