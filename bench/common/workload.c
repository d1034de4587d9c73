/* The benchmark workload (see workload.h): traces are expanded from a small
 * table of request templates, one per frontend endpoint. Each template node
 * becomes one span (a cross-service call becomes a client span on the caller
 * plus a server span on the callee); children share their parent's interval
 * sequentially, so durations nest the way real call trees do. */
#include "workload.h"

#include <string.h>

#include "session.h"

enum node_cls { N_SERVER, N_CALL, N_DB, N_HTTP_OUT, N_INTERNAL, N_PRODUCER };
enum { SVC_FRONTEND, SVC_ORDERS, SVC_INVENTORY, SVC_PAYMENTS, SVC_SHIPPING };

typedef struct tnode {
  uint8_t cls, svc, callee; /* callee: N_CALL only */
  uint8_t rep_min, rep_max; /* repeated rep_min..rep_max times (0 = once) */
  const char *name;
  const char *a, *b, *c; /* class-specific strings, see make_attrs */
  const struct tnode *kids;
  uint8_t n_kids;
  uint32_t base_us; /* root only: typical request duration */
} tnode;

#define KIDS(arr) (arr), (uint8_t)(sizeof(arr) / sizeof(arr[0]))

static const char *const services[CS_WORKLOAD_SERVICES] = {"frontend", "orders", "inventory",
                                                           "payments", "shipping"};
static const char *const versions[CS_WORKLOAD_SERVICES] = {"2.14.1", "1.9.0", "3.2.7", "1.22.3",
                                                           "0.8.12"};
static const char *const tiers[3] = {"free", "pro", "enterprise"};
static const char *const error_msgs[4] = {"connection reset by peer", "deadline exceeded",
                                          "card declined", "lock wait timeout"};

/* --- POST /api/checkout: 19 or 22 spans --- */
static const tnode co_cart[] = {{N_DB, SVC_ORDERS, 0, 0, 0, "SELECT cart_items", "postgresql",
                                 "cart_items", "SELECT", 0, 0, 0}};
static const tnode co_reserve[] = {
    {N_DB, SVC_INVENTORY, 0, 0, 0, "UPDATE stock", "postgresql", "stock", "UPDATE", 0, 0, 0}};
static const tnode co_pay[] = {
    {N_INTERNAL, SVC_PAYMENTS, 0, 0, 0, "fraud check", "FraudModel.score", 0, 0, 0, 0, 0},
    {N_HTTP_OUT, SVC_PAYMENTS, 0, 0, 0, "charge card", "POST", "api.cardgateway.example",
     "https://api.cardgateway.example/v1/charges", 0, 0, 0},
    {N_DB, SVC_PAYMENTS, 0, 0, 0, "INSERT payments", "postgresql", "payments", "INSERT", 0, 0, 0}};
static const tnode co_ship[] = {
    {N_DB, SVC_SHIPPING, 0, 0, 0, "INSERT shipments", "mysql", "shipments", "INSERT", 0, 0, 0}};
static const tnode co_order[] = {
    {N_DB, SVC_ORDERS, 0, 0, 0, "INSERT orders", "postgresql", "orders", "INSERT", 0, 0, 0},
    {N_PRODUCER, SVC_ORDERS, 0, 0, 0, "order.created publish", "kafka", "order.created",
     "kafka-1.internal", 0, 0, 0}};
static const tnode co_root_kids[] = {
    {N_CALL, SVC_FRONTEND, SVC_ORDERS, 0, 0, "GET /api/cart/{id}", "GET", "/api/cart/{id}", 0,
     KIDS(co_cart), 0},
    {N_CALL, SVC_FRONTEND, SVC_INVENTORY, 1, 2, "POST /api/inventory/reserve", "POST",
     "/api/inventory/reserve", 0, KIDS(co_reserve), 0},
    {N_CALL, SVC_FRONTEND, SVC_PAYMENTS, 0, 0, "POST /api/payments/charge", "POST",
     "/api/payments/charge", 0, KIDS(co_pay), 0},
    {N_CALL, SVC_FRONTEND, SVC_SHIPPING, 0, 0, "POST /api/shipments", "POST", "/api/shipments", 0,
     KIDS(co_ship), 0},
    {N_CALL, SVC_FRONTEND, SVC_ORDERS, 0, 0, "POST /api/orders", "POST", "/api/orders", 0,
     KIDS(co_order), 0}};

/* --- GET /api/orders/{id}: 19 or 22 spans --- */
static const tnode go_stock[] = {
    {N_DB, SVC_INVENTORY, 0, 0, 0, "SELECT stock", "postgresql", "stock", "SELECT", 0, 0, 0}};
static const tnode go_ship[] = {
    {N_DB, SVC_SHIPPING, 0, 0, 0, "SELECT shipments", "mysql", "shipments", "SELECT", 0, 0, 0}};
static const tnode go_orders[] = {
    {N_DB, SVC_ORDERS, 0, 0, 0, "SELECT orders", "postgresql", "orders", "SELECT", 0, 0, 0},
    {N_DB, SVC_ORDERS, 0, 0, 0, "SELECT order_items", "postgresql", "order_items", "SELECT", 0, 0,
     0},
    {N_CALL, SVC_ORDERS, SVC_INVENTORY, 3, 4, "GET /api/stock/{sku}", "GET", "/api/stock/{sku}", 0,
     KIDS(go_stock), 0},
    {N_CALL, SVC_ORDERS, SVC_SHIPPING, 0, 0, "GET /api/shipments/{id}", "GET",
     "/api/shipments/{id}", 0, KIDS(go_ship), 0}};
static const tnode go_root_kids[] = {
    {N_INTERNAL, SVC_FRONTEND, 0, 0, 0, "verify token", "AuthMiddleware.verify", 0, 0, 0, 0, 0},
    {N_CALL, SVC_FRONTEND, SVC_ORDERS, 0, 0, "GET /api/orders/{id}", "GET", "/api/orders/{id}", 0,
     KIDS(go_orders), 0},
    {N_INTERNAL, SVC_FRONTEND, 0, 0, 0, "render order page", "OrderPage.render", 0, 0, 0, 0, 0}};

/* --- GET /api/products/{id}: 18 to 20 spans --- */
static const tnode gp_estimate[] = {
    {N_INTERNAL, SVC_SHIPPING, 0, 0, 0, "compute estimate", "Estimator.compute", 0, 0, 0, 0, 0},
    {N_DB, SVC_SHIPPING, 0, 0, 0, "SELECT zones", "mysql", "zones", "SELECT", 0, 0, 0}};
static const tnode gp_product[] = {
    {N_DB, SVC_INVENTORY, 0, 0, 0, "GET product", "redis", "product", "GET", 0, 0, 0},
    {N_DB, SVC_INVENTORY, 0, 0, 0, "SELECT products", "postgresql", "products", "SELECT", 0, 0, 0},
    {N_CALL, SVC_INVENTORY, SVC_SHIPPING, 0, 0, "GET /api/delivery-estimate", "GET",
     "/api/delivery-estimate", 0, KIDS(gp_estimate), 0}};
static const tnode gp_recs[] = {
    {N_DB, SVC_ORDERS, 0, 2, 4, "SELECT order_items", "postgresql", "order_items", "SELECT", 0, 0,
     0},
    {N_INTERNAL, SVC_ORDERS, 0, 0, 0, "rank items", "Recommender.rank", 0, 0, 0, 0, 0}};
static const tnode gp_price[] = {
    {N_DB, SVC_PAYMENTS, 0, 0, 0, "SELECT prices", "postgresql", "prices", "SELECT", 0, 0, 0}};
static const tnode gp_root_kids[] = {
    {N_CALL, SVC_FRONTEND, SVC_INVENTORY, 0, 0, "GET /api/products/{id}", "GET",
     "/api/products/{id}", 0, KIDS(gp_product), 0},
    {N_CALL, SVC_FRONTEND, SVC_ORDERS, 0, 0, "GET /api/recommendations", "GET",
     "/api/recommendations", 0, KIDS(gp_recs), 0},
    {N_CALL, SVC_FRONTEND, SVC_PAYMENTS, 0, 0, "GET /api/prices/{id}", "GET", "/api/prices/{id}", 0,
     KIDS(gp_price), 0},
    {N_INTERNAL, SVC_FRONTEND, 0, 0, 0, "render product page", "ProductPage.render", 0, 0, 0, 0,
     0}};

/* Roots, picked with weights 30 / 50 / 20 percent. */
static const tnode roots[3] = {{N_SERVER, SVC_FRONTEND, 0, 0, 0, "POST /api/checkout", "POST",
                                "/api/checkout", 0, KIDS(co_root_kids), 120000},
                               {N_SERVER, SVC_FRONTEND, 0, 0, 0, "GET /api/orders/{id}", "GET",
                                "/api/orders/{id}", 0, KIDS(go_root_kids), 35000},
                               {N_SERVER, SVC_FRONTEND, 0, 0, 0, "GET /api/products/{id}", "GET",
                                "/api/products/{id}", 0, KIDS(gp_root_kids), 20000}};

/* splitmix64: tiny, fast and good enough for synthetic data. */
static uint64_t rnd(cs_workload *w) {
  uint64_t z = (w->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Uniform in [lo, hi]. */
static uint64_t rnd_range(cs_workload *w, uint64_t lo, uint64_t hi) {
  return lo + rnd(w) % (hi - lo + 1);
}

static cs_str str(const char *s) {
  return (cs_str){s, (uint32_t)strlen(s)};
}

static void put_id(cs_workload *w, uint8_t *dst, size_t n) {
  for (;;) {
    uint64_t hi = rnd(w), lo = rnd(w);
    memcpy(dst, &hi, 8);
    if (n == 16)
      memcpy(dst + 8, &lo, 8);
    for (size_t i = 0; i < n; i++)
      if (dst[i])
        return;
  }
}

const char *cs_workload_service(int i) {
  return i >= 0 && i < CS_WORKLOAD_SERVICES ? services[i] : NULL;
}

void cs_workload_init(cs_workload *w, uint64_t seed, uint64_t start_ns) {
  static const char hex[] = "0123456789abcdef";
  memset(w, 0, sizeof *w);
  w->rng = seed;
  w->now_ns = start_ns ? start_ns : CS_WORKLOAD_FIXED_START_NS;
  w->gap_ns = 100000;
  for (int s = 0; s < CS_WORKLOAD_SERVICES; s++) {
    for (int i = 0; i < CS_WORKLOAD_INSTANCES; i++) {
      int r = s * CS_WORKLOAD_INSTANCES + i;
      char *h = w->hosts[r];
      size_t n = strlen(services[s]);
      memcpy(h, services[s], n);
      h[n++] = '-';
      uint64_t x = rnd(w);
      for (int k = 0; k < 8; k++)
        h[n++] = hex[(x >> (4 * k)) & 15];
      h[n] = '\0';
      cs_attr *ra = w->res_attrs[r];
      ra[0] = (cs_attr){.key = CS_STR_LIT("service.name"), .type = CS_VAL_STR};
      ra[0].v.s = str(services[s]);
      ra[1] = (cs_attr){.key = CS_STR_LIT("service.version"), .type = CS_VAL_STR};
      ra[1].v.s = str(versions[s]);
      ra[2] = (cs_attr){.key = CS_STR_LIT("host.name"), .type = CS_VAL_STR};
      ra[2].v.s = (cs_str){h, (uint32_t)n};
      ra[3] = (cs_attr){.key = CS_STR_LIT("deployment.environment"), .type = CS_VAL_STR};
      ra[3].v.s = CS_STR_LIT("production");
      w->resources[r] = (cs_resource){str(services[s]), ra, 4};
    }
  }
  for (int i = 0; i < CS_WORKLOAD_SESSIONS; i++) {
    char *p = w->sessions[i];
    memcpy(p, "sess-", 5);
    uint64_t x = rnd(w);
    for (int k = 0; k < 16; k++)
      p[5 + k] = hex[(x >> (4 * k)) & 15];
    p[21] = '\0';
    /* Most users are on the free tier, as in any real product. */
    uint64_t t = rnd(w) % 10;
    w->session_tier[i] = t < 6 ? 0 : t < 9 ? 1 : 2;
  }
}

/* State of one trace being generated. */
typedef struct gen {
  cs_workload *w;
  cs_span *spans;
  cs_attr *attrs; /* CS_WORKLOAD_ATTRS per span, same index */
  size_t n, cap;
  uint8_t trace_id[16];
  const cs_resource *res[CS_WORKLOAD_SERVICES];
  cs_str session;
  const char *tier;
} gen;

static void set_str(cs_attr *a, const char *key, cs_str v) {
  a->key = str(key);
  a->type = CS_VAL_STR;
  a->v.s = v;
}

static void set_int(cs_attr *a, const char *key, int64_t v) {
  a->key = str(key);
  a->type = CS_VAL_INT;
  a->v.i = v;
}

/* Payments spells the session key its own way, as real fleets do; the
 * collector has to normalise it. */
static const char *session_key(int svc) {
  return svc == SVC_PAYMENTS ? "sessionId" : "session.id";
}

/* Fills the 6 attributes of a span for its node class. */
static void make_attrs(gen *g, cs_span *sp, const tnode *n, int svc, int server_side, int err) {
  cs_workload *w = g->w;
  cs_attr *a = sp->attrs;
  int cls = server_side ? N_SERVER : n->cls;
  switch (cls) {
  case N_SERVER:
    set_str(&a[0], "http.method", str(n->a));
    set_str(&a[1], "http.route", str(n->b));
    set_int(&a[2], "http.status_code", err ? 500 : (n->a[0] == 'P' ? 201 : 200));
    set_str(&a[3], "user.tier", str(g->tier));
    set_int(&a[4], "http.response_content_length", (int64_t)rnd_range(w, 80, 24000));
    break;
  case N_CALL:
    set_str(&a[0], "http.method", str(n->a));
    set_str(&a[1], "http.route", str(n->b));
    set_int(&a[2], "http.status_code", err ? 503 : (n->a[0] == 'P' ? 201 : 200));
    set_str(&a[3], "net.peer.name", str(services[n->callee]));
    set_int(&a[4], "net.peer.port", 8080);
    break;
  case N_DB:
    set_str(&a[0], "db.system", str(n->a));
    set_str(&a[1], "db.sql.table", str(n->b));
    set_str(&a[2], "db.operation", str(n->c));
    set_str(&a[3], "net.peer.name", str(n->a[0] == 'r' ? "cache-1.internal" : "db-1.internal"));
    set_int(&a[4], "db.rows_affected", (int64_t)rnd_range(w, 0, 50));
    break;
  case N_HTTP_OUT:
    set_str(&a[0], "http.method", str(n->a));
    set_str(&a[1], "http.url", str(n->c));
    set_int(&a[2], "http.status_code", err ? 402 : 200);
    set_str(&a[3], "net.peer.name", str(n->b));
    a[4] = (cs_attr){.key = CS_STR_LIT("payment.amount"), .type = CS_VAL_DOUBLE};
    a[4].v.d = (double)rnd_range(w, 199, 99999) / 100.0;
    break;
  case N_INTERNAL:
    set_str(&a[0], "code.function", str(n->a));
    a[1] = (cs_attr){.key = CS_STR_LIT("cache.hit"), .type = CS_VAL_BOOL};
    a[1].v.b = (rnd(w) % 4) != 0;
    set_int(&a[2], "work.items", (int64_t)rnd_range(w, 1, 40));
    set_str(&a[3], "user.tier", str(g->tier));
    a[4] = (cs_attr){.key = CS_STR_LIT("work.ratio"), .type = CS_VAL_DOUBLE};
    a[4].v.d = (double)(rnd(w) % 1000) / 1000.0;
    break;
  default: /* N_PRODUCER */
    set_str(&a[0], "messaging.system", str(n->a));
    set_str(&a[1], "messaging.destination", str(n->b));
    set_str(&a[2], "net.peer.name", str(n->c));
    set_int(&a[3], "messaging.message_payload_size_bytes", (int64_t)rnd_range(w, 200, 4000));
    set_str(&a[4], "user.tier", str(g->tier));
    break;
  }
  set_str(&a[5], session_key(svc), g->session);
  sp->n_attrs = CS_WORKLOAD_ATTRS;
}

/* Appends one span; returns its index or -1 when the trace is full. */
static int add_span(gen *g, const tnode *n, int svc, int server_side, int parent, uint64_t s,
                    uint64_t e) {
  if (g->n >= g->cap)
    return -1;
  cs_workload *w = g->w;
  int idx = (int)g->n++;
  cs_span *sp = &g->spans[idx];
  memset(sp, 0, sizeof *sp);
  memcpy(sp->trace_id, g->trace_id, 16);
  put_id(w, sp->span_id, 8);
  if (parent >= 0)
    memcpy(sp->parent_id, g->spans[parent].span_id, 8);
  sp->name = str(n->name);
  static const uint8_t kinds[] = {[N_SERVER] = CS_KIND_SERVER,     [N_CALL] = CS_KIND_CLIENT,
                                  [N_DB] = CS_KIND_CLIENT,         [N_HTTP_OUT] = CS_KIND_CLIENT,
                                  [N_INTERNAL] = CS_KIND_INTERNAL, [N_PRODUCER] = CS_KIND_PRODUCER};
  sp->kind = server_side ? CS_KIND_SERVER : kinds[n->cls];
  sp->flags = 0x01; /* sampled */
  sp->start_ns = s;
  sp->end_ns = e;
  sp->resource = g->res[svc];
  sp->scope_name = CS_STR_LIT("callscope.bench");
  sp->scope_version = CS_STR_LIT("1.0.0");
  sp->attrs = &g->attrs[idx * CS_WORKLOAD_ATTRS];
  int err = rnd(w) % 50 == 0; /* 2% */
  if (err) {
    sp->status_code = CS_STATUS_ERROR;
    sp->status_msg = str(error_msgs[rnd(w) % 4]);
    w->errors++;
  }
  make_attrs(g, sp, n, svc, server_side, err);
  cs_span_find_session(sp);
  return idx;
}

static void emit(gen *g, const tnode *n, int parent, uint64_t s, uint64_t e);

/* Lays the children of a node out one after another inside [s, e]: they
 * take 70-90% of it, the rest is the parent's own time, spread as gaps. */
static void fill(gen *g, const tnode *kids, int n_kids, int parent, uint64_t s, uint64_t e) {
  const tnode *list[16];
  uint32_t weight[16];
  int m = 0;
  uint64_t wsum = 0;
  for (int i = 0; i < n_kids; i++) {
    int reps = kids[i].rep_max ? (int)rnd_range(g->w, kids[i].rep_min, kids[i].rep_max) : 1;
    for (int r = 0; r < reps && m < 16; r++) {
      list[m] = &kids[i];
      weight[m] = (uint32_t)rnd_range(g->w, 50, 150);
      wsum += weight[m++];
    }
  }
  if (m == 0)
    return;
  uint64_t len = e - s;
  uint64_t busy = len * rnd_range(g->w, 70, 90) / 100;
  uint64_t gap = (len - busy) / (uint64_t)(m + 1);
  uint64_t t = s + gap;
  for (int i = 0; i < m; i++) {
    uint64_t d = busy * weight[i] / wsum;
    if (d == 0)
      d = 1;
    emit(g, list[i], parent, t, t + d);
    t += d + gap;
  }
}

static void emit(gen *g, const tnode *n, int parent, uint64_t s, uint64_t e) {
  int idx = add_span(g, n, n->svc, 0, parent, s, e);
  if (idx < 0)
    return;
  if (n->cls == N_CALL) {
    /* The callee's server span sits inside the client span, minus network
     * time on each side. */
    uint64_t net = (e - s) * rnd_range(g->w, 2, 8) / 100;
    if (net * 2 >= e - s)
      net = 0;
    idx = add_span(g, n, n->callee, 1, idx, s + net, e - net);
    if (idx < 0)
      return;
    s += net;
    e -= net;
  }
  fill(g, n->kids, n->n_kids, idx, s, e);
}

static size_t gen_trace(cs_workload *w, cs_span *spans, cs_attr *attrs) {
  gen g = {.w = w, .spans = spans, .attrs = attrs, .cap = CS_WORKLOAD_MAX_TRACE_SPANS};
  put_id(w, g.trace_id, 16);
  for (int s = 0; s < CS_WORKLOAD_SERVICES; s++)
    g.res[s] = &w->resources[s * CS_WORKLOAD_INSTANCES + rnd(w) % CS_WORKLOAD_INSTANCES];
  size_t sess = rnd(w) % CS_WORKLOAD_SESSIONS;
  g.session = (cs_str){w->sessions[sess], 21};
  g.tier = tiers[w->session_tier[sess]];
  uint64_t pick = rnd(w) % 100;
  const tnode *root = &roots[pick < 30 ? 0 : pick < 80 ? 1 : 2];
  /* Durations: 0.5x to 1.5x the endpoint's typical time, with a 1% tail
   * of slow requests 3x to 10x longer. */
  uint64_t dur = (uint64_t)root->base_us * 1000 * rnd_range(w, 50, 150) / 100;
  if (rnd(w) % 100 == 0)
    dur *= rnd_range(w, 3, 10);
  uint64_t start = w->now_ns;
  w->now_ns += rnd_range(w, 0, 2 * w->gap_ns);
  emit(&g, root, -1, start, start + dur);
  w->traces++;
  w->spans += g.n;
  return g.n;
}

size_t cs_workload_next_trace(cs_workload *w, cs_arena *a, cs_span **out) {
  cs_span *spans = cs_arena_alloc(a, sizeof(cs_span) * CS_WORKLOAD_MAX_TRACE_SPANS);
  cs_attr *attrs =
      cs_arena_alloc(a, sizeof(cs_attr) * CS_WORKLOAD_ATTRS * CS_WORKLOAD_MAX_TRACE_SPANS);
  if (!spans || !attrs)
    return 0;
  *out = spans;
  return gen_trace(w, spans, attrs);
}

size_t cs_workload_batch(cs_workload *w, cs_arena *a, size_t n_spans, cs_span **out) {
  size_t cap = n_spans + CS_WORKLOAD_MAX_TRACE_SPANS;
  cs_span *spans = cs_arena_alloc(a, sizeof(cs_span) * cap);
  cs_attr *attrs = cs_arena_alloc(a, sizeof(cs_attr) * CS_WORKLOAD_ATTRS * cap);
  if (!spans || !attrs)
    return 0;
  size_t n = 0;
  while (n < n_spans || n == 0)
    n += gen_trace(w, spans + n, attrs + n * CS_WORKLOAD_ATTRS);
  *out = spans;
  return n;
}
