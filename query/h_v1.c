/* Callscope's own endpoints under /api/v1: trace-summary search with a
 * cursor, the traces of a session, a trace's spans and its call tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "query_int.h"

static void summaries(cs_json *j, const q_hit *hits, size_t n) {
  cs_json_arr(j);
  for (size_t i = 0; i < n; i++)
    if (hits[i].have_sum) q_json_summary(j, &hits[i].sum);
  cs_json_end(j);
}

/* edge=A>B (split at the first '>'), or parent=A&child=B: traces where
 * service A calls service B. -1 after replying 400. */
static int arg_edge(qreq *x, q_search *s) {
  cs_str edge, parent, child;
  if (q_arg_str(x, "edge", 2049, &edge) || q_arg_str(x, "parent", 1024, &parent) ||
      q_arg_str(x, "child", 1024, &child))
    return -1;
  if (edge.n) {
    if (parent.n || child.n) return q_error(x, 400, "give either 'edge' or 'parent' and 'child'");
    if (cs_qp_edge(edge.p, edge.n, &parent, &child))
      return q_error(x, 400, "bad edge: %.64s (want caller>callee, two different services)", edge.p);
    if (parent.n > 1024 || child.n > 1024) return q_error(x, 400, "bad edge: service names up to 1024 bytes");
  }
  if (!parent.n != !child.n) return q_error(x, 400, "an edge needs both a caller and a callee service");
  if (parent.n && q_str_eq(parent, child))
    return q_error(x, 400, "bad edge: caller and callee are the same service");
  s->edge_parent = parent;
  s->edge_child = child;
  return 0;
}

/* GET /api/v1/search?service=&operation=&attr=k:v&attrs={json}&edge=A>B
 * &minDuration=&maxDuration=&start=&end=&lookback=&limit=&cursor= */
void h_v1_search(qreq *x) {
  q_search s;
  memset(&s, 0, sizeof s);
  cs_cursor cur;
  cs_str cursor;
  if (q_arg_str(x, "service", 1024, &s.service) || q_arg_str(x, "operation", 1024, &s.operation) ||
      q_arg_str(x, "cursor", 128, &cursor))
    return;
  if (s.operation.n && !s.service.n) {
    q_error(x, 400, "parameter 'operation' needs 'service'");
    return;
  }
  if (arg_edge(x, &s)) return;
  if (q_parse_conds(x, "attr", "attrs", &s.conds, &s.n_conds)) return;
  if (q_arg_duration(x, "minDuration", 0, &s.min_dur_ns) ||
      q_arg_duration(x, "maxDuration", 0, &s.max_dur_ns))
    return;
  if (s.max_dur_ns && s.max_dur_ns < s.min_dur_ns) {
    q_error(x, 400, "maxDuration is less than minDuration");
    return;
  }
  if (q_arg_window(x, 3600ull * 1000000000ull, &s.start_ns, &s.end_ns)) return;
  if (q_arg_limit(x, "limit", &s.limit)) return;
  if (cursor.n) {
    if (cs_cursor_decode(cursor.p, cursor.n, &cur)) {
      q_error(x, 400, "bad cursor: use the nextCursor value of the previous page");
      return;
    }
    s.after = &cur;
  }
  q_hit *hits;
  size_t n;
  int more;
  if (q_heavy_enter(x)) return;
  int rc = q_run_search(x, &s, &hits, &n, &more);
  q_heavy_leave(x);
  if (rc) return;
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "traces"), summaries(j, hits, n);
  cs_json_key(j, "count"), cs_json_uint(j, n);
  cs_json_key(j, "nextCursor");
  if (more && n) {
    char buf[CS_CURSOR_LEN + 1];
    cs_cursor c = {hits[n - 1].index_ns, {0}};
    memcpy(c.trace_id, hits[n - 1].trace_id, 16);
    cs_cursor_encode(&c, buf);
    cs_json_str(j, buf);
  } else {
    cs_json_null(j);
  }
  cs_json_key(j, "scanned"), cs_json_uint(j, x->scanned);
  cs_json_end(j);
  q_send_json(x, 200);
}

/* GET /api/v1/sessions/{id}?limit=&start=&end= : oldest first. */
void h_v1_session(qreq *x) {
  q_search s;
  memset(&s, 0, sizeof s);
  if (!x->cap.n || x->cap.n > 512) {
    q_error(x, 400, "bad session ID: 1 to 512 bytes");
    return;
  }
  s.session = x->cap;
  uint64_t lim;
  if (q_arg_u64(x, "limit", 1000, x->q->o.limits.max_limit, &lim)) return;
  s.limit = lim ? (uint32_t)lim : 1000;
  uint64_t st, en;
  if (q_arg_u64(x, "start", 0, UINT64_MAX / 2000, &st) ||
      q_arg_u64(x, "end", 0, UINT64_MAX / 2000, &en))
    return;
  s.start_ns = st * 1000;
  s.end_ns = en * 1000;
  q_hit *hits;
  size_t n;
  int more;
  if (q_run_search(x, &s, &hits, &n, &more)) return;
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "session"), cs_json_cs(j, s.session);
  cs_json_key(j, "traces"), summaries(j, hits, n);
  cs_json_key(j, "count"), cs_json_uint(j, n);
  cs_json_key(j, "truncated"), cs_json_bool(j, more);
  cs_json_end(j);
  q_send_json(x, 200);
}

/* GET /api/v1/services : names with their operations and kinds. */
void h_v1_services(qreq *x) {
  cs_str *svc;
  size_t n;
  int rc = cs_store_list_services(x->q->st, x->a, &svc, &n);
  if (rc) {
    q_error(x, 500, "storage error: %s", cs_store_strerror(rc));
    return;
  }
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "services"), cs_json_arr(j);
  for (size_t i = 0; i < n; i++) {
    cs_operation *ops;
    size_t no;
    if (cs_store_list_operations(x->q->st, svc[i], x->a, &ops, &no)) no = 0;
    cs_json_obj(j);
    cs_json_key(j, "name"), cs_json_cs(j, svc[i]);
    cs_json_key(j, "operations"), cs_json_arr(j);
    for (size_t k = 0; k < no; k++) {
      cs_json_obj(j);
      cs_json_key(j, "name"), cs_json_cs(j, ops[k].name);
      cs_json_key(j, "kind"), cs_json_str(j, q_kind_name(ops[k].kind));
      cs_json_end(j);
    }
    cs_json_end(j);
    cs_json_end(j);
  }
  cs_json_end(j);
  cs_json_end(j);
  q_send_json(x, 200);
}

static void attrs_obj(cs_json *j, const cs_attr *a, uint32_t n) {
  cs_json_obj(j);
  for (uint32_t i = 0; i < n; i++) {
    /* Keys are NUL-free views; the writer needs a C string. */
    char key[256];
    size_t kl = a[i].key.n < sizeof key - 1 ? a[i].key.n : sizeof key - 1;
    memcpy(key, a[i].key.p, kl);
    key[kl] = '\0';
    cs_json_key(j, key);
    q_json_attr_value(j, &a[i]);
  }
  cs_json_end(j);
}

static int load(qreq *x, uint8_t tid[16], cs_span **spans, size_t *n) {
  if (cs_qp_trace_id(x->cap.p, x->cap.n, tid))
    return q_error(x, 400, "malformed trace ID: %.64s (want 1 to 32 hex digits)", x->cap.p);
  if (q_load_trace(x, tid, spans, n)) return -1;
  if (!*n) return q_error(x, 404, "trace not found");
  return 0;
}

/* GET /api/v1/traces/{id}/tree */
void h_v1_tree(qreq *x) {
  uint8_t tid[16];
  cs_span *spans;
  size_t n;
  if (load(x, tid, &spans, &n)) return;
  cs_tree t;
  if (cs_tree_build(spans, n, x->a, &t)) {
    q_error(x, 500, "out of memory building the call tree");
    return;
  }
  cs_json *j = &x->j;
  cs_json_obj(j);
  cs_json_key(j, "traceID"), cs_json_hex(j, tid, 16);
  cs_json_key(j, "startTimeUs"), cs_json_uint(j, t.start_ns / 1000);
  cs_json_key(j, "durationNs"), cs_json_uint(j, t.end_ns - t.start_ns);
  cs_json_key(j, "spanCount"), cs_json_uint(j, t.n);
  cs_json_key(j, "maxDepth"), cs_json_uint(j, t.max_depth);
  cs_json_key(j, "missingParents"), cs_json_uint(j, t.n_orphans);
  cs_json_key(j, "skewAdjusted"), cs_json_uint(j, t.n_skewed);
  cs_json_key(j, "duplicates"), cs_json_uint(j, t.n_duplicates);
  cs_json_key(j, "roots"), cs_json_arr(j);
  for (size_t r = 0; r < t.n_roots; r++) cs_json_hex(j, t.nodes[t.roots[r]].span->span_id, 8);
  cs_json_end(j);
  /* The critical path from the main root down, in order. */
  cs_json_key(j, "criticalPath"), cs_json_arr(j);
  for (size_t k = 0; k < t.n; k++)
    if (t.nodes[t.order[k]].critical) cs_json_hex(j, t.nodes[t.order[k]].span->span_id, 8);
  cs_json_end(j);
  cs_json_key(j, "spans"), cs_json_arr(j);
  for (size_t k = 0; k < t.n; k++) {
    const cs_tree_node *nd = &t.nodes[t.order[k]];
    const cs_span *s = nd->span;
    cs_json_obj(j);
    cs_json_key(j, "spanID"), cs_json_hex(j, s->span_id, 8);
    cs_json_key(j, "parentSpanID");
    if (cs_span_is_root(s)) cs_json_null(j);
    else cs_json_hex(j, s->parent_id, 8);
    cs_json_key(j, "service"), cs_json_cs(j, s->resource ? s->resource->service : CS_STR_LIT(""));
    cs_json_key(j, "operation"), cs_json_cs(j, s->name);
    cs_json_key(j, "kind"), cs_json_str(j, q_kind_name(s->kind));
    cs_json_key(j, "status"),
        cs_json_str(j, s->status_code == CS_STATUS_ERROR ? "error"
                       : s->status_code == CS_STATUS_OK  ? "ok"
                                                         : "unset");
    if (s->status_msg.n) cs_json_key(j, "statusMessage"), cs_json_cs(j, s->status_msg);
    cs_json_key(j, "depth"), cs_json_uint(j, nd->depth);
    cs_json_key(j, "childCount"), cs_json_uint(j, nd->n_children);
    cs_json_key(j, "startTimeUs"), cs_json_uint(j, nd->start_ns / 1000);
    cs_json_key(j, "offsetNs"), cs_json_uint(j, nd->start_ns - t.start_ns);
    cs_json_key(j, "durationNs"), cs_json_uint(j, nd->end_ns - nd->start_ns);
    cs_json_key(j, "selfNs"), cs_json_uint(j, nd->self_ns);
    cs_json_key(j, "critical"), cs_json_bool(j, nd->critical);
    cs_json_key(j, "criticalNs"), cs_json_uint(j, nd->critical_ns);
    cs_json_key(j, "missingParent"), cs_json_bool(j, nd->orphan);
    cs_json_key(j, "skewNs"), cs_json_int(j, nd->skew_ns);
    if (s->session_id.n) cs_json_key(j, "session"), cs_json_cs(j, s->session_id);
    cs_json_key(j, "attributes"), attrs_obj(j, s->attrs, s->n_attrs);
    cs_json_key(j, "resource"),
        attrs_obj(j, s->resource ? s->resource->attrs : NULL, s->resource ? s->resource->n_attrs : 0);
    cs_json_key(j, "scopeName"), cs_json_cs(j, s->scope_name);
    cs_json_key(j, "scopeVersion"), cs_json_cs(j, s->scope_version);
    cs_json_key(j, "events"), cs_json_arr(j);
    for (uint32_t e = 0; e < s->n_events; e++) {
      cs_json_obj(j);
      cs_json_key(j, "timeUs"), cs_json_uint(j, q_shift_us(s->events[e].time_ns, nd->skew_ns));
      cs_json_key(j, "name"), cs_json_cs(j, s->events[e].name);
      cs_json_key(j, "attributes"), attrs_obj(j, s->events[e].attrs, s->events[e].n_attrs);
      cs_json_end(j);
    }
    cs_json_end(j);
    cs_json_key(j, "links"), cs_json_arr(j);
    for (uint32_t l = 0; l < s->n_links; l++) {
      const cs_link *ln = &s->links[l];
      cs_json_obj(j);
      cs_json_key(j, "traceID"), cs_json_hex(j, ln->trace_id, 16);
      cs_json_key(j, "spanID"), cs_json_hex(j, ln->span_id, 8);
      if (ln->trace_state.n) cs_json_key(j, "traceState"), cs_json_cs(j, ln->trace_state);
      cs_json_key(j, "attributes"), attrs_obj(j, ln->attrs, ln->n_attrs);
      cs_json_end(j);
    }
    cs_json_end(j);
    cs_json_end(j);
  }
  cs_json_end(j);
  cs_json_end(j);
  q_send_json(x, 200);
}

/* GET /api/v1/traces/{id} : summary plus the trace in Jaeger's shape. */
void h_v1_trace(qreq *x) {
  uint8_t tid[16];
  cs_span *spans;
  size_t n;
  if (load(x, tid, &spans, &n)) return;
  cs_trace_summary sum;
  cs_json *j = &x->j;
  cs_json_obj(j);
  if (cs_store_get_summary(x->q->st, tid, x->a, &sum) == CS_STORE_OK)
    cs_json_key(j, "summary"), q_json_summary(j, &sum);
  cs_json_key(j, "trace");
  if (q_json_jaeger_trace(x, tid, spans, n)) return;
  cs_json_end(j);
  q_send_json(x, 200);
}
