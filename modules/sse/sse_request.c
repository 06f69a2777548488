#include "sse_request.h"

#include <string.h>

static const subscription_id_source since_parameter = SUBSCRIPTION_ID_SOURCE("lastEventId");
static const subscription_id_source since_header = SUBSCRIPTION_ID_SOURCE("Last-Event-ID");

static void refuse(sse_answer *out, int status, const char *problem) {
  out->status = status;
  out->problem = problem;
}

void sse_request_read(sse_answer *out, const sse_request *r, channel_check_fn check_channel) {
  const char *problem;
  if (r->method_length != 3 || memcmp(r->method, "GET", 3) != 0) {
    refuse(out, 405, "event streams use GET");
    return;
  }
  problem = subscription_read(&out->channels, r->path, r->path_length, r->route_length, r->query, r->query_length,
                              &since_parameter, check_channel);
  /* The header wins over the query: it is what EventSource sends when it reconnects. */
  if (!problem && r->last_event_id)
    problem = subscription_set_since(&out->channels, r->last_event_id, r->last_event_id_length, &since_header);
  if (problem) {
    refuse(out, 400, problem);
    return;
  }
  out->status = 200;
  out->problem = NULL;
}
