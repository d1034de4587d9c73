/* The one internal span model. Every receiver (native frames, OTLP/HTTP,
 * Zipkin) decodes into it, the store writes and reads it, the query server
 * serves it. Strings are (pointer, length) views; whoever fills a cs_span
 * owns the memory behind them, usually an arena (arena.h). */
#ifndef CS_SPAN_H
#define CS_SPAN_H

#include <stddef.h>
#include <stdint.h>

typedef struct cs_str {
  const char *p;
  uint32_t n;
} cs_str;

#define CS_STR_LIT(s) ((cs_str){(s), (uint32_t)(sizeof(s) - 1)})

enum cs_val_type {
  CS_VAL_STR = 1,
  CS_VAL_BOOL = 2,
  CS_VAL_INT = 3,
  CS_VAL_DOUBLE = 4,
  CS_VAL_BYTES = 5,
  CS_VAL_ARRAY = 6,  /* v.s holds the JSON text of the array */
  CS_VAL_KVLIST = 7, /* v.s holds the JSON text of the object */
};

typedef struct cs_attr {
  cs_str key;
  uint8_t type; /* enum cs_val_type */
  union {
    cs_str s; /* STR, BYTES, ARRAY, KVLIST */
    int64_t i;
    double d;
    int b;
  } v;
} cs_attr;

typedef struct cs_event {
  uint64_t time_ns;
  cs_str name;
  cs_attr *attrs;
  uint32_t n_attrs;
  uint32_t dropped_attrs;
} cs_event;

typedef struct cs_link {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  cs_str trace_state;
  uint32_t flags;
  cs_attr *attrs;
  uint32_t n_attrs;
  uint32_t dropped_attrs;
} cs_link;

/* Shared by all spans of one ResourceSpans. service is resource attribute
 * service.name ("unknown_service" when missing). */
typedef struct cs_resource {
  cs_str service;
  cs_attr *attrs;
  uint32_t n_attrs;
} cs_resource;

enum cs_span_kind {
  CS_KIND_UNSPECIFIED = 0,
  CS_KIND_INTERNAL = 1,
  CS_KIND_SERVER = 2,
  CS_KIND_CLIENT = 3,
  CS_KIND_PRODUCER = 4,
  CS_KIND_CONSUMER = 5,
};

enum cs_status_code { CS_STATUS_UNSET = 0, CS_STATUS_OK = 1, CS_STATUS_ERROR = 2 };

typedef struct cs_span {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_id[8]; /* all zero for a root span */
  cs_str name;
  cs_str trace_state;
  uint8_t kind;        /* enum cs_span_kind */
  uint8_t status_code; /* enum cs_status_code */
  cs_str status_msg;
  uint32_t flags; /* OTLP span flags: low 8 bits W3C trace flags */
  uint64_t start_ns;
  uint64_t end_ns;
  const cs_resource *resource; /* never NULL once validated */
  cs_str scope_name;
  cs_str scope_version;
  cs_attr *attrs;
  uint32_t n_attrs;
  cs_event *events;
  uint32_t n_events;
  cs_link *links;
  uint32_t n_links;
  uint32_t dropped_attrs;
  uint32_t dropped_events;
  uint32_t dropped_links;
  /* Filled by normalisation (session.h): the session ID found under any
   * spelling in span or resource attributes; n == 0 when none. */
  cs_str session_id;
} cs_span;

static inline int cs_span_is_root(const cs_span *s) {
  for (int i = 0; i < 8; i++)
    if (s->parent_id[i]) return 0;
  return 1;
}

#endif
