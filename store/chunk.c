/* Chunk encoder and decoder (chunk.h). The encoder interns every string of
 * the chunk in a dictionary written once at the front, so names, keys and
 * repeated values cost one small varint per use; strings of the global
 * dictionary (gdict.h) are referred to by their global ID instead. A string
 * reference ("sid") is (index << 1) for the chunk's dictionary and
 * (id << 1 | 1) for the global one. */
#include "chunk.h"

#include "store.h"

/* Bits of a span's extras byte. */
enum { X_STATE = 1, X_MSG = 2, X_DROPPED = 4, X_EVENTS = 8, X_LINKS = 16 };

typedef struct dict_slot {
  uint32_t gen;
  uint32_t idx; /* sid (dictionary) or span position (span IDs) */
  uint64_t h;
  cs_str s;     /* dictionary only */
} dict_slot;

typedef struct origin {
  const cs_resource *r;
  cs_str scope_name, scope_version;
} origin;

struct cs__chunk_enc {
  dict_slot *slots;     /* open addressing, power-of-two size */
  size_t nslots, nused;
  cs__gdict *gd;        /* NULL: chunk-local strings only */
  uint32_t gen;         /* bumped per chunk so slots need no clearing */
  cs_str *strs;         /* dictionary in index order; [0] is "" */
  size_t nstrs, capstrs;
  dict_slot *ids;       /* span ID -> position in chunk */
  size_t nids;
  origin *res; /* distinct (resource, scope) pairs of the chunk */
  size_t nres, capres;
  cs_buf body;
  int err;
};

cs__chunk_enc *cs__chunk_enc_new(cs__gdict *gd) {
  cs__chunk_enc *e = calloc(1, sizeof(cs__chunk_enc));
  if (e) e->gd = gd;
  return e;
}

void cs__chunk_enc_free(cs__chunk_enc *e) {
  if (!e) return;
  free(e->slots);
  free(e->strs);
  free(e->ids);
  free(e->res);
  cs_buf_free(&e->body);
  free(e);
}

static int dict_grow(cs__chunk_enc *e) {
  size_t nn = e->nslots ? e->nslots * 2 : 1024;
  dict_slot *ns = calloc(nn, sizeof(*ns));
  if (!ns) return -1;
  /* Re-insert live entries of the current generation. */
  for (size_t i = 0; i < e->nslots; i++) {
    dict_slot s = e->slots[i];
    if (s.gen != e->gen) continue;
    size_t j = s.h & (nn - 1);
    while (ns[j].gen == e->gen) j = (j + 1) & (nn - 1);
    ns[j] = s;
  }
  free(e->slots);
  e->slots = ns;
  e->nslots = nn;
  return 0;
}

static uint32_t intern(cs__chunk_enc *e, cs_str s) {
  if (s.n == 0) return 0;
  if ((e->nused + 1) * 2 > e->nslots && dict_grow(e)) {
    e->err = CS_STORE_ENOMEM;
    return 0;
  }
  uint64_t h = cs__hash(s.p, s.n, 0);
  size_t j = h & (e->nslots - 1);
  while (e->slots[j].gen == e->gen) {
    if (e->slots[j].h == h && cs__str_eq(e->slots[j].s, s)) return e->slots[j].idx;
    j = (j + 1) & (e->nslots - 1);
  }
  /* First use in this chunk: global, or a new entry of the chunk's own. */
  uint32_t sid;
  long gid = e->gd ? cs__gdict_find(e->gd, s, h) : -1;
  if (gid >= 0) {
    sid = (uint32_t)gid << 1 | 1;
  } else {
    if (e->nstrs == e->capstrs) {
      size_t nc = e->capstrs ? e->capstrs * 2 : 256;
      cs_str *ns = realloc(e->strs, nc * sizeof(*ns));
      if (!ns) {
        e->err = CS_STORE_ENOMEM;
        return 0;
      }
      e->strs = ns;
      e->capstrs = nc;
    }
    e->strs[e->nstrs] = s;
    sid = (uint32_t)e->nstrs++ << 1;
  }
  e->slots[j] = (dict_slot){e->gen, sid, h, s};
  e->nused++;
  return sid;
}

static void put_sid(cs__chunk_enc *e, cs_str s) { cs_buf_varint(&e->body, intern(e, s)); }

static void put_attrs(cs__chunk_enc *e, const cs_attr *at, uint32_t n) {
  cs_buf *b = &e->body;
  cs_buf_varint(b, n);
  for (uint32_t i = 0; i < n; i++) {
    if (at[i].type < CS_VAL_STR || at[i].type > CS_VAL_KVLIST) {
      e->err = CS_STORE_EINVAL;
      return;
    }
    /* Key and type share one varint: types fit in 3 bits. */
    cs_buf_varint(b, (uint64_t)intern(e, at[i].key) << 3 | at[i].type);
    switch (at[i].type) {
    case CS_VAL_STR:
    case CS_VAL_BYTES:
    case CS_VAL_ARRAY:
    case CS_VAL_KVLIST:
      put_sid(e, at[i].v.s);
      break;
    case CS_VAL_INT:
      cs_buf_varint(b, cs__zigzag(at[i].v.i));
      break;
    case CS_VAL_DOUBLE:
      cs_buf_put(b, &at[i].v.d, 8);
      break;
    case CS_VAL_BOOL:
      cs_buf_u8(b, at[i].v.b ? 1 : 0);
      break;
    default:
      e->err = CS_STORE_EINVAL;
    }
  }
}

static int ids_prepare(cs__chunk_enc *e, const cs_span *const *spans, size_t n) {
  size_t need = 16;
  while (need < n * 2) need *= 2;
  if (need > e->nids) {
    free(e->ids);
    e->ids = calloc(need, sizeof(dict_slot));
    if (!e->ids) {
      e->nids = 0;
      return -1;
    }
    e->nids = need;
  }
  /* Slots are tagged with the dictionary generation too. */
  for (size_t i = 0; i < n; i++) {
    uint64_t h = cs__hash(spans[i]->span_id, 8, 0);
    size_t j = h & (e->nids - 1);
    while (e->ids[j].gen == e->gen) j = (j + 1) & (e->nids - 1);
    e->ids[j] = (dict_slot){e->gen, (uint32_t)i, h, {NULL, 0}};
  }
  return 0;
}

static long ids_find(cs__chunk_enc *e, const cs_span *const *spans, const uint8_t id[8],
                     size_t lim) {
  uint64_t h = cs__hash(id, 8, 0);
  size_t j = h & (e->nids - 1);
  while (e->ids[j].gen == e->gen) {
    uint32_t i = e->ids[j].idx;
    if (e->ids[j].h == h && i < lim && memcmp(spans[i]->span_id, id, 8) == 0) return i;
    j = (j + 1) & (e->nids - 1);
  }
  return -1;
}

static uint32_t res_index(cs__chunk_enc *e, const cs_resource *r, cs_str sn, cs_str sv) {
  for (size_t i = 0; i < e->nres; i++)
    if (e->res[i].r == r && cs__str_eq(e->res[i].scope_name, sn) &&
        cs__str_eq(e->res[i].scope_version, sv))
      return (uint32_t)i;
  if (e->nres == e->capres) {
    size_t nc = e->capres ? e->capres * 2 : 16;
    origin *nr = realloc(e->res, nc * sizeof(*nr));
    if (!nr) {
      e->err = CS_STORE_ENOMEM;
      return 0;
    }
    e->res = nr;
    e->capres = nc;
  }
  e->res[e->nres] = (origin){r, sn, sv};
  return (uint32_t)e->nres++;
}

static void next_gen(cs__chunk_enc *e) {
  if (++e->gen == 0) { /* wrapped: clear so stale tags cannot match */
    if (e->slots) memset(e->slots, 0, e->nslots * sizeof(dict_slot));
    if (e->ids) memset(e->ids, 0, e->nids * sizeof(dict_slot));
    e->gen = 1;
  }
}

int cs__chunk_encode(cs__chunk_enc *e, const cs_span *const *spans, size_t n, cs_buf *out) {
  static const cs_resource no_res = {{"unknown_service", 15}, NULL, 0};
  next_gen(e);
  e->err = 0;
  e->nstrs = 0;
  e->nused = 0;
  e->nres = 0;
  e->body.n = 0;
  e->body.err = 0;
  if (!e->capstrs) {
    e->strs = malloc(256 * sizeof(cs_str));
    if (!e->strs) return CS_STORE_ENOMEM;
    e->capstrs = 256;
  }
  e->strs[0] = (cs_str){"", 0}; /* index 0 is the empty string, never stored */
  e->nstrs = 1;
  if (ids_prepare(e, spans, n)) return CS_STORE_ENOMEM;
  uint64_t base = UINT64_MAX;
  for (size_t i = 0; i < n; i++)
    if (spans[i]->start_ns < base) base = spans[i]->start_ns;
  if (!n) base = 0;

  cs_buf *b = &e->body;
  for (size_t i = 0; i < n; i++) {
    const cs_span *s = spans[i];
    cs_buf_put(b, s->span_id, 8);
    /* Parent: 0 = root, 1 = raw ID follows, 2 + k = the k-th span of this chunk. */
    if (cs_span_is_root(s)) {
      cs_buf_varint(b, 0);
    } else {
      long k = ids_find(e, spans, s->parent_id, n);
      if (k >= 0) {
        cs_buf_varint(b, 2 + (uint64_t)k);
      } else {
        cs_buf_varint(b, 1);
        cs_buf_put(b, s->parent_id, 8);
      }
    }
    put_sid(e, s->name);
    cs_buf_u8(b, (uint8_t)((s->kind & 0x0f) | (s->status_code << 4)));
    cs_buf_varint(b, s->flags);
    cs_buf_varint(b, s->start_ns - base);
    cs_buf_varint(b, cs__zigzag((int64_t)(s->end_ns - s->start_ns)));
    cs_buf_varint(b, res_index(e, s->resource ? s->resource : &no_res, s->scope_name,
                                s->scope_version));
    put_sid(e, s->session_id);
    put_attrs(e, s->attrs, s->n_attrs);
    /* Rarely used fields follow only when a flag bit says so. */
    int dropped = s->dropped_attrs || s->dropped_events || s->dropped_links;
    cs_buf_u8(b, (uint8_t)((s->trace_state.n ? X_STATE : 0) | (s->status_msg.n ? X_MSG : 0) |
                            (dropped ? X_DROPPED : 0) | (s->n_events ? X_EVENTS : 0) |
                            (s->n_links ? X_LINKS : 0)));
    if (s->trace_state.n) put_sid(e, s->trace_state);
    if (s->status_msg.n) put_sid(e, s->status_msg);
    if (dropped) {
      cs_buf_varint(b, s->dropped_attrs);
      cs_buf_varint(b, s->dropped_events);
      cs_buf_varint(b, s->dropped_links);
    }
    if (s->n_events) cs_buf_varint(b, s->n_events);
    for (uint32_t j = 0; j < s->n_events; j++) {
      const cs_event *ev = &s->events[j];
      cs_buf_varint(b, cs__zigzag((int64_t)(ev->time_ns - s->start_ns)));
      put_sid(e, ev->name);
      put_attrs(e, ev->attrs, ev->n_attrs);
      cs_buf_varint(b, ev->dropped_attrs);
    }
    if (s->n_links) cs_buf_varint(b, s->n_links);
    for (uint32_t j = 0; j < s->n_links; j++) {
      const cs_link *l = &s->links[j];
      cs_buf_put(b, l->trace_id, 16);
      cs_buf_put(b, l->span_id, 8);
      put_sid(e, l->trace_state);
      cs_buf_varint(b, l->flags);
      put_attrs(e, l->attrs, l->n_attrs);
      cs_buf_varint(b, l->dropped_attrs);
    }
  }
  /* Resources go after spans in the dictionary pass but before them in the
   * value; intern their strings now, then assemble header + dict + body. */
  size_t body_spans = b->n;
  for (size_t i = 0; i < e->nres; i++) {
    put_sid(e, e->res[i].r->service);
    put_attrs(e, e->res[i].r->attrs, e->res[i].r->n_attrs);
    put_sid(e, e->res[i].scope_name);
    put_sid(e, e->res[i].scope_version);
  }
  if (e->err) return e->err;
  if (b->err) return CS_STORE_ENOMEM;

  cs_buf_u8(out, CS__CHUNK_VERSION);
  cs_buf_varint(out, n);
  cs_buf_varint(out, base);
  cs_buf_varint(out, e->nstrs - 1);
  for (size_t i = 1; i < e->nstrs; i++) cs__buf_str(out, e->strs[i]);
  cs_buf_varint(out, e->nres);
  if (b->n) { /* an empty chunk has no body buffer at all */
    cs_buf_put(out, b->p + body_spans, b->n - body_spans);
    cs_buf_put(out, b->p, body_spans);
  }
  return out->err ? CS_STORE_ENOMEM : 0;
}

long cs__chunk_count(const void *v, size_t n) {
  cs__rd r = cs__rd_make(v, n);
  if (cs__rd_u8(&r) != CS__CHUNK_VERSION) return -1;
  uint64_t c = cs__rd_varint(&r);
  /* A span takes at least 18 bytes, so a count beyond n / 16 is corrupt. */
  if (r.err || c > n / 16 + 1) return -1;
  return (long)c;
}

/* Decoder state: the dictionary as views into the value bytes. */
typedef struct dec {
  cs__rd r;
  cs_str *strs;
  uint64_t nstrs;
  cs_arena *a;
  const cs__strsrc *gs;
  int rc;
} dec;

static cs_str sid_str(dec *d, uint64_t sid) {
  if (sid & 1) {
    cs_str out;
    if (sid >> 1 <= UINT32_MAX && d->gs && d->gs->get(d->gs->ud, (uint32_t)(sid >> 1), &out) == 0)
      return out;
  } else if ((sid >> 1) < d->nstrs) {
    return d->strs[sid >> 1];
  }
  d->r.err = 1;
  return d->strs[0];
}

static cs_str get_sid(dec *d) { return sid_str(d, cs__rd_varint(&d->r)); }

static void *dalloc(dec *d, size_t n) {
  if (!n) return NULL;
  void *p = cs_arena_alloc(d->a, n);
  if (!p) d->rc = CS_STORE_ELIMIT;
  return p;
}

static cs_attr *get_attrs(dec *d, uint32_t *nout) {
  uint64_t n = cs__rd_varint(&d->r);
  *nout = 0;
  /* Each attribute takes at least 2 bytes. */
  if (n > (uint64_t)(d->r.end - d->r.p) / 2) {
    d->r.err = 1;
    return NULL;
  }
  cs_attr *at = dalloc(d, n * sizeof(cs_attr));
  if (n && !at) return NULL;
  for (uint64_t i = 0; i < n && !d->r.err; i++) {
    uint64_t kt = cs__rd_varint(&d->r);
    at[i].type = (uint8_t)(kt & 7);
    at[i].key = sid_str(d, kt >> 3);
    switch (at[i].type) {
    case CS_VAL_STR:
    case CS_VAL_BYTES:
    case CS_VAL_ARRAY:
    case CS_VAL_KVLIST:
      at[i].v.s = get_sid(d);
      break;
    case CS_VAL_INT:
      at[i].v.i = cs__unzigzag(cs__rd_varint(&d->r));
      break;
    case CS_VAL_DOUBLE: {
      const uint8_t *p = cs__rd_bytes(&d->r, 8);
      if (p) memcpy(&at[i].v.d, p, 8);
      break;
    }
    case CS_VAL_BOOL:
      at[i].v.b = cs__rd_u8(&d->r);
      break;
    default:
      d->r.err = 1;
    }
  }
  *nout = (uint32_t)n;
  return at;
}

static uint32_t get_u32(dec *d) {
  uint64_t v = cs__rd_varint(&d->r);
  if (v > UINT32_MAX) d->r.err = 1;
  return (uint32_t)v;
}

int cs__chunk_decode(const void *v, size_t n, cs_arena *a, const cs__strsrc *gs, cs_span *out,
                     size_t cap, size_t *count) {
  dec d = {cs__rd_make(v, n), NULL, 0, a, gs, 0};
  *count = 0;
  if (cs__rd_u8(&d.r) != CS__CHUNK_VERSION) return CS_STORE_ECORRUPT;
  uint64_t ns = cs__rd_varint(&d.r);
  uint64_t base = cs__rd_varint(&d.r);
  uint64_t nstr = cs__rd_varint(&d.r);
  if (d.r.err || ns > cap || nstr > n) return CS_STORE_ECORRUPT;
  d.nstrs = nstr + 1;
  d.strs = dalloc(&d, d.nstrs * sizeof(cs_str));
  if (!d.strs) return CS_STORE_ELIMIT;
  d.strs[0] = (cs_str){"", 0};
  for (uint64_t i = 1; i < d.nstrs; i++) d.strs[i] = cs__rd_str(&d.r);
  uint64_t nres = cs__rd_varint(&d.r);
  if (d.r.err || nres > n) return CS_STORE_ECORRUPT;
  cs_resource *res = dalloc(&d, nres * sizeof(cs_resource));
  cs_str *scopes = dalloc(&d, nres * 2 * sizeof(cs_str));
  if (nres && (!res || !scopes)) return CS_STORE_ELIMIT;
  /* Parent positions (1-based, 0 = none) until the fix-up at the end. */
  uint64_t *ppos = dalloc(&d, ns * sizeof(uint64_t));
  if (ns && !ppos) return CS_STORE_ELIMIT;
  for (uint64_t i = 0; i < nres && !d.r.err && !d.rc; i++) {
    res[i].service = get_sid(&d);
    res[i].attrs = get_attrs(&d, &res[i].n_attrs);
    scopes[2 * i] = get_sid(&d);
    scopes[2 * i + 1] = get_sid(&d);
  }
  for (uint64_t i = 0; i < ns && !d.r.err && !d.rc; i++) {
    cs_span *s = &out[i];
    memset(s, 0, sizeof(*s));
    const uint8_t *id = cs__rd_bytes(&d.r, 8);
    if (!id) break;
    memcpy(s->span_id, id, 8);
    uint64_t par = cs__rd_varint(&d.r);
    ppos[i] = 0;
    if (par == 1) {
      const uint8_t *p = cs__rd_bytes(&d.r, 8);
      if (p) memcpy(s->parent_id, p, 8);
    } else if (par >= 2) {
      /* Parent given by position; resolved once every span ID is read. */
      if (par - 2 >= ns) d.r.err = 1;
      ppos[i] = par - 1;
    }
    s->name = get_sid(&d);
    uint8_t ks = cs__rd_u8(&d.r);
    s->kind = ks & 0x0f;
    s->status_code = ks >> 4;
    s->flags = get_u32(&d);
    s->start_ns = base + cs__rd_varint(&d.r);
    s->end_ns = s->start_ns + (uint64_t)cs__unzigzag(cs__rd_varint(&d.r));
    uint64_t ri = cs__rd_varint(&d.r);
    if (ri >= nres) {
      d.r.err = 1;
      break;
    }
    s->resource = &res[ri];
    s->scope_name = scopes[2 * ri];
    s->scope_version = scopes[2 * ri + 1];
    s->session_id = get_sid(&d);
    s->attrs = get_attrs(&d, &s->n_attrs);
    uint8_t x = cs__rd_u8(&d.r);
    if (x & ~(X_STATE | X_MSG | X_DROPPED | X_EVENTS | X_LINKS)) {
      d.r.err = 1;
      break;
    }
    s->trace_state = x & X_STATE ? get_sid(&d) : d.strs[0];
    s->status_msg = x & X_MSG ? get_sid(&d) : d.strs[0];
    if (x & X_DROPPED) {
      s->dropped_attrs = get_u32(&d);
      s->dropped_events = get_u32(&d);
      s->dropped_links = get_u32(&d);
    }
    uint64_t nev = x & X_EVENTS ? cs__rd_varint(&d.r) : 0;
    if (nev > (uint64_t)(d.r.end - d.r.p) / 4) {
      d.r.err = 1;
      break;
    }
    s->events = dalloc(&d, nev * sizeof(cs_event));
    if (nev && !s->events) break;
    s->n_events = (uint32_t)nev;
    for (uint64_t j = 0; j < nev && !d.r.err && !d.rc; j++) {
      cs_event *ev = &s->events[j];
      ev->time_ns = s->start_ns + (uint64_t)cs__unzigzag(cs__rd_varint(&d.r));
      ev->name = get_sid(&d);
      ev->attrs = get_attrs(&d, &ev->n_attrs);
      ev->dropped_attrs = get_u32(&d);
    }
    uint64_t nl = x & X_LINKS ? cs__rd_varint(&d.r) : 0;
    if (nl > (uint64_t)(d.r.end - d.r.p) / 28) {
      d.r.err = 1;
      break;
    }
    s->links = dalloc(&d, nl * sizeof(cs_link));
    if (nl && !s->links) break;
    s->n_links = (uint32_t)nl;
    for (uint64_t j = 0; j < nl && !d.r.err && !d.rc; j++) {
      cs_link *l = &s->links[j];
      const uint8_t *t = cs__rd_bytes(&d.r, 16), *sp = cs__rd_bytes(&d.r, 8);
      if (!t || !sp) break;
      memcpy(l->trace_id, t, 16);
      memcpy(l->span_id, sp, 8);
      l->trace_state = get_sid(&d);
      l->flags = get_u32(&d);
      l->attrs = get_attrs(&d, &l->n_attrs);
      l->dropped_attrs = get_u32(&d);
    }
  }
  if (d.rc) return d.rc;
  if (d.r.err || d.r.p != d.r.end) return CS_STORE_ECORRUPT;
  /* Resolve parents given by position now that every span ID is known. */
  for (uint64_t i = 0; i < ns; i++)
    if (ppos[i]) memcpy(out[i].parent_id, out[ppos[i] - 1].span_id, 8);
  *count = (size_t)ns;
  return 0;
}
