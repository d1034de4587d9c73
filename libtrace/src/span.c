/* Spans on the caller's thread: start, attributes, events, links, status,
 * end. A recording span accumulates a compact binary record in its own
 * buffer; ending it copies the record into the thread's ring in one push.
 * Span objects are recycled through a per-thread cache, so after warm-up no
 * span touches the heap, takes a lock or makes a system call. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define KEY_MAX 255u

/* Returned when nothing can be recorded: every call on it is a no-op. */
static cst_span noop_span = {.ctx = {.b3_sampling = -1}};

static inline void bump(atomic_uint_fast64_t *c, uint64_t n) {
  /* Producer-owned counter: a plain load and store, no locked instruction. */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static inline int forked(const cst_tracer *t) {
  return t->fork_gen != atomic_load_explicit(&__cst_fork_gen, memory_order_relaxed);
}

static inline __cst_ring *ring_of(cst_tracer *t) {
  if (CST_LIKELY(__cst_t.ring_gen == t->gen))
    return __cst_t.ring;
  return __cst_ring_for(t);
}

static cst_span *span_alloc(__cst_ring *r) {
  cst_span *s = r->free_spans;
  if (CST_LIKELY(s != NULL)) {
    r->free_spans = s->next_free;
    r->n_free--;
    return s;
  }
  s = aligned_alloc(64, (sizeof(cst_span) + 63) & ~(size_t)63);
  if (!s)
    return NULL;
  s->buf = s->inline_buf;
  s->cap = CST_SPAN_INLINE;
  return s;
}

static void span_recycle(__cst_ring *r, cst_span *s) {
  if (r && r->n_free < CST_SPAN_CACHE) {
    s->next_free = r->free_spans;
    r->free_spans = s;
    r->n_free++;
    return;
  }
  if (s->buf != s->inline_buf)
    free(s->buf);
  free(s);
}

/* Makes room for need more bytes, growing up to the tracer's span cap.
 * Returns NULL (and the caller counts a drop) when the cap is reached. */
static __attribute__((noinline)) uint8_t *grow(cst_span *s, size_t need) {
  size_t want = (size_t)s->len + need;
  if (want + 8 > s->t->max_span_bytes)
    return NULL;
  size_t cap = s->cap * 2u;
  while (cap < want + 8)
    cap *= 2; /* room() promises 8 spare bytes */
  if (cap > s->t->max_span_bytes)
    cap = s->t->max_span_bytes;
  uint8_t *nb;
  if (s->buf == s->inline_buf) {
    nb = malloc(cap);
    if (nb)
      memcpy(nb, s->buf, s->len);
  } else {
    nb = realloc(s->buf, cap);
  }
  if (!nb)
    return NULL;
  s->buf = nb;
  s->cap = (uint32_t)cap;
  return s->buf + s->len;
}

static inline uint8_t *room(cst_span *s, size_t need) {
  if (CST_LIKELY(s->len + need + 8 <= s->cap))
    return s->buf + s->len;
  return grow(s, need);
}

/* Copies short strings with a few fixed-size moves. Left to itself the
 * compiler turns these variable-length copies into "rep movsq", whose
 * start-up cost (tens of cycles each) dominated a span with four
 * attributes. */
static __attribute__((noinline)) void copy_big(uint8_t *d, const void *s, size_t n) {
  memcpy(d, s, n);
}

/* Unaligned loads and stores through may_alias types, not memcpy into a
 * local: a local whose address is taken makes -fstack-protector-strong put
 * a canary check into every function this inlines into (the hardened
 * Release build spent 10% more instructions per span on that alone). */
typedef uint64_t __attribute__((may_alias, aligned(1))) u64_u;
typedef uint32_t __attribute__((may_alias, aligned(1))) u32_u;

static inline void copy_small(uint8_t *d, const void *src, size_t n) {
  const uint8_t *s = src;
  if (n >= 8 && n <= 16) {
    uint64_t a = *(const u64_u *)s, b = *(const u64_u *)(s + n - 8);
    *(u64_u *)d = a;
    *(u64_u *)(d + n - 8) = b;
  } else if (n > 16 && n <= 32) {
    uint64_t a = *(const u64_u *)s, b = *(const u64_u *)(s + 8);
    uint64_t c = *(const u64_u *)(s + n - 16), e = *(const u64_u *)(s + n - 8);
    *(u64_u *)d = a;
    *(u64_u *)(d + 8) = b;
    *(u64_u *)(d + n - 16) = c;
    *(u64_u *)(d + n - 8) = e;
  } else if (n >= 4 && n < 8) {
    uint32_t a = *(const u32_u *)s, b = *(const u32_u *)(s + n - 4);
    *(u32_u *)d = a;
    *(u32_u *)(d + n - 4) = b;
  } else if (n > 0 && n < 4) {
    d[0] = s[0];
    d[n / 2] = s[n / 2];
    d[n - 1] = s[n - 1];
  } else if (n > 32) {
    copy_big(d, s, n);
  }
}

/* Appends v (its own type's width) at p and advances p; see u64_u. */
#define PUT(p, v)                                                                                  \
  do {                                                                                             \
    typedef __typeof__(v) __attribute__((may_alias, aligned(1))) put_t_;                           \
    *(put_t_ *)(void *)(p) = (v);                                                                  \
    (p) += sizeof(put_t_);                                                                         \
  } while (0)

static void put_name(cst_span *s, const char *name) {
  size_t n = name ? strlen(name) : 0;
  if (n > 0xffff)
    n = 0xffff;
  uint8_t *p = room(s, 3 + n);
  if (!p)
    return;
  *p++ = __CST_IT_NAME;
  PUT(p, (uint16_t)n);
  copy_small(p, name, n);
  s->len += (uint32_t)(3 + n);
}

/* Writes one attribute item; returns its size or 0 when it did not fit. */
static inline uint64_t dbits(double d) {
  union {
    double d;
    uint64_t u;
  } c = {.d = d};
  return c.u;
}

/* Appends one attribute item. A string value is str/vlen; a bool, int or
 * double value is its bits (no pointer to a caller's local: see u64_u). */
static size_t put_attr(cst_span *s, uint8_t tag, const char *key, uint8_t type, const void *str,
                       size_t vlen, uint64_t bits) {
  size_t kn = strlen(key);
  if (kn > KEY_MAX)
    kn = KEY_MAX;
  size_t need = 4 + kn + (type == CST_ATTR_STRING ? 4 + vlen : type == CST_ATTR_BOOL ? 1 : 8);
  uint8_t *p = room(s, need);
  if (!p)
    return 0;
  *p++ = tag;
  *p++ = type;
  PUT(p, (uint16_t)kn);
  copy_small(p, key, kn);
  p += kn;
  if (type == CST_ATTR_STRING) {
    PUT(p, (uint32_t)vlen);
    copy_small(p, str, vlen);
  } else if (type == CST_ATTR_BOOL) {
    *p = (uint8_t)(bits != 0);
  } else {
    PUT(p, bits);
  }
  s->len += (uint32_t)need;
  return need;
}

static void set_attr(cst_span *s, const char *key, uint8_t type, const void *str, size_t vlen,
                     uint64_t bits) {
  if (!s->recording || !key)
    return;
  if (s->n_attrs >= CST_MAX_ATTRIBUTES || !put_attr(s, __CST_IT_ATTR, key, type, str, vlen, bits)) {
    s->dropped_attrs++;
    return;
  }
  s->n_attrs++;
}

void cst_span_set_strn(cst_span *s, const char *key, const char *value, size_t len) {
  if (!s)
    return;
  set_attr(s, key, CST_ATTR_STRING, value ? value : "", value ? len : 0, 0);
}

void cst_span_set_str(cst_span *s, const char *key, const char *value) {
  if (!s || !s->recording)
    return;
  set_attr(s, key, CST_ATTR_STRING, value ? value : "", value ? strlen(value) : 0, 0);
}

void cst_span_set_int(cst_span *s, const char *key, int64_t value) {
  if (s)
    set_attr(s, key, CST_ATTR_INT, NULL, 0, (uint64_t)value);
}

void cst_span_set_double(cst_span *s, const char *key, double value) {
  if (s)
    set_attr(s, key, CST_ATTR_DOUBLE, NULL, 0, dbits(value));
}

void cst_span_set_bool(cst_span *s, const char *key, int value) {
  if (s)
    set_attr(s, key, CST_ATTR_BOOL, NULL, 0, value != 0);
}

/* Writes n attributes as SUBATTR items after an event or link header;
 * returns how many did not fit. Rolls nothing back: the header's count is
 * patched by the caller. */
static uint32_t put_subattrs(cst_span *s, const cst_attr *a, size_t n, uint16_t *written) {
  uint32_t dropped = 0;
  *written = 0;
  for (size_t i = 0; i < n; i++) {
    if (!a[i].key || *written >= CST_MAX_EVENT_ATTRIBUTES) {
      dropped++;
      continue;
    }
    size_t ok;
    switch (a[i].type) {
    case CST_ATTR_STRING: {
      const char *v = a[i].v.s ? a[i].v.s : "";
      ok = put_attr(s, __CST_IT_SUBATTR, a[i].key, CST_ATTR_STRING, v, strlen(v), 0);
      break;
    }
    case CST_ATTR_BOOL:
      ok = put_attr(s, __CST_IT_SUBATTR, a[i].key, CST_ATTR_BOOL, NULL, 0, a[i].v.b != 0);
      break;
    case CST_ATTR_INT:
      ok = put_attr(s, __CST_IT_SUBATTR, a[i].key, CST_ATTR_INT, NULL, 0, (uint64_t)a[i].v.i);
      break;
    case CST_ATTR_DOUBLE:
      ok = put_attr(s, __CST_IT_SUBATTR, a[i].key, CST_ATTR_DOUBLE, NULL, 0, dbits(a[i].v.d));
      break;
    default: ok = 0;
    }
    if (ok)
      (*written)++;
    else
      dropped++;
  }
  return dropped;
}

void cst_span_add_event(cst_span *s, const char *name, const cst_attr *attrs, size_t n) {
  if (!s || !s->recording)
    return;
  if (s->n_events >= CST_MAX_EVENTS) {
    s->dropped_events++;
    return;
  }
  size_t nn = name ? strlen(name) : 0;
  if (nn > 0xffff)
    nn = 0xffff;
  uint32_t at = s->len;
  uint8_t *p = room(s, 1 + 8 + 2 + nn + 2 + 4);
  if (!p) {
    s->dropped_events++;
    return;
  }
  *p++ = __CST_IT_EVENT;
  PUT(p, __cst_now());
  PUT(p, (uint16_t)nn);
  memcpy(p, name, nn);
  s->len += (uint32_t)(1 + 8 + 2 + nn + 2 + 4);
  uint16_t written;
  uint32_t dropped = put_subattrs(s, attrs, attrs ? n : 0, &written);
  p = s->buf + at + 1 + 8 + 2 + nn;
  PUT(p, written);
  PUT(p, dropped);
  s->n_events++;
}

void cst_span_add_link(cst_span *s, const cst_context *ctx, const cst_attr *attrs, size_t n) {
  if (!s || !s->recording || !ctx || !ctx->valid)
    return;
  if (s->n_links >= CST_MAX_LINKS) {
    s->dropped_links++;
    return;
  }
  const char *ts = ctx->bag ? ctx->bag->tracestate : "";
  size_t tn = ctx->bag ? ctx->bag->ts_len : 0;
  if (tn > 0xffff)
    tn = 0;
  uint32_t at = s->len;
  size_t hdr = 1 + 16 + 8 + 4 + 2 + tn + 2 + 4;
  uint8_t *p = room(s, hdr);
  if (!p) {
    s->dropped_links++;
    return;
  }
  *p++ = __CST_IT_LINK;
  memcpy(p, ctx->trace_id, 16);
  memcpy(p + 16, ctx->span_id, 8);
  p += 24;
  /* OTLP link flags: W3C flags plus "is remote known" and "is remote". */
  PUT(p, (uint32_t)(ctx->flags | 0x100u | (ctx->remote ? 0x200u : 0)));
  PUT(p, (uint16_t)tn);
  memcpy(p, ts, tn);
  s->len += (uint32_t)hdr;
  uint16_t written;
  uint32_t dropped = put_subattrs(s, attrs, attrs ? n : 0, &written);
  p = s->buf + at + hdr - 6;
  PUT(p, written);
  PUT(p, dropped);
  s->n_links++;
}

void cst_span_set_status(cst_span *s, cst_status_code code, const char *message) {
  if (!s || !s->recording || s->status_final || code > CST_STATUS_ERROR)
    return;
  if (code == CST_STATUS_UNSET)
    return; /* UNSET never overrides a set status */
  s->status = (uint8_t)code;
  if (code == CST_STATUS_OK)
    s->status_final = 1;
  if (code == CST_STATUS_ERROR && message && *message) {
    size_t n = strlen(message);
    if (n > 0xffff)
      n = 0xffff;
    uint8_t *p = room(s, 3 + n);
    if (!p)
      return;
    *p++ = __CST_IT_STATUS;
    PUT(p, (uint16_t)n);
    memcpy(p, message, n);
    s->len += (uint32_t)(3 + n);
  }
}

void cst_span_update_name(cst_span *s, const char *name) {
  if (s && s->recording)
    put_name(s, name);
}

cst_span *cst_span_start_opts(cst_tracer *t, const char *name, const cst_span_opts *opts) {
  static const cst_span_opts none = {0};
  if (!opts)
    opts = &none;
  if (CST_UNLIKELY(!t || forked(t)))
    return &noop_span;
  __cst_ring *r = ring_of(t);
  if (CST_UNLIKELY(!r))
    return &noop_span;
  cst_span *s = span_alloc(r);
  if (CST_UNLIKELY(!s))
    return &noop_span;
  bump(&r->started, 1);

  const cst_context *parent = opts->parent;
  if (!parent && !opts->new_root && __cst_t.current && __cst_t.current != &noop_span)
    parent = &__cst_t.current->ctx;
  int child = parent && parent->valid && !opts->new_root;
  if (child) {
    memcpy(s->ctx.trace_id, parent->trace_id, 16);
    memcpy(s->parent_id, parent->span_id, 8);
    s->parent_remote = parent->remote;
  } else {
    uint64_t a, b;
    __cst_rand_ready();
    do {
      a = __cst_rand_next();
      b = __cst_rand_next();
    } while (CST_UNLIKELY((a | b) == 0));
    *(u64_u *)s->ctx.trace_id = a;
    *(u64_u *)(s->ctx.trace_id + 8) = b;
    s->parent_remote = 0;
  }
  uint64_t sid;
  __cst_rand_ready();
  do
    sid = __cst_rand_next();
  while (CST_UNLIKELY(sid == 0));
  *(u64_u *)s->ctx.span_id = sid;
  s->has_parent = (uint8_t)child;
  int sampled = __cst_should_sample(t, opts->new_root ? NULL : parent, s->ctx.trace_id);
  s->ctx.flags = (uint8_t)sampled;
  s->ctx.remote = 0;
  s->ctx.valid = 1;
  s->ctx.b3_sampling = -1;
  s->ctx.bag = parent ? __cst_bag_ref(parent->bag) : NULL;
  s->t = t;
  s->scope_prev = NULL;
  s->recording = (uint8_t)sampled;
  if (!sampled)
    return s;

  bump(&r->sampled, 1);
  {
    /* Ask for the ring lines this span will be copied into at its end:
     * they were last read by the exporter on another core, and fetching
     * them for writing now overlaps that transfer with the span's work.
     * (A prefetch never faults, even past the end of the buffer.) */
    const uint8_t *w =
        r->data + ((uint32_t)atomic_load_explicit(&r->head, memory_order_relaxed) & r->mask);
    __builtin_prefetch(w, 1);
    __builtin_prefetch(w + 64, 1);
    __builtin_prefetch(w + 128, 1);
    __builtin_prefetch(w + 192, 1);
  }
  s->kind = (uint8_t)(opts->kind ? opts->kind : CST_KIND_INTERNAL);
  s->status = CST_STATUS_UNSET;
  s->status_final = 0;
  s->n_attrs = s->n_events = s->n_links = 0;
  s->dropped_attrs = s->dropped_events = s->dropped_links = 0;
  s->start_ns = opts->start_ns ? opts->start_ns : __cst_now();
  s->len = sizeof(__cst_rec);
  put_name(s, name);
  for (size_t i = 0; i < opts->n_links && opts->links; i++)
    cst_span_add_link(s, opts->links[i], NULL, 0);
  return s;
}

cst_span *cst_span_start(cst_tracer *t, const char *name, cst_span_kind kind,
                         const cst_context *parent) {
  cst_span_opts o = {.kind = kind, .parent = parent};
  return cst_span_start_opts(t, name, &o);
}

/* Items that come from the flow rather than from the caller: tracestate and
 * the session ID, appended last so session.id wins over a user attribute. */
static void put_inherited(cst_span *s) {
  const __cst_bag *b = s->ctx.bag;
  if (!b)
    return;
  if (b->ts_len && b->ts_len <= 0xffff) {
    uint8_t *p = room(s, 3 + b->ts_len);
    if (p) {
      *p++ = __CST_IT_TRACESTATE;
      PUT(p, (uint16_t)b->ts_len);
      memcpy(p, b->tracestate, b->ts_len);
      s->len += 3 + b->ts_len;
    }
  }
  if (b->session >= 0) {
    const __cst_bag_entry *e = &b->e[b->session];
    if (!put_attr(s, __CST_IT_ATTR, "session.id", CST_ATTR_STRING, e->value, e->vlen, 0))
      s->dropped_attrs++;
  }
}

void cst_span_end_at(cst_span *s, uint64_t end_ns) {
  if (!s || s == &noop_span)
    return;
  if (__cst_t.current == s)
    __cst_t.current = s->scope_prev;
  cst_tracer *t = s->t;
  __cst_ring *r = forked(t) ? NULL : ring_of(t);
  if (s->recording && r) {
    put_inherited(s);
    uint32_t len = (s->len + 7u) & ~7u;
    /* Zero the padding (under 8 bytes; room() always keeps 8 spare). */
    uint64_t zero = 0;
    memcpy(s->buf + s->len, &zero, 8);
    /* The header is written in place (the buffer is 8-aligned): building
     * it on the stack and copying it stalled on store forwarding. */
    __cst_rec *h = (__cst_rec *)(void *)s->buf;
    h->len = len;
    h->type = __CST_REC_SPAN;
    memcpy(h->trace_id, s->ctx.trace_id, 16);
    memcpy(h->span_id, s->ctx.span_id, 8);
    memcpy(h->parent_id, s->parent_id, 8);
    h->start_ns = s->start_ns;
    h->end_ns = end_ns ? end_ns : __cst_now();
    if (CST_UNLIKELY(h->end_ns < h->start_ns))
      h->end_ns = h->start_ns; /* clock re-anchored */
    h->dropped_attrs = s->dropped_attrs;
    h->dropped_events = s->dropped_events;
    h->dropped_links = s->dropped_links;
    h->kind = s->kind;
    h->status = s->status;
    h->trace_flags = s->ctx.flags;
    h->has_parent = s->has_parent;
    h->parent_remote = s->parent_remote;
    memset(h->pad_, 0, sizeof h->pad_);
    if (s->dropped_attrs | s->dropped_events | s->dropped_links)
      bump(&r->dropped_attrs, (uint64_t)s->dropped_attrs + s->dropped_events + s->dropped_links);
    if (CST_UNLIKELY(__cst_ring_push(r, s->buf, len) != 0)) {
      bump(&r->dropped_full, 1);
    } else if (CST_UNLIKELY(atomic_load_explicit(&r->head, memory_order_relaxed) - r->tail_cache >
                            r->cap / 2)) {
      /* Rare: the producer's cached view says the ring is half full, so
       * look at the real tail (the only time the common path would touch
       * the consumer's cache line). One wake-up per half ring keeps bursts
       * from overflowing between the exporter's timed passes. */
      r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
      if (atomic_load_explicit(&r->head, memory_order_relaxed) - r->tail_cache > r->cap / 2 &&
          !atomic_load_explicit(&r->wake_sent, memory_order_relaxed)) {
        atomic_store_explicit(&r->wake_sent, 1, memory_order_relaxed);
        __cst_exporter_wake(t);
      }
    }
  }
  if (s->recording && !r && !forked(t)) /* ended on a thread over max_threads */
    atomic_fetch_add_explicit(&t->dropped_threads, 1, memory_order_relaxed);
  if (s->ctx.bag) {
    __cst_bag_unref(s->ctx.bag);
    s->ctx.bag = NULL;
  }
  span_recycle(r, s);
}

void cst_span_end(cst_span *s) {
  cst_span_end_at(s, 0);
}

const cst_context *cst_span_context(const cst_span *s) {
  return s ? &s->ctx : NULL;
}

int cst_span_is_recording(const cst_span *s) {
  return s && s->recording;
}

int cst_span_set_baggage(cst_span *s, const char *key, const char *value) {
  if (!s || s == &noop_span || !key || !value)
    return CST_EINVAL;
  __cst_bag *nb;
  int rc = __cst_bag_with(s->ctx.bag, key, strlen(key), value, strlen(value), &nb);
  if (rc != CST_OK)
    return rc;
  __cst_bag_unref(s->ctx.bag);
  s->ctx.bag = nb;
  return CST_OK;
}

int cst_span_set_session(cst_span *s, const char *session_id) {
  if (!session_id || !*session_id || strlen(session_id) > CST_SESSION_MAX)
    return CST_EINVAL;
  return cst_span_set_baggage(s, "session.id", session_id);
}

cst_span *cst_current_span(void) {
  return __cst_t.current;
}

cst_scope cst_scope_enter(cst_span *s) {
  cst_scope sc = {__cst_t.current, s};
  if (s && s != &noop_span)
    s->scope_prev = __cst_t.current;
  __cst_t.current = s;
  return sc;
}

void cst_scope_exit(cst_scope sc) {
  if (__cst_t.current == sc.span)
    __cst_t.current = sc.prev;
}
