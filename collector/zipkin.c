/* Zipkin v2 JSON into the span model (see zipkin.h): parsing with the
 * bounded JSON parser, then one span object at a time, each rejected span
 * counted under the validator's reasons. No I/O, so the fuzzer and the
 * unit tests drive it directly. */
#include "zipkin.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "hexb64.h"
#include "json_parse.h"
#include "pbwire.h"
#include "session.h"

#define ZIPKIN_MAX_DEPTH 16 /* spans are flat: array, span, endpoint/tags */

typedef struct zctx {
  cs_arena *a;
  const cs_limits *lim;
  uint32_t utf8_repaired;
  int nomem;
} zctx;

/* Hex of exactly 2*n digits, or of alt (even) digits left-padded with
 * zeros (a 64-bit trace ID in a 16-byte one). Returns 0 or -1. */
static int parse_hex_id(const cs_jp_val *v, uint8_t *out, size_t n, size_t alt) {
  if (!v || v->type != CS_JP_STR || (v->n != 2 * n && v->n != alt) || v->n % 2)
    return -1;
  size_t pad = n - v->n / 2;
  memset(out, 0, pad);
  return cs_hex_decode(v->s, v->n, out + pad, n - pad, CS_HEX_ANY_CASE) < 0 ? -1 : 0;
}

void cs_zipkin_shared_id(const uint8_t id[8], uint8_t out[8]) {
  uint64_t x = 0;
  for (int i = 0; i < 8; i++) x = x << 8 | id[i];
  uint64_t orig = x;
  /* splitmix64's finaliser: a bijection, so distinct IDs stay distinct. */
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  if (x == 0 || x == orig) x = orig ^ 0x5a5a5a5a5a5a5a5aull;
  for (int i = 7; i >= 0; i--, x >>= 8) out[i] = (uint8_t)x;
}

static cs_str zstr(zctx *z, const cs_jp_val *v) {
  cs_str s = {"", 0};
  if (!v || v->type != CS_JP_STR) return s;
  s.p = v->s;
  s.n = v->n;
  int rc = cs_utf8_repair(z->a, &s);
  if (rc < 0) z->nomem = 1;
  else z->utf8_repaired += (uint32_t)rc;
  return s;
}

static cs_attr *add_attr(cs_attr *attrs, uint32_t *n, const char *key) {
  cs_attr *at = &attrs[(*n)++];
  at->key.p = key;
  at->key.n = (uint32_t)strlen(key);
  return at;
}

/* Endpoint fields as attributes with the given key names. */
static void endpoint_attrs(zctx *z, const cs_jp_val *ep, cs_attr *attrs, uint32_t *n,
                           const char *svc_key, const char *ip_key, const char *port_key) {
  if (!ep || ep->type != CS_JP_OBJ) return;
  const cs_jp_val *svc = cs_jp_get(ep, "serviceName");
  if (svc_key && svc && svc->type == CS_JP_STR && svc->n) {
    cs_attr *at = add_attr(attrs, n, svc_key);
    at->type = CS_VAL_STR;
    at->v.s = zstr(z, svc);
  }
  const cs_jp_val *ip = cs_jp_get(ep, "ipv4");
  if (!ip || ip->type != CS_JP_STR || !ip->n) ip = cs_jp_get(ep, "ipv6");
  if (ip && ip->type == CS_JP_STR && ip->n) {
    cs_attr *at = add_attr(attrs, n, ip_key);
    at->type = CS_VAL_STR;
    at->v.s = zstr(z, ip);
  }
  int64_t port;
  if (cs_jp_i64(cs_jp_get(ep, "port"), &port) == 0 && port > 0) {
    cs_attr *at = add_attr(attrs, n, port_key);
    at->type = CS_VAL_INT;
    at->v.i = port;
  }
}

static int kind_of(const cs_jp_val *k) {
  if (cs_jp_str_eq(k, "SERVER")) return CS_KIND_SERVER;
  if (cs_jp_str_eq(k, "CLIENT")) return CS_KIND_CLIENT;
  if (cs_jp_str_eq(k, "PRODUCER")) return CS_KIND_PRODUCER;
  if (cs_jp_str_eq(k, "CONSUMER")) return CS_KIND_CONSUMER;
  return CS_KIND_INTERNAL; /* Zipkin's local spans carry no kind */
}

/* Converts one span object; returns 0 or a CS_REJ_* reason + 1. */
static int conv_span(zctx *z, const cs_jp_val *o, cs_span *s) {
  memset(s, 0, sizeof *s);
  if (o->type != CS_JP_OBJ) return CS_REJ_TRACE_ID_LEN + 1;
  if (parse_hex_id(cs_jp_get(o, "traceId"), s->trace_id, 16, 16)) return CS_REJ_TRACE_ID_LEN + 1;
  if (parse_hex_id(cs_jp_get(o, "id"), s->span_id, 8, 16)) return CS_REJ_SPAN_ID_LEN + 1;
  const cs_jp_val *pid = cs_jp_get(o, "parentId");
  if (pid && pid->type != CS_JP_NULL && !(pid->type == CS_JP_STR && pid->n == 0) &&
      parse_hex_id(pid, s->parent_id, 8, 16))
    return CS_REJ_PARENT_ID_LEN + 1;
  uint64_t ts = 0, dur = 0;
  if (cs_jp_u64(cs_jp_get(o, "timestamp"), &ts) || ts == 0 || ts > UINT64_MAX / 1000)
    return CS_REJ_NO_START + 1;
  const cs_jp_val *dv = cs_jp_get(o, "duration");
  if (dv && dv->type != CS_JP_NULL && (cs_jp_u64(dv, &dur) || dur > UINT64_MAX / 1000))
    return CS_REJ_END_BEFORE_START + 1;
  s->start_ns = ts * 1000;
  s->end_ns = s->start_ns + dur * 1000;
  if (s->end_ns < s->start_ns) return CS_REJ_END_BEFORE_START + 1;
  s->kind = (uint8_t)kind_of(cs_jp_get(o, "kind"));
  s->flags = 0x01; /* Zipkin reports only sampled spans */
  s->name = zstr(z, cs_jp_get(o, "name"));
  s->scope_name = CS_STR_LIT("zipkin");

  int shared = 0;
  const cs_jp_val *sh = cs_jp_get(o, "shared");
  if (sh && sh->type == CS_JP_BOOL && sh->b && s->kind == CS_KIND_SERVER) {
    /* The server half reuses the client's span ID: give it its own ID
     * under the client span, or one would overwrite the other. */
    shared = 1;
    memcpy(s->parent_id, s->span_id, 8);
    cs_zipkin_shared_id(s->parent_id, s->span_id);
  }

  /* Resource: the local endpoint's service, and its address. */
  cs_resource *r = cs_arena_calloc(z->a, sizeof *r);
  cs_attr *rattrs = cs_arena_calloc(z->a, 3 * sizeof *rattrs);
  if (!r || !rattrs) return z->nomem = 1, 0;
  const cs_jp_val *lep = cs_jp_get(o, "localEndpoint");
  const cs_jp_val *svc = cs_jp_get(lep, "serviceName");
  r->service = svc && svc->type == CS_JP_STR && svc->n ? zstr(z, svc) : CS_STR_LIT("unknown_service");
  r->attrs = rattrs;
  cs_attr *at = add_attr(rattrs, &r->n_attrs, "service.name");
  at->type = CS_VAL_STR;
  at->v.s = r->service;
  endpoint_attrs(z, lep, rattrs, &r->n_attrs, NULL, "net.host.ip", "net.host.port");
  s->resource = r;

  /* Span attributes: tags, the remote endpoint, shared. */
  const cs_jp_val *tags = cs_jp_get(o, "tags");
  uint32_t n_tags = tags && tags->type == CS_JP_OBJ ? tags->n : 0;
  if (n_tags > z->lim->max_attrs) return CS_REJ_TOO_MANY_ATTRS + 1;
  s->attrs = cs_arena_calloc(z->a, ((size_t)n_tags + 5) * sizeof *s->attrs);
  if (!s->attrs) return z->nomem = 1, 0;
  for (const cs_jp_val *t = n_tags ? tags->child : NULL; t; t = t->next) {
    cs_attr *ta = &s->attrs[s->n_attrs++];
    ta->key = zstr(z, &(cs_jp_val){.type = CS_JP_STR, .s = t->key, .n = t->key_n});
    ta->type = CS_VAL_STR;
    if (t->type == CS_JP_STR) {
      ta->v.s = zstr(z, t);
    } else if (t->type == CS_JP_NUM) { /* lenient: Zipkin tags are strings */
      ta->v.s.p = cs_arena_strndup(z->a, t->s, t->n);
      ta->v.s.n = t->n;
      if (!ta->v.s.p) return z->nomem = 1, 0;
    } else if (t->type == CS_JP_BOOL) {
      ta->v.s = t->b ? CS_STR_LIT("true") : CS_STR_LIT("false");
    } else {
      return CS_REJ_TOO_DEEP + 1; /* objects and arrays as tag values */
    }
    if (ta->key.n == 5 && !memcmp(ta->key.p, "error", 5)) {
      /* The tag stays an attribute as sent; the status carries it too,
       * with its text as the message unless it is only a flag. */
      s->status_code = CS_STATUS_ERROR;
      int flag = ta->v.s.n == 0 || (ta->v.s.n == 4 && !memcmp(ta->v.s.p, "true", 4));
      s->status_msg = flag ? (cs_str){0} : ta->v.s;
    }
  }
  endpoint_attrs(z, cs_jp_get(o, "remoteEndpoint"), s->attrs, &s->n_attrs, "peer.service",
                 "net.peer.ip", "net.peer.port");
  if (shared) {
    at = add_attr(s->attrs, &s->n_attrs, "zipkin.shared");
    at->type = CS_VAL_BOOL;
    at->v.b = 1;
  }

  const cs_jp_val *ann = cs_jp_get(o, "annotations");
  if (ann && ann->type == CS_JP_ARR && ann->n) {
    if (ann->n > z->lim->max_events) return CS_REJ_TOO_MANY_EVENTS + 1;
    s->events = cs_arena_calloc(z->a, ann->n * sizeof *s->events);
    if (!s->events) return z->nomem = 1, 0;
    for (const cs_jp_val *e = ann->child; e; e = e->next) {
      uint64_t ets;
      if (cs_jp_u64(cs_jp_get(e, "timestamp"), &ets) || ets > UINT64_MAX / 1000) continue;
      cs_event *ev = &s->events[s->n_events++];
      ev->time_ns = ets * 1000;
      ev->name = zstr(z, cs_jp_get(e, "value"));
    }
  }
  return 0;
}

/* Converts and validates every span object of the array root. */
static int decode_array(const cs_jp_val *root, cs_arena *a, const cs_limits *lim, cs_span **out,
                        size_t *n_out, cs_reject_counts *rej) {
  cs_span *spans = root->n ? cs_arena_alloc(a, root->n * sizeof *spans) : NULL;
  if (root->n && !spans) return CS_DECODE_ENOMEM;
  zctx z = {.a = a, .lim = lim};
  cs_reject_counts local;
  memset(&local, 0, sizeof local);
  size_t ok = 0;
  for (const cs_jp_val *o = root->child; o; o = o->next) {
    cs_span *s = &spans[ok];
    int r = conv_span(&z, o, s);
    if (z.nomem) return CS_DECODE_ENOMEM;
    if (!r) r = cs_span_check(s, lim) ? cs_span_check(s, lim) + 1 : 0;
    if (r) {
      local.n[r - 1]++;
      continue;
    }
    cs_span_find_session(s);
    ok++;
  }
  for (int i = 0; i < CS_REJ__COUNT; i++) rej->n[i] += local.n[i];
  rej->utf8_repaired += z.utf8_repaired;
  *out = spans;
  *n_out = ok;
  return CS_DECODE_OK;
}

int cs_zipkin_decode(const char *json, size_t n, cs_arena *a, const cs_limits *lim, cs_span **out,
                     size_t *n_out, cs_reject_counts *rej, char *err, size_t err_len) {
  *out = NULL;
  *n_out = 0;
  cs_jp_val *root;
  int rc = cs_jp_parse(json, n, a, ZIPKIN_MAX_DEPTH, &root, err, err_len);
  if (rc == CS_JP_ENOMEM) return CS_DECODE_ENOMEM;
  if (rc) return CS_DECODE_EPROTO;
  if (root->type != CS_JP_ARR) {
    if (err && err_len) snprintf(err, err_len, "body is not a JSON array of spans");
    return CS_DECODE_EPROTO;
  }
  return decode_array(root, a, lim, out, n_out, rej);
}

/* ---- zipkin.proto3 ListOfSpans ----
 * The protobuf form is turned into the same tree the JSON parser makes
 * (hex IDs, decimal numbers, dotted addresses), so one conversion serves
 * both encodings. Field numbers are those of zipkin-api's zipkin.proto. */

typedef pb_rd pbr;

/* Next field through the common wire reader: number, wire type, the value
 * of varint and fixed fields in *v and, for length-delimited fields, the
 * bytes in *sub. Malformed or truncated input and groups fail. */
static int zpb_field(pbr *r, uint32_t *num, int *wt, uint64_t *v, pbr *sub) {
  pb_field f;
  if (!pb_more(r) || pb_field_next(r, &f)) return -1;
  *num = f.num;
  *wt = (int)f.wt;
  *v = f.v;
  if (f.wt == PB_LEN) pb_init(sub, f.p, f.n);
  return 0;
}

typedef struct tb {
  cs_arena *a;
  int nomem;
} tb;

/* A container being filled: its node and its last member, so appending
 * stays O(1) however many tags a span carries. */
typedef struct tc {
  cs_jp_val *v, *last;
} tc;

static cs_jp_val *tb_add(tb *t, tc *c, const char *key, int type) {
  cs_jp_val *v = cs_arena_calloc(t->a, sizeof *v);
  if (!v) {
    t->nomem = 1;
    return NULL;
  }
  v->type = (uint8_t)type;
  if (key) {
    v->key = key;
    v->key_n = (uint32_t)strlen(key);
  }
  if (c->last) c->last->next = v;
  else c->v->child = v;
  c->last = v;
  c->v->n++;
  return v;
}

static void tb_str(tb *t, tc *c, const char *key, const uint8_t *p, size_t n, int type) {
  cs_jp_val *v = tb_add(t, c, key, type);
  char *s = v ? cs_arena_strndup(t->a, (const char *)p, n) : NULL;
  if (!s) {
    t->nomem = 1;
    return;
  }
  v->s = s;
  v->n = (uint32_t)n;
}

static void tb_hex(tb *t, tc *c, const char *key, const pbr *b) {
  static const char hex[] = "0123456789abcdef";
  size_t n = (size_t)(b->end - b->p);
  if (n > 64) n = 64; /* any longer is wrong anyway: keep it wrong, bounded */
  char buf[129];
  for (size_t i = 0; i < n; i++) {
    buf[2 * i] = hex[b->p[i] >> 4];
    buf[2 * i + 1] = hex[b->p[i] & 15];
  }
  tb_str(t, c, key, (const uint8_t *)buf, 2 * n, CS_JP_STR);
}

static void tb_num(tb *t, tc *c, const char *key, uint64_t v) {
  char buf[24];
  int n = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
  tb_str(t, c, key, (const uint8_t *)buf, (size_t)n, CS_JP_NUM);
}

static int pb_endpoint(tb *t, tc *parent, const char *key, pbr r) {
  tc ep = {tb_add(t, parent, key, CS_JP_OBJ), NULL};
  if (!ep.v) return 0;
  while (r.p < r.end) {
    uint32_t num;
    int wt;
    uint64_t v = 0;
    pbr sub = {0};
    if (zpb_field(&r, &num, &wt, &v, &sub)) return -1;
    if (num == 1 && wt == 2) {
      tb_str(t, &ep, "serviceName", sub.p, (size_t)(sub.end - sub.p), CS_JP_STR);
    } else if ((num == 2 || num == 3) && wt == 2) {
      char ip[64];
      size_t n = (size_t)(sub.end - sub.p);
      if (((num == 2 && n == 4) || (num == 3 && n == 16)) &&
          inet_ntop(num == 2 ? AF_INET : AF_INET6, sub.p, ip, sizeof ip))
        tb_str(t, &ep, num == 2 ? "ipv4" : "ipv6", (const uint8_t *)ip, strlen(ip), CS_JP_STR);
    } else if (num == 4 && wt == 0) {
      tb_num(t, &ep, "port", (uint32_t)v);
    }
  }
  return 0;
}

/* Reads the fields of one submessage into (key, value) pairs for tags
 * and annotations: bytes of fields 1 and 2, or the fixed64 of field 1. */
static int pb_pair(pbr sub, pbr *f1, pbr *f2, uint64_t *fixed1) {
  while (sub.p < sub.end) {
    uint32_t n2;
    int w2;
    uint64_t v2 = 0;
    pbr s2 = {0};
    if (zpb_field(&sub, &n2, &w2, &v2, &s2)) return -1;
    if (n2 == 1 && w2 == 2) *f1 = s2;
    else if (n2 == 1 && w2 == 1) *fixed1 = v2;
    else if (n2 == 2 && w2 == 2) *f2 = s2;
  }
  return 0;
}

static int pb_span(tb *t, tc *arr, pbr r) {
  static const char *const kinds[] = {NULL, "CLIENT", "SERVER", "PRODUCER", "CONSUMER"};
  tc o = {tb_add(t, arr, NULL, CS_JP_OBJ), NULL}, ann = {0}, tags = {0};
  if (!o.v) return 0;
  while (r.p < r.end && !t->nomem) {
    uint32_t num;
    int wt;
    uint64_t v = 0;
    pbr sub = {0};
    if (zpb_field(&r, &num, &wt, &v, &sub)) return -1;
    switch (num) {
    case 1: if (wt == 2) tb_hex(t, &o, "traceId", &sub); break;
    case 2: if (wt == 2) tb_hex(t, &o, "parentId", &sub); break;
    case 3: if (wt == 2) tb_hex(t, &o, "id", &sub); break;
    case 4:
      if (wt == 0 && v >= 1 && v <= 4)
        tb_str(t, &o, "kind", (const uint8_t *)kinds[v], strlen(kinds[v]), CS_JP_STR);
      break;
    case 5: if (wt == 2) tb_str(t, &o, "name", sub.p, (size_t)(sub.end - sub.p), CS_JP_STR); break;
    case 6: if (wt == 1) tb_num(t, &o, "timestamp", v); break;
    case 7: if (wt == 0) tb_num(t, &o, "duration", v); break;
    case 8:
    case 9:
      if (wt == 2 && pb_endpoint(t, &o, num == 8 ? "localEndpoint" : "remoteEndpoint", sub)) return -1;
      break;
    case 10: { /* Annotation {1: fixed64 timestamp, 2: value} */
      if (wt != 2) break;
      if (!ann.v && !(ann.v = tb_add(t, &o, "annotations", CS_JP_ARR))) return 0;
      pbr k = {0}, val = {0};
      uint64_t ts = 0;
      if (pb_pair(sub, &k, &val, &ts)) return -1;
      tc e = {tb_add(t, &ann, NULL, CS_JP_OBJ), NULL};
      if (!e.v) return 0;
      if (ts) tb_num(t, &e, "timestamp", ts); /* absent: the event is skipped, as in JSON */
      tb_str(t, &e, "value", val.p ? val.p : (const uint8_t *)"", (size_t)(val.end - val.p), CS_JP_STR);
      break;
    }
    case 11: { /* map<string, string>: entries {1: key, 2: value} */
      if (wt != 2) break;
      if (!tags.v && !(tags.v = tb_add(t, &o, "tags", CS_JP_OBJ))) return 0;
      pbr k = {0}, val = {0};
      uint64_t unused = 0;
      if (pb_pair(sub, &k, &val, &unused)) return -1;
      char *key = cs_arena_strndup(t->a, k.p ? (const char *)k.p : "", (size_t)(k.end - k.p));
      if (!key) return t->nomem = 1, 0;
      tb_str(t, &tags, key, val.p ? val.p : (const uint8_t *)"", (size_t)(val.end - val.p), CS_JP_STR);
      break;
    }
    case 13:
      if (wt == 0 && v) {
        cs_jp_val *b = tb_add(t, &o, "shared", CS_JP_BOOL);
        if (b) b->b = 1;
      }
      break;
    default: break; /* debug (12) and unknown fields */
    }
  }
  return 0;
}

int cs_zipkin_decode_proto(const uint8_t *buf, size_t n, cs_arena *a, const cs_limits *lim,
                           cs_span **out, size_t *n_out, cs_reject_counts *rej, char *err,
                           size_t err_len) {
  *out = NULL;
  *n_out = 0;
  tb t = {.a = a};
  cs_jp_val *root = cs_arena_calloc(a, sizeof *root);
  if (!root) return CS_DECODE_ENOMEM;
  root->type = CS_JP_ARR;
  pbr r = {buf, buf + n};
  tc arr = {root, NULL};
  while (r.p < r.end) {
    uint32_t num;
    int wt;
    uint64_t v;
    pbr sub = {0};
    if (zpb_field(&r, &num, &wt, &v, &sub)) goto bad;
    if (num != 1 || wt != 2) continue;
    if (pb_span(&t, &arr, sub)) goto bad;
    if (t.nomem) return CS_DECODE_ENOMEM;
  }
  return decode_array(root, a, lim, out, n_out, rej);
bad:
  if (err && err_len) snprintf(err, err_len, "malformed protobuf ListOfSpans");
  return CS_DECODE_EPROTO;
}
