/* libFuzzer harness: the sse module's request path (modules/sse/sse_request.c with
 * modules/common/subscription.c and query.c): the method, the channels of the path and
 * ?channel=, ?lastEventId= and the Last-Event-ID header. Input: byte 0 bit 0 says whether the
 * header is present, byte 1 is the route prefix's length; then line-feed-separated fields:
 * method, path, query, Last-Event-ID. Every answer is checked for what sse.c relies on. */
#include <string.h>

#include "modules/sse/sse_request.h"
#include "tests/fuzz/fuzz_fields.h"

enum { F_METHOD, F_PATH, F_QUERY, F_LAST_EVENT_ID, F_COUNT };

static const char *field(const fuzz_fields *f, int i, size_t *length) {
  *length = f->data[i] ? f->length[i] : 0;
  return f->data[i] ? f->data[i] : "";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_fields f;
  sse_request r;
  sse_answer a;
  size_t i;
  if (size < 2) return 0;
  fuzz_fields_split(&f, data + 2, size - 2, F_COUNT);
  memset(&r, 0, sizeof r);
  r.method = field(&f, F_METHOD, &r.method_length);
  r.path = field(&f, F_PATH, &r.path_length);
  r.route_length = data[1];
  r.query = field(&f, F_QUERY, &r.query_length);
  if (data[0] & 1) r.last_event_id = field(&f, F_LAST_EVENT_ID, &r.last_event_id_length);
  sse_request_read(&a, &r, fuzz_channel_rule);
  if (a.status != 200) {
    FUZZ_CHECK(a.status == 400 || a.status == 405);
    FUZZ_CHECK(a.problem != NULL && strlen(a.problem) > 0 && strlen(a.problem) < 200);
  } else {
    FUZZ_CHECK(a.problem == NULL);
    FUZZ_CHECK(a.channels.count >= 1 && a.channels.count <= SUBSCRIPTION_MAX_CHANNELS);
    for (i = 0; i < a.channels.count; ++i)
      FUZZ_CHECK(fuzz_channel_rule(a.channels.names[i], a.channels.name_lengths[i]) == NULL);
    if (a.channels.has_since) FUZZ_CHECK(a.channels.since_length <= SUBSCRIPTION_MAX_ID);
    /* The header, when present, is what resumes, byte for byte. */
    if (r.last_event_id)
      FUZZ_CHECK(a.channels.has_since && a.channels.since_length == r.last_event_id_length &&
                 memcmp(a.channels.since, r.last_event_id, r.last_event_id_length) == 0);
  }
  fuzz_fields_free(&f);
  return 0;
}
