/* OTLP attributes into cs_attr. Scalars map one to one; arrays and
 * key-value lists become JSON text (strings as JSON strings, bytes as
 * base64 strings, NaN and infinities as null, unset values as null) so that
 * the store and the query server deal with one flat attribute type. The
 * trace decoder hands raw wire bytes (rendered here straight from the wire),
 * the metrics decoder protobuf-c structs. */
#include "attrs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hexb64.h"
#include "pbwire.h"

int __cs_conv_slice(cs_conv *c, const char *p, uint32_t n, cs_str *out) {
  int valid;
  if (p && cs_ascii_nonul(p, n)) {
    out->p = p;
    out->n = n;
    return CS_CONV_OK;
  }
  out->p = p ? p : "";
  out->n = p ? (uint32_t)cs_utf8_prefix(p, n, &valid) : 0;
  if (!p || valid) return CS_CONV_OK;
  int rc = cs_utf8_repair(c->a, out);
  if (rc < 0) return CS_CONV_NOMEM;
  c->utf8_repaired += (uint32_t)rc;
  return CS_CONV_OK;
}

int __cs_conv_str(cs_conv *c, const char *p, cs_str *out) {
  size_t n = p ? strlen(p) : 0;
  /* Anything this long was already refused by the frame cap; the check
   * keeps the uint32_t length honest should the caps ever change. */
  if (n > UINT32_MAX / 4) n = UINT32_MAX / 4;
  return __cs_conv_slice(c, p, (uint32_t)n, out);
}

/* A JSON text under construction, in arena memory, capped at limit bytes. */
typedef struct jbuf {
  cs_conv *c;
  char *p;
  size_t n, cap, limit;
  int rc; /* first failure: CS_CONV_NOMEM or CS_CONV_REJECT */
} jbuf;

static int jb_reserve(jbuf *b, size_t more) {
  if (b->rc) return -1;
  if (b->n + more > b->limit) {
    b->rc = CS_CONV_REJECT;
    b->c->reason = CS_REJ_VALUE_TOO_LONG;
    return -1;
  }
  if (b->n + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap * 2 : 64;
  while (cap < b->n + more) cap *= 2;
  if (cap > b->limit) cap = b->limit;
  /* The old buffer stays in the arena until reset: growth is geometric,
   * so the waste is at most the final size. */
  char *np = cs_arena_alloc(b->c->a, cap);
  if (!np) {
    b->rc = CS_CONV_NOMEM;
    return -1;
  }
  if (b->n) memcpy(np, b->p, b->n);
  b->p = np;
  b->cap = cap;
  return 0;
}

static void jb_put(jbuf *b, const char *s, size_t n) {
  if (jb_reserve(b, n) == 0) {
    memcpy(b->p + b->n, s, n);
    b->n += n;
  }
}

static void jb_puts(jbuf *b, const char *s) { jb_put(b, s, strlen(s)); }

static void jb_string(jbuf *b, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  jb_put(b, "\"", 1);
  size_t run = 0; /* start of the current run of bytes needing no escape */
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch >= 0x20 && ch != '"' && ch != '\\') continue;
    jb_put(b, s + run, i - run);
    run = i + 1;
    if (ch == '"') jb_put(b, "\\\"", 2);
    else if (ch == '\\') jb_put(b, "\\\\", 2);
    else if (ch == '\n') jb_put(b, "\\n", 2);
    else if (ch == '\t') jb_put(b, "\\t", 2);
    else {
      char e[6] = {'\\', 'u', '0', '0', hex[ch >> 4], hex[ch & 15]};
      jb_put(b, e, 6);
    }
  }
  jb_put(b, s + run, n - run);
  jb_put(b, "\"", 1);
}

static void jb_base64(jbuf *b, const uint8_t *p, size_t n) {
  size_t e = cs_b64_encoded_len(n);
  if (!e && n) e = SIZE_MAX; /* too large: jb_reserve refuses it */
  jb_put(b, "\"", 1);
  if (jb_reserve(b, e) == 0) {
    cs_b64_encode(p, n, b->p + b->n);
    b->n += e;
  }
  jb_put(b, "\"", 1);
}

/* Strings inside JSON are repaired too: the JSON text must be valid UTF-8. */
static void jb_text(jbuf *b, const char *p) {
  cs_str s;
  int rc = __cs_conv_str(b->c, p, &s);
  if (rc) {
    if (!b->rc) b->rc = rc;
    return;
  }
  jb_string(b, s.p, s.n);
}

static void jb_value(jbuf *b, const cs_otlp_any *v, uint32_t depth);

static void jb_kvlist(jbuf *b, cs_otlp_kv **kv, size_t n, uint32_t depth) {
  jb_put(b, "{", 1);
  for (size_t i = 0; i < n && !b->rc; i++) {
    if (i) jb_put(b, ",", 1);
    jb_text(b, kv[i]->key);
    jb_put(b, ":", 1);
    jb_value(b, kv[i]->value, depth);
  }
  jb_put(b, "}", 1);
}

static void jb_value(jbuf *b, const cs_otlp_any *v, uint32_t depth) {
  char num[40];
  if (b->rc) return;
  if (!v) {
    jb_puts(b, "null");
    return;
  }
  switch (v->value_case) {
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
    jb_text(b, v->string_value);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
    jb_puts(b, v->bool_value ? "true" : "false");
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
    snprintf(num, sizeof num, "%lld", (long long)v->int_value);
    jb_puts(b, num);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
    if (isfinite(v->double_value)) {
      snprintf(num, sizeof num, "%.17g", v->double_value);
      jb_puts(b, num);
    } else {
      jb_puts(b, "null");
    }
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
    jb_base64(b, v->bytes_value.data, v->bytes_value.len);
    break;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE:
    if (depth >= b->c->lim->max_depth) {
      b->rc = CS_CONV_REJECT;
      b->c->reason = CS_REJ_TOO_DEEP;
      return;
    }
    if (v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE) {
      jb_kvlist(b, v->kvlist_value->values, v->kvlist_value->n_values, depth + 1);
    } else {
      jb_put(b, "[", 1);
      for (size_t i = 0; i < v->array_value->n_values && !b->rc; i++) {
        if (i) jb_put(b, ",", 1);
        jb_value(b, v->array_value->values[i], depth + 1);
      }
      jb_put(b, "]", 1);
    }
    break;
  default: jb_puts(b, "null"); break;
  }
}

static int conv_value(cs_conv *c, const cs_otlp_any *v, cs_attr *out) {
  if (!v) {
    out->type = CS_VAL_STR;
    out->v.s = (cs_str){"", 0};
    return CS_CONV_OK;
  }
  switch (v->value_case) {
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE:
    out->type = CS_VAL_STR;
    return __cs_conv_str(c, v->string_value, &out->v.s);
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE:
    out->type = CS_VAL_BOOL;
    out->v.b = v->bool_value ? 1 : 0;
    return CS_CONV_OK;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE:
    out->type = CS_VAL_INT;
    out->v.i = v->int_value;
    return CS_CONV_OK;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_DOUBLE_VALUE:
    out->type = CS_VAL_DOUBLE;
    out->v.d = v->double_value;
    return CS_CONV_OK;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BYTES_VALUE:
    out->type = CS_VAL_BYTES;
    if (v->bytes_value.len > UINT32_MAX / 4) {
      c->reason = CS_REJ_VALUE_TOO_LONG;
      return CS_CONV_REJECT;
    }
    out->v.s = (cs_str){(const char *)v->bytes_value.data, (uint32_t)v->bytes_value.len};
    if (!out->v.s.p) out->v.s.p = "";
    return CS_CONV_OK;
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE:
  case OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_KVLIST_VALUE: {
    jbuf b = {.c = c, .limit = c->lim->max_value_len};
    out->type = v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE
                    ? CS_VAL_ARRAY
                    : CS_VAL_KVLIST;
    jb_value(&b, v, 0);
    if (b.rc) return b.rc;
    out->v.s = (cs_str){b.p ? b.p : "", (uint32_t)b.n};
    return CS_CONV_OK;
  }
  default:
    /* An unset value has no type of its own: an empty string is the
     * closest thing the model has. */
    out->type = CS_VAL_STR;
    out->v.s = (cs_str){"", 0};
    return CS_CONV_OK;
  }
}

int __cs_conv_attrs(cs_conv *c, cs_otlp_kv **kv, size_t n, cs_attr **out, uint32_t *n_out) {
  *out = NULL;
  *n_out = 0;
  if (n == 0) return CS_CONV_OK;
  if (n > c->lim->max_attrs) {
    c->reason = CS_REJ_TOO_MANY_ATTRS;
    return CS_CONV_REJECT;
  }
  cs_attr *attrs = cs_arena_alloc(c->a, n * sizeof *attrs);
  if (!attrs) return CS_CONV_NOMEM;
  for (size_t i = 0; i < n; i++) {
    int rc = __cs_conv_str(c, kv[i]->key, &attrs[i].key);
    if (rc == CS_CONV_OK) rc = conv_value(c, kv[i]->value, &attrs[i]);
    if (rc) return rc;
  }
  *out = attrs;
  *n_out = (uint32_t)n;
  return CS_CONV_OK;
}

/* ---- Raw wire bytes (the trace decoder) ---- */

static void jb_slice(jbuf *b, const uint8_t *p, size_t n) {
  cs_str s;
  int rc = __cs_conv_slice(b->c, (const char *)p, (uint32_t)n, &s);
  if (rc) {
    if (!b->rc) b->rc = rc;
    return;
  }
  jb_string(b, s.p, s.n);
}

/* The AnyValue member that a message's bytes end up holding: protobuf-c
 * keeps the last oneof field it reads. Returns the field number (0: none). */
static unsigned any_last(const uint8_t *p, size_t n, pb_field *out) {
  pb_rd r;
  pb_field f;
  unsigned kase = 0;
  pb_init(&r, p, n);
  while (pb_more(&r) && pb_field_next(&r, &f) == 0)
    if (f.num >= 1 && f.num <= 7) {
      kase = f.num;
      *out = f;
    }
  return kase;
}

/* protobuf-c reads a bool from whatever bytes follow its tag. */
static int wire_bool(const pb_field *f) {
  for (size_t i = 0; i < f->raw_n; i++)
    if (f->raw[i] & 0x7f) return 1;
  return 0;
}

static void jw_any(jbuf *b, unsigned kase, const pb_field *f, uint32_t depth);

/* Value of a KeyValue message: the last value field that sets a member
 * (a later empty AnyValue merges into the earlier one, changing nothing). */
static unsigned kv_parts(const uint8_t *p, size_t n, pb_field *key, pb_field *val) {
  pb_rd r;
  pb_field f, v;
  unsigned kase = 0;
  key->p = NULL;
  key->n = 0;
  pb_init(&r, p, n);
  while (pb_more(&r) && pb_field_next(&r, &f) == 0) {
    if (f.num == 1) *key = f;
    else if (f.num == 2) {
      unsigned k = any_last(f.p, f.n, &v);
      if (k) {
        kase = k;
        *val = v;
      }
    }
  }
  return kase;
}

static void jw_list(jbuf *b, unsigned kase, const uint8_t *p, size_t n, uint32_t depth) {
  pb_rd r;
  pb_field f, key, val;
  int first = 1;
  jb_put(b, kase == 5 ? "[" : "{", 1);
  pb_init(&r, p, n);
  while (!b->rc && pb_more(&r) && pb_field_next(&r, &f) == 0) {
    if (f.num != 1) continue;
    if (!first) jb_put(b, ",", 1);
    first = 0;
    if (kase == 5) {
      unsigned k = any_last(f.p, f.n, &val);
      jw_any(b, k, &val, depth);
    } else {
      unsigned k = kv_parts(f.p, f.n, &key, &val);
      jb_slice(b, key.p, key.n);
      jb_put(b, ":", 1);
      jw_any(b, k, &val, depth);
    }
  }
  jb_put(b, kase == 5 ? "]" : "}", 1);
}

static void jw_any(jbuf *b, unsigned kase, const pb_field *f, uint32_t depth) {
  char num[40];
  if (b->rc) return;
  switch (kase) {
  case 1: jb_slice(b, f->p, f->n); break;
  case 2: jb_puts(b, wire_bool(f) ? "true" : "false"); break;
  case 3:
    snprintf(num, sizeof num, "%lld", (long long)(int64_t)f->v);
    jb_puts(b, num);
    break;
  case 4: {
    double d;
    memcpy(&d, &f->v, sizeof d);
    if (isfinite(d)) {
      snprintf(num, sizeof num, "%.17g", d);
      jb_puts(b, num);
    } else {
      jb_puts(b, "null");
    }
    break;
  }
  case 5:
  case 6:
    if (depth >= b->c->lim->max_depth) {
      b->rc = CS_CONV_REJECT;
      b->c->reason = CS_REJ_TOO_DEEP;
      return;
    }
    jw_list(b, kase, f->p, f->n, depth + 1);
    break;
  case 7: jb_base64(b, f->p, f->n); break;
  default: jb_puts(b, "null"); break;
  }
}

int __cs_conv_wire_attrs(cs_conv *c, cs_attr *a, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    cs_attr *at = &a[i];
    int rc = __cs_conv_slice_fast(c, at->key.p, at->key.n, &at->key);
    if (rc) return rc;
    switch (at->type) {
    case CS_VAL_STR: rc = __cs_conv_slice_fast(c, at->v.s.p, at->v.s.n, &at->v.s); break;
    case CS_VAL_BYTES:
      if (at->v.s.n > UINT32_MAX / 4) {
        c->reason = CS_REJ_VALUE_TOO_LONG;
        return CS_CONV_REJECT;
      }
      break;
    case CS_VAL_ARRAY:
    case CS_VAL_KVLIST: {
      /* Same walk as jb_value: the outer list is depth 0. */
      jbuf b = {.c = c, .limit = c->lim->max_value_len};
      pb_field f = {.p = (const uint8_t *)at->v.s.p, .n = at->v.s.n};
      jw_any(&b, at->type == CS_VAL_ARRAY ? 5 : 6, &f, 0);
      if (b.rc) return b.rc;
      at->v.s = (cs_str){b.p ? b.p : "", (uint32_t)b.n};
      break;
    }
    default: break;
    }
    if (rc) return rc;
  }
  return CS_CONV_OK;
}
