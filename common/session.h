/* Session ID normalisation: services spell the key session.id, sessionId,
 * sessionid, session_id, SessionID, session-id... All of them index under
 * the one canonical key CS_SESSION_KEY. */
#ifndef CS_SESSION_H
#define CS_SESSION_H

#include "span.h"

#define CS_SESSION_KEY "session.id"

/* True when key names a session ID: compared case-insensitively with the
 * separators '.', '_' and '-' removed, it is "sessionid". */
int cs_is_session_key(const char *key, size_t len);

/* Sets span->session_id from the first string attribute with a session key,
 * looking at span attributes first, then resource attributes. */
void cs_span_find_session(cs_span *span);

#endif
