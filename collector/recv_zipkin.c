/* Zipkin v2: POST /api/v2/spans with a JSON array of spans or a protobuf
 * ListOfSpans (zipkin.c has
 * the mapping), answered 202 once durable like Zipkin's own server.
 * Spans go through the same validation, session lookup and writer queue as
 * every other receiver's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_json.h"
#include "recv_http.h"
#include "recv_int.h"
#include "zipkin.h"

void __cs_zipkin_handle(cs_collector *c, const cs_rh_req *rq, cs_rh_resp *rs) {
  int proto = !strcmp(rq->content_type, "application/x-protobuf") ||
              !strcmp(rq->content_type, "application/protobuf");
  if (!proto && strcmp(rq->content_type, "application/json") && rq->content_type[0]) {
    __cs_rh_text(rs, 415,
                 "unsupported content type: %.100s (use application/json or application/x-protobuf)",
                 rq->content_type);
    return;
  }
  cs_item *it = calloc(1, sizeof *it);
  if (!it) {
    __cs_rh_text(rs, 503, "%s", "out of memory");
    rs->retry_after_s = 5;
    return;
  }
  cs_arena_init(&it->arena, 64u << 10, cs_otlp_json_arena_cap(rq->len));
  it->type = CS_FRAME_TRACES;
  char err[256] = "";
  cs_reject_counts rej;
  memset(&rej, 0, sizeof rej);
  int rc = proto ? cs_zipkin_decode_proto(rq->body, rq->len, &it->arena, &c->o.limits, &it->spans,
                                          &it->n_spans, &rej, err, sizeof err)
                 : cs_zipkin_decode((const char *)rq->body, rq->len, &it->arena, &c->o.limits,
                                    &it->spans, &it->n_spans, &rej, err, sizeof err);
  if (rc != CS_DECODE_OK) {
    if (!err[0]) snprintf(err, sizeof err, "%s", cs_decode_strerror(rc));
    __cs_recv_warn(c, "zipkin body of %zu bytes rejected: %s", rq->len, err);
    __cs_item_free(it);
    __cs_rh_text(rs, rc == CS_DECODE_ENOMEM ? 413 : 400, "bad request body: %s", err);
    return;
  }
  __cs_rh_slot_release(c, rq); /* decoded: let others decode while we wait */
  __cs_reject_out_of_window(c, it->spans, &it->n_spans, &rej, "zipkin");
  uint32_t rejected = cs_reject_total(&rej);
  size_t accepted = it->n_spans;
  it->accepted = (uint32_t)it->n_spans;
  it->rejected = rejected;
  if (it->n_spans) {
    int sr = __cs_rh_submit(c, it);
    if (sr != CS_RH_DURABLE) {
      /* Refused whole: the client sends every span again. */
      STAT_ADD(c, zipkin_spans_refused, accepted + rejected);
      int busy = sr == CS_RH_BUSY && !atomic_load(&c->recv->stopping);
      __cs_rh_text(rs, busy ? 429 : 503, "%s", busy ? "collector queue full, retry later"
                                                    : "collector stopping or store failing");
      rs->retry_after_s = busy ? 1 : 5;
      return;
    }
  } else {
    __cs_item_free(it);
  }
  /* Answered 202: now the counts are final. */
  for (int i = 0; i < CS_REJ__COUNT; i++)
    if (rej.n[i])
      STAT_ADD(c, rejected[i], rej.n[i]);
  if (rejected) {
    STAT_ADD(c, spans_rejected, rejected);
    STAT_ADD(c, zipkin_spans_rejected, rejected);
  }
  if (rej.utf8_repaired)
    STAT_ADD(c, utf8_repaired, rej.utf8_repaired);
  STAT_ADD(c, zipkin_spans, accepted);
  rs->status = 202;
  if (rejected) { /* "2 spans rejected: trace_id_len=1 expired=1", as OTLP's message */
    char msg[400];
    size_t o = (size_t)snprintf(msg, sizeof msg, "%u spans rejected:", rejected);
    for (int i = 0; i < CS_REJ__COUNT && o < sizeof msg; i++)
      if (rej.n[i]) o += (size_t)snprintf(msg + o, sizeof msg - o, " %s=%u", cs_reject_name(i), rej.n[i]);
    __cs_rh_text(rs, 202, "%s", msg);
  }
}
