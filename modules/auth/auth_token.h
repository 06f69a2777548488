/* Where a client's token comes from: "Authorization: Bearer <token>" (RFC 6750 §2.1), else the
 * last "token" query parameter (§2.3: browsers cannot set headers on a WebSocket or an
 * EventSource). The header wins when both are there. */
#ifndef TETHER_AUTH_TOKEN_H
#define TETHER_AUTH_TOKEN_H

#include <stddef.h>

#include <tether/module.h>

#include "jwt.h"

enum { AUTH_TOKEN_FOUND = 1, AUTH_TOKEN_NONE = 0, AUTH_TOKEN_MALFORMED = -1 };

/* The token of `request` into *token (*length bytes): a view into the request's header, or into
 * buffer[0..JWT_MAX_TOKEN] for a percent-decoded query parameter. AUTH_TOKEN_MALFORMED (with
 * *why) for an empty or over-long token, or a bad %-escape; an Authorization header of another
 * scheme (Basic ...) counts as no token there. */
int auth_token_of(const tether_host *host, tether_request *request, const char *query, size_t query_length,
                  char buffer[JWT_MAX_TOKEN], const char **token, size_t *length, const char **why);
/* The same from the Authorization header's value (NULL: none) and the query: what
 * auth_token_of does once it has the header, without the host (for tests and fuzzing). */
int auth_token_find(const char *authorization, size_t authorization_length, const char *query, size_t query_length,
                    char buffer[JWT_MAX_TOKEN], const char **token, size_t *length, const char **why);

#endif
