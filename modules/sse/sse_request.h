/* What an event-stream request asks for, as a pure function: the method check, the channels
 * (path and ?channel=) and where to resume (the Last-Event-ID header, else ?lastEventId=). No
 * I/O and nothing kept, so that a fuzzer can call it as sse.c does. */
#ifndef TETHER_SSE_REQUEST_H
#define TETHER_SSE_REQUEST_H

#include <stddef.h>

#include "../common/subscription.h"

/* Strings are not NUL-terminated; last_event_id is NULL when the header is absent. */
typedef struct sse_request {
  const char *method;        size_t method_length;
  const char *path;          size_t path_length;
  size_t route_length;       /* the route's prefix: the path past it names a channel */
  const char *query;         size_t query_length;
  const char *last_event_id; size_t last_event_id_length;
} sse_request;

typedef struct sse_answer {
  int status;          /* 200: stream; else refuse with it (400, 405) */
  const char *problem; /* a refusal's reason (static) */
  subscription channels;
} sse_answer;

void sse_request_read(sse_answer *out, const sse_request *request, channel_check_fn check_channel);

#endif
