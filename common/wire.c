/* Native frame header encode/decode. Everything is big-endian; a decoder
 * never trusts a length until it has checked it against the caller's cap. */
#include "wire.h"

static uint32_t get_u32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_u64(const uint8_t *p) {
  return (uint64_t)get_u32(p) << 32 | get_u32(p + 4);
}

static void put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void put_u64(uint8_t *p, uint64_t v) {
  put_u32(p, (uint32_t)(v >> 32));
  put_u32(p + 4, (uint32_t)v);
}

int cs_frame_parse_header(const uint8_t *buf, size_t len, uint32_t max_payload,
                          cs_frame_hdr *out) {
  /* Check the magic on whatever prefix we have, so garbage is rejected
   * without waiting for a full header. */
  static const uint8_t magic[4] = {0x43, 0x53, 0x46, 0x52};
  for (size_t i = 0; i < len && i < 4; i++)
    if (buf[i] != magic[i]) return CS_WIRE_EMAGIC;
  if (len < CS_FRAME_HDR_LEN) return CS_WIRE_NEED_MORE;
  out->version = buf[4];
  out->type = buf[5];
  out->flags = (uint16_t)(buf[6] << 8 | buf[7]);
  out->len = get_u32(buf + 8);
  out->seq = get_u64(buf + 12);
  if (out->version != CS_FRAME_VERSION) return CS_WIRE_EVERSION;
  if (out->type < CS_FRAME_TRACES || out->type > CS_FRAME_ACK) return CS_WIRE_ETYPE;
  if (out->flags & ~CS_FRAME_FLAGS_KNOWN) return CS_WIRE_EFLAGS;
  if (out->len > max_payload) return CS_WIRE_ETOOBIG;
  return CS_WIRE_OK;
}

int cs_frame_parse_datagram(const uint8_t *buf, size_t len, uint32_t max_payload,
                            cs_frame_hdr *out, const uint8_t **payload) {
  int rc = cs_frame_parse_header(buf, len, max_payload, out);
  if (rc == CS_WIRE_NEED_MORE) return CS_WIRE_ETRUNC;
  if (rc != CS_WIRE_OK) return rc;
  size_t want = (size_t)CS_FRAME_HDR_LEN + out->len;
  if (len < want) return CS_WIRE_ETRUNC;
  if (len > want) return CS_WIRE_ETRAILING;
  *payload = buf + CS_FRAME_HDR_LEN;
  return CS_WIRE_OK;
}

void cs_frame_write_header(uint8_t out[CS_FRAME_HDR_LEN], uint8_t type,
                           uint16_t flags, uint32_t len, uint64_t seq) {
  put_u32(out, CS_FRAME_MAGIC);
  out[4] = CS_FRAME_VERSION;
  out[5] = type;
  out[6] = (uint8_t)(flags >> 8);
  out[7] = (uint8_t)flags;
  put_u32(out + 8, len);
  put_u64(out + 12, seq);
}

size_t cs_frame_write_ack(uint8_t out[CS_FRAME_HDR_LEN + CS_ACK_LEN], uint64_t seq,
                          const cs_ack *ack) {
  cs_frame_write_header(out, CS_FRAME_ACK, 0, CS_ACK_LEN, seq);
  put_u32(out + CS_FRAME_HDR_LEN, ack->accepted);
  put_u32(out + CS_FRAME_HDR_LEN + 4, ack->rejected);
  return CS_FRAME_HDR_LEN + CS_ACK_LEN;
}

int cs_frame_parse_ack(const uint8_t *payload, size_t len, cs_ack *out) {
  if (len != CS_ACK_LEN) return CS_WIRE_EACK;
  out->accepted = get_u32(payload);
  out->rejected = get_u32(payload + 4);
  return CS_WIRE_OK;
}

const char *cs_wire_strerror(int err) {
  switch (err) {
  case CS_WIRE_OK: return "ok";
#define CS_WIRE_STR(name, val, msg) case CS_WIRE_##name: return msg;
  CS_WIRE_ERRNO_MAP(CS_WIRE_STR)
#undef CS_WIRE_STR
  }
  return "unknown wire error";
}
