/* The common hex and base64 codec: round trips, both base64 alphabets,
 * padding, and above all the room checks: no input makes a decoder write
 * past the cap it was given. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hexb64.h"

static void hex_round_trips_and_checks_case(void) {
  const uint8_t in[4] = {0x00, 0x9a, 0xff, 0x10};
  char hex[8];
  cs_hex_encode(in, 4, hex);
  CHECK_STRN(hex, 8, "009aff10");
  uint8_t out[4];
  CHECK_EQ(cs_hex_decode(hex, 8, out, sizeof out, CS_HEX_LOWER_ONLY), 4);
  CHECK(memcmp(in, out, 4) == 0);
  CHECK_EQ(cs_hex_decode("009AFF10", 8, out, sizeof out, CS_HEX_ANY_CASE), 4);
  CHECK(memcmp(in, out, 4) == 0);
  CHECK_EQ(cs_hex_decode("009AFF10", 8, out, sizeof out, CS_HEX_LOWER_ONLY), -1);
  CHECK_EQ(cs_hex_decode("abc", 3, out, sizeof out, 0), -1);
  CHECK_EQ(cs_hex_decode("zz", 2, out, sizeof out, 0), -1);
}

static void hex_decode_never_writes_past_cap(void) {
  uint8_t out[6] = {0, 0, 0, 0, 0x55, 0x55};
  CHECK_EQ(cs_hex_decode("0102030405", 10, out, 4, 0), -1);
  CHECK_EQ(out[4], 0x55);
  CHECK_EQ(cs_hex_decode("01020304", 8, out, 4, 0), 4);
  CHECK_EQ(out[4], 0x55);
}

static void base64_matches_rfc4648_vectors(void) {
  static const char *const enc[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
  const char *plain = "foobar";
  for (size_t n = 0; n <= 6; n++) {
    char o[8];
    CHECK_EQ(cs_b64_encoded_len(n), strlen(enc[n]));
    cs_b64_encode((const uint8_t *)plain, n, o);
    CHECK_STRN(o, cs_b64_encoded_len(n), enc[n]);
    uint8_t d[6];
    CHECK_EQ(cs_b64_decoded_len(enc[n], strlen(enc[n])), n);
    CHECK_EQ(cs_b64_decode(enc[n], strlen(enc[n]), d, n), (ptrdiff_t)n);
    CHECK(n == 0 || memcmp(d, plain, n) == 0);
  }
}

static void base64_takes_both_alphabets_and_no_padding(void) {
  uint8_t d[3];
  CHECK_EQ(cs_b64_decode("-_-_", 4, d, 3), 3);
  uint8_t e[3];
  CHECK_EQ(cs_b64_decode("+/+/", 4, e, 3), 3);
  CHECK(memcmp(d, e, 3) == 0);
  CHECK_EQ(cs_b64_decode("Zm8", 3, d, 3), 2);
  CHECK_EQ(cs_b64_decoded_len("Zm8", 3), 2);
  CHECK_EQ(cs_b64_decode("Zm*v", 4, d, 3), -1);
}

/* The bug class of issue 9: 120 base64 characters decode to 90 bytes, more
 * than a buffer sized for hex (60) could hold. */
static void base64_decode_never_writes_past_cap(void) {
  char in[120];
  for (int i = 0; i < 120; i += 4) memcpy(in + i, "QUFB", 4);
  CHECK_EQ(cs_b64_decoded_len(in, sizeof in), 90);
  uint8_t *out = malloc(61);
  out[60] = 0x55;
  CHECK_EQ(cs_b64_decode(in, sizeof in, out, 60), -1);
  CHECK_EQ(out[60], 0x55);
  free(out);
  out = malloc(90);
  CHECK_EQ(cs_b64_decode(in, sizeof in, out, 90), 90);
  CHECK_EQ(out[89], 'A');
  free(out);
  CHECK_EQ(cs_b64_encoded_len(SIZE_MAX), 0);
}

int main(void) {
  RUN(hex_round_trips_and_checks_case);
  RUN(hex_decode_never_writes_past_cap);
  RUN(base64_matches_rfc4648_vectors);
  RUN(base64_takes_both_alphabets_and_no_padding);
  RUN(base64_decode_never_writes_past_cap);
  return CHECK_DONE();
}
