/* Frame codec: round trips and every rejection path. */
#include "check.h"
#include "wire.h"

static void wire_round_trips_header(void) {
  uint8_t buf[CS_FRAME_HDR_LEN];
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 1234, 0x0102030405060708ull);
  cs_frame_hdr h;
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, CS_FRAME_MAX_DEFAULT, &h), CS_WIRE_OK);
  CHECK_EQ(h.version, CS_FRAME_VERSION);
  CHECK_EQ(h.type, CS_FRAME_TRACES);
  CHECK_EQ(h.len, 1234);
  CHECK(h.seq == 0x0102030405060708ull);
  /* Byte layout is big-endian and fixed (docs/wire.md). */
  CHECK_EQ(buf[0], 'C');
  CHECK_EQ(buf[3], 'R');
  CHECK_EQ(buf[11], 0xd2);
  CHECK_EQ(buf[19], 0x08);
}

static void wire_needs_more_for_partial_header(void) {
  uint8_t buf[CS_FRAME_HDR_LEN];
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 10, 1);
  cs_frame_hdr h;
  for (size_t n = 0; n < CS_FRAME_HDR_LEN; n++)
    CHECK_EQ(cs_frame_parse_header(buf, n, CS_FRAME_MAX_DEFAULT, &h), CS_WIRE_NEED_MORE);
}

static void wire_rejects_bad_magic_early(void) {
  uint8_t buf[2] = {'C', 'X'};
  cs_frame_hdr h;
  CHECK_EQ(cs_frame_parse_header(buf, 2, CS_FRAME_MAX_DEFAULT, &h), CS_WIRE_EMAGIC);
}

static void wire_rejects_version_type_flags_and_size(void) {
  uint8_t buf[CS_FRAME_HDR_LEN];
  cs_frame_hdr h;
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 10, 1);
  buf[4] = 2;
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, 100, &h), CS_WIRE_EVERSION);
  cs_frame_write_header(buf, 9, 0, 10, 1);
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, 100, &h), CS_WIRE_ETYPE);
  cs_frame_write_header(buf, 0, 0, 10, 1);
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, 100, &h), CS_WIRE_ETYPE);
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0x8000, 10, 1);
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, 100, &h), CS_WIRE_EFLAGS);
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 101, 1);
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, 100, &h), CS_WIRE_ETOOBIG);
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 0xffffffffu, 1);
  CHECK_EQ(cs_frame_parse_header(buf, sizeof buf, CS_FRAME_MAX_DEFAULT, &h), CS_WIRE_ETOOBIG);
}

static void wire_datagram_length_must_match(void) {
  uint8_t buf[CS_FRAME_HDR_LEN + 5] = {0};
  cs_frame_hdr h;
  const uint8_t *payload = NULL;
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 5, 7);
  CHECK_EQ(cs_frame_parse_datagram(buf, sizeof buf, CS_FRAME_MAX_UDP, &h, &payload), CS_WIRE_OK);
  CHECK(payload == buf + CS_FRAME_HDR_LEN);
  CHECK_EQ(cs_frame_parse_datagram(buf, sizeof buf - 1, CS_FRAME_MAX_UDP, &h, &payload), CS_WIRE_ETRUNC);
  cs_frame_write_header(buf, CS_FRAME_TRACES, 0, 4, 7);
  CHECK_EQ(cs_frame_parse_datagram(buf, sizeof buf, CS_FRAME_MAX_UDP, &h, &payload), CS_WIRE_ETRAILING);
  CHECK_EQ(cs_frame_parse_datagram(buf, 3, CS_FRAME_MAX_UDP, &h, &payload), CS_WIRE_ETRUNC);
}

static void wire_round_trips_ack(void) {
  uint8_t buf[CS_FRAME_HDR_LEN + CS_ACK_LEN];
  cs_ack a = {.accepted = 70000, .rejected = 3}, b;
  CHECK_EQ(cs_frame_write_ack(buf, 99, &a), sizeof buf);
  cs_frame_hdr h;
  const uint8_t *p;
  CHECK_EQ(cs_frame_parse_datagram(buf, sizeof buf, 64, &h, &p), CS_WIRE_OK);
  CHECK_EQ(h.type, CS_FRAME_ACK);
  CHECK_EQ(h.seq, 99);
  CHECK_EQ(cs_frame_parse_ack(p, h.len, &b), CS_WIRE_OK);
  CHECK_EQ(b.accepted, 70000);
  CHECK_EQ(b.rejected, 3);
  CHECK_EQ(cs_frame_parse_ack(p, 7, &b), CS_WIRE_EACK);
}

static void wire_strerror_names_every_error(void) {
  CHECK_STR(cs_wire_strerror(CS_WIRE_ETOOBIG), "frame payload larger than the limit");
  CHECK_STR(cs_wire_strerror(12345), "unknown wire error");
}

int main(void) {
  RUN(wire_round_trips_header);
  RUN(wire_needs_more_for_partial_header);
  RUN(wire_rejects_bad_magic_early);
  RUN(wire_rejects_version_type_flags_and_size);
  RUN(wire_datagram_length_must_match);
  RUN(wire_round_trips_ack);
  RUN(wire_strerror_names_every_error);
  return CHECK_DONE();
}
