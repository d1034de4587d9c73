/* OTLP JSON to protobuf wire bytes, driven by protobuf-c descriptors (see
 * otlp_json.h). A submessage's length is not known until its fields are
 * written, so five bytes are reserved for it and the body is moved back
 * over the unused ones once it is complete; nesting is shallow, so the
 * moves cost little next to the JSON parse. */
#include "otlp_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "hexb64.h"
#include "json_parse.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "pbwire.h"

#define JSON_MAX_DEPTH 128

typedef struct pbw {
  cs_buf b; /* capped at the expansion limit (cs_otlp_json_to_pb) */
  int rc;
  char *err;
  size_t err_len;
} pbw;

static int bad(pbw *w, const char *what, const char *field) {
  if (!w->rc) {
    w->rc = CS_OTLP_JSON_EBAD;
    if (w->err && w->err_len)
      snprintf(w->err, w->err_len, "%s: %s", what, field ? field : "");
  }
  return w->rc;
}

static int reserve(pbw *w, size_t more) {
  if (w->rc)
    return -1;
  if (cs_buf_reserve(&w->b, more) == 0)
    return 0;
  w->rc = CS_OTLP_JSON_ENOMEM;
  if (w->b.err == CS_BUF_ETOOBIG && w->err && w->err_len)
    snprintf(w->err, w->err_len, "protobuf form over %zu bytes", w->b.max);
  return -1;
}

static void put_varint(pbw *w, uint64_t v) {
  if (reserve(w, PB_VARINT_MAX))
    return;
  w->b.n += pb_put_varint(w->b.p + w->b.n, v);
}

static void put_fixed(pbw *w, uint64_t v, int bytes) {
  if (reserve(w, (size_t)bytes))
    return;
  for (int i = 0; i < bytes; i++)
    w->b.p[w->b.n++] = (uint8_t)(v >> (8 * i));
}

static void put_tag(pbw *w, uint32_t id, int wt) {
  put_varint(w, (uint64_t)id << 3 | (uint64_t)wt);
}

static void put_bytes(pbw *w, uint32_t id, const uint8_t *b, size_t n) {
  put_tag(w, id, 2);
  put_varint(w, n);
  if (reserve(w, n))
    return;
  if (n)
    memcpy(w->b.p + w->b.n, b, n);
  w->b.n += n;
}

/* Field names: JSON uses lowerCamelCase of the proto's snake_case name,
 * and proto3 parsers accept the original name too. */
static int name_match(const char *key, size_t kn, const char *snake) {
  size_t i = 0;
  for (const char *s = snake; *s; s++) {
    char want = *s;
    if (want == '_' && s[1]) {
      s++;
      want = (char)(s[0] >= 'a' && s[0] <= 'z' ? s[0] - 32 : s[0]);
    }
    if (i >= kn || key[i] != want)
      return 0;
    i++;
  }
  return i == kn;
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d,
                                                  const char *key, size_t kn) {
  for (unsigned i = 0; i < d->n_fields; i++) {
    const ProtobufCFieldDescriptor *f = &d->fields[i];
    if (name_match(key, kn, f->name) || (strlen(f->name) == kn && !memcmp(f->name, key, kn)))
      return f;
  }
  return NULL;
}

static int is_id_field(const char *name) {
  size_t n = strlen(name);
  return (n >= 8 && !strcmp(name + n - 8, "trace_id")) ||
         (n >= 7 && !strcmp(name + n - 7, "span_id"));
}

/* Writes a bytes field from hex (IDs) or base64 (anything else), decoding
 * straight into the output after its tag and length: the decoded length is
 * known before a byte is written, and the codec checks it against the room
 * reserved for it. */
static void put_binary(pbw *w, const ProtobufCFieldDescriptor *f, const cs_jp_val *v) {
  if (v->type != CS_JP_STR) {
    bad(w, "bytes field is not a string", f->name);
    return;
  }
  int id = is_id_field(f->name);
  if (id && v->n % 2) {
    bad(w, "odd-length hex ID", f->name);
    return;
  }
  size_t n = id ? (size_t)v->n / 2 : cs_b64_decoded_len(v->s, v->n);
  put_tag(w, f->id, 2);
  put_varint(w, n);
  if (reserve(w, n))
    return;
  ptrdiff_t got = id ? cs_hex_decode(v->s, v->n, w->b.p + w->b.n, n, CS_HEX_ANY_CASE)
                     : cs_b64_decode(v->s, v->n, w->b.p + w->b.n, n);
  if (got != (ptrdiff_t)n) {
    bad(w, id ? "ID is not hex" : "bytes value is not base64", f->name);
    return;
  }
  w->b.n += n;
}

/* An integer from a number or string; integral doubles ("1e3", "5.0")
 * are taken too, as protobuf's JSON parsers do. */
static int get_int(const cs_jp_val *v, int is_unsigned, uint64_t *out) {
  if (is_unsigned) {
    if (cs_jp_u64(v, out) == 0)
      return 0;
  } else {
    int64_t i;
    if (cs_jp_i64(v, &i) == 0) {
      *out = (uint64_t)i;
      return 0;
    }
  }
  double d;
  if (!v || cs_jp_double(v, &d) || d != d || d > 9007199254740992.0 || d < -9007199254740992.0 ||
      d != (double)(int64_t)d || (is_unsigned && d < 0))
    return -1;
  *out = (uint64_t)(int64_t)d;
  return 0;
}

static void put_sub(pbw *w, uint32_t id, const ProtobufCMessageDescriptor *d, const cs_jp_val *obj);

static void put_scalar(pbw *w, const ProtobufCFieldDescriptor *f, const cs_jp_val *v) {
  uint64_t u;
  double dv;
  switch (f->type) {
  case PROTOBUF_C_TYPE_STRING:
    if (v->type != CS_JP_STR) {
      bad(w, "string field has another type", f->name);
      return;
    }
    put_bytes(w, f->id, (const uint8_t *)v->s, v->n);
    return;
  case PROTOBUF_C_TYPE_BYTES: put_binary(w, f, v); return;
  case PROTOBUF_C_TYPE_MESSAGE:
    if (v->type != CS_JP_OBJ) {
      bad(w, "message field is not an object", f->name);
      return;
    }
    put_sub(w, f->id, f->descriptor, v);
    return;
  case PROTOBUF_C_TYPE_BOOL:
    if (v->type != CS_JP_BOOL) {
      bad(w, "bool field has another type", f->name);
      return;
    }
    put_tag(w, f->id, 0);
    put_varint(w, v->b);
    return;
  case PROTOBUF_C_TYPE_ENUM:
    if (v->type == CS_JP_STR && !(v->s[0] >= '0' && v->s[0] <= '9') && v->s[0] != '-') {
      const ProtobufCEnumValue *ev =
          protobuf_c_enum_descriptor_get_value_by_name(f->descriptor, v->s);
      if (!ev)
        return; /* unknown names from newer senders: default */
      put_tag(w, f->id, 0);
      put_varint(w, (uint64_t)(int64_t)ev->value);
      return;
    }
    __attribute__((fallthrough)); /* numeric enum */
  case PROTOBUF_C_TYPE_INT32:
  case PROTOBUF_C_TYPE_INT64:
    if (get_int(v, 0, &u))
      break;
    if (f->type != PROTOBUF_C_TYPE_INT64 && ((int64_t)u < INT32_MIN || (int64_t)u > INT32_MAX))
      break;
    put_tag(w, f->id, 0);
    put_varint(w, u);
    return;
  case PROTOBUF_C_TYPE_UINT32:
  case PROTOBUF_C_TYPE_UINT64:
    if (get_int(v, 1, &u))
      break;
    if (f->type == PROTOBUF_C_TYPE_UINT32 && u > UINT32_MAX)
      break;
    put_tag(w, f->id, 0);
    put_varint(w, u);
    return;
  case PROTOBUF_C_TYPE_SINT32:
  case PROTOBUF_C_TYPE_SINT64: {
    if (get_int(v, 0, &u))
      break;
    int64_t s = (int64_t)u;
    if (f->type == PROTOBUF_C_TYPE_SINT32 && (s < INT32_MIN || s > INT32_MAX))
      break;
    put_tag(w, f->id, 0);
    put_varint(w, ((uint64_t)s << 1) ^ (uint64_t)(s >> 63));
    return;
  }
  case PROTOBUF_C_TYPE_FIXED32:
  case PROTOBUF_C_TYPE_SFIXED32: {
    int uns = f->type == PROTOBUF_C_TYPE_FIXED32;
    if (get_int(v, uns, &u))
      break;
    if (uns ? u > UINT32_MAX : ((int64_t)u < INT32_MIN || (int64_t)u > INT32_MAX))
      break;
    put_tag(w, f->id, 5);
    put_fixed(w, (uint32_t)u, 4);
    return;
  }
  case PROTOBUF_C_TYPE_FIXED64:
  case PROTOBUF_C_TYPE_SFIXED64:
    if (get_int(v, f->type == PROTOBUF_C_TYPE_FIXED64, &u))
      break;
    put_tag(w, f->id, 1);
    put_fixed(w, u, 8);
    return;
  case PROTOBUF_C_TYPE_DOUBLE:
  case PROTOBUF_C_TYPE_FLOAT: {
    if (cs_jp_double(v, &dv))
      break;
    if (f->type == PROTOBUF_C_TYPE_FLOAT) {
      float fl = (float)dv;
      uint32_t bits;
      memcpy(&bits, &fl, 4);
      put_tag(w, f->id, 5);
      put_fixed(w, bits, 4);
    } else {
      uint64_t bits;
      memcpy(&bits, &dv, 8);
      put_tag(w, f->id, 1);
      put_fixed(w, bits, 8);
    }
    return;
  }
  default: return;
  }
  bad(w, "number field has a bad value", f->name);
}

static void put_message_body(pbw *w, const ProtobufCMessageDescriptor *d, const cs_jp_val *obj) {
  for (const cs_jp_val *m = obj->child; m && !w->rc; m = m->next) {
    if (m->type == CS_JP_NULL)
      continue;
    const ProtobufCFieldDescriptor *f = find_field(d, m->key, m->key_n);
    if (!f)
      continue; /* unknown fields are ignored */
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
      if (m->type != CS_JP_ARR) {
        bad(w, "repeated field is not an array", f->name);
        return;
      }
      for (const cs_jp_val *e = m->child; e && !w->rc; e = e->next)
        if (e->type != CS_JP_NULL || f->type == PROTOBUF_C_TYPE_MESSAGE)
          put_scalar(w, f, e->type == CS_JP_NULL ? &(cs_jp_val){.type = CS_JP_OBJ} : e);
    } else {
      put_scalar(w, f, m);
    }
  }
}

/* A submessage: tag, five bytes held for the length, the body, then the
 * body moved back to sit right after the length's real varint. */
static void put_sub(pbw *w, uint32_t id, const ProtobufCMessageDescriptor *d,
                    const cs_jp_val *obj) {
  put_tag(w, id, 2);
  if (reserve(w, 5))
    return;
  size_t len_at = w->b.n;
  w->b.n += 5;
  put_message_body(w, d, obj);
  if (w->rc)
    return;
  size_t body = w->b.n - len_at - 5;
  uint8_t tmp[PB_VARINT_MAX];
  size_t k = pb_put_varint(tmp, body);
  if (k > 5) { /* a body over 32 GiB: the cap keeps this from happening */
    w->rc = CS_OTLP_JSON_ENOMEM;
    return;
  }
  memcpy(w->b.p + len_at, tmp, k);
  memmove(w->b.p + len_at + k, w->b.p + len_at + 5, body);
  w->b.n -= 5 - k;
}

int cs_otlp_json_to_pb(const char *json, size_t n, const ProtobufCMessageDescriptor *d, cs_arena *a,
                       uint8_t **out, size_t *out_len, char *err, size_t err_len) {
  *out = NULL;
  *out_len = 0;
  cs_jp_val *root;
  int rc = cs_jp_parse(json, n, a, JSON_MAX_DEPTH, &root, err, err_len);
  if (rc == CS_JP_ENOMEM)
    return CS_OTLP_JSON_ENOMEM;
  if (rc)
    return CS_OTLP_JSON_EBAD;
  if (root->type != CS_JP_OBJ) {
    if (err && err_len)
      snprintf(err, err_len, "body is not a JSON object");
    return CS_OTLP_JSON_EBAD;
  }
  /* The expansion cap: protobuf is never much longer than the JSON it came
   * from (hex IDs halve, base64 shrinks, numbers and tags shrink), so 1.5
   * times the JSON plus slack holds any honest request. */
  pbw w = {.b = {.max = n + n / 2 + 4096}, .err = err, .err_len = err_len};
  put_message_body(&w, d, root);
  if (w.rc) {
    free(w.b.p);
    return w.rc;
  }
  *out = w.b.p;
  *out_len = w.b.n;
  return CS_OTLP_JSON_OK;
}

size_t cs_otlp_json_arena_cap(size_t n) {
  /* A parse node is 56 bytes and the densest JSON spends two bytes per
   * value ("0,"), so 32x covers any body; real OTLP JSON needs about 3x. */
  size_t cap = n * 32 + (1u << 20);
  return cap > ((size_t)512 << 20) ? (size_t)512 << 20 : cap;
}

/* Parses json into protobuf bytes with a temporary arena of its own, so
 * the parse tree is freed before decoding allocates. */
static int to_pb(const char *json, size_t n, const ProtobufCMessageDescriptor *d, uint8_t **pb,
                 size_t *pb_len, char *err, size_t err_len) {
  cs_arena tmp;
  cs_arena_init(&tmp, 64u << 10, cs_otlp_json_arena_cap(n));
  int rc = cs_otlp_json_to_pb(json, n, d, &tmp, pb, pb_len, err, err_len);
  cs_arena_release(&tmp);
  if (rc == CS_OTLP_JSON_ENOMEM)
    return CS_DECODE_ENOMEM;
  return rc ? CS_DECODE_EPROTO : CS_DECODE_OK;
}

int cs_decode_traces_json(const char *json, size_t n, cs_arena *a, const cs_limits *lim,
                          cs_span **out, size_t *n_out, cs_reject_counts *rej, char *err,
                          size_t err_len) {
  uint8_t *pb;
  size_t pb_len;
  *out = NULL;
  *n_out = 0;
  int rc =
      to_pb(json, n,
            &opentelemetry__proto__collector__trace__v1__export_trace_service_request__descriptor,
            &pb, &pb_len, err, err_len);
  if (rc)
    return rc;
  rc = cs_decode_traces(pb, pb_len, a, lim, out, n_out, rej);
  /* Strings of the decoded spans point into the arena, not into pb. */
  free(pb);
  if (rc && err && err_len)
    snprintf(err, err_len, "%s", cs_decode_strerror(rc));
  return rc;
}

int cs_decode_metrics_json(const char *json, size_t n, cs_arena *a, const cs_limits *lim,
                           cs_otlp_metrics **out, cs_resource **resources, size_t *n_points,
                           char *err, size_t err_len) {
  uint8_t *pb;
  size_t pb_len;
  *out = NULL;
  *resources = NULL;
  *n_points = 0;
  int rc = to_pb(
      json, n,
      &opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__descriptor,
      &pb, &pb_len, err, err_len);
  if (rc)
    return rc;
  rc = cs_decode_metrics(pb, pb_len, a, lim, out, resources, n_points);
  free(pb);
  if (rc && err && err_len)
    snprintf(err, err_len, "%s", cs_decode_strerror(rc));
  return rc;
}
