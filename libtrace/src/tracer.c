/* The tracer object: configuration resolved into its final form, the
 * encoded resource, the registry of per-thread rings, statistics, and the
 * life cycle (new, flush, free) around the exporter thread. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define SDK_VERSION "0.1.0"

static atomic_uint_fast64_t tracer_gens;

static void ring_thread_exit(void *p) {
  __cst_ring *r = p;
  /* The owner is gone: free its span cache now (only it used the cache),
   * and let the exporter free the ring once it has drained it. */
  while (r->free_spans) {
    cst_span *s = r->free_spans;
    r->free_spans = s->next_free;
    if (s->buf != s->inline_buf)
      free(s->buf);
    free(s);
  }
  r->n_free = 0;
  if (__cst_t.ring == r) {
    __cst_t.ring = NULL;
    __cst_t.ring_gen = 0;
  }
  atomic_store_explicit(&r->orphaned, 1, memory_order_release);
}

__cst_ring *__cst_ring_for(cst_tracer *t) {
  __cst_ring *r = pthread_getspecific(t->key);
  if (!r) {
    if (atomic_fetch_add(&t->n_rings, 1) >= t->cfg.max_threads) {
      atomic_fetch_sub(&t->n_rings, 1);
      atomic_fetch_add_explicit(&t->dropped_threads, 1, memory_order_relaxed);
      return NULL;
    }
    r = aligned_alloc(64, (sizeof *r + 63) & ~(size_t)63);
    if (!r || __cst_ring_init(r, t->cfg.ring_bytes) != CST_OK) {
      free(r);
      atomic_fetch_sub(&t->n_rings, 1);
      return NULL;
    }
    r->t = t;
    pthread_mutex_lock(&t->reg_mu);
    r->next = atomic_load(&t->rings);
    atomic_store_explicit(&t->rings, r, memory_order_release);
    pthread_mutex_unlock(&t->reg_mu);
    pthread_setspecific(t->key, r);
  }
  __cst_t.ring = r;
  __cst_t.ring_gen = t->gen;
  return r;
}

static void fold(cst_tracer *t, __cst_ring *r) {
  atomic_fetch_add(&t->retired_started, atomic_load(&r->started));
  atomic_fetch_add(&t->retired_sampled, atomic_load(&r->sampled));
  atomic_fetch_add(&t->retired_dropped_full, atomic_load(&r->dropped_full));
  atomic_fetch_add(&t->retired_dropped_attrs, atomic_load(&r->dropped_attrs));
}

void __cst_ring_free_orphan(cst_tracer *t, __cst_ring *r) {
  pthread_mutex_lock(&t->reg_mu);
  __cst_ring *head = atomic_load(&t->rings);
  if (head == r) {
    atomic_store(&t->rings, r->next);
  } else {
    __cst_ring *p = head;
    while (p && p->next != r)
      p = p->next;
    if (!p) {
      pthread_mutex_unlock(&t->reg_mu);
      return;
    }
    p->next = r->next;
  }
  fold(t, r);
  atomic_fetch_sub(&t->n_rings, 1);
  pthread_mutex_unlock(&t->reg_mu);
  __cst_ring_release(r);
  free(r);
}

/* ---- resource ---------------------------------------------------------- */

typedef struct kvs {
  struct {
    char *k, *v;
  } e[64];
  size_t n;
  int oom;
} kvs;

static void kvs_set(kvs *s, const char *k, size_t kn, const char *v, size_t vn) {
  size_t i = 0;
  while (i < s->n && !(strlen(s->e[i].k) == kn && memcmp(s->e[i].k, k, kn) == 0))
    i++;
  if (i == sizeof s->e / sizeof s->e[0])
    return; /* cap: extra attributes ignored */
  char *nk = strndup(k, kn), *nv = strndup(v, vn);
  if (!nk || !nv) {
    free(nk);
    free(nv);
    s->oom = 1;
    return;
  }
  if (i < s->n) {
    free(s->e[i].k);
    free(s->e[i].v);
  } else {
    s->n++;
  }
  s->e[i].k = nk;
  s->e[i].v = nv;
}

static void kvs_put(kvs *s, const char *k, const char *v, size_t vn) {
  kvs_set(s, k, strlen(k), v, vn);
}

static void kvs_cb(void *ud, const char *k, size_t kn, const char *v, size_t vn) {
  kvs_set(ud, k, kn, v, vn);
}

static const char *kvs_get(const kvs *s, const char *k) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->e[i].k, k) == 0)
      return s->e[i].v;
  return NULL;
}

static int build_resource(cst_tracer *t, const cst_config *c) {
  kvs s;
  memset(&s, 0, sizeof s);
  int rc = CST_OK;
  if (c->resource_attributes && __cst_parse_kv_list(c->resource_attributes, kvs_cb, &s) != 0) {
    rc = CST_EINVAL;
    goto out;
  }
  const char *svc = c->service_name ? c->service_name : kvs_get(&s, "service.name");
  if (!svc || !*svc)
    svc = "unknown_service";
  kvs_put(&s, "service.name", svc, strlen(svc));
  t->service_name = strdup(svc);
  if (c->service_version)
    kvs_put(&s, "service.version", c->service_version, strlen(c->service_version));
  if (c->service_instance) {
    kvs_put(&s, "service.instance.id", c->service_instance, strlen(c->service_instance));
  } else if (!kvs_get(&s, "service.instance.id")) {
    uint8_t id[16];
    uint64_t a = __cst_rand64(), b = __cst_rand64();
    memcpy(id, &a, 8);
    memcpy(id + 8, &b, 8);
    char hex[33];
    __cst_hex_encode(id, 16, hex);
    kvs_put(&s, "service.instance.id", hex, 32);
  }
  char host[256];
  if (!kvs_get(&s, "host.name") && gethostname(host, sizeof host) == 0) {
    host[sizeof host - 1] = 0;
    kvs_put(&s, "host.name", host, strlen(host));
  }
  kvs_put(&s, "telemetry.sdk.name", "callscope-trace", 15);
  kvs_put(&s, "telemetry.sdk.language", "c", 1);
  kvs_put(&s, "telemetry.sdk.version", SDK_VERSION, sizeof SDK_VERSION - 1);
  if (s.oom || !t->service_name) {
    rc = CST_ENOMEM;
    goto out;
  }
  __cst_buf b;
  cs_buf_init(&b, 1u << 20);
  size_t res = __cst_pb_begin(&b, 1); /* ResourceSpans.resource / ResourceMetrics.resource */
  for (size_t i = 0; i < s.n; i++)
    __cst_pb_kv_str(&b, 1, s.e[i].k, strlen(s.e[i].k), s.e[i].v, strlen(s.e[i].v));
  if (!kvs_get(&s, "process.pid"))
    __cst_pb_kv_int(&b, 1, "process.pid", 11, (int64_t)getpid());
  __cst_pb_end(&b, res);
  if (b.err) {
    cs_buf_free(&b);
    rc = CST_ENOMEM;
    goto out;
  }
  t->resource_pb = b.p;
  t->resource_len = b.n;
out:
  for (size_t i = 0; i < s.n; i++) {
    free(s.e[i].k);
    free(s.e[i].v);
  }
  return rc;
}

/* ---- life cycle -------------------------------------------------------- */

static uint32_t pow2_at_least(uint32_t v) {
  uint32_t p = 16384;
  while (p < v && p < (1u << 30))
    p <<= 1;
  return p;
}

static void apply_defaults(cst_config *c) {
#define DEF(f, v)                                                                                  \
  if (!c->f)                                                                                       \
  c->f = (v)
  c->ring_bytes = pow2_at_least(c->ring_bytes ? c->ring_bytes : 262144);
  DEF(max_threads, 1024);
  DEF(max_span_bytes, 16384);
  if (c->max_span_bytes > c->ring_bytes / 4)
    c->max_span_bytes = c->ring_bytes / 4;
  if (c->max_span_bytes < 1024)
    c->max_span_bytes = 1024;
  DEF(batch_max_spans, 512);
  DEF(batch_timeout_ms, 200);
  DEF(udp_datagram_bytes, 8192);
  if (c->udp_datagram_bytes > 65507)
    c->udp_datagram_bytes = 65507;
  if (c->udp_datagram_bytes < 512)
    c->udp_datagram_bytes = 512;
  DEF(tcp_max_unacked_bytes, 8u << 20);
  DEF(metrics_interval_ms, 10000);
  DEF(shutdown_timeout_ms, 2000);
  DEF(backoff_initial_ms, 50);
  DEF(backoff_max_ms, 2000);
  if (c->backoff_max_ms < c->backoff_initial_ms)
    c->backoff_max_ms = c->backoff_initial_ms;
  DEF(breaker_failures, 8);
  DEF(breaker_open_ms, 2000);
  DEF(propagators, CST_PROP_DEFAULT);
#undef DEF
}

int cst_tracer_new(const cst_config *cfg, cst_tracer **out) {
  cst_config local;
  if (!out)
    return CST_EINVAL;
  *out = NULL;
  if (!cfg) {
    cst_config_init(&local);
    cfg = &local;
  }
  if (cfg->sampler_ratio < 0 || cfg->sampler_ratio > 1 || cfg->sampler_ratio != cfg->sampler_ratio)
    return CST_EINVAL;
  cst_tracer *t = calloc(1, sizeof *t);
  if (!t)
    return CST_ENOMEM;
  int rc;
  t->cfg = *cfg;
  apply_defaults(&t->cfg);
  /* Strings are not kept: only what was derived from them. */
  t->cfg.service_name = t->cfg.service_version = t->cfg.service_instance = NULL;
  t->cfg.resource_attributes = t->cfg.endpoint = NULL;
  t->gen = atomic_fetch_add(&tracer_gens, 1) + 1;
  if (!__cst_t.rng_fork_gen)
    __cst_rng_seed(); /* installs the fork handler too */
  t->fork_gen = atomic_load(&__cst_fork_gen);
  t->max_span_bytes = t->cfg.max_span_bytes;
  t->start_ns = __cst_now();
  cst_sampler_kind k = cfg->sampler ? cfg->sampler : CST_SAMPLER_PARENT_ALWAYS_ON;
  t->parent_based = k >= CST_SAMPLER_PARENT_ALWAYS_ON;
  t->sampler_root = k == CST_SAMPLER_PARENT_ALWAYS_ON    ? CST_SAMPLER_ALWAYS_ON
                    : k == CST_SAMPLER_PARENT_ALWAYS_OFF ? CST_SAMPLER_ALWAYS_OFF
                    : k == CST_SAMPLER_PARENT_RATIO      ? CST_SAMPLER_RATIO
                                                         : k;
  if (t->sampler_root < CST_SAMPLER_ALWAYS_ON || t->sampler_root > CST_SAMPLER_RATIO) {
    free(t);
    return CST_EINVAL;
  }
  t->ratio = cfg->sampler_ratio;
  const char *ep = cfg->endpoint ? cfg->endpoint : "udp://127.0.0.1:4320"; /* CS_PORT_NATIVE */
  if ((rc = __cst_parse_endpoint(ep, &t->ep)) != CST_OK)
    goto fail_free;
  if ((rc = build_resource(t, cfg)) != CST_OK)
    goto fail_free;
  if (pthread_key_create(&t->key, ring_thread_exit) != 0) {
    rc = CST_ENOMEM;
    goto fail_free;
  }
  pthread_mutex_init(&t->reg_mu, NULL);
  pthread_mutex_init(&t->metrics_mu, NULL);
  if ((rc = __cst_exporter_start(t)) != CST_OK)
    goto fail_key;
  *out = t;
  return CST_OK;
fail_key:
  pthread_mutex_destroy(&t->metrics_mu);
  pthread_mutex_destroy(&t->reg_mu);
  pthread_key_delete(t->key);
fail_free:
  free(t->resource_pb);
  free(t->service_name);
  free(t);
  return rc;
}

void cst_tracer_free(cst_tracer *t) {
  if (!t)
    return;
  int forked = t->fork_gen != atomic_load(&__cst_fork_gen);
  if (!forked)
    __cst_exporter_stop(t);
  /* In a forked child the exporter thread does not exist: free memory only. */
  else
    __cst_exporter_abandon(t);
  pthread_key_delete(t->key);
  __cst_ring *r = atomic_load(&t->rings);
  while (r) {
    __cst_ring *next = r->next;
    while (r->free_spans) {
      cst_span *s = r->free_spans;
      r->free_spans = s->next_free;
      if (s->buf != s->inline_buf)
        free(s->buf);
      free(s);
    }
    if (__cst_t.ring == r) {
      __cst_t.ring = NULL;
      __cst_t.ring_gen = 0;
    }
    __cst_ring_release(r);
    free(r);
    r = next;
  }
  __cst_metrics_free_all(t);
  if (!forked) { /* a child may have inherited them locked */
    pthread_mutex_destroy(&t->metrics_mu);
    pthread_mutex_destroy(&t->reg_mu);
  }
  free(t->resource_pb);
  free(t->service_name);
  free(t);
}

int cst_tracer_flush(cst_tracer *t, uint32_t timeout_ms) {
  if (!t)
    return CST_EINVAL;
  if (t->fork_gen != atomic_load(&__cst_fork_gen))
    return CST_EFORKED;
  return __cst_exporter_flush(t, timeout_ms, 1);
}

unsigned cst_tracer_propagators(const cst_tracer *t) {
  return t ? t->cfg.propagators : CST_PROP_DEFAULT;
}

void cst_tracer_stats(const cst_tracer *t, cst_stats *o) {
  memset(o, 0, sizeof *o);
  if (!t)
    return;
  cst_tracer *m = (cst_tracer *)t;
  pthread_mutex_lock(&m->reg_mu);
  o->spans_started = atomic_load(&m->retired_started);
  o->spans_sampled = atomic_load(&m->retired_sampled);
  o->dropped_queue_full = atomic_load(&m->retired_dropped_full);
  o->dropped_attributes = atomic_load(&m->retired_dropped_attrs);
  for (__cst_ring *r = atomic_load(&m->rings); r; r = r->next) {
    o->spans_started += atomic_load_explicit(&r->started, memory_order_relaxed);
    o->spans_sampled += atomic_load_explicit(&r->sampled, memory_order_relaxed);
    o->dropped_queue_full += atomic_load_explicit(&r->dropped_full, memory_order_relaxed);
    o->dropped_attributes += atomic_load_explicit(&r->dropped_attrs, memory_order_relaxed);
    o->queue_bytes += __cst_ring_used(r);
  }
  pthread_mutex_unlock(&m->reg_mu);
  o->spans_exported = atomic_load(&m->spans_exported);
  o->spans_rejected = atomic_load(&m->spans_rejected);
  o->dropped_too_large = atomic_load(&m->dropped_too_large);
  o->dropped_threads = atomic_load(&m->dropped_threads);
  o->dropped_export = atomic_load(&m->dropped_export);
  o->export_errors = atomic_load(&m->export_errors);
  o->frames_sent = atomic_load(&m->frames_sent);
  o->frames_acked = atomic_load(&m->frames_acked);
  o->reconnects = atomic_load(&m->reconnects);
  o->breaker_opens = atomic_load(&m->breaker_opens);
  o->unacked_bytes = atomic_load(&m->unacked_bytes);
  o->metric_exports = atomic_load(&m->metric_exports);
}
