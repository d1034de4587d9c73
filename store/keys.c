/* Encoding and decoding of every key layout (keys.h). The encoder and the
 * decoder sit side by side so a layout change touches one file. */
#include "keys.h"

int cs__key_newest_first(uint8_t type) {
  return type == CS__K_ALL || type == CS__K_SERVICE || type == CS__K_OP || type == CS__K_ATTR;
}

int cs__key_is_posting(uint8_t type) {
  return type == CS__K_SERVICE || type == CS__K_OP || type == CS__K_ATTR || type == CS__K_SESSION;
}

uint8_t cs__key_version(uint8_t type) {
  return cs__key_is_posting(type) ? CS__POSTING_KEY_VERSION : CS__KEY_VERSION;
}

static int newest_first(uint8_t type) { return cs__key_newest_first(type); }

void cs__key_encode_prefix(cs_buf *b, const cs__key *k) {
  cs_buf_u8(b, k->type);
  cs_buf_u8(b, cs__key_version(k->type));
  switch (k->type) {
  case CS__K_CHUNK:
  case CS__K_SUMMARY:
    cs_buf_put(b, k->trace_id, 16);
    break;
  case CS__K_SERVICE:
  case CS__K_SESSION:
  case CS__K_SVCNAME:
    cs__buf_str(b, k->a);
    break;
  case CS__K_OP:
  case CS__K_ATTR:
  case CS__K_OPNAME:
    cs__buf_str(b, k->a);
    cs__buf_str(b, k->b);
    break;
  default:
    break;
  }
}

void cs__key_encode(cs_buf *b, const cs__key *k) {
  cs__key_encode_prefix(b, k);
  switch (k->type) {
  case CS__K_CHUNK:
    cs_buf_be64(b, k->chunk_id);
    break;
  case CS__K_SUMMARY:
  case CS__K_SVCNAME:
    break;
  case CS__K_OPNAME:
    cs_buf_u8(b, k->kind);
    break;
  case CS__K_DURATION:
    cs_buf_be64(b, k->duration_ns);
    cs_buf_be64(b, k->start_ns);
    cs_buf_put(b, k->trace_id, 16);
    break;
  case CS__K_ALL:
    cs_buf_be64(b, ~k->start_ns);
    cs_buf_put(b, k->trace_id, 16);
    break;
  default: /* posting keys */
    cs_buf_be64(b, newest_first(k->type) ? ~k->slot : k->slot);
    break;
  }
}

int cs__key_decode(const void *p, size_t n, cs__key *k) {
  cs__rd r = cs__rd_make(p, n);
  memset(k, 0, sizeof(*k));
  k->type = cs__rd_u8(&r);
  if (cs__rd_u8(&r) != cs__key_version(k->type)) return -1;
  const uint8_t *id;
  switch (k->type) {
  case CS__K_CHUNK:
  case CS__K_SUMMARY:
    if (!(id = cs__rd_bytes(&r, 16))) return -1;
    memcpy(k->trace_id, id, 16);
    if (k->type == CS__K_CHUNK) k->chunk_id = cs__rd_be64(&r);
    break;
  case CS__K_SVCNAME:
    k->a = cs__rd_str(&r);
    break;
  case CS__K_OPNAME:
    k->a = cs__rd_str(&r);
    k->b = cs__rd_str(&r);
    k->kind = cs__rd_u8(&r);
    break;
  case CS__K_DURATION:
    k->duration_ns = cs__rd_be64(&r);
    k->start_ns = cs__rd_be64(&r);
    if (!(id = cs__rd_bytes(&r, 16))) return -1;
    memcpy(k->trace_id, id, 16);
    break;
  case CS__K_ALL:
    k->start_ns = ~cs__rd_be64(&r);
    if (!(id = cs__rd_bytes(&r, 16))) return -1;
    memcpy(k->trace_id, id, 16);
    break;
  case CS__K_SERVICE:
  case CS__K_OP:
  case CS__K_ATTR:
  case CS__K_SESSION:
    k->a = cs__rd_str(&r);
    if (k->type == CS__K_OP || k->type == CS__K_ATTR) k->b = cs__rd_str(&r);
    k->slot = cs__rd_be64(&r);
    if (newest_first(k->type)) k->slot = ~k->slot;
    break;
  default:
    return -1;
  }
  if (r.err || r.p != r.end) return -1;
  return 0;
}
