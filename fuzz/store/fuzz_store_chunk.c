/* libFuzzer target for the store's chunk decoder (store/chunk.c): a
 * damaged or foreign RocksDB value is input too. Any bytes must decode or
 * fail with CS_STORE_ECORRUPT / ELIMIT, never read out of bounds; a chunk
 * that decodes must survive encode + decode with every field unchanged. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chunk.h"
#include "store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Global dictionary IDs 0..7 are known; any other is a corrupt reference. */
static const char *const globals[] = {"GET /", "frontend", "http.method", "", "db", "x", "ok", "k"};

static int global_get(void *ud, uint32_t id, cs_str *out) {
  (void)ud;
  if (id >= sizeof globals / sizeof *globals)
    return -1;
  *out = (cs_str){globals[id], (uint32_t)strlen(globals[id])};
  return 0;
}

static void same_str(cs_str a, cs_str b) {
  if (a.n != b.n || (a.n && memcmp(a.p, b.p, a.n)))
    abort();
}

static void same_attrs(const cs_attr *a, uint32_t na, const cs_attr *b, uint32_t nb) {
  if (na != nb)
    abort();
  for (uint32_t i = 0; i < na; i++) {
    same_str(a[i].key, b[i].key);
    if (a[i].type != b[i].type)
      abort();
    switch (a[i].type) {
    case CS_VAL_INT:
      if (a[i].v.i != b[i].v.i)
        abort();
      break;
    case CS_VAL_DOUBLE:
      if (memcmp(&a[i].v.d, &b[i].v.d, 8))
        abort();
      break;
    case CS_VAL_BOOL:
      if (!a[i].v.b != !b[i].v.b)
        abort();
      break;
    default: same_str(a[i].v.s, b[i].v.s);
    }
  }
}

static void same_span(const cs_span *a, const cs_span *b) {
  if (memcmp(a->span_id, b->span_id, 8) || memcmp(a->parent_id, b->parent_id, 8))
    abort();
  same_str(a->name, b->name);
  same_str(a->trace_state, b->trace_state);
  same_str(a->status_msg, b->status_msg);
  same_str(a->session_id, b->session_id);
  same_str(a->scope_name, b->scope_name);
  same_str(a->scope_version, b->scope_version);
  if (a->kind != b->kind || a->status_code != b->status_code || a->flags != b->flags ||
      a->start_ns != b->start_ns || a->end_ns != b->end_ns ||
      a->dropped_attrs != b->dropped_attrs || a->dropped_events != b->dropped_events ||
      a->dropped_links != b->dropped_links)
    abort();
  same_str(a->resource->service, b->resource->service);
  same_attrs(a->resource->attrs, a->resource->n_attrs, b->resource->attrs, b->resource->n_attrs);
  same_attrs(a->attrs, a->n_attrs, b->attrs, b->n_attrs);
  if (a->n_events != b->n_events || a->n_links != b->n_links)
    abort();
  for (uint32_t i = 0; i < a->n_events; i++) {
    const cs_event *x = &a->events[i], *y = &b->events[i];
    if (x->time_ns != y->time_ns || x->dropped_attrs != y->dropped_attrs)
      abort();
    same_str(x->name, y->name);
    same_attrs(x->attrs, x->n_attrs, y->attrs, y->n_attrs);
  }
  for (uint32_t i = 0; i < a->n_links; i++) {
    const cs_link *x = &a->links[i], *y = &b->links[i];
    if (memcmp(x->trace_id, y->trace_id, 16) || memcmp(x->span_id, y->span_id, 8) ||
        x->flags != y->flags || x->dropped_attrs != y->dropped_attrs)
      abort();
    same_str(x->trace_state, y->trace_state);
    same_attrs(x->attrs, x->n_attrs, y->attrs, y->n_attrs);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  cs__strsrc gs = {global_get, NULL};
  long c = cs__chunk_count(data, size);
  /* A count the header cannot hold still goes to the decoder, with room
   * for a few spans, so its own checks are reached. */
  size_t cap = c >= 0 ? (size_t)c : 8;
  cs_span *spans = malloc((cap ? cap : 1) * sizeof(cs_span));
  cs_arena a;
  cs_arena_init(&a, 0, 16u << 20);
  size_t n = 0;
  int rc = cs__chunk_decode(data, size, &a, &gs, spans, cap, &n);
  if (rc != 0 && rc != CS_STORE_ECORRUPT && rc != CS_STORE_ELIMIT)
    abort();
  if (rc == 0) {
    if (c < 0 || n != (size_t)c)
      abort();
    const cs_span **ptr = malloc((n ? n : 1) * sizeof *ptr);
    for (size_t i = 0; i < n; i++)
      ptr[i] = &spans[i];
    cs__chunk_enc *e = cs__chunk_enc_new(NULL);
    cs_buf out = {0};
    if (cs__chunk_encode(e, ptr, n, &out))
      abort();
    cs_span *again = malloc((n ? n : 1) * sizeof(cs_span));
    size_t m = 0;
    if (cs__chunk_decode(out.p, out.n, &a, &gs, again, n, &m) || m != n)
      abort();
    for (size_t i = 0; i < n; i++)
      same_span(&spans[i], &again[i]);
    free(again);
    cs_buf_free(&out);
    cs__chunk_enc_free(e);
    free(ptr);
  }
  cs_arena_release(&a);
  free(spans);
  return 0;
}
