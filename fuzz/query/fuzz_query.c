/* Fuzz target for the query server's parsing of client input: durations,
 * integers, trace/span IDs, tag conditions, dependency edges, cursors, the flat `tags` JSON
 * object, and the JSON writer's escaping of whatever comes back out. The
 * whole input goes to every parser; any crash, leak or UB is a finding. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "params.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *s = (const char *)data;
  uint64_t v;
  uint8_t tid[16], sid[8];
  cs_str k, val;
  cs_cursor c;
  if (cs_qp_duration(s, size, &v) == 0 && v > (uint64_t)INT64_MAX) abort();
  if (cs_qp_u64(s, size, 1000, &v) == 0 && v > 1000) abort();
  (void)cs_qp_trace_id(s, size, tid);
  (void)cs_qp_span_id(s, size, sid);
  if (cs_qp_tag(s, size, &k, &val) == 0 && (k.n == 0 || k.n + val.n + 1 != size)) abort();
  if (cs_qp_edge(s, size, &k, &val) == 0 &&
      (k.n == 0 || val.n == 0 || k.n + val.n + 1 != size || memchr(k.p, '>', k.n)))
    abort();
  if (cs_cursor_decode(s, size, &c) == 0) {
    char buf[CS_CURSOR_LEN + 1];
    cs_cursor_encode(&c, buf);
    if (strncasecmp(buf, s, CS_CURSOR_LEN) != 0) abort();
  }

  cs_arena a;
  cs_arena_init(&a, 4096, 1 << 20);
  cs_str *keys, *vals;
  size_t n = 0;
  char err[128];
  cs_json j;
  cs_json_init(&j, 1 << 20);
  cs_json_obj(&j);
  if (cs_json_parse_flat(s, size, &a, &keys, &vals, &n, 32, err, sizeof err) == 0) {
    if (n > 32) abort();
    /* Re-encode what was parsed: the writer must cope with any bytes. */
    for (size_t i = 0; i < n; i++) {
      char key[64];
      size_t kl = keys[i].n < sizeof key - 1 ? keys[i].n : sizeof key - 1;
      memcpy(key, keys[i].p, kl);
      key[kl] = '\0';
      cs_json_key(&j, key);
      cs_json_cs(&j, vals[i]);
    }
  }
  cs_json_key(&j, "raw");
  cs_json_strn(&j, s, size);
  cs_json_end(&j);
  size_t len;
  char *out = cs_json_take(&j, &len);
  if (out) {
    /* Valid JSON text never carries raw control characters. */
    for (size_t i = 0; i < len; i++)
      if ((unsigned char)out[i] < 0x20) abort();
    free(out);
  }
  cs_json_release(&j);
  cs_arena_release(&a);
  return 0;
}
