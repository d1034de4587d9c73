/* The capped buffer: writes past max are refused whole and stick; caller
 * storage is never reallocated; a zeroed buffer is capped too. */
#include "buf.h"
#include "check.h"

static void refuses_past_max_and_sticks(void) {
  cs_buf b;
  cs_buf_init(&b, 10);
  cs_buf_put(&b, "0123456789", 10);
  CHECK_EQ(b.err, CS_BUF_OK);
  CHECK_EQ(b.n, 10);
  cs_buf_u8(&b, 'x');
  CHECK_EQ(b.err, CS_BUF_ETOOBIG);
  CHECK_EQ(b.n, 10);
  CHECK(cs_buf_cstr(&b) == NULL);
  cs_buf_free(&b);
  cs_buf_init(&b, 10);
  cs_buf_put(&b, "01234", 5);
  cs_buf_put(&b, "0123456789", 10); /* refused as a whole, not cut */
  CHECK_EQ(b.n, 5);
  CHECK_EQ(b.err, CS_BUF_ETOOBIG);
  cs_buf_put(&b, "a", 1); /* sticky */
  CHECK_EQ(b.n, 5);
  cs_buf_free(&b);
}

static void caller_storage_is_never_reallocated(void) {
  uint8_t arr[4];
  cs_buf b = {.p = arr, .cap = sizeof arr, .max = sizeof arr};
  cs_buf_be64(&b, 1);
  CHECK_EQ(b.err, CS_BUF_ETOOBIG);
  CHECK(b.p == arr);
  CHECK_EQ(b.n, 0);
  cs_buf_put(&b, "abcd", 4);
  CHECK(b.p == arr);
  CHECK_EQ(b.n, 0); /* err stuck from the first write */
}

static void zeroed_buffer_has_the_default_cap(void) {
  cs_buf b = {0};
  cs_buf_reserve(&b, CS_BUF_MAX_DEFAULT + 1);
  CHECK_EQ(b.err, CS_BUF_ETOOBIG);
  CHECK(b.p == NULL);
  cs_buf_free(&b);
  cs_buf_reserve(&b, SIZE_MAX);
  CHECK_EQ(b.err, CS_BUF_ETOOBIG);
  cs_buf_free(&b);
}

static void encodes_varints_and_big_endian(void) {
  cs_buf b = {0};
  cs_buf_varint(&b, 300);
  cs_buf_be64(&b, 0x0102030405060708ull);
  CHECK_EQ(b.n, 10);
  CHECK_EQ(b.p[0], 0xac);
  CHECK_EQ(b.p[1], 0x02);
  CHECK_EQ(b.p[2], 0x01);
  CHECK_EQ(b.p[9], 0x08);
  for (int i = 0; i < 1000; i++) cs_buf_put(&b, "abc", 3);
  CHECK_EQ(b.n, 3010);
  CHECK(cs_buf_cstr(&b) != NULL);
  CHECK_EQ(b.p[3010], 0);
  CHECK_EQ(b.n, 3010);
  cs_buf_free(&b);
}

int main(void) {
  RUN(refuses_past_max_and_sticks);
  RUN(caller_storage_is_never_reallocated);
  RUN(zeroed_buffer_has_the_default_cap);
  RUN(encodes_varints_and_big_endian);
  return CHECK_DONE();
}
