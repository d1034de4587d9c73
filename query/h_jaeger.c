/* Jaeger-compatible endpoints: the shapes of Jaeger's HTTP JSON API
 * (structured response {data,total,limit,offset,errors}, traces with
 * processes and CHILD_OF references, microsecond times), so Jaeger's UI and
 * tools can point at Callscope. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "query_int.h"

static void envelope_open(cs_json *j) {
  cs_json_obj(j);
  cs_json_key(j, "data");
}

static void envelope_close(cs_json *j, size_t total, size_t limit) {
  cs_json_key(j, "total"), cs_json_uint(j, total);
  cs_json_key(j, "limit"), cs_json_uint(j, limit);
  cs_json_key(j, "offset"), cs_json_int(j, 0);
  cs_json_key(j, "errors"), cs_json_null(j);
  cs_json_end(j);
}

void h_jaeger_services(qreq *x) {
  cs_str *svc;
  size_t n;
  int rc = cs_store_list_services(x->q->st, x->a, &svc, &n);
  if (rc) {
    q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
    return;
  }
  envelope_open(&x->j);
  cs_json_arr(&x->j);
  for (size_t i = 0; i < n; i++) cs_json_cs(&x->j, svc[i]);
  cs_json_end(&x->j);
  envelope_close(&x->j, n, 0);
  q_send_json(x, 200);
}

static int list_ops(qreq *x, cs_str service, cs_operation **ops, size_t *n) {
  if (!service.n) return q_error(x, 400, "parameter 'service' is required");
  int rc = cs_store_list_operations(x->q->st, service, x->a, ops, n);
  if (rc) return q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
  return 0;
}

/* GET /api/services/{service}/operations: distinct names only. */
void h_jaeger_operations_path(qreq *x) {
  cs_operation *ops;
  size_t n;
  if (list_ops(x, x->cap, &ops, &n)) return;
  envelope_open(&x->j);
  cs_json_arr(&x->j);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (i && q_str_eq(ops[i].name, ops[i - 1].name)) continue; /* sorted by name */
    cs_json_cs(&x->j, ops[i].name);
    k++;
  }
  cs_json_end(&x->j);
  envelope_close(&x->j, k, 0);
  q_send_json(x, 200);
}

/* GET /api/operations?service=&spanKind= */
void h_jaeger_operations(qreq *x) {
  cs_str service, kind;
  if (q_arg_str(x, "service", 1024, &service) || q_arg_str(x, "spanKind", 32, &kind)) return;
  if (kind.n && !q_str_eqc(kind, "server") && !q_str_eqc(kind, "client") &&
      !q_str_eqc(kind, "producer") && !q_str_eqc(kind, "consumer") &&
      !q_str_eqc(kind, "internal") && !q_str_eqc(kind, "unspecified")) {
    q_error(x, 400, "bad spanKind: %.32s (want server, client, producer, consumer or internal)",
            kind.p);
    return;
  }
  cs_operation *ops;
  size_t n;
  if (list_ops(x, service, &ops, &n)) return;
  envelope_open(&x->j);
  cs_json_arr(&x->j);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *kn = q_kind_name(ops[i].kind);
    if (kind.n && !(q_str_eqc(kind, kn) || (q_str_eqc(kind, "unspecified") && !*kn))) continue;
    cs_json_obj(&x->j);
    cs_json_key(&x->j, "name"), cs_json_cs(&x->j, ops[i].name);
    cs_json_key(&x->j, "spanKind"), cs_json_str(&x->j, kn);
    cs_json_end(&x->j);
    k++;
  }
  cs_json_end(&x->j);
  envelope_close(&x->j, k, 0);
  q_send_json(x, 200);
}

static void jaeger_tag(cs_json *j, const cs_attr *at) {
  static const char *const types[] = {"string", "string", "bool", "int64",
                                      "float64", "binary", "string", "string"};
  cs_json_obj(j);
  cs_json_key(j, "key"), cs_json_cs(j, at->key);
  cs_json_key(j, "type"), cs_json_str(j, types[at->type < 8 ? at->type : 1]);
  cs_json_key(j, "value"), q_json_attr_value(j, at);
  cs_json_end(j);
}

static void str_tag(cs_json *j, const char *key, cs_str v) {
  cs_attr at = {.key = {key, (uint32_t)strlen(key)}, .type = CS_VAL_STR, .v.s = v};
  jaeger_tag(j, &at);
}

static int same_resource(const cs_resource *a, const cs_resource *b) {
  if (a == b) return 1;
  if (!a || !b || !q_str_eq(a->service, b->service) || a->n_attrs != b->n_attrs) return 0;
  char b1[40], b2[40];
  for (uint32_t i = 0; i < a->n_attrs; i++)
    if (!q_str_eq(a->attrs[i].key, b->attrs[i].key) ||
        !q_str_eq(q_attr_text(&a->attrs[i], b1, sizeof b1),
                  q_attr_text(&b->attrs[i], b2, sizeof b2)))
      return 0;
  return 1;
}

int q_json_jaeger_trace(qreq *x, const uint8_t trace_id[16], const cs_span *spans, size_t n) {
  cs_json *j = &x->j;
  cs_tree t;
  if (cs_tree_build(spans, n, x->a, &t)) return q_error(x, 500, "out of memory building trace");
  /* Processes: one per distinct resource, numbered in first-seen order. */
  const cs_resource **procs = cs_arena_alloc(x->a, sizeof(*procs) * (t.n ? t.n : 1));
  uint32_t *pid = cs_arena_alloc(x->a, sizeof(uint32_t) * (t.n ? t.n : 1));
  if (!procs || !pid) return q_error(x, 500, "out of memory");
  size_t np = 0;
  for (size_t k = 0; k < t.n; k++) {
    const cs_resource *r = t.nodes[t.order[k]].span->resource;
    size_t p = 0;
    /* Content comparison is bounded: past 256 processes only identical
     * pointers are merged. */
    for (; p < np; p++)
      if (procs[p] == r || (np < 256 && same_resource(procs[p], r))) break;
    if (p == np) procs[np++] = r;
    pid[t.order[k]] = (uint32_t)p + 1;
  }

  cs_json_obj(j);
  cs_json_key(j, "traceID"), cs_json_hex(j, trace_id, 16);
  cs_json_key(j, "spans"), cs_json_arr(j);
  for (size_t k = 0; k < t.n; k++) {
    const cs_tree_node *nd = &t.nodes[t.order[k]];
    const cs_span *s = nd->span;
    char pbuf[24];
    cs_json_obj(j);
    cs_json_key(j, "traceID"), cs_json_hex(j, trace_id, 16);
    cs_json_key(j, "spanID"), cs_json_hex(j, s->span_id, 8);
    cs_json_key(j, "flags"), cs_json_uint(j, s->flags & 0xff);
    cs_json_key(j, "operationName"), cs_json_cs(j, s->name);
    cs_json_key(j, "references"), cs_json_arr(j);
    if (!cs_span_is_root(s)) {
      cs_json_obj(j);
      cs_json_key(j, "refType"), cs_json_str(j, "CHILD_OF");
      cs_json_key(j, "traceID"), cs_json_hex(j, trace_id, 16);
      cs_json_key(j, "spanID"), cs_json_hex(j, s->parent_id, 8);
      cs_json_end(j);
    }
    for (uint32_t l = 0; l < s->n_links; l++) {
      cs_json_obj(j);
      cs_json_key(j, "refType"), cs_json_str(j, "FOLLOWS_FROM");
      cs_json_key(j, "traceID"), cs_json_hex(j, s->links[l].trace_id, 16);
      cs_json_key(j, "spanID"), cs_json_hex(j, s->links[l].span_id, 8);
      cs_json_end(j);
    }
    cs_json_end(j);
    cs_json_key(j, "startTime"), cs_json_uint(j, nd->start_ns / 1000);
    cs_json_key(j, "duration"), cs_json_uint(j, (nd->end_ns - nd->start_ns) / 1000);
    cs_json_key(j, "tags"), cs_json_arr(j);
    for (uint32_t a = 0; a < s->n_attrs; a++) jaeger_tag(j, &s->attrs[a]);
    /* The tags Jaeger's OTLP translator adds. */
    if (s->kind) str_tag(j, "span.kind", (cs_str){q_kind_name(s->kind), (uint32_t)strlen(q_kind_name(s->kind))});
    if (s->scope_name.n) str_tag(j, "otel.scope.name", s->scope_name);
    if (s->scope_version.n) str_tag(j, "otel.scope.version", s->scope_version);
    if (s->status_code == CS_STATUS_ERROR) {
      str_tag(j, "otel.status_code", CS_STR_LIT("ERROR"));
      /* A span that carries its own "error" attribute (Zipkin's error tag)
       * keeps it as sent: a second "error" tag would be a duplicate. */
      int has_error = 0;
      for (uint32_t a = 0; a < s->n_attrs && !has_error; a++)
        has_error = s->attrs[a].key.n == 5 && !memcmp(s->attrs[a].key.p, "error", 5);
      cs_attr e = {.key = CS_STR_LIT("error"), .type = CS_VAL_BOOL, .v.b = 1};
      if (!has_error) jaeger_tag(j, &e);
    } else if (s->status_code == CS_STATUS_OK) {
      str_tag(j, "otel.status_code", CS_STR_LIT("OK"));
    }
    if (s->status_msg.n) str_tag(j, "otel.status_description", s->status_msg);
    cs_json_end(j);
    cs_json_key(j, "logs"), cs_json_arr(j);
    for (uint32_t e = 0; e < s->n_events; e++) {
      const cs_event *ev = &s->events[e];
      cs_json_obj(j);
      cs_json_key(j, "timestamp"), cs_json_uint(j, q_shift_us(ev->time_ns, nd->skew_ns));
      cs_json_key(j, "fields"), cs_json_arr(j);
      str_tag(j, "event", ev->name);
      for (uint32_t a = 0; a < ev->n_attrs; a++) jaeger_tag(j, &ev->attrs[a]);
      cs_json_end(j);
      cs_json_end(j);
    }
    cs_json_end(j);
    snprintf(pbuf, sizeof pbuf, "p%u", pid[t.order[k]]);
    cs_json_key(j, "processID"), cs_json_str(j, pbuf);
    cs_json_key(j, "warnings");
    if (nd->orphan || nd->skew_ns) {
      char w[160];
      cs_json_arr(j);
      if (nd->skew_ns) {
        snprintf(w, sizeof w, "clock skew adjustment: shifted by %lld ns into its parent",
                 (long long)nd->skew_ns);
        cs_json_str(j, w);
      }
      if (nd->orphan) cs_json_str(j, "invalid parent span IDs: parent span is not in the trace");
      cs_json_end(j);
    } else {
      cs_json_null(j);
    }
    cs_json_end(j);
  }
  cs_json_end(j);
  cs_json_key(j, "processes"), cs_json_obj(j);
  for (size_t p = 0; p < np; p++) {
    char pbuf[24];
    snprintf(pbuf, sizeof pbuf, "p%zu", p + 1);
    cs_json_key(j, pbuf), cs_json_obj(j);
    const cs_resource *r = procs[p];
    cs_json_key(j, "serviceName"), cs_json_cs(j, r ? r->service : CS_STR_LIT("unknown_service"));
    cs_json_key(j, "tags"), cs_json_arr(j);
    for (uint32_t a = 0; r && a < r->n_attrs; a++)
      if (!q_str_eqc(r->attrs[a].key, "service.name")) jaeger_tag(j, &r->attrs[a]);
    cs_json_end(j);
    cs_json_end(j);
  }
  cs_json_end(j);
  cs_json_key(j, "warnings"), cs_json_null(j);
  cs_json_end(j);
  return 0;
}

/* GET /api/traces/{traceID} */
void h_jaeger_trace(qreq *x) {
  uint8_t tid[16];
  if (cs_qp_trace_id(x->cap.p, x->cap.n, tid)) {
    q_error(x, 400, "malformed trace ID: %.64s (want 1 to 32 hex digits)", x->cap.p);
    return;
  }
  cs_span *spans;
  size_t n;
  if (q_load_trace(x, tid, &spans, &n)) return;
  if (!n) {
    q_error(x, 404, "trace not found");
    return;
  }
  envelope_open(&x->j);
  cs_json_arr(&x->j);
  if (q_json_jaeger_trace(x, tid, spans, n)) return;
  cs_json_end(&x->j);
  envelope_close(&x->j, 1, 0);
  q_send_json(x, 200);
}

/* GET /api/traces?service=&operation=&tag=&tags=&minDuration=&maxDuration=
 * &start=&end=&limit=&traceID= */
void h_jaeger_traces(qreq *x) {
  const cs_query_limits *L = &x->q->o.limits;
  const char *ids[64];
  size_t nids = cs_http_args(x->r, "traceID", ids, 64);
  if (nids > 64) {
    q_error(x, 400, "too many traceID parameters: %zu, limit 64", nids);
    return;
  }
  q_hit *hits = NULL;
  size_t n = 0;
  int more = 0;
  uint32_t limit = 0;
  if (nids) {
    hits = cs_arena_calloc(x->a, sizeof(q_hit) * nids);
    if (!hits) {
      q_error(x, 500, "out of memory");
      return;
    }
    size_t total = 0;
    for (size_t i = 0; i < nids; i++) {
      if (cs_qp_trace_id(ids[i], strnlen(ids[i], 64), hits[n].trace_id)) {
        q_error(x, 400, "malformed trace ID: %.64s (want 1 to 32 hex digits)", ids[i]);
        return;
      }
      if (q_load_trace(x, hits[n].trace_id, &hits[n].spans, &hits[n].n_spans)) return;
      total += hits[n].n_spans;
      if (total > L->max_spans) {
        q_error(x, 422, "traces have more than %u spans in total: ask for fewer", L->max_spans);
        return;
      }
      if (hits[n].n_spans) n++;
    }
  } else {
    q_search s;
    memset(&s, 0, sizeof s);
    s.span_level = 1;
    s.load_spans = 1;
    if (q_arg_str(x, "service", 1024, &s.service) || q_arg_str(x, "operation", 1024, &s.operation))
      return;
    if (!s.service.n) {
      q_error(x, 400, "parameter 'service' is required");
      return;
    }
    if (q_parse_conds(x, "tag", "tags", &s.conds, &s.n_conds)) return;
    if (q_arg_duration(x, "minDuration", 0, &s.min_dur_ns) ||
        q_arg_duration(x, "maxDuration", 0, &s.max_dur_ns))
      return;
    if (s.max_dur_ns && s.max_dur_ns < s.min_dur_ns) {
      q_error(x, 400, "maxDuration is less than minDuration");
      return;
    }
    if (q_arg_window(x, 2 * 86400ull * 1000000000ull, &s.start_ns, &s.end_ns)) return;
    if (q_arg_limit(x, "limit", &s.limit)) return;
    limit = s.limit;
    if (q_heavy_enter(x)) return;
    int rc = q_run_search(x, &s, &hits, &n, &more);
    q_heavy_leave(x);
    if (rc) return;
  }
  /* Spans per response: stop adding whole traces at the cap. */
  size_t total = 0, keep = 0;
  for (; keep < n; keep++) {
    if (total + hits[keep].n_spans > L->max_spans && keep) break;
    total += hits[keep].n_spans;
  }
  envelope_open(&x->j);
  cs_json_arr(&x->j);
  for (size_t i = 0; i < keep; i++)
    if (q_json_jaeger_trace(x, hits[i].trace_id, hits[i].spans, hits[i].n_spans)) return;
  cs_json_end(&x->j);
  envelope_close(&x->j, keep, limit);
  q_send_json(x, 200);
}

/* GET /api/dependencies?endTs=&lookback= (milliseconds, as Jaeger; a
 * lookback with a unit, "2d" or "36h", is read as a duration like
 * everywhere else). */
void h_jaeger_dependencies(qreq *x) {
  uint64_t now_ms = q_wall_ns() / 1000000, end_ms, lookback_ms = 86400000ull, ns;
  if (q_arg_u64(x, "endTs", now_ms, UINT64_MAX / 2000000, &end_ms)) return;
  const char *lb_arg = cs_http_arg(x->r, "lookback");
  if (lb_arg && *lb_arg && lb_arg[strspn(lb_arg, "0123456789")]) {
    if (q_arg_duration(x, "lookback", 0, &ns)) return;
    lookback_ms = ns / 1000000ull;
  } else if (q_arg_u64(x, "lookback", 86400000ull, UINT64_MAX / 2000000, &lookback_ms)) {
    return;
  }
  if (lookback_ms * 1000000ull > x->q->o.limits.max_range_ns) {
    char lim[32];
    q_error(x, 400, "lookback %.64s too long: at most %s (%llu ms)", lb_arg,
            cs_duration_format(x->q->o.limits.max_range_ns, lim, sizeof lim),
            (unsigned long long)(x->q->o.limits.max_range_ns / 1000000));
    return;
  }
  uint64_t end = end_ms * 1000000ull, lb = lookback_ms * 1000000ull;
  q_dependencies(x, end > lb ? end - lb : 0, end, 1);
}
