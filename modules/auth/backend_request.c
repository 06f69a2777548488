/* The backend's request (backend_request.h): every value checked, then one exact-size buffer. */
#include "backend_request.h"

#include <stdlib.h>
#include <string.h>

/* A header value: no control byte but the tab (so no CR or LF), no DEL. */
static int value_ok(backend_string s, size_t max) {
  size_t i;
  if (s.length > max || (!s.data && s.length)) return 0;
  for (i = 0; i < s.length; ++i) {
    unsigned char c = (unsigned char)s.data[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f) return 0;
  }
  return 1;
}

/* An HTTP token (RFC 9110 tchar). */
static int token_ok(backend_string s, size_t max) {
  static const char extra[] = "!#$%&'*+-.^_`|~";
  size_t i;
  if (s.length == 0 || s.length > max || !s.data) return 0;
  for (i = 0; i < s.length; ++i) {
    char c = s.data[i];
    int alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && (c == '\0' || !strchr(extra, c))) return 0;
  }
  return 1;
}

/* A channel in the comma-separated list: a value without ',' or space. */
static int channel_ok(backend_string s) {
  size_t i;
  if (s.length == 0 || !value_ok(s, BACKEND_MAX_CHANNEL)) return 0;
  for (i = 0; i < s.length; ++i)
    if (s.data[i] == ',' || s.data[i] == ' ' || s.data[i] == '\t') return 0;
  return 1;
}

static const char *check(const backend_question *q, size_t *channels_length) {
  size_t i;
  if (!token_ok(q->method, BACKEND_MAX_METHOD)) return "the request's method is not a token";
  if (q->uri.length == 0 || !value_ok(q->uri, BACKEND_MAX_VALUE)) return "the request's URI is empty, too long or holds a control byte";
  if (!value_ok(q->authorization, BACKEND_MAX_VALUE)) return "the Authorization header is too long or holds a control byte";
  if (!value_ok(q->cookie, BACKEND_MAX_VALUE)) return "the Cookie header is too long or holds a control byte";
  if (q->channel_count > BACKEND_MAX_CHANNELS || (q->channel_count && !q->channels)) return "too many channels";
  *channels_length = 0;
  for (i = 0; i < q->channel_count; ++i) {
    if (!channel_ok(q->channels[i])) return "a channel name is empty, too long or holds a ',', a space or a control byte";
    *channels_length += q->channels[i].length + 1;
  }
  return NULL;
}

typedef struct writer {
  char *at;
} writer;

static void put(writer *w, const char *data, size_t length) {
  if (length) memcpy(w->at, data, length);
  w->at += length;
}
#define PUT_LITERAL(w, text) put((w), (text), sizeof(text) - 1)

static void put_header(writer *w, const char *name, size_t name_length, backend_string value) {
  put(w, name, name_length);
  put(w, value.data, value.length);
  PUT_LITERAL(w, "\r\n");
}
#define PUT_HEADER(w, name, value) put_header((w), (name), sizeof(name) - 1, (value))

const char *backend_request_build(const backend_url *url, const backend_question *q, char **out, size_t *out_length) {
  static const char fixed[] = "GET  HTTP/1.1\r\nHost: \r\nX-Original-Method: \r\nX-Original-URI: \r\n"
                              "X-Tether-Channels: \r\nAuthorization: \r\nCookie: \r\nAccept: application/json\r\n\r\n";
  size_t channels_length, length, i;
  const char *problem;
  writer w;
  *out = NULL;
  *out_length = 0;
  if ((problem = check(q, &channels_length))) return problem;
  /* Every part is bounded above, so this sum cannot overflow. */
  length = sizeof fixed - 1 + strlen(url->path) + strlen(url->host) + q->method.length + q->uri.length +
           channels_length + q->authorization.length + q->cookie.length;
  if (!(*out = malloc(length))) return "out of memory";
  w.at = *out;
  PUT_LITERAL(&w, "GET ");
  put(&w, url->path, strlen(url->path));
  PUT_LITERAL(&w, " HTTP/1.1\r\nHost: ");
  put(&w, url->host, strlen(url->host));
  PUT_LITERAL(&w, "\r\n");
  PUT_HEADER(&w, "X-Original-Method: ", q->method);
  PUT_HEADER(&w, "X-Original-URI: ", q->uri);
  if (q->channel_count) {
    PUT_LITERAL(&w, "X-Tether-Channels: ");
    for (i = 0; i < q->channel_count; ++i) {
      if (i) PUT_LITERAL(&w, ",");
      put(&w, q->channels[i].data, q->channels[i].length);
    }
    PUT_LITERAL(&w, "\r\n");
  }
  if (q->authorization.data) PUT_HEADER(&w, "Authorization: ", q->authorization);
  if (q->cookie.data) PUT_HEADER(&w, "Cookie: ", q->cookie);
  PUT_LITERAL(&w, "Accept: application/json\r\n\r\n");
  *out_length = (size_t)(w.at - *out);
  return NULL;
}
