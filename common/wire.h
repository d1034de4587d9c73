/* Native frame codec: the 20-byte header that wraps every payload sent
 * between libtrace and the collector, over UDP (one frame per datagram) and
 * TCP (a stream of frames). docs/wire.md is the byte-by-byte description.
 *
 * Trusted sizes: none from the peer. The header's payload length is checked
 * against the caller's max_payload before anyone buffers for it (TCP: 4 MiB
 * by default; UDP: what a datagram can hold) and, for a datagram, against
 * the bytes actually received (short or trailing bytes are errors); an ACK
 * payload must be exactly CS_ACK_LEN bytes. */
#ifndef CS_WIRE_H
#define CS_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define CS_FRAME_MAGIC 0x43534652u /* "CSFR" */
#define CS_FRAME_VERSION 1
#define CS_FRAME_HDR_LEN 20
#define CS_FRAME_MAX_DEFAULT (4u << 20)    /* TCP payload cap, 4 MiB */
#define CS_FRAME_MAX_UDP (65507u - CS_FRAME_HDR_LEN)

/* Default ports, stable: libtrace and the docs rely on them. */
#define CS_PORT_NATIVE 4320   /* native frames, TCP and UDP */
#define CS_PORT_QUERY 16686   /* query HTTP API + UI (Jaeger's port) */
#define CS_PORT_OTLP_HTTP 4318
#define CS_PORT_ZIPKIN 9411
#define CS_PORT_STATSD 8125

enum cs_frame_type {
  CS_FRAME_TRACES = 1,  /* payload: ExportTraceServiceRequest */
  CS_FRAME_METRICS = 2, /* payload: ExportMetricsServiceRequest */
  CS_FRAME_ACK = 3,     /* payload: cs_ack (8 bytes), seq = acked frame */
};

/* Known flag bits; a frame with any other bit set is rejected. */
#define CS_FRAME_FLAGS_KNOWN 0u

#define CS_WIRE_ERRNO_MAP(X)                                       \
  X(NEED_MORE, 1, "incomplete frame")                              \
  X(EMAGIC, -1, "bad frame magic")                                 \
  X(EVERSION, -2, "unsupported frame version")                     \
  X(ETYPE, -3, "unknown frame type")                               \
  X(EFLAGS, -4, "unknown frame flags")                             \
  X(ETOOBIG, -5, "frame payload larger than the limit")            \
  X(ETRUNC, -6, "datagram shorter than its frame length")          \
  X(ETRAILING, -7, "datagram longer than its frame length")        \
  X(EACK, -8, "malformed acknowledgement")

enum cs_wire_err {
  CS_WIRE_OK = 0,
#define CS_WIRE_ENUM(name, val, msg) CS_WIRE_##name = val,
  CS_WIRE_ERRNO_MAP(CS_WIRE_ENUM)
#undef CS_WIRE_ENUM
};

typedef struct cs_frame_hdr {
  uint8_t version;
  uint8_t type;
  uint16_t flags;
  uint32_t len; /* payload bytes following the header */
  uint64_t seq; /* sender's sequence number, echoed in the ACK */
} cs_frame_hdr;

/* Acknowledgement payload: how many spans (or data points) of the frame
 * were stored and how many were rejected by validation. */
typedef struct cs_ack {
  uint32_t accepted;
  uint32_t rejected;
} cs_ack;
#define CS_ACK_LEN 8

/* Parses a header from buf. Returns CS_WIRE_OK, CS_WIRE_NEED_MORE when fewer
 * than CS_FRAME_HDR_LEN bytes are available, or a negative error.
 * max_payload caps hdr->len. Thread-safety: pure function. */
int cs_frame_parse_header(const uint8_t *buf, size_t len, uint32_t max_payload,
                          cs_frame_hdr *out);

/* Parses one whole datagram: the header plus exactly hdr->len bytes.
 * *payload points into buf. Thread-safety: pure function. */
int cs_frame_parse_datagram(const uint8_t *buf, size_t len, uint32_t max_payload,
                            cs_frame_hdr *out, const uint8_t **payload);

/* Writes a header into out. Thread-safety: pure function. */
void cs_frame_write_header(uint8_t out[CS_FRAME_HDR_LEN], uint8_t type,
                           uint16_t flags, uint32_t len, uint64_t seq);

/* Writes a complete ACK frame (header + payload) into out; returns its size. */
size_t cs_frame_write_ack(uint8_t out[CS_FRAME_HDR_LEN + CS_ACK_LEN], uint64_t seq,
                          const cs_ack *ack);
/* Decodes an ACK payload. Returns CS_WIRE_OK or CS_WIRE_EACK. */
int cs_frame_parse_ack(const uint8_t *payload, size_t len, cs_ack *out);

const char *cs_wire_strerror(int err);

#endif
