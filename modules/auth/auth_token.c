#include "auth_token.h"

#include <string.h>
#include <strings.h>

#include "../common/query.h"

static int bearer_of(const char *value, size_t length, const char **token, size_t *token_length) {
  static const char scheme[] = "Bearer ";
  size_t n = sizeof scheme - 1;
  if (length < n || strncasecmp(value, scheme, n) != 0) return 0;
  value += n;
  length -= n;
  while (length && (*value == ' ' || *value == '\t')) ++value, --length;
  while (length && (value[length - 1] == ' ' || value[length - 1] == '\t')) --length;
  *token = value;
  *token_length = length;
  return 1;
}

int auth_token_of(const tether_host *host, tether_request *request, const char *query, size_t query_length,
                  char buffer[JWT_MAX_TOKEN], const char **token, size_t *length, const char **why) {
  size_t header_length = 0;
  const char *header = host->request_header(request, "Authorization", &header_length);
  return auth_token_find(header, header_length, query, query_length, buffer, token, length, why);
}

int auth_token_find(const char *header, size_t header_length, const char *query, size_t query_length,
                    char buffer[JWT_MAX_TOKEN], const char **token, size_t *length, const char **why) {
  size_t position = 0, name_length, value_length;
  const char *name, *value, *last = NULL;
  size_t last_length = 0;
  if (header && bearer_of(header, header_length, token, length)) {
    if (*length == 0 || *length > JWT_MAX_TOKEN) {
      *why = *length ? "the token is too long" : "the bearer token is empty";
      return AUTH_TOKEN_MALFORMED;
    }
    return AUTH_TOKEN_FOUND;
  }
  while (query_next(query, query_length, &position, &name, &name_length, &value, &value_length))
    if (name_length == 5 && memcmp(name, "token", 5) == 0) {
      last = value;
      last_length = value_length;
    }
  if (!last) return AUTH_TOKEN_NONE;
  switch (query_decode(last, last_length, buffer, JWT_MAX_TOKEN, length)) {
    case QUERY_OK: break;
    case QUERY_TOO_LONG: *why = "the token is too long"; return AUTH_TOKEN_MALFORMED;
    default: *why = "bad %-escape in token"; return AUTH_TOKEN_MALFORMED;
  }
  if (*length == 0) {
    *why = "the token parameter is empty";
    return AUTH_TOKEN_MALFORMED;
  }
  *token = buffer;
  return AUTH_TOKEN_FOUND;
}
