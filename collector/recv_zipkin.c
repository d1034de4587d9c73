/* Zipkin v2: POST /api/v2/spans (placeholder until the decoder lands). */
#include "recv_http.h"

void __cs_zipkin_handle(cs_collector *c, const cs_rh_req *rq, cs_rh_resp *rs) {
  (void)c, (void)rq;
  __cs_rh_text(rs, 501, "%s", "zipkin receiver not implemented yet");
}
