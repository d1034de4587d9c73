/* The read paths: traces (one prefix scan per bucket, duplicates dropped by
 * span ID), summaries (merged across buckets), index scans (a k-way merge of
 * the buckets' iterators so order holds across bucket boundaries) and the
 * service and operation lists. Any number of threads may read at once. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "keys.h"
#include "posting.h"
#include "session.h"
#include "summary.h"

static int has_prefix(const char *k, size_t kn, const uint8_t *p, size_t pn) {
  return kn >= pn && memcmp(k, p, pn) == 0;
}

/* ---- traces ----------------------------------------------------------- */

typedef struct valv {
  const uint8_t **v;
  size_t *n;
  size_t len, cap;
} valv;

static int valv_push(valv *vv, const uint8_t *v, size_t n) {
  if (vv->len == vv->cap) {
    size_t nc = vv->cap ? vv->cap * 2 : 16;
    const uint8_t **nv = realloc(vv->v, nc * sizeof(*nv));
    if (!nv) return -1;
    vv->v = nv;
    size_t *nn = realloc(vv->n, nc * sizeof(*nn));
    if (!nn) return -1;
    vv->n = nn;
    vv->cap = nc;
  }
  vv->v[vv->len] = v;
  vv->n[vv->len++] = n;
  return 0;
}

static int cmp_span_id(const void *a, const void *b) {
  const cs_span *x = a, *y = b;
  return memcmp(x->span_id, y->span_id, 8);
}

static int global_str(void *ud, uint32_t id, cs_str *out) {
  cs_store *st = ud;
  return cs__gdict_get(st->gd, st->db, st->def, st->ro_total, id, out);
}

int cs_store_get_trace(cs_store *st, const uint8_t trace_id[16], cs_arena *a, cs_span **spans,
                       size_t *n) {
  *spans = NULL;
  *n = 0;
  cs__key k = {.type = CS__K_CHUNK};
  memcpy(k.trace_id, trace_id, 16);
  uint8_t pfx[CS__PREFIX_LEN + 8];
  cs_buf kb = {.p = pfx, .cap = sizeof(pfx), .max = sizeof(pfx)};
  cs__key_encode_prefix(&kb, &k);

  valv vv = {0};
  int rc = 0;
  size_t total = 0;
  cs__rdlock(st);
  if (!st->db) rc = CS_STORE_EIO; /* a secondary whose reopen failed */
  for (size_t i = 0; i < st->nb && !rc; i++) {
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro_prefix, st->b[i].cf);
    for (rocksdb_iter_seek(it, (const char *)pfx, kb.n); rocksdb_iter_valid(it);
         rocksdb_iter_next(it)) {
      size_t kl, vl;
      const char *key = rocksdb_iter_key(it, &kl);
      if (!has_prefix(key, kl, pfx, kb.n)) break;
      const char *val = rocksdb_iter_value(it, &vl);
      long c = cs__chunk_count(val, vl);
      if (c < 0) {
        rc = CS_STORE_ECORRUPT;
        break;
      }
      /* Values must outlive the iterator: strings will point into them. */
      uint8_t *copy = cs_arena_alloc(a, vl ? vl : 1);
      if (!copy) {
        rc = CS_STORE_ELIMIT;
        break;
      }
      memcpy(copy, val, vl);
      if (valv_push(&vv, copy, vl)) {
        rc = CS_STORE_ENOMEM;
        break;
      }
      total += (size_t)c;
    }
    if (!rc) {
      char *e = NULL;
      rocksdb_iter_get_error(it, &e);
      if (e) {
        free(e);
        rc = CS_STORE_EIO;
      }
    }
    rocksdb_iter_destroy(it);
  }
  cs__rdunlock(st);

  cs_span *out = NULL;
  size_t got = 0;
  if (!rc && total) {
    out = cs_arena_alloc(a, total * sizeof(cs_span));
    if (!out) rc = CS_STORE_ELIMIT;
  }
  cs__strsrc gs = {global_str, st};
  for (size_t i = 0; i < vv.len && !rc; i++) {
    size_t c = 0;
    rc = cs__chunk_decode(vv.v[i], vv.n[i], a, &gs, out + got, total - got, &c);
    got += c;
  }
  free(vv.v);
  free(vv.n);
  if (rc) return rc;
  /* Chunks do not repeat the trace ID their key already holds. */
  for (size_t i = 0; i < got; i++) memcpy(out[i].trace_id, trace_id, 16);
  /* A resent batch may have stored a span twice: keep one per span ID. */
  if (got > 1) {
    qsort(out, got, sizeof(cs_span), cmp_span_id);
    size_t j = 1;
    for (size_t i = 1; i < got; i++)
      if (memcmp(out[i].span_id, out[j - 1].span_id, 8) != 0) out[j++] = out[i];
    got = j;
  }
  *spans = out;
  *n = got;
  return 0;
}

/* ---- summaries -------------------------------------------------------- */

/* Merges the trace's summaries of every bucket into acc. Values are copied
 * into the arena when a is given (strings then point there), else freed
 * after use and only the numbers of acc are meaningful. */
static int load_summary(cs_store *st, const uint8_t trace_id[16], cs_arena *a, cs__sum *acc,
                        int *found) {
  cs__key k = {.type = CS__K_SUMMARY};
  memcpy(k.trace_id, trace_id, 16);
  uint8_t kbuf[CS__PREFIX_LEN];
  cs_buf kb = {.p = kbuf, .cap = sizeof(kbuf), .max = sizeof(kbuf)};
  cs__key_encode(&kb, &k);
  cs__sum *tmp = malloc(sizeof(cs__sum));
  if (!tmp) return CS_STORE_ENOMEM;
  cs__sum_init(acc);
  *found = 0;
  int rc = 0;
  for (size_t i = 0; i < st->nb && !rc; i++) {
    char *e = NULL;
    size_t vl = 0;
    char *v = rocksdb_get_cf(st->db, st->ro_total, st->b[i].cf, (const char *)kbuf, kb.n, &vl, &e);
    if (e) {
      free(e);
      rc = CS_STORE_EIO;
      break;
    }
    if (!v) continue;
    const char *src = v;
    if (a) {
      char *copy = cs_arena_alloc(a, vl ? vl : 1);
      if (!copy) {
        free(v);
        rc = CS_STORE_ELIMIT;
        break;
      }
      memcpy(copy, v, vl);
      src = copy;
    }
    if (cs__sum_decode(src, vl, tmp)) rc = CS_STORE_ECORRUPT;
    else cs__sum_merge(acc, tmp), *found = 1;
    free(v);
    if (!a) { /* strings would dangle */
      acc->n_svcs = 0;
      acc->has_root = 0;
      acc->has_first = 0;
    }
  }
  free(tmp);
  return rc;
}

int cs_store_get_summary(cs_store *st, const uint8_t trace_id[16], cs_arena *a,
                         cs_trace_summary *out) {
  memset(out, 0, sizeof(*out));
  cs__sum *acc = malloc(sizeof(cs__sum));
  if (!acc) return CS_STORE_ENOMEM;
  int found = 0;
  cs__rdlock(st);
  int rc = st->db ? load_summary(st, trace_id, a, acc, &found) : CS_STORE_EIO;
  cs__rdunlock(st);
  if (!rc && !found) rc = CS_STORE_ENOTFOUND;
  if (!rc) {
    memcpy(out->trace_id, trace_id, 16);
    out->start_ns = acc->start_ns;
    out->duration_ns = acc->end_ns > acc->start_ns ? acc->end_ns - acc->start_ns : 0;
    out->n_spans = acc->n_spans;
    out->n_errors = acc->n_errors;
    if (acc->has_root) {
      out->root_service = acc->root_svc;
      out->root_name = acc->root_name;
    } else {
      out->root_service = out->root_name = (cs_str){"", 0};
    }
    if (acc->has_first) {
      out->first_service = acc->first_svc;
      out->first_name = acc->first_name;
    } else { /* only in summaries written before version 2 */
      out->first_service = out->first_name = (cs_str){"", 0};
    }
    out->n_services = acc->n_svcs;
    if (acc->n_svcs) {
      out->services = cs_arena_alloc(a, acc->n_svcs * sizeof(cs_str));
      if (!out->services) rc = CS_STORE_ELIMIT;
      else memcpy(out->services, acc->svcs, acc->n_svcs * sizeof(cs_str));
    }
  }
  free(acc);
  return rc;
}

/* ---- index scans ------------------------------------------------------ */

typedef struct scan {
  rocksdb_iterator_t **its;
  size_t n;
  int reverse; /* walk keys in descending byte order */
} scan;

static int key_cmp(const char *a, size_t an, const char *b, size_t bn) {
  size_t m = an < bn ? an : bn;
  int c = memcmp(a, b, m);
  return c ? c : (an > bn) - (an < bn);
}

/* Index of the iterator holding the next key in merge order, -1 when all
 * are exhausted or left the prefix. */
static long scan_pick(scan *sc, const uint8_t *pfx, size_t pn) {
  long best = -1;
  const char *bk = NULL;
  size_t bn = 0;
  for (size_t i = 0; i < sc->n; i++) {
    if (!sc->its[i] || !rocksdb_iter_valid(sc->its[i])) continue;
    size_t kn;
    const char *k = rocksdb_iter_key(sc->its[i], &kn);
    if (!has_prefix(k, kn, pfx, pn)) continue;
    if (best >= 0) {
      int c = key_cmp(k, kn, bk, bn);
      if (sc->reverse ? c <= 0 : c >= 0) continue;
    }
    best = (long)i;
    bk = k;
    bn = kn;
  }
  return best;
}

static void scan_step(scan *sc, size_t i) {
  if (sc->reverse) rocksdb_iter_prev(sc->its[i]);
  else rocksdb_iter_next(sc->its[i]);
}

static int scan_open(cs_store *st, scan *sc, const cs_buf *seek, int reverse) {
  sc->n = st->nb;
  sc->reverse = reverse;
  sc->its = calloc(st->nb ? st->nb : 1, sizeof(rocksdb_iterator_t *));
  if (!sc->its) return CS_STORE_ENOMEM;
  for (size_t i = 0; i < sc->n; i++) {
    sc->its[i] = rocksdb_create_iterator_cf(st->db, st->ro_total, st->b[i].cf);
    if (reverse) rocksdb_iter_seek_for_prev(sc->its[i], (const char *)seek->p, seek->n);
    else rocksdb_iter_seek(sc->its[i], (const char *)seek->p, seek->n);
  }
  return 0;
}

static void scan_close(scan *sc) {
  for (size_t i = 0; i < sc->n && sc->its; i++)
    if (sc->its[i]) rocksdb_iter_destroy(sc->its[i]);
  free(sc->its);
}

/* ALL and DURATION: one key per trace. */
static int scan_trace_keys(cs_store *st, const cs_index_query *q, uint8_t type, cs_index_cb cb,
                           void *ud) {
  uint64_t end = q->end_ns ? q->end_ns : UINT64_MAX;
  cs_buf seek = {0};
  cs_buf_u8(&seek, type);
  cs_buf_u8(&seek, CS__KEY_VERSION);
  const uint8_t pfx[2] = {type, CS__KEY_VERSION};
  if (type == CS__K_DURATION)
    cs_buf_be64(&seek, q->min_duration_ns);
  else
    cs_buf_be64(&seek, ~end);
  if (seek.err)
    return CS_STORE_ENOMEM;
  scan sc;
  int rc = scan_open(st, &sc, &seek, 0);
  cs__sum *sum = rc ? NULL : malloc(sizeof(cs__sum));
  if (!rc && !sum) rc = CS_STORE_ENOMEM;
  while (!rc) {
    long i = scan_pick(&sc, pfx, 2);
    if (i < 0) break;
    size_t kn;
    const char *key = rocksdb_iter_key(sc.its[i], &kn);
    cs__key e;
    if (cs__key_decode(key, kn, &e)) {
      rc = CS_STORE_ECORRUPT;
      break;
    }
    int done = 0, report = 1;
    if (type == CS__K_DURATION) {
      if (q->max_duration_ns && e.duration_ns > q->max_duration_ns) {
        done = 1;
      } else if (e.start_ns < q->start_ns || e.start_ns > end) {
        report = 0;
      } else {
        /* Entries are written whenever the writer saw the duration grow;
         * only the one matching the merged summary is current. */
        int found;
        if (load_summary(st, e.trace_id, NULL, sum, &found) == 0 && found &&
            sum->end_ns - sum->start_ns != e.duration_ns)
          report = 0;
      }
    } else if (e.start_ns < q->start_ns) {
      done = 1;
    }
    if (done) { /* the merge order is global: nothing further matches */
      break;
    }
    if (report && cb(ud, e.trace_id, e.start_ns)) break;
    scan_step(&sc, (size_t)i);
  }
  scan_close(&sc);
  free(sum);
  cs_buf_free(&seek);
  return rc;
}

static int post_desc(const void *x, const void *y) {
  const cs__post *a = x, *b = y;
  if (a->start_ns != b->start_ns) return a->start_ns > b->start_ns ? -1 : 1;
  int c = memcmp(a->tid, b->tid, 16);
  return c ? c : (a->src > b->src) - (a->src < b->src);
}
static int post_asc(const void *x, const void *y) { return -post_desc(x, y); }

/* SERVICE, OPERATION, ATTR, SESSION: posting lists per ~1 s slot. */
static int scan_postings(cs_store *st, const cs_index_query *q, const cs__key *k, int reverse,
                         cs_index_cb cb, void *ud) {
  uint64_t end = q->end_ns ? q->end_ns : UINT64_MAX;
  int key_nf = cs__key_newest_first(k->type);
  int out_desc = key_nf || reverse; /* output order: newest first? */
  cs_buf pb = {0}, seek = {0};
  cs__key_encode_prefix(&pb, k);
  cs_buf_put(&seek, pb.p, pb.n);
  if (key_nf)
    cs_buf_be64(&seek, ~(end >> CS__SLOT_SHIFT));
  else
    cs_buf_be64(&seek, reverse ? end >> CS__SLOT_SHIFT : q->start_ns >> CS__SLOT_SHIFT);
  if (pb.err || seek.err) {
    cs_buf_free(&pb);
    cs_buf_free(&seek);
    return CS_STORE_ENOMEM;
  }
  scan sc;
  int rc = scan_open(st, &sc, &seek, reverse);
  cs__post *posts = NULL;
  size_t cap = 0;
  int done = 0;
  while (!rc && !done) {
    long bi = scan_pick(&sc, pb.p, pb.n);
    if (bi < 0) break;
    size_t kn;
    const char *key = rocksdb_iter_key(sc.its[bi], &kn);
    cs__key e;
    if (cs__key_decode(key, kn, &e)) {
      rc = CS_STORE_ECORRUPT;
      break;
    }
    /* Gather this slot from every bucket that has it. */
    size_t n = 0, nsrc = 0;
    for (size_t i = 0; i < sc.n && !rc; i++) {
      if (!sc.its[i] || !rocksdb_iter_valid(sc.its[i])) continue;
      size_t kn2, vn;
      const char *k2 = rocksdb_iter_key(sc.its[i], &kn2);
      if (key_cmp(k2, kn2, key, kn) != 0 && (size_t)bi != i) continue;
      const char *v = rocksdb_iter_value(sc.its[i], &vn);
      long c = cs__post_count(v, vn);
      if (c < 0) {
        rc = CS_STORE_ECORRUPT;
        break;
      }
      if (n + (size_t)c > cap) {
        size_t nc = (n + (size_t)c) * 2;
        cs__post *np = realloc(posts, nc * sizeof(cs__post));
        if (!np) {
          rc = CS_STORE_ENOMEM;
          break;
        }
        posts = np;
        cap = nc;
      }
      long got = cs__post_decode(v, vn, e.slot, key_nf, posts + n, cap - n);
      if (got < 0) {
        rc = CS_STORE_ECORRUPT;
        break;
      }
      for (long j = 0; j < got; j++) posts[n + (size_t)j].src = (uint32_t)i;
      n += (size_t)got;
      nsrc++;
    }
    if (rc) break;
    /* Advance every iterator that sat on this key (bi last: key points into it). */
    for (size_t i = 0; i < sc.n; i++) {
      if ((size_t)bi == i || !sc.its[i] || !rocksdb_iter_valid(sc.its[i])) continue;
      size_t kn2;
      const char *k2 = rocksdb_iter_key(sc.its[i], &kn2);
      if (key_cmp(k2, kn2, key, kn) == 0) scan_step(&sc, i);
    }
    scan_step(&sc, (size_t)bi);
    /* One bucket's list is stored sorted already (walk it backwards when
     * the output order is the opposite); lists of several buckets are
     * sorted together. */
    int backwards = 0;
    if (nsrc > 1) qsort(posts, n, sizeof(cs__post), out_desc ? post_desc : post_asc);
    else backwards = out_desc != key_nf;
    for (size_t step = 0; step < n; step++) {
      size_t i = backwards ? n - 1 - step : step;
      const cs__post *prev = step ? &posts[backwards ? i + 1 : i - 1] : NULL;
      uint64_t t = posts[i].start_ns;
      if (prev && t == prev->start_ns && !memcmp(posts[i].tid, prev->tid, 16)) continue;
      if (out_desc ? t > end : t < q->start_ns) continue;
      if (out_desc ? t < q->start_ns : t > end) {
        done = 1;
        break;
      }
      /* Postings hold whole trace IDs (format 2): every entry is exactly
       * the trace that carries the term, no completion or check needed. */
      if (cb(ud, posts[i].tid, t)) {
        done = 1;
        break;
      }
    }
  }
  scan_close(&sc);
  free(posts);
  cs_buf_free(&pb);
  cs_buf_free(&seek);
  return rc;
}

int cs_store_scan_index(cs_store *st, const cs_index_query *q, cs_index_cb cb, void *ud) {
  cs__key k = {0};
  int reverse = 0;
  switch (q->kind) {
  case CS_IDX_ALL:
  case CS_IDX_DURATION:
    break;
  case CS_IDX_SERVICE:
    k.type = CS__K_SERVICE;
    k.a = q->service;
    break;
  case CS_IDX_OPERATION:
    k.type = CS__K_OP;
    k.a = q->service;
    k.b = q->operation;
    break;
  case CS_IDX_ATTR:
    if (cs_is_session_key(q->key.p, q->key.n)) {
      /* Session IDs live in the session index (oldest first): walk it
       * backwards to answer newest first like every attribute scan. */
      k.type = CS__K_SESSION;
      k.a = q->value;
      reverse = 1;
    } else {
      k.type = CS__K_ATTR;
      k.a = q->key;
      k.b = q->value;
    }
    break;
  case CS_IDX_SESSION:
    k.type = CS__K_SESSION;
    k.a = q->session;
    break;
  default:
    return CS_STORE_EINVAL;
  }
  cs__rdlock(st);
  int rc;
  if (!st->db) rc = CS_STORE_EIO;
  else if (q->kind == CS_IDX_ALL) rc = scan_trace_keys(st, q, CS__K_ALL, cb, ud);
  else if (q->kind == CS_IDX_DURATION) rc = scan_trace_keys(st, q, CS__K_DURATION, cb, ud);
  else rc = scan_postings(st, q, &k, reverse, cb, ud);
  cs__rdunlock(st);
  return rc;
}

/* ---- names ------------------------------------------------------------ */

static int cmp_str(const void *a, const void *b) { return cs__str_cmp(*(const cs_str *)a, *(const cs_str *)b); }

static int cmp_op(const void *a, const void *b) {
  const cs_operation *x = a, *y = b;
  int c = cs__str_cmp(x->name, y->name);
  return c ? c : (x->kind > y->kind) - (x->kind < y->kind);
}

/* Collects the keys of one prefix of the default family into an arena
 * array of cs__key (strings copied into the arena). */
static int scan_names(cs_store *st, uint8_t type, const cs_str *service, cs_arena *a,
                      cs__key **out, size_t *n) {
  cs_buf pb = {0};
  cs_buf_u8(&pb, type);
  cs_buf_u8(&pb, CS__KEY_VERSION);
  if (service) cs__buf_str(&pb, *service);
  if (pb.err)
    return CS_STORE_ENOMEM;
  size_t cap = 0, len = 0;
  cs__key *arr = NULL;
  int rc = 0;
  cs__rdlock(st);
  if (!st->db) { /* a secondary whose reopen failed */
    cs__rdunlock(st);
    cs_buf_free(&pb);
    return CS_STORE_EIO;
  }
  rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, st->ro_total, st->def);
  for (rocksdb_iter_seek(it, (const char *)pb.p, pb.n); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
    size_t kn;
    const char *key = rocksdb_iter_key(it, &kn);
    if (!has_prefix(key, kn, pb.p, pb.n)) break;
    char *copy = cs_arena_alloc(a, kn);
    if (!copy) {
      rc = CS_STORE_ELIMIT;
      break;
    }
    memcpy(copy, key, kn);
    if (len == cap) { /* arena arrays cannot grow in place: copy to a bigger one */
      size_t nc = cap ? cap * 2 : 32;
      cs__key *na = cs_arena_alloc(a, nc * sizeof(cs__key));
      if (!na) {
        rc = CS_STORE_ELIMIT;
        break;
      }
      if (len) memcpy(na, arr, len * sizeof(cs__key));
      arr = na;
      cap = nc;
    }
    if (cs__key_decode(copy, kn, &arr[len])) {
      rc = CS_STORE_ECORRUPT;
      break;
    }
    len++;
  }
  rocksdb_iter_destroy(it);
  cs__rdunlock(st);
  cs_buf_free(&pb);
  *out = arr;
  *n = rc ? 0 : len;
  return rc;
}

int cs_store_list_services(cs_store *st, cs_arena *a, cs_str **out, size_t *n) {
  cs__key *keys;
  size_t nk;
  *out = NULL;
  *n = 0;
  int rc = scan_names(st, CS__K_SVCNAME, NULL, a, &keys, &nk);
  if (rc) return rc;
  cs_str *arr = nk ? cs_arena_alloc(a, nk * sizeof(cs_str)) : NULL;
  if (nk && !arr) return CS_STORE_ELIMIT;
  size_t m = 0;
  for (size_t i = 0; i < nk; i++)
    if (keys[i].type == CS__K_SVCNAME) arr[m++] = keys[i].a;
  if (m > 1) qsort(arr, m, sizeof(cs_str), cmp_str);
  *out = arr;
  *n = m;
  return 0;
}

int cs_store_list_operations(cs_store *st, cs_str service, cs_arena *a, cs_operation **out,
                             size_t *n) {
  cs__key *keys;
  size_t nk;
  *out = NULL;
  *n = 0;
  int rc = scan_names(st, CS__K_OPNAME, &service, a, &keys, &nk);
  if (rc) return rc;
  cs_operation *arr = nk ? cs_arena_alloc(a, nk * sizeof(cs_operation)) : NULL;
  if (nk && !arr) return CS_STORE_ELIMIT;
  for (size_t i = 0; i < nk; i++) {
    arr[i].name = keys[i].b;
    arr[i].kind = keys[i].kind;
  }
  if (nk > 1) qsort(arr, nk, sizeof(cs_operation), cmp_op);
  *out = arr;
  *n = nk;
  return 0;
}
