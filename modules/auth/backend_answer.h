/*
 * What the backend answers, read from its bytes with llhttp, and what that means for the client:
 *
 *   2xx  ALLOW. A body with Content-Type application/json (or +json) is read strictly
 *        (jwt_json.h): one object, whose optional "user" is a string without control bytes
 *        and optional "channels" an array of strings (the patterns the connection may
 *        subscribe to, as a JWT's channels claim); other members are ignored. Any other body
 *        is ignored.
 *   401  DENY_401, 403 DENY_403: passed on to the client; the body is ignored.
 *   anything else FAILURE: another status (1xx, 3xx, 404, 5xx...), bytes that are not an HTTP/1.x
 *        response, headers over BACKEND_MAX_HEADERS bytes, a body over BACKEND_MAX_BODY, a JSON
 *        body that is malformed or has the wrong types, a connection closed before the end.
 * Feeding is incremental (the bytes come as the socket gives them) and stops at the end of the
 * first response; `keep_alive` then says whether the connection may carry another request (HTTP/1.1
 * without "Connection: close", a framed body, and no byte after the response).
 * No socket here: the fuzz harness feeds it arbitrary bytes.
 */
#ifndef TETHER_AUTH_BACKEND_ANSWER_H
#define TETHER_AUTH_BACKEND_ANSWER_H

#include <stddef.h>

#include <llhttp.h>

#include "backend_request.h"
#include "jwt_json.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  BACKEND_MAX_BODY = JWT_JSON_MAX_INPUT, /* 8 KiB: what the JSON reader takes */
  BACKEND_MAX_HEADERS = 16384,           /* bytes of the status line and headers */
  BACKEND_MAX_USER = 256,
};

typedef enum backend_result {
  BACKEND_ALLOW = 0,
  BACKEND_DENY_401 = 1,
  BACKEND_DENY_403 = 2,
  BACKEND_FAILURE = 3,
} backend_result;

/* The answer to one question, owning its strings. */
typedef struct backend_verdict {
  backend_result result;
  int status;               /* the backend's status code, 0 when there was none */
  const char *reason;       /* FAILURE: static, for the log ("timed out", "answered 500"...) */
  backend_string user;      /* ALLOW: absent unless the JSON body named one */
  int has_channels;         /* ALLOW: the body had a "channels" array (maybe empty) */
  size_t channel_count;
  backend_string *channels; /* into `storage` */
  char *storage;            /* owned: user and channels */
} backend_verdict;

/* A verdict without strings: FAILURE with `reason`, or a bare ALLOW/DENY. */
void backend_verdict_set(backend_verdict *v, backend_result result, int status, const char *reason);
/* A deep copy (for the allow-cache). 0, or -1 when out of memory (`to` is then a FAILURE). */
int backend_verdict_copy(const backend_verdict *from, backend_verdict *to);
/* Frees the strings; the verdict becomes a FAILURE without reason. */
void backend_verdict_free(backend_verdict *v);

typedef enum backend_feed {
  BACKEND_FEED_MORE = 0, /* the response is not complete yet */
  BACKEND_FEED_DONE = 1, /* complete: backend_answer_verdict() */
  BACKEND_FEED_BAD = 2,  /* not a response we take: `why` */
} backend_feed;

typedef struct backend_answer {
  llhttp_t parser;
  size_t received;     /* bytes fed so far (0: the connection may have been stale) */
  size_t header_bytes;
  int status;
  int done, keep_alive, json;
  int field_is_content_type;
  char field[16];
  size_t field_length; /* of the current header name, up to sizeof field + 1 */
  char content_type[128]; /* its first bytes: enough to tell JSON */
  size_t content_type_length;
  const char *why;     /* static, once BAD */
  size_t body_length;
  char body[BACKEND_MAX_BODY];
} backend_answer;

void backend_answer_init(backend_answer *a);
/* Feeds the next bytes. Once DONE or BAD, further calls return the same. */
backend_feed backend_answer_feed(backend_answer *a, const char *data, size_t length);
/* The backend closed the connection: DONE if that ends the response (a body up to the close),
 * else BAD. */
backend_feed backend_answer_eof(backend_answer *a);
/* The verdict of a DONE answer (a FAILURE if it is not DONE); the caller frees it. */
void backend_answer_verdict(const backend_answer *a, backend_verdict *out);

#ifdef __cplusplus
}
#endif

#endif
