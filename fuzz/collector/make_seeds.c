/* Writes the seed corpus for fuzz_collector: valid and slightly broken
 * trace payloads, metrics, datagrams and multi-frame TCP streams, each
 * prefixed by the mode byte the target reads first. Run once; the output
 * is committed (fuzz/collector/corpus). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_build.h"
#include "wire.h"
#include "workload.h"

static const char *dir;

static void put(const char *name, uint8_t mode, const uint8_t *p, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputc(mode, f);
  fwrite(p, 1, n, f);
  fclose(f);
}

static uint8_t *trace_payload(int variant, size_t *len) {
  ob b;
  ob_init(&b);
  if (variant == 0) {
    wl_add_trace(&b, NULL, 1, 4);
  } else {
    ob_rs *rs = ob_resource(&b, variant == 2 ? "svc\xff" : NULL);
    ob_span *s = ob_add_span(&b, rs, 1, 2, 3, 4, "op", 10, variant == 3 ? 5 : 20);
    ob_any *inner[2] = {ob_str(&b, "x"), ob_dbl(&b, 1.5)};
    ob_any *arr = ob_array(&b, inner, 2);
    ob_kv *kv[2] = {ob_kvp(&b, "a", arr), ob_kvp(&b, "b", ob_bytes(&b, "\x00\x01", 2))};
    ob_span_attr(&b, s, "obj", ob_kvlist(&b, kv, 2));
    ob_span_attr(&b, s, "sessionId", ob_str(&b, "s-1"));
    ob_span_attr(&b, s, "flag", ob_bool(&b, 1));
    ob_span_attr(&b, s, "n", ob_int(&b, -7));
    ob_span_event(&b, s, "ev", 15);
    ob_span_link(&b, s, 9, 9, 9);
    ob_span_status(&b, s, 2, "err");
    if (variant == 4) s->span_id.len = 3;
    if (variant == 5) ob_add_span(&b, rs, 0, 0, 1, 0, "zero", 10, 20);
  }
  uint8_t *p = ob_pack(&b, 0, 0, len);
  ob_release(&b);
  return p;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s corpus-dir\n", argv[0]);
    return 2;
  }
  dir = argv[1];
  char name[64];
  for (int v = 0; v < 6; v++) {
    size_t n;
    uint8_t *p = trace_payload(v, &n);
    snprintf(name, sizeof name, "traces-%d", v);
    put(name, 0, p, n);
    size_t fl;
    uint8_t *fr = ob_frame(CS_FRAME_TRACES, (uint64_t)v, p, n, &fl);
    snprintf(name, sizeof name, "datagram-%d", v);
    put(name, 2, fr, fl);
    free(fr);
    free(p);
  }
  size_t n;
  uint8_t *m = ob_pack_metrics("billing", 3, 0, 0, &n);
  put("metrics", 1, m, n);
  size_t fl;
  uint8_t *mf = ob_frame(CS_FRAME_METRICS, 7, m, n, &fl);
  put("datagram-metrics", 2, mf, fl);
  /* A stream: traces frame, metrics frame, empty frame, read 5 bytes at a time. */
  size_t tn;
  uint8_t *t = trace_payload(1, &tn);
  size_t tl;
  uint8_t *tf = ob_frame(CS_FRAME_TRACES, 1, t, tn, &tl);
  size_t el;
  uint8_t *ef = ob_frame(CS_FRAME_TRACES, 2, NULL, 0, &el);
  uint8_t *stream = malloc(tl + fl + el);
  memcpy(stream, tf, tl);
  memcpy(stream + tl, mf, fl);
  memcpy(stream + tl + fl, ef, el);
  put("stream-5", 3 | (4 << 2), stream, tl + fl + el);
  put("stream-1", 3, stream, tl + fl + el);
  /* Broken headers. */
  uint8_t hdr[CS_FRAME_HDR_LEN];
  cs_frame_write_header(hdr, CS_FRAME_TRACES, 0, 1000, 1);
  put("datagram-truncated", 2, hdr, sizeof hdr);
  hdr[4] = 9;
  put("stream-badversion", 3 | (63 << 2), hdr, sizeof hdr);
  free(stream);
  free(ef);
  free(tf);
  free(t);
  free(mf);
  free(m);
  return 0;
}
