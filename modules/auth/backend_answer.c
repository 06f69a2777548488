/* The backend's answer (backend_answer.h): llhttp in response mode, everything bounded as it
 * arrives, then the verdict read from the status and the JSON body. */
#include "backend_answer.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static backend_answer *answer_of(llhttp_t *parser) { return (backend_answer *)parser->data; }

/* Fails the parse with a reason of ours; llhttp then returns an error from execute. */
static int refuse(backend_answer *a, const char *why) {
  if (!a->why) a->why = why;
  return -1;
}

static int count_header_bytes(backend_answer *a, size_t length) {
  a->header_bytes += length;
  return a->header_bytes > BACKEND_MAX_HEADERS ? refuse(a, "the backend's headers are too long") : 0;
}

static int on_status(llhttp_t *p, const char *at, size_t length) {
  (void)at;
  return count_header_bytes(answer_of(p), length);
}

/* Header names are kept only as far as "content-type" needs: a longer one is not it. */
static int on_header_field(llhttp_t *p, const char *at, size_t length) {
  backend_answer *a = answer_of(p);
  if (count_header_bytes(a, length)) return -1;
  if (a->field_length + length <= sizeof a->field) memcpy(a->field + a->field_length, at, length);
  a->field_length = a->field_length + length <= sizeof a->field ? a->field_length + length : sizeof a->field + 1;
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  backend_answer *a = answer_of(p);
  a->field_is_content_type = a->field_length == 12 && strncasecmp(a->field, "content-type", 12) == 0;
  if (a->field_is_content_type) a->content_type_length = 0;
  a->field_length = 0;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t length) {
  backend_answer *a = answer_of(p);
  if (count_header_bytes(a, length)) return -1;
  if (a->field_is_content_type) {
    size_t room = sizeof a->content_type - a->content_type_length;
    size_t n = length < room ? length : room;
    memcpy(a->content_type + a->content_type_length, at, n);
    a->content_type_length += n;
  }
  return 0;
}

/* application/json or any type/…+json, parameters (";charset=utf-8") aside. */
static int is_json(const char *type, size_t length) {
  const char *semicolon = memchr(type, ';', length);
  if (semicolon) length = (size_t)(semicolon - type);
  while (length && (type[length - 1] == ' ' || type[length - 1] == '\t')) --length;
  if (length == 16 && strncasecmp(type, "application/json", 16) == 0) return 1;
  return length > 5 && strncasecmp(type + length - 5, "+json", 5) == 0;
}

static int on_headers_complete(llhttp_t *p) {
  backend_answer *a = answer_of(p);
  a->status = p->status_code;
  /* A 1xx is never asked for (no Expect, no Upgrade), so it is not an answer. */
  if (a->status < 200 || a->status > 599) return refuse(a, "the backend answered with a status outside 200..599");
  a->json = is_json(a->content_type, a->content_type_length);
  return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t length) {
  backend_answer *a = answer_of(p);
  if (length > sizeof a->body - a->body_length) return refuse(a, "the backend's body is larger than 8 KiB");
  memcpy(a->body + a->body_length, at, length);
  a->body_length += length;
  return 0;
}

/* Stops at the end of the first response: bytes after it are not ours to read. */
static int on_message_complete(llhttp_t *p) {
  backend_answer *a = answer_of(p);
  a->done = 1;
  a->keep_alive = llhttp_should_keep_alive(p);
  return HPE_PAUSED;
}

static const llhttp_settings_t *settings(void) {
  static llhttp_settings_t s;
  static int ready;
  if (!ready) {
    llhttp_settings_init(&s);
    s.on_status = on_status;
    s.on_header_field = on_header_field;
    s.on_header_field_complete = on_header_field_complete;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    ready = 1;
  }
  return &s;
}

void backend_answer_init(backend_answer *a) {
  memset(a, 0, offsetof(backend_answer, body));
  llhttp_init(&a->parser, HTTP_RESPONSE, settings());
  a->parser.data = a;
}

static backend_feed state(const backend_answer *a) {
  if (a->done) return BACKEND_FEED_DONE;
  return a->why ? BACKEND_FEED_BAD : BACKEND_FEED_MORE;
}

backend_feed backend_answer_feed(backend_answer *a, const char *data, size_t length) {
  llhttp_errno_t err;
  if (a->done || a->why || length == 0) return state(a);
  a->received += length;
  err = llhttp_execute(&a->parser, data, length);
  if (err == HPE_OK) return BACKEND_FEED_MORE;
  if (err == HPE_PAUSED && a->done) {
    if (llhttp_get_error_pos(&a->parser) != data + length) a->keep_alive = 0; /* bytes after the answer */
    return BACKEND_FEED_DONE;
  }
  a->done = 0;
  if (!a->why) a->why = "the backend's answer is not a valid HTTP/1.x response";
  return BACKEND_FEED_BAD;
}

backend_feed backend_answer_eof(backend_answer *a) {
  if (a->done || a->why) return state(a);
  if (a->received == 0) {
    a->why = "the backend closed the connection without answering";
    return BACKEND_FEED_BAD;
  }
  /* A body without length ends with the connection: llhttp_finish completes it. */
  llhttp_finish(&a->parser);
  if (a->done) {
    a->keep_alive = 0;
    return BACKEND_FEED_DONE;
  }
  if (!a->why) a->why = "the backend closed the connection in the middle of its answer";
  return BACKEND_FEED_BAD;
}

/* ---- verdicts */

void backend_verdict_set(backend_verdict *v, backend_result result, int status, const char *reason) {
  memset(v, 0, sizeof *v);
  v->result = result;
  v->status = status;
  v->reason = reason;
}

void backend_verdict_free(backend_verdict *v) {
  free(v->storage);
  backend_verdict_set(v, BACKEND_FAILURE, 0, NULL);
}

/* Gives `v` its own copy of user and channels, in one allocation: the array, then the bytes. */
static int verdict_own(backend_verdict *v, backend_string user, int has_channels, const backend_string *channels,
                       size_t count) {
  size_t bytes = count * sizeof(backend_string) + user.length, i;
  char *at;
  for (i = 0; i < count; ++i) bytes += channels[i].length;
  v->storage = malloc(bytes ? bytes : 1);
  if (!v->storage) return -1;
  v->channels = (backend_string *)v->storage;
  at = v->storage + count * sizeof(backend_string);
  for (i = 0; i < count; ++i) {
    memcpy(at, channels[i].data, channels[i].length);
    v->channels[i].data = at;
    v->channels[i].length = channels[i].length;
    at += channels[i].length;
  }
  v->channel_count = count;
  v->has_channels = has_channels;
  v->user.data = user.data ? at : NULL;
  v->user.length = user.length;
  if (user.length) memcpy(at, user.data, user.length);
  return 0;
}

int backend_verdict_copy(const backend_verdict *from, backend_verdict *to) {
  backend_verdict_set(to, from->result, from->status, from->reason);
  if (verdict_own(to, from->user, from->has_channels, from->channels, from->channel_count) != 0) {
    backend_verdict_set(to, BACKEND_FAILURE, from->status, "out of memory");
    return -1;
  }
  return 0;
}

static int has_control_byte(const char *s, size_t length) {
  size_t i;
  for (i = 0; i < length; ++i)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 1;
  return 0;
}

/* The JSON body of a 2xx into `v` (already an ALLOW); a FAILURE if it is not what we take. */
static void read_json_body(const backend_answer *a, backend_verdict *v) {
  backend_string user = {NULL, 0}, channels[JWT_JSON_MAX_STRINGS];
  const jwt_json_member *m;
  const char *why = NULL;
  size_t i, count = 0;
  int has_channels = 0;
  jwt_json_object *o = malloc(sizeof *o);
  if (!o) {
    backend_verdict_set(v, BACKEND_FAILURE, a->status, "out of memory");
    return;
  }
  if (jwt_json_parse(a->body, a->body_length, o, &why) != 0) {
    free(o);
    backend_verdict_set(v, BACKEND_FAILURE, a->status, "the backend's JSON body is malformed");
    return;
  }
  if ((m = jwt_json_find(o, "user"))) {
    if (m->kind != JWT_JSON_STRING || m->string.length > BACKEND_MAX_USER ||
        has_control_byte(m->string.data, m->string.length))
      why = "the backend's \"user\" is not a string of at most 256 bytes without control bytes";
    user.data = m->string.data;
    user.length = m->string.length;
  }
  if ((m = jwt_json_find(o, "channels"))) {
    has_channels = 1;
    if (m->kind != JWT_JSON_STRINGS) why = "the backend's \"channels\" is not an array of strings";
    for (i = 0; !why && i < m->item_count; ++i) {
      if (m->items[i].length == 0 || m->items[i].length > BACKEND_MAX_CHANNEL + 1 ||
          has_control_byte(m->items[i].data, m->items[i].length))
        why = "one of the backend's \"channels\" is empty, too long or holds a control byte";
      channels[count].data = m->items[i].data;
      channels[count++].length = m->items[i].length;
    }
  }
  if (why)
    backend_verdict_set(v, BACKEND_FAILURE, a->status, why);
  else if (verdict_own(v, user, has_channels, channels, count) != 0)
    backend_verdict_set(v, BACKEND_FAILURE, a->status, "out of memory");
  jwt_json_free(o);
  free(o);
}

void backend_answer_verdict(const backend_answer *a, backend_verdict *out) {
  if (!a->done) {
    backend_verdict_set(out, BACKEND_FAILURE, a->status, a->why ? a->why : "the backend's answer is incomplete");
  } else if (a->status == 401) {
    backend_verdict_set(out, BACKEND_DENY_401, 401, NULL);
  } else if (a->status == 403) {
    backend_verdict_set(out, BACKEND_DENY_403, 403, NULL);
  } else if (a->status < 200 || a->status > 299) {
    backend_verdict_set(out, BACKEND_FAILURE, a->status, "the backend answered neither 2xx, 401 nor 403");
  } else {
    backend_verdict_set(out, BACKEND_ALLOW, a->status, NULL);
    if (a->json) read_json_body(a, out);
  }
}
