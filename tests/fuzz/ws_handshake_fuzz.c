/* libFuzzer harness: the websocket module's whole handshake path (modules/websocket/ws_handshake.c
 * with modules/common/subscription.c and query.c): method and version checks, Sec-WebSocket-Key,
 * Origin against allowed_origins, subprotocol negotiation, the channels of the path and
 * ?channel=, and ?since=. Input: byte 0 says which headers are present (bits 0-5), the HTTP
 * minor version (bit 6) and whether the module has settings (bit 7); byte 1 the route prefix's
 * length; then line-feed-separated fields: method, path, query, Upgrade, Connection,
 * Sec-WebSocket-Version, Sec-WebSocket-Key, Origin, Sec-WebSocket-Protocol, allowed_origins,
 * subprotocols, and Sec-WebSocket-Extensions (when the input has that field, the route offers
 * permessage-deflate). Every answer is checked for what websocket.c relies on. */
#include <string.h>

#include "modules/websocket/ws_handshake.h"
#include "tests/fuzz/fuzz_fields.h"

enum { F_METHOD, F_PATH, F_QUERY, F_UPGRADE, F_CONNECTION, F_VERSION, F_KEY, F_ORIGIN, F_PROTOCOLS, F_ALLOWED,
       F_SUBPROTOCOLS, F_EXTENSIONS, F_COUNT };

static const char *field(const fuzz_fields *f, int i, size_t *length) {
  *length = f->data[i] ? f->length[i] : 0;
  return f->data[i] ? f->data[i] : "";
}

/* A header the flags say is present: the field's bytes (possibly empty), else NULL. */
static const char *header(const fuzz_fields *f, unsigned flags, int bit, int i, size_t *length) {
  if (!(flags & (1u << bit))) {
    *length = 0;
    return NULL;
  }
  return field(f, i, length);
}

static void check_answer(const ws_handshake *h, const ws_upgrade_request *r, const ws_handshake_policy *policy) {
  size_t i;
  if (h->status != 101) {
    FUZZ_CHECK(h->status == 400 || h->status == 403 || h->status == 405 || h->status == 426);
    FUZZ_CHECK(h->problem != NULL && strlen(h->problem) > 0 && strlen(h->problem) < 200);
    return;
  }
  FUZZ_CHECK(h->problem == NULL);
  FUZZ_CHECK(r->key_length == 24 && strlen(h->accept) == 28);
  FUZZ_CHECK(strlen(h->protocol) <= WS_MAX_SUBPROTOCOL);
  if (h->protocol[0]) FUZZ_CHECK(policy->subprotocols && strstr(policy->subprotocols, h->protocol));
  FUZZ_CHECK(h->channels.count >= 1 && h->channels.count <= SUBSCRIPTION_MAX_CHANNELS);
  for (i = 0; i < h->channels.count; ++i) {
    FUZZ_CHECK(h->channels.name_lengths[i] >= 1 && h->channels.name_lengths[i] <= SUBSCRIPTION_MAX_NAME);
    FUZZ_CHECK(fuzz_channel_rule(h->channels.names[i], h->channels.name_lengths[i]) == NULL);
  }
  if (h->channels.has_since) FUZZ_CHECK(h->channels.since_length <= SUBSCRIPTION_MAX_ID);
  if (h->deflate.accepted) FUZZ_CHECK(policy->compression && r->extensions && strlen(h->deflate.response) > 0);
  else FUZZ_CHECK(h->deflate.response[0] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_fields f;
  ws_upgrade_request r;
  ws_handshake_policy policy;
  ws_handshake h;
  char *allowed, *subprotocols;
  unsigned flags;
  if (size < 2) return 0;
  flags = data[0];
  fuzz_fields_split(&f, data + 2, size - 2, F_COUNT);
  memset(&r, 0, sizeof r);
  r.method = field(&f, F_METHOD, &r.method_length);
  r.http_major = 1;
  r.http_minor = (flags & 0x40) ? 1 : 0;
  r.path = field(&f, F_PATH, &r.path_length);
  r.route_length = data[1];
  r.query = field(&f, F_QUERY, &r.query_length);
  r.upgrade = header(&f, flags, 0, F_UPGRADE, &r.upgrade_length);
  r.connection = header(&f, flags, 1, F_CONNECTION, &r.connection_length);
  r.version = header(&f, flags, 2, F_VERSION, &r.version_length);
  r.key = header(&f, flags, 3, F_KEY, &r.key_length);
  r.origin = header(&f, flags, 4, F_ORIGIN, &r.origin_length);
  r.protocols = header(&f, flags, 5, F_PROTOCOLS, &r.protocols_length);
  allowed = (flags & 0x80) ? fuzz_fields_string(&f, F_ALLOWED) : NULL;
  subprotocols = (flags & 0x80) ? fuzz_fields_string(&f, F_SUBPROTOCOLS) : NULL;
  policy.allowed_origins = allowed;
  policy.subprotocols = subprotocols;
  policy.check_channel = fuzz_channel_rule;
  r.extensions = f.data[F_EXTENSIONS] ? f.data[F_EXTENSIONS] : NULL;
  r.extensions_length = f.data[F_EXTENSIONS] ? f.length[F_EXTENSIONS] : 0;
  policy.compression = f.data[F_EXTENSIONS] != NULL;
  ws_handshake_read(&h, &r, &policy);
  check_answer(&h, &r, &policy);
  free(allowed);
  free(subprotocols);
  fuzz_fields_free(&f);
  return 0;
}
