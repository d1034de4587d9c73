/* Chunk codec: every span field survives a round trip; truncated or
 * mutated chunks return CS_STORE_ECORRUPT (or decode to something) and
 * never read out of bounds (run under ASan). */
#include "check.h"
#include "chunk.h"
#include "fixtures.h"
#include "store.h"

static cs_buf encode(void) {
  cs_span sp[3];
  cs_event ev;
  cs_link ln;
  fx_rich_spans(sp, &ev, &ln);
  const cs_span *ptr[3] = {&sp[1], &sp[0], &sp[2]}; /* child before its parent */
  cs__chunk_enc *e = cs__chunk_enc_new(NULL);
  cs_buf out = {0};
  CHECK_EQ(cs__chunk_encode(e, ptr, 3, &out), 0);
  cs__chunk_enc_free(e);
  return out;
}

static void chunk_round_trips_every_field(void) {
  cs_buf b = encode();
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  CHECK_EQ(cs__chunk_count(b.p, b.n), 3);
  cs_span out[3];
  size_t n = 0;
  CHECK_EQ(cs__chunk_decode(b.p, b.n, &a, NULL, out, 3, &n), 0);
  CHECK_EQ(n, 3);
  cs_span want[3];
  cs_event ev;
  cs_link ln;
  fx_rich_spans(want, &ev, &ln);
  const cs_span *w = &want[0], *c = &out[0], *r = &out[1], *o = &out[2];
  CHECK(memcmp(r->span_id, w->span_id, 8) == 0);
  CHECK(cs_span_is_root(r));
  CHECK(memcmp(c->parent_id, w->span_id, 8) == 0);
  CHECK(memcmp(o->parent_id, want[2].parent_id, 8) == 0);
  CHECK_STRN(r->name.p, r->name.n, "root");
  CHECK_STRN(r->trace_state.p, r->trace_state.n, "k=v");
  CHECK_STRN(r->status_msg.p, r->status_msg.n, "boom");
  CHECK_STRN(r->scope_name.p, r->scope_name.n, "lib");
  CHECK_STRN(r->scope_version.p, r->scope_version.n, "1.0");
  CHECK_STRN(r->session_id.p, r->session_id.n, "sess");
  CHECK_EQ(r->status_code, CS_STATUS_ERROR);
  CHECK_EQ(r->kind, w->kind);
  CHECK_EQ(r->flags, 0x301);
  CHECK_EQ(r->dropped_attrs, 3);
  CHECK_EQ(r->dropped_events, 4);
  CHECK_EQ(r->dropped_links, 5);
  CHECK(r->start_ns == 1000000 && r->end_ns == 1000500);
  CHECK(o->start_ns == 999000 && o->end_ns == 999010);
  CHECK_STRN(r->resource->service.p, r->resource->service.n, "svc");
  CHECK_EQ(r->resource->n_attrs, 1);
  CHECK_STRN(r->resource->attrs[0].v.s.p, r->resource->attrs[0].v.s.n, "h1");
  CHECK_STRN(o->resource->service.p, o->resource->service.n, "backend");
  CHECK_EQ(r->n_attrs, 6);
  CHECK_STRN(r->attrs[0].v.s.p, r->attrs[0].v.s.n, "value");
  CHECK_EQ(r->attrs[1].v.i, -42);
  CHECK(r->attrs[2].v.d == 2.5);
  CHECK_EQ(r->attrs[3].v.b, 1);
  CHECK_EQ(r->attrs[4].v.s.n, 2);
  CHECK_EQ(r->attrs[4].type, CS_VAL_BYTES);
  CHECK_STRN(r->attrs[5].v.s.p, r->attrs[5].v.s.n, "[1,2]");
  CHECK_EQ(c->n_events, 1);
  CHECK(c->events[0].time_ns == 1000200);
  CHECK_STRN(c->events[0].name.p, c->events[0].name.n, "ev");
  CHECK_EQ(c->events[0].n_attrs, 2);
  CHECK_EQ(c->events[0].dropped_attrs, 1);
  CHECK_EQ(c->n_links, 1);
  CHECK(memcmp(c->links[0].trace_id, ln.trace_id, 16) == 0);
  CHECK_STRN(c->links[0].trace_state.p, c->links[0].trace_state.n, "t=s");
  CHECK_EQ(c->links[0].attrs[0].v.i, -42);
  CHECK_EQ(c->links[0].dropped_attrs, 2);
  cs_arena_release(&a);
  cs_buf_free(&b);
}

static void chunk_truncated_or_mutated_is_rejected_safely(void) {
  cs_buf b = encode();
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_span out[3];
  size_t n;
  for (size_t cut = 0; cut < b.n; cut++) {
    /* A copy of exactly cut bytes so ASan sees any over-read. */
    uint8_t *p = malloc(cut ? cut : 1);
    memcpy(p, b.p, cut);
    long c = cs__chunk_count(p, cut);
    if (c >= 0) CHECK_EQ(cs__chunk_decode(p, cut, &a, NULL, out, 3, &n), CS_STORE_ECORRUPT);
    free(p);
    cs_arena_reset(&a);
  }
  uint32_t seed = 12345;
  for (int round = 0; round < 5000; round++) {
    uint8_t *p = malloc(b.n);
    memcpy(p, b.p, b.n);
    for (int k = 0; k < 3; k++) {
      seed = seed * 1103515245 + 12345;
      p[(seed >> 8) % b.n] = (uint8_t)(seed >> 20);
    }
    long c = cs__chunk_count(p, b.n);
    if (c >= 0 && c <= 3) {
      int rc = cs__chunk_decode(p, b.n, &a, NULL, out, 3, &n);
      CHECK(rc == 0 || rc == CS_STORE_ECORRUPT);
      if (rc == 0)
        for (size_t i = 0; i < n; i++) CHECK(out[i].resource != NULL);
    }
    free(p);
    cs_arena_reset(&a);
  }
  cs_arena_release(&a);
  cs_buf_free(&b);
}

static int from_gdict(void *ud, uint32_t id, cs_str *out) {
  /* Every ID is published in memory here: no database needed. */
  return cs__gdict_get(ud, NULL, NULL, NULL, id, out);
}

/* Strings seen in enough chunks become global references; such a chunk
 * decodes with the dictionary and is corrupt without it. */
static void chunk_refers_to_global_strings(void) {
  cs__gdict *gd = cs__gdict_new();
  cs__chunk_enc *e = cs__chunk_enc_new(gd);
  cs_span sp[3];
  cs_event ev;
  cs_link ln;
  fx_rich_spans(sp, &ev, &ln);
  const cs_span *ptr[3] = {&sp[0], &sp[1], &sp[2]};
  cs_buf first = {0}, last = {0};
  for (int i = 0; i <= CS__GDICT_PROMOTE; i++) {
    cs_buf *b = i == 0 ? &first : &last;
    b->n = 0;
    CHECK_EQ(cs__chunk_encode(e, ptr, 3, b), 0);
    cs__gdict_commit(gd, 1);
  }
  CHECK(gd->next_id > 5);
  CHECK(last.n + 20 < first.n); /* names and keys left the chunk */
  cs_arena a;
  cs_arena_init(&a, 0, 0);
  cs_span out[3];
  size_t n;
  cs__strsrc gs = {from_gdict, gd};
  CHECK_EQ(cs__chunk_decode(last.p, last.n, &a, &gs, out, 3, &n), 0);
  CHECK_EQ(n, 3);
  CHECK_STRN(out[0].name.p, out[0].name.n, "root");
  CHECK_STRN(out[0].attrs[0].key.p, out[0].attrs[0].key.n, "s");
  CHECK_STRN(out[0].attrs[0].v.s.p, out[0].attrs[0].v.s.n, "value");
  CHECK_STRN(out[0].resource->service.p, out[0].resource->service.n, "svc");
  CHECK_STRN(out[1].events[0].name.p, out[1].events[0].name.n, "ev");
  CHECK_EQ(cs__chunk_decode(last.p, last.n, &a, NULL, out, 3, &n), CS_STORE_ECORRUPT);
  cs_arena_release(&a);
  cs_buf_free(&first);
  cs_buf_free(&last);
  cs__chunk_enc_free(e);
  cs__gdict_free(gd);
}

int main(void) {
  RUN(chunk_round_trips_every_field);
  RUN(chunk_truncated_or_mutated_is_rejected_safely);
  RUN(chunk_refers_to_global_strings);
  return CHECK_DONE();
}
