/* Index lookups never return a trace that does not carry the term: traces
 * whose IDs share bytes (64-bit IDs padded with 8 zero bytes, as Zipkin, B3
 * and old Jaeger clients send them; crafted 128-bit IDs sharing their first
 * or last 8 bytes) and that start in the same nanosecond must stay apart in
 * the service, operation, attribute and session indexes. */
#include "check.h"
#include "fixtures.h"
#include "store.h"

#define SEC 1000000000ULL
static const uint64_t T0 = 1700000000ULL * SEC;

typedef struct hits {
  uint8_t ids[16][16];
  int n;
} hits;

static int collect(void *ud, const uint8_t id[16], uint64_t start) {
  (void)start;
  hits *h = ud;
  for (int i = 0; i < h->n; i++)
    if (memcmp(h->ids[i], id, 16) == 0)
      return 0; /* callers deduplicate */
  if (h->n < 16)
    memcpy(h->ids[h->n++], id, 16);
  return 0;
}

/* Checks that the query reports exactly the trace `want`. */
static void expect_only(cs_store *st, cs_index_query q, const uint8_t want[16], const char *what) {
  hits h;
  memset(&h, 0, sizeof(h));
  CHECK_EQ(cs_store_scan_index(st, &q, collect, &h), 0);
  CHECK_EQ(h.n, 1);
  if (h.n != 1 || memcmp(h.ids[0], want, 16) != 0) {
    fprintf(stderr, "  %s: %d traces, wanted only the one given\n", what, h.n);
    cs_check_failures += h.n == 1; /* a wrong single trace fails too */
  }
}

static cs_resource res_pay = {{"payments64", 10}, NULL, 0};
static cs_resource res_cat = {{"catalog64", 9}, NULL, 0};

/* Writes two single-span traces a and b starting in the same nanosecond,
 * a in service payments64 of session alice, b in catalog64 of bob, in one
 * batch or in two, then checks every index. */
static void two_traces_same_start(const uint8_t a[16], const uint8_t b[16], int one_batch) {
  char dir[64];
  CHECK(fx_tmpdir(dir, sizeof(dir)) != NULL);
  static const char *keys[] = {"tenant"};
  cs_store_opts o = {.dir = dir, .index_keys = keys, .n_index_keys = 1};
  cs_store *st = NULL;
  char err[256] = "";
  CHECK_EQ(cs_store_open(&o, &st, err, sizeof(err)), 0);
  if (!st)
    return;
  static cs_attr ta[] = {{{"tenant", 6}, CS_VAL_STR, {.s = {"t-a", 3}}}};
  static cs_attr tb[] = {{{"tenant", 6}, CS_VAL_STR, {.s = {"t-b", 3}}}};
  cs_span sp[2];
  sp[0] = fx_span(1, 1, 0, "charge", &res_pay, T0 + 777, 1000);
  sp[1] = fx_span(2, 2, 0, "browse", &res_cat, T0 + 777, 2000);
  memcpy(sp[0].trace_id, a, 16);
  memcpy(sp[1].trace_id, b, 16);
  sp[0].session_id = CS_STR_LIT("alice");
  sp[1].session_id = CS_STR_LIT("bob");
  sp[0].attrs = ta;
  sp[0].n_attrs = 1;
  sp[1].attrs = tb;
  sp[1].n_attrs = 1;
  if (one_batch) {
    CHECK_EQ(cs_store_write(st, sp, 2), 0);
  } else {
    CHECK_EQ(cs_store_write(st, &sp[0], 1), 0);
    CHECK_EQ(cs_store_write(st, &sp[1], 1), 0);
  }
  for (int pass = 0; pass < 2; pass++) { /* memtable, then compacted */
    expect_only(st, (cs_index_query){.kind = CS_IDX_SESSION, .session = CS_STR_LIT("alice")}, a,
                "session alice");
    expect_only(st, (cs_index_query){.kind = CS_IDX_SESSION, .session = CS_STR_LIT("bob")}, b,
                "session bob");
    expect_only(st,
                (cs_index_query){.kind = CS_IDX_ATTR,
                                 .key = CS_STR_LIT("session.id"),
                                 .value = CS_STR_LIT("alice")},
                a, "attr session.id=alice");
    expect_only(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("payments64")},
                a, "service payments64");
    expect_only(st, (cs_index_query){.kind = CS_IDX_SERVICE, .service = CS_STR_LIT("catalog64")}, b,
                "service catalog64");
    expect_only(st,
                (cs_index_query){.kind = CS_IDX_OPERATION,
                                 .service = CS_STR_LIT("catalog64"),
                                 .operation = CS_STR_LIT("browse")},
                b, "operation catalog64/browse");
    expect_only(st,
                (cs_index_query){
                    .kind = CS_IDX_ATTR, .key = CS_STR_LIT("tenant"), .value = CS_STR_LIT("t-a")},
                a, "attr tenant=t-a");
    CHECK_EQ(cs_store_compact(st), 0);
  }
  cs_store_close(st);
  fx_rmrf(dir);
}

static void index_keeps_apart_64bit_ids_with_same_start(void) {
  uint8_t a[16] = {0}, b[16] = {0};
  const uint8_t la[8] = {0x5e, 0x11, 0xa2, 0x03, 0x9c, 0x44, 0x17, 0x01};
  const uint8_t lb[8] = {0x13, 0x7f, 0x80, 0x21, 0x00, 0xfe, 0x6b, 0x02};
  memcpy(a + 8, la, 8);
  memcpy(b + 8, lb, 8);
  two_traces_same_start(a, b, 1);
  two_traces_same_start(a, b, 0);
}

static void index_keeps_apart_128bit_ids_sharing_a_half(void) {
  uint8_t a[16], b[16];
  for (int i = 0; i < 16; i++)
    a[i] = b[i] = (uint8_t)(0x31 * i + 7);
  b[15] ^= 0x5a; /* same first 8 bytes */
  two_traces_same_start(a, b, 1);
  two_traces_same_start(a, b, 0);
  memcpy(b, a, 16);
  b[0] ^= 0x5a; /* same last 8 bytes */
  two_traces_same_start(a, b, 1);
  two_traces_same_start(a, b, 0);
}

int main(void) {
  RUN(index_keeps_apart_64bit_ids_with_same_start);
  RUN(index_keeps_apart_128bit_ids_sharing_a_half);
  return CHECK_DONE();
}
