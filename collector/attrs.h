/* Internal to the decoders: OTLP KeyValue/AnyValue into cs_attr, with
 * arrays and key-value lists rendered as JSON text. Two sources: protobuf-c
 * structs (metrics) and raw wire bytes (the trace decoder, decode_traces.c). */
#ifndef CS_ATTRS_H
#define CS_ATTRS_H

#include "arena.h"
#include "opentelemetry/proto/common/v1/common.pb-c.h"
#include "span.h"
#include "validate.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue cs_otlp_kv;
typedef Opentelemetry__Proto__Common__V1__AnyValue cs_otlp_any;

/* Conversion context for one payload. */
typedef struct cs_conv {
  cs_arena *a;
  const cs_limits *lim;
  uint32_t utf8_repaired;
  int reason; /* CS_REJ_* when a call returned CS_CONV_REJECT */
} cs_conv;

enum { CS_CONV_OK = 0, CS_CONV_NOMEM = -1, CS_CONV_REJECT = -2 };

/* A protobuf-c string (NUL-terminated, never NULL) as a cs_str, made valid
 * UTF-8. Returns CS_CONV_OK or CS_CONV_NOMEM. */
int __cs_conv_str(cs_conv *c, const char *p, cs_str *out);

/* A string from the wire (n bytes at p, not NUL-terminated) as a cs_str:
 * cut at its first NUL byte (as protobuf-c's C strings are) and made valid
 * UTF-8. Points into p unless a repair was needed. Returns CS_CONV_OK or
 * CS_CONV_NOMEM. */
int __cs_conv_slice(cs_conv *c, const char *p, uint32_t n, cs_str *out);

/* __cs_conv_slice with its common case (ASCII without NUL) inline. */
static inline int __cs_conv_slice_fast(cs_conv *c, const char *p, uint32_t n, cs_str *out) {
  if (p && cs_ascii_nonul(p, n)) {
    out->p = p;
    out->n = n;
    return CS_CONV_OK;
  }
  return __cs_conv_slice(c, p, n, out);
}

/* Finishes n attributes filled in by the wire decoder: key and v.s hold raw
 * wire bytes (for CS_VAL_ARRAY and CS_VAL_KVLIST the bytes of the
 * ArrayValue or KeyValueList message, already checked to be well-formed);
 * converts keys and strings (__cs_conv_slice) and renders arrays and lists
 * as JSON, in place, in order. Rejects (CS_CONV_REJECT, reason set) on a
 * JSON text past the value cap or nesting past lim->max_depth. */
int __cs_conv_wire_attrs(cs_conv *c, cs_attr *a, uint32_t n);

/* Converts n KeyValues into an arena array. Rejects (CS_CONV_REJECT, reason
 * set) when n is over the attribute cap or a value nests too deeply or its
 * JSON text grows past the value cap. */
int __cs_conv_attrs(cs_conv *c, cs_otlp_kv **kv, size_t n, cs_attr **out, uint32_t *n_out);

#endif
