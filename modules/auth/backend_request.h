/*
 * What backend authorization sends: one GET per client connect, the way nginx's auth_request
 * asks, so that any web framework can answer it with a plain route and no body to parse:
 *
 *   GET /auth HTTP/1.1                       the backend URL's path
 *   Host: 127.0.0.1:9000
 *   X-Original-Method: GET                   the client's request line
 *   X-Original-URI: /ws/news?since=x
 *   X-Tether-Channels: news,user:42:inbox    what it asks to subscribe to (channel names hold no ',')
 *   Authorization: Bearer ...                the client's, only when it sent one
 *   Cookie: session=...                      likewise
 *   Accept: application/json
 *
 * GET rather than POST: the question carries nothing a header cannot, a GET has no body to frame
 * (so a connection is reusable right after the answer), and a backend may cache or log it as any
 * other GET. Every value is checked before a byte is written: a CR, LF or other control byte but
 * the tab refuses the question (no header can be smuggled in), and so do the bounds below.
 */
#ifndef TETHER_AUTH_BACKEND_REQUEST_H
#define TETHER_AUTH_BACKEND_REQUEST_H

#include <stddef.h>

#include "backend_url.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  BACKEND_MAX_METHOD = 32,
  BACKEND_MAX_VALUE = 8192,    /* bytes of the URI, of Authorization, of Cookie */
  BACKEND_MAX_CHANNELS = 64,
  BACKEND_MAX_CHANNEL = 128,   /* bytes of one channel name, as the broker's */
};

typedef struct backend_string {
  const char *data; /* not NUL-terminated; NULL (with length 0) = absent */
  size_t length;
} backend_string;

/* What is asked about one client connect. */
typedef struct backend_question {
  backend_string method;        /* "GET" */
  backend_string uri;           /* the request target: path and query, as the client sent it */
  backend_string authorization; /* the client's header, or absent */
  backend_string cookie;        /* likewise */
  const backend_string *channels;
  size_t channel_count;
} backend_question;

/* Builds the request for `q` to `url` into a malloc'd buffer (*out, *out_length; the caller
 * frees it). NULL on success, else a static reason and nothing allocated. */
const char *backend_request_build(const backend_url *url, const backend_question *q, char **out, size_t *out_length);

#ifdef __cplusplus
}
#endif

#endif
