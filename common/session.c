/* See session.h. */
#include "session.h"

#include <ctype.h>

int cs_is_session_key(const char *key, size_t len) {
  static const char want[] = "sessionid";
  size_t j = 0;
  for (size_t i = 0; i < len; i++) {
    char c = key[i];
    if (c == '.' || c == '_' || c == '-') continue;
    if (j >= sizeof want - 1) return 0;
    if (tolower((unsigned char)c) != want[j++]) return 0;
  }
  return j == sizeof want - 1;
}

static int find_in(const cs_attr *attrs, uint32_t n, cs_str *out) {
  for (uint32_t i = 0; i < n; i++) {
    const cs_attr *a = &attrs[i];
    if (a->type == CS_VAL_STR && a->v.s.n > 0 && cs_is_session_key(a->key.p, a->key.n)) {
      *out = a->v.s;
      return 1;
    }
  }
  return 0;
}

void cs_span_find_session(cs_span *span) {
  span->session_id = (cs_str){0, 0};
  if (find_in(span->attrs, span->n_attrs, &span->session_id)) return;
  if (span->resource) find_in(span->resource->attrs, span->resource->n_attrs, &span->session_id);
}
