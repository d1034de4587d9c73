/* Span builders and a temporary-directory helper shared by the store tests. */
#ifndef CS_TEST_STORE_FIXTURES_H
#define CS_TEST_STORE_FIXTURES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "span.h"

__attribute__((unused)) static cs_resource fx_res_frontend = {{"frontend", 8}, NULL, 0};
__attribute__((unused)) static cs_resource fx_res_backend = {{"backend", 7}, NULL, 0};

static inline void fx_id(uint8_t *out, size_t n, uint64_t v) {
  memset(out, 0, n);
  for (size_t i = 0; i < 8 && i < n; i++) out[n - 1 - i] = (uint8_t)(v >> (8 * i));
  out[0] = 0xab; /* never all zero */
}

/* A span of trace t (1-based small integers), span s, parent p (0 = root). */
static inline cs_span fx_span(uint64_t t, uint64_t s, uint64_t p, const char *name,
                              cs_resource *res, uint64_t start, uint64_t dur) {
  cs_span sp;
  memset(&sp, 0, sizeof(sp));
  fx_id(sp.trace_id, 16, t);
  fx_id(sp.span_id, 8, s);
  if (p) fx_id(sp.parent_id, 8, p);
  sp.name = (cs_str){name, (uint32_t)strlen(name)};
  sp.kind = p ? 3 : 2;
  sp.start_ns = start;
  sp.end_ns = start + dur;
  sp.resource = res;
  sp.trace_state = (cs_str){"", 0};
  sp.status_msg = (cs_str){"", 0};
  sp.scope_name = (cs_str){"", 0};
  sp.scope_version = (cs_str){"", 0};
  sp.session_id = (cs_str){"", 0};
  return sp;
}

__attribute__((unused)) static cs_attr fx_attrs[] = {
    {{"s", 1}, CS_VAL_STR, {.s = {"value", 5}}},
    {{"i", 1}, CS_VAL_INT, {.i = -42}},
    {{"d", 1}, CS_VAL_DOUBLE, {.d = 2.5}},
    {{"b", 1}, CS_VAL_BOOL, {.b = 1}},
    {{"y", 1}, CS_VAL_BYTES, {.s = {"\x00\x01", 2}}},
    {{"a", 1}, CS_VAL_ARRAY, {.s = {"[1,2]", 5}}},
};
__attribute__((unused)) static cs_attr fx_rattrs[] = {
    {{"host.name", 9}, CS_VAL_STR, {.s = {"h1", 2}}}};
__attribute__((unused)) static cs_resource fx_res_svc = {{"svc", 3}, fx_rattrs, 1};

/* Three spans of trace 1 that use every field a chunk stores: a root with
 * attributes of six types and the rare fields, a child with an event and a
 * link, and a span whose parent is in another chunk. */
static inline void fx_rich_spans(cs_span sp[3], cs_event *ev, cs_link *ln) {
  sp[0] = fx_span(1, 1, 0, "root", &fx_res_svc, 1000000, 500);
  sp[1] = fx_span(1, 2, 1, "child", &fx_res_svc, 1000100, 50);
  sp[2] = fx_span(1, 3, 77, "orphan", &fx_res_backend, 999000, 10); /* parent elsewhere */
  sp[0].attrs = fx_attrs;
  sp[0].n_attrs = 6;
  sp[0].trace_state = CS_STR_LIT("k=v");
  sp[0].status_code = CS_STATUS_ERROR;
  sp[0].status_msg = CS_STR_LIT("boom");
  sp[0].scope_name = CS_STR_LIT("lib");
  sp[0].scope_version = CS_STR_LIT("1.0");
  sp[0].flags = 0x301;
  sp[0].session_id = CS_STR_LIT("sess");
  sp[0].dropped_attrs = 3;
  sp[0].dropped_events = 4;
  sp[0].dropped_links = 5;
  *ev = (cs_event){1000200, {"ev", 2}, fx_attrs, 2, 1};
  sp[1].events = ev;
  sp[1].n_events = 1;
  memset(ln, 0, sizeof(*ln));
  fx_id(ln->trace_id, 16, 9);
  fx_id(ln->span_id, 8, 8);
  ln->trace_state = CS_STR_LIT("t=s");
  ln->flags = 1;
  ln->attrs = fx_attrs + 1;
  ln->n_attrs = 1;
  ln->dropped_attrs = 2;
  sp[1].links = ln;
  sp[1].n_links = 1;
}

static inline char *fx_tmpdir(char *buf, size_t n) {
  snprintf(buf, n, "/tmp/cs_store_test_XXXXXX");
  return mkdtemp(buf);
}

static inline void fx_rmrf(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
