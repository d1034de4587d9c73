/* ui_fill: fills a running collector with the traces the browser tests
 * look at (user sessions across five services, errors, clock skew, a
 * missing parent, a span link, a pair of traces to compare, hostile text
 * for the XSS case and one 50,000-span trace), sent as native frames over
 * TCP and acknowledged. Prints the IDs it used as one JSON object. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "otlp_encode.h"
#include "span.h"
#include "wire.h"

#define MAX_SPANS 60000
#define FRAME_SPANS 2000
#define MS 1000000ull

static cs_span spans[MAX_SPANS];
static size_t n_spans;
static uint64_t next_sid = 0x100;
static uint64_t base_ns; /* ten minutes ago: every trace lies after it */

static cs_attr host_attr(const char *h) {
  return (cs_attr){CS_STR_LIT("host.name"), CS_VAL_STR, {.s = {h, (uint32_t)strlen(h)}}};
}

static cs_attr a_frontend[1], a_checkout[1], a_payments[1], a_inventory[1], a_bulk[1], a_mail[1];
static cs_attr a_xss[2];
static cs_resource r_frontend = {CS_STR_LIT("frontend"), a_frontend, 1};
static cs_resource r_checkout = {CS_STR_LIT("checkout"), a_checkout, 1};
static cs_resource r_payments = {CS_STR_LIT("payments"), a_payments, 1};
static cs_resource r_inventory = {CS_STR_LIT("inventory"), a_inventory, 1};
static cs_resource r_bulk = {CS_STR_LIT("bulk"), a_bulk, 1};
static cs_resource r_mail = {CS_STR_LIT("mailer"), a_mail, 1};
static cs_resource r_xss = {CS_STR_LIT("xss<img src=x onerror=\"window.__xss=3\">"), a_xss, 2};

static void init_resources(void) {
  a_frontend[0] = host_attr("web-1");
  a_checkout[0] = host_attr("app-1");
  a_payments[0] = host_attr("pay-1");
  a_inventory[0] = host_attr("app-2");
  a_bulk[0] = host_attr("batch-1");
  a_mail[0] = host_attr("mail-1");
  a_xss[0] = host_attr("xss-1");
  a_xss[1] = (cs_attr){CS_STR_LIT("deploy<b>bold</b>"), CS_VAL_STR,
                       {.s = CS_STR_LIT("<script>window.__xss=4</script>")}};
}

static void put_id(uint8_t *out, int n, uint64_t v) {
  for (int i = n - 1; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

static void mk_tid(uint8_t tid[16], uint64_t tag) {
  put_id(tid, 8, 0xca11500e00000000ull | (tag >> 32));
  put_id(tid + 8, 8, 0x5eed000000000000ull | (tag & 0xffffffffull));
}

static void hex(const uint8_t *p, int n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (int i = 0; i < n; i++) out[2 * i] = d[p[i] >> 4], out[2 * i + 1] = d[p[i] & 15];
  out[2 * n] = '\0';
}

/* Appends a span; parent 0 makes a root. Returns its span ID. */
static cs_span *add(const uint8_t tid[16], uint64_t parent, const cs_resource *res,
                    const char *name, int kind, uint64_t start, uint64_t dur) {
  if (n_spans >= MAX_SPANS) {
    fprintf(stderr, "ui_fill: too many spans\n");
    exit(1);
  }
  cs_span *s = &spans[n_spans++];
  memset(s, 0, sizeof *s);
  memcpy(s->trace_id, tid, 16);
  put_id(s->span_id, 8, next_sid++);
  if (parent) put_id(s->parent_id, 8, parent);
  s->name = (cs_str){name, (uint32_t)strlen(name)};
  s->kind = (uint8_t)kind;
  s->start_ns = start;
  s->end_ns = start + dur;
  s->resource = res;
  s->flags = 1;
  s->scope_name = CS_STR_LIT("ui_fill");
  return s;
}

static uint64_t sid_of(const cs_span *s) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | s->span_id[i];
  return v;
}

/* Attributes live as long as the program: allocated and never freed. */
static void attrs(cs_span *s, size_t n, const cs_attr *a) {
  s->attrs = malloc(sizeof(cs_attr) * n);
  if (!s->attrs) exit(1);
  memcpy(s->attrs, a, sizeof(cs_attr) * n);
  s->n_attrs = (uint32_t)n;
}

static cs_attr sattr(const char *k, const char *v) {
  return (cs_attr){{k, (uint32_t)strlen(k)}, CS_VAL_STR, {.s = {v, (uint32_t)strlen(v)}}};
}

static cs_attr iattr(const char *k, int64_t v) {
  return (cs_attr){{k, (uint32_t)strlen(k)}, CS_VAL_INT, {.i = v}};
}

static void error(cs_span *s, const char *msg) {
  s->status_code = CS_STATUS_ERROR;
  s->status_msg = (cs_str){msg, (uint32_t)strlen(msg)};
}

static void event(cs_span *s, const char *name, uint64_t t, size_t na, const cs_attr *a) {
  s->events = malloc(sizeof(cs_event));
  if (!s->events) exit(1);
  memset(s->events, 0, sizeof(cs_event));
  s->events[0].name = (cs_str){name, (uint32_t)strlen(name)};
  s->events[0].time_ns = t;
  if (na) {
    s->events[0].attrs = malloc(sizeof(cs_attr) * na);
    if (!s->events[0].attrs) exit(1);
    memcpy(s->events[0].attrs, a, sizeof(cs_attr) * na);
    s->events[0].n_attrs = (uint32_t)na;
  }
  s->n_events = 1;
}

/* Every span of the trace [first, n_spans) gets the session attribute. */
static void session(size_t first, const char *sess) {
  for (size_t i = first; i < n_spans; i++) {
    cs_attr *a = malloc(sizeof(cs_attr) * (spans[i].n_attrs + 1));
    if (!a) exit(1);
    if (spans[i].n_attrs) memcpy(a, spans[i].attrs, sizeof(cs_attr) * spans[i].n_attrs);
    a[spans[i].n_attrs] = sattr("session.id", sess);
    free(spans[i].attrs);
    spans[i].attrs = a;
    spans[i].n_attrs++;
  }
}

/* One user step: frontend -> checkout -> (inventory, database, payments).
 * pay_ms > 0 adds a payment call; retry adds a second, failing attempt
 * first; coupon adds a span only this variant has. Returns the checkout
 * server span, for links. */
static cs_span *user_step(const uint8_t tid[16], const char *route, uint64_t t0, uint64_t total_ms,
                          uint64_t pay_ms, int retry, int coupon, const char *sess) {
  size_t first = n_spans;
  cs_span *root = add(tid, 0, &r_frontend, route, CS_KIND_SERVER, t0, total_ms * MS);
  cs_attr ra[] = {sattr("http.method", route[0] == 'G' ? "GET" : "POST"), iattr("http.status_code", 200),
                  sattr("user.tier", "gold")};
  attrs(root, 3, ra);
  uint64_t r = sid_of(root);
  cs_span *cl = add(tid, r, &r_frontend, "HTTP call checkout", CS_KIND_CLIENT, t0 + 2 * MS, (total_ms - 4) * MS);
  cs_span *sv = add(tid, sid_of(cl), &r_checkout, route, CS_KIND_SERVER, t0 + 3 * MS, (total_ms - 6) * MS);
  uint64_t c = sid_of(sv);
  cs_span *db = add(tid, c, &r_checkout, "SELECT cart", CS_KIND_CLIENT, t0 + 4 * MS, 3 * MS);
  cs_attr da[] = {sattr("peer.service", "postgres"), sattr("db.statement", "SELECT * FROM cart WHERE id = $1")};
  attrs(db, 2, da);
  cs_span *ic = add(tid, c, &r_checkout, "HTTP call inventory", CS_KIND_CLIENT, t0 + 8 * MS, 6 * MS);
  cs_span *is = add(tid, sid_of(ic), &r_inventory, "GET /stock", CS_KIND_SERVER, t0 + 9 * MS, 4 * MS);
  event(is, "cache miss", t0 + 10 * MS, 0, NULL);
  uint64_t t = t0 + 15 * MS;
  if (coupon) {
    add(tid, c, &r_checkout, "apply coupon", CS_KIND_INTERNAL, t, 2 * MS);
    t += 2 * MS;
  }
  if (pay_ms) {
    if (retry) {
      cs_span *pc = add(tid, c, &r_checkout, "HTTP call payments", CS_KIND_CLIENT, t, 20 * MS);
      error(pc, "upstream 503");
      /* payments' host clock runs 3 ms behind: its server span starts
       * before the client call that caused it. */
      cs_span *ps = add(tid, sid_of(pc), &r_payments, "POST /charge", CS_KIND_SERVER, t - 2 * MS, 18 * MS);
      error(ps, "card processor unavailable");
      cs_attr ea[] = {sattr("exception.type", "ProcessorDown"), sattr("exception.message", "card processor unavailable")};
      event(ps, "exception", t + 5 * MS, 2, ea);
      t += 21 * MS;
    }
    cs_span *pc = add(tid, c, &r_checkout, "HTTP call payments", CS_KIND_CLIENT, t, pay_ms * MS);
    add(tid, sid_of(pc), &r_payments, "POST /charge", CS_KIND_SERVER, t + MS, (pay_ms - 2) * MS);
  }
  session(first, sess);
  return sv;
}

static char ids_json[8192];
static size_t ids_len;

static void note(const char *key, const uint8_t tid[16]) {
  char h[33];
  hex(tid, 16, h);
  int n = snprintf(ids_json + ids_len, sizeof ids_json - ids_len, "%s\"%s\":\"%s\"",
                   ids_len > 1 ? "," : "", key, h);
  if (n > 0 && (size_t)n < sizeof ids_json - ids_len) ids_len += (size_t)n;
}

static void build(void) {
  uint8_t tid[16];
  ids_json[0] = '{';
  ids_len = 1;
  /* Alice: four steps, the checkout slow with a failed payment retry. */
  static const char *const steps[] = {"GET /home", "POST /cart", "POST /checkout", "GET /orders"};
  cs_span *checkout_span = NULL;
  for (int i = 0; i < 4; i++) {
    mk_tid(tid, 0xa11ce0 + (uint64_t)i);
    int co = i == 2;
    cs_span *sv = user_step(tid, steps[i], base_ns + (uint64_t)(60 + 60 * i) * 1000 * MS,
                            co ? 180 : 40 + 10 * (uint64_t)i, co ? 90 : 0, co, 0, "sess-alice");
    if (co) {
      checkout_span = sv;
      note("aliceCheckout", tid);
    }
    if (i == 0) note("aliceHome", tid);
  }
  /* Bob: a fast checkout with a coupon and no retry, to compare with. */
  mk_tid(tid, 0xb0b0);
  user_step(tid, "GET /home", base_ns + 100ull * 1000 * MS, 35, 0, 0, 0, "sess-bob");
  mk_tid(tid, 0xb0b1);
  user_step(tid, "POST /checkout", base_ns + 130ull * 1000 * MS, 70, 30, 0, 1, "sess-bob");
  note("bobCheckout", tid);
  /* Background load for the scatter plot and the statistics. */
  for (int i = 0; i < 40; i++) {
    mk_tid(tid, 0xbac000 + (uint64_t)i);
    uint64_t dur = 30 + (uint64_t)((i * 37) % 120);
    user_step(tid, i % 3 ? "GET /home" : "GET /products", base_ns + (uint64_t)(20 + i * 13) * 1000 * MS,
              dur, i % 7 == 0 ? 20 : 0, i % 7 == 0 && i % 2 == 0, 0, "sess-background");
  }
  /* A mail job in its own trace, linked to Alice's checkout. */
  mk_tid(tid, 0x3a11);
  cs_span *m = add(tid, 0, &r_mail, "send receipt", CS_KIND_CONSUMER, base_ns + 241ull * 1000 * MS, 25 * MS);
  m->links = calloc(1, sizeof(cs_link));
  if (!m->links) exit(1);
  memcpy(m->links[0].trace_id, checkout_span->trace_id, 16);
  memcpy(m->links[0].span_id, checkout_span->span_id, 8);
  m->n_links = 1;
  add(tid, sid_of(m), &r_mail, "render template", CS_KIND_INTERNAL, base_ns + 241ull * 1000 * MS + 2 * MS, 5 * MS);
  note("mail", tid);
  /* A trace whose middle span never arrived; its session ID looks like a
   * trace ID (the top bar's box falls back to the session). */
  mk_tid(tid, 0x0a7a);
  size_t orphan_first = n_spans;
  cs_span *o = add(tid, 0, &r_frontend, "GET /lost", CS_KIND_SERVER, base_ns + 300ull * 1000 * MS, 50 * MS);
  add(tid, 0xdead0001, &r_checkout, "orphaned work", CS_KIND_INTERNAL, base_ns + 300ull * 1000 * MS + 10 * MS, 20 * MS);
  (void)o;
  session(orphan_first, "0123456789abcdef0123456789abcdef");
  note("orphan", tid);
  /* A trace whose root span never arrived: every span has a parent that is
   * missing. Its session ID "12345" is all hex digits. */
  mk_tid(tid, 0x0b0b);
  size_t rootless_first = n_spans;
  uint64_t rt = base_ns + 340ull * 1000 * MS;
  cs_span *lw = add(tid, 0xdead0002, &r_checkout, "late work", CS_KIND_SERVER, rt, 40 * MS);
  add(tid, sid_of(lw), &r_inventory, "GET /stock", CS_KIND_SERVER, rt + 5 * MS, 10 * MS);
  add(tid, 0xdead0003, &r_payments, "late cleanup", CS_KIND_INTERNAL, rt + 20 * MS, 30 * MS);
  session(rootless_first, "12345");
  note("rootless", tid);
  /* Hostile text everywhere a span carries text. */
  mk_tid(tid, 0x755);
  size_t first = n_spans;
  cs_span *x = add(tid, 0, &r_xss, "<script>window.__xss=1</script>", CS_KIND_SERVER,
                   base_ns + 320ull * 1000 * MS, 30 * MS);
  cs_attr xa[] = {sattr("<img src=x onerror=\"window.__xss=2\">", "<b>not bold</b><script>window.__xss=5</script>"),
                  sattr("xss.attr", "<img src=x onerror=\"window.__xss=6\">")};
  attrs(x, 2, xa);
  error(x, "<i>status</i><img src=x onerror=\"window.__xss=7\">");
  cs_attr xe[] = {sattr("note", "<svg onload=\"window.__xss=8\">")};
  event(x, "<img src=x onerror=\"window.__xss=9\">", base_ns + 320ull * 1000 * MS + 5 * MS, 1, xe);
  add(tid, sid_of(x), &r_xss, "child <u>op</u>", CS_KIND_INTERNAL, base_ns + 320ull * 1000 * MS + 2 * MS, 10 * MS);
  session(first, "sess-<xss>");
  note("xss", tid);
  /* 50,000 spans: a root, 50 batches of 999 items, each item with a
   * step under it. */
  mk_tid(tid, 0xb16);
  first = n_spans;
  uint64_t t0 = base_ns + 400ull * 1000 * MS;
  cs_span *root = add(tid, 0, &r_bulk, "POST /import", CS_KIND_SERVER, t0, 60000 * MS);
  uint64_t rid = sid_of(root);
  for (int b = 0; b < 50; b++) {
    uint64_t bt = t0 + (uint64_t)b * 1200 * MS;
    cs_span *bs = add(tid, rid, &r_bulk, "import batch", CS_KIND_INTERNAL, bt, 1190 * MS);
    uint64_t bid = sid_of(bs);
    for (int k = 0; k < 499; k++) {
      cs_span *it = add(tid, bid, &r_bulk, "import item", CS_KIND_INTERNAL, bt + (uint64_t)k * 2 * MS, 2 * MS);
      cs_attr ia[] = {iattr("item.index", b * 499 + k)};
      attrs(it, 1, ia);
      add(tid, sid_of(it), &r_bulk, "validate", CS_KIND_INTERNAL, bt + (uint64_t)k * 2 * MS + 100000, MS);
    }
  }
  /* Pad to exactly 50,000. */
  while (n_spans - first < 50000)
    add(tid, rid, &r_bulk, "finalize", CS_KIND_INTERNAL, t0 + 59990 * MS, 5 * MS);
  session(first, "sess-big");
  note("big", tid);
  snprintf(ids_json + ids_len, sizeof ids_json - ids_len, ",\"baseUs\":%llu}",
           (unsigned long long)(base_ns / 1000));
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_all(int fd, uint8_t *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Sends spans in frames of FRAME_SPANS, each acknowledged before the next. */
static int send_all(int fd) {
  size_t cap = CS_FRAME_MAX_DEFAULT;
  uint8_t *buf = malloc(cap);
  if (!buf) return -1;
  uint64_t seq = 1;
  for (size_t off = 0; off < n_spans; off += FRAME_SPANS, seq++) {
    size_t n = n_spans - off < FRAME_SPANS ? n_spans - off : FRAME_SPANS, len;
    if (cs_otlp_encode_traces_tail(spans + off, n, buf, cap, &len) ||
        len + CS_FRAME_HDR_LEN > cap) {
      fprintf(stderr, "ui_fill: frame too large\n");
      free(buf);
      return -1;
    }
    uint8_t *frame = buf + cap - len - CS_FRAME_HDR_LEN;
    cs_frame_write_header(frame, CS_FRAME_TRACES, 0, (uint32_t)len, seq);
    uint8_t ack[CS_FRAME_HDR_LEN + CS_ACK_LEN];
    cs_frame_hdr h;
    cs_ack a;
    if (write_all(fd, frame, len + CS_FRAME_HDR_LEN) || read_all(fd, ack, sizeof ack) ||
        cs_frame_parse_header(ack, sizeof ack, 64, &h) != CS_WIRE_OK || h.type != CS_FRAME_ACK ||
        h.seq != seq || cs_frame_parse_ack(ack + CS_FRAME_HDR_LEN, CS_ACK_LEN, &a) != CS_WIRE_OK) {
      fprintf(stderr, "ui_fill: no acknowledgement for frame %llu\n", (unsigned long long)seq);
      free(buf);
      return -1;
    }
    if (a.accepted != n) {
      fprintf(stderr, "ui_fill: frame %llu: %u of %zu spans accepted, %u rejected\n",
              (unsigned long long)seq, a.accepted, n, a.rejected);
      free(buf);
      return -1;
    }
  }
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: ui_fill TCP_PORT\n");
    return 2;
  }
  char *end;
  long port = strtol(argv[1], &end, 10);
  if (*end || port <= 0 || port > 65535) {
    fprintf(stderr, "ui_fill: bad port: %s\n", argv[1]);
    return 2;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  base_ns = ((uint64_t)ts.tv_sec - 600) * 1000000000ull;
  init_resources();
  build();
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa)) {
    fprintf(stderr, "ui_fill: cannot connect to 127.0.0.1:%ld\n", port);
    return 1;
  }
  int rc = send_all(fd);
  close(fd);
  if (rc) return 1;
  printf("%s\n", ids_json);
  return 0;
}
