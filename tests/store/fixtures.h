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
