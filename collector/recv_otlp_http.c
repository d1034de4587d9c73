/* OTLP/HTTP: POST /v1/traces and /v1/metrics in protobuf or JSON. Bodies
 * go through the native path's decoder and validation (JSON by way of
 * otlp_json.c) and the same writer queue; answers follow the OTLP/HTTP
 * specification: 200 (with partial_success when spans were rejected), 400,
 * 413, 415, 429/503 with Retry-After, bodies in the request's encoding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "otlp_json.h"
#include "pbwire.h"
#include "recv_http.h"
#include "recv_int.h"

#define CT_PROTO "application/x-protobuf"
#define CT_JSON "application/json"

static void json_escape(char *out, size_t cap, const char *s) {
  size_t o = 0;
  for (; *s && o + 7 < cap; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '"' || ch == '\\') {
      out[o++] = '\\';
      out[o++] = (char)ch;
    } else if (ch < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", ch);
    } else {
      out[o++] = (char)ch;
    }
  }
  out[o] = '\0';
}

/* A body of the form {1: {1: count, 2: message}}: ExportTrace/Metrics
 * ServiceResponse with partial_success, or (code, message) for a
 * google.rpc.Status when status_form is set. */
static void set_body(cs_rh_resp *rs, int json, int status_form, int64_t count, const char *msg,
                     const char *count_name) {
  size_t mlen = strlen(msg);
  if (mlen > 1024) mlen = 1024;
  char *b = malloc(mlen * 6 + 256);
  if (!b) return;
  size_t n = 0;
  if (json) {
    char esc[1024 * 6 + 8];
    char m[1025];
    memcpy(m, msg, mlen);
    m[mlen] = '\0';
    json_escape(esc, sizeof esc, m);
    if (status_form)
      n = (size_t)snprintf(b, mlen * 6 + 256, "{\"code\":%lld,\"message\":\"%s\"}", (long long)count, esc);
    else
      n = (size_t)snprintf(b, mlen * 6 + 256, "{\"partialSuccess\":{\"%s\":\"%lld\",\"errorMessage\":\"%s\"}}",
                           count_name, (long long)count, esc);
  } else {
    uint8_t inner[1100];
    size_t k = 0;
    inner[k++] = 0x08; /* field 1, varint */
    k += pb_put_varint(inner + k, (uint64_t)count);
    inner[k++] = 0x12; /* field 2, bytes */
    k += pb_put_varint(inner + k, mlen);
    memcpy(inner + k, msg, mlen);
    k += mlen;
    if (status_form) {
      memcpy(b, inner, k);
      n = k;
    } else {
      b[n++] = 0x0a; /* field 1, message */
      n += pb_put_varint((uint8_t *)b + n, k);
      memcpy(b + n, inner, k);
      n += k;
    }
  }
  free(rs->body);
  rs->body = b;
  rs->len = n;
  rs->content_type = json ? CT_JSON : CT_PROTO;
}

/* Error answer: a google.rpc.Status in the request's encoding. */
static void fail(cs_rh_resp *rs, int json, int status, int grpc_code, const char *fmt, const char *arg) {
  char msg[512];
  snprintf(msg, sizeof msg, fmt, arg);
  rs->status = status;
  set_body(rs, json, 1, grpc_code, msg, NULL);
}

static void count_rejects(cs_collector *c, const cs_reject_counts *rej) {
  uint32_t total = 0;
  for (int i = 0; i < CS_REJ__COUNT; i++) {
    if (rej->n[i]) STAT_ADD(c, rejected[i], rej->n[i]);
    total += rej->n[i];
  }
  if (total) {
    STAT_ADD(c, spans_rejected, total);
    STAT_ADD(c, otlp_http_spans_rejected, total);
  }
  if (rej->utf8_repaired) STAT_ADD(c, utf8_repaired, rej->utf8_repaired);
}

/* "3 spans rejected: end_before_start=2 zero_span_id=1" */
static void reject_message(const cs_reject_counts *rej, char *out, size_t cap) {
  size_t o = (size_t)snprintf(out, cap, "%u spans rejected:", cs_reject_total(rej));
  for (int i = 0; i < CS_REJ__COUNT && o < cap; i++)
    if (rej->n[i]) o += (size_t)snprintf(out + o, cap - o, " %s=%u", cs_reject_name(i), rej->n[i]);
}

/* Queues and waits; sets the answer for anything but success. */
static int submit(cs_collector *c, cs_item *it, cs_rh_resp *rs, int json) {
  int rc = __cs_rh_submit(c, it);
  if (rc == CS_RH_DURABLE) return 0;
  if (rc == CS_RH_BUSY && !atomic_load(&c->recv->stopping)) {
    fail(rs, json, 429, 8, "%s", "collector queue full, retry later");
    rs->retry_after_s = 1;
  } else {
    fail(rs, json, 503, 14, "%s", rc == CS_RH_BUSY ? "collector stopping" : "store write failed");
    rs->retry_after_s = 5;
  }
  return -1;
}

void __cs_otlp_http_handle(cs_collector *c, const cs_rh_req *rq, cs_rh_resp *rs) {
  int json;
  if (!strcmp(rq->content_type, CT_PROTO) || !strcmp(rq->content_type, "application/protobuf")) {
    json = 0;
  } else if (!strcmp(rq->content_type, CT_JSON)) {
    json = 1;
  } else {
    __cs_rh_text(rs, 415, "unsupported content type: %.100s (use " CT_PROTO " or " CT_JSON ")",
                 rq->content_type[0] ? rq->content_type : "none");
    return;
  }
  int traces = !strcmp(rq->path, "/v1/traces");
  if (!traces && !c->metrics_sink) { /* standalone collector: see recv.c */
    fail(rs, json, 501, 12, "%s",
         "metrics not supported by this collector: run the all-in-one callscope for metrics");
    return;
  }
  cs_item *it = calloc(1, sizeof *it);
  if (!it) {
    fail(rs, json, 503, 14, "%s", "out of memory");
    rs->retry_after_s = 5;
    return;
  }
  cs_arena_init(&it->arena, cs_decode_arena_chunk(rq->len), cs_decode_arena_cap(rq->len));
  char err[256] = "";
  cs_reject_counts rej;
  memset(&rej, 0, sizeof rej);
  size_t points = 0;
  int rc;
  if (traces) {
    it->type = CS_FRAME_TRACES;
    rc = json ? cs_decode_traces_json((const char *)rq->body, rq->len, &it->arena, &c->o.limits,
                                      &it->spans, &it->n_spans, &rej, err, sizeof err)
              : cs_decode_traces(rq->body, rq->len, &it->arena, &c->o.limits, &it->spans,
                                 &it->n_spans, &rej);
  } else {
    it->type = CS_FRAME_METRICS;
    rc = json ? cs_decode_metrics_json((const char *)rq->body, rq->len, &it->arena, &c->o.limits,
                                       &it->metrics, &it->resources, &points, err, sizeof err)
              : cs_decode_metrics(rq->body, rq->len, &it->arena, &c->o.limits, &it->metrics,
                                  &it->resources, &points);
  }
  if (rc != CS_DECODE_OK) {
    if (!err[0]) snprintf(err, sizeof err, "%s", cs_decode_strerror(rc));
    STAT_ADD(c, decode_errors, rc == CS_DECODE_EPROTO);
    STAT_ADD(c, decode_nomem, rc == CS_DECODE_ENOMEM);
    __cs_recv_warn(c, "otlp-http %s body of %zu bytes rejected: %s", json ? "json" : "protobuf",
                   rq->len, err);
    __cs_item_free(it);
    if (rc == CS_DECODE_ENOMEM) fail(rs, json, 413, 8, "body needs too much memory: %s", err);
    else fail(rs, json, 400, 3, "bad request body: %s", err);
    return;
  }
  __cs_rh_slot_release(c, rq); /* decoded: let others decode while we wait */
  if (traces) __cs_reject_out_of_window(c, it->spans, &it->n_spans, &rej, "otlp-http");
  uint32_t rejected = cs_reject_total(&rej);
  size_t accepted = traces ? it->n_spans : points;
  if (traces) {
    it->accepted = (uint32_t)it->n_spans;
    it->rejected = rejected;
  } else {
    it->accepted = points > UINT32_MAX ? UINT32_MAX : (uint32_t)points;
  }
  if ((traces && it->n_spans == 0) || (!traces && !it->metrics)) {
    __cs_item_free(it); /* nothing to store */
  } else if (submit(c, it, rs, json)) {
    /* Refused whole: nothing stored, no partial success reported, so the
     * client sends every span again; only the refusal is counted here. */
    if (traces)
      STAT_ADD(c, otlp_http_spans_refused, accepted + rejected);
    else
      STAT_ADD(c, otlp_http_metric_points_refused, points);
    return;
  }
  /* Answered 200: now the counts are final. */
  if (traces) {
    count_rejects(c, &rej);
    STAT_ADD(c, otlp_http_spans, accepted);
  } else {
    STAT_ADD(c, metric_points, points);
    STAT_ADD(c, otlp_http_metric_points, points);
  }
  rs->status = 200;
  rs->content_type = json ? CT_JSON : CT_PROTO;
  if (rejected) {
    char msg[512];
    reject_message(&rej, msg, sizeof msg);
    set_body(rs, json, 0, rejected, msg, "rejectedSpans");
  } else if (json) {
    rs->body = malloc(3);
    if (rs->body) {
      memcpy(rs->body, "{}", 3);
      rs->len = 2;
    }
  }
}
