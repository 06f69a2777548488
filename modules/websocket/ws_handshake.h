/* The opening handshake of RFC 6455 section 4.2, server side, as a pure function: from the
 * request's method, version, target and headers to the answer (101 with Sec-WebSocket-Accept
 * and the subprotocol and extension, or the status and reason of a refusal) and the channels to
 * subscribe.
 * No I/O and nothing kept, so that a fuzzer can call it as websocket.c does. */
#ifndef TETHER_WS_HANDSHAKE_H
#define TETHER_WS_HANDSHAKE_H

#include <stddef.h>

#include "../common/subscription.h"
#include "ws_extensions.h"

/* What the handshake looks at. Strings are not NUL-terminated; a header is NULL when absent. */
typedef struct ws_upgrade_request {
  const char *method;     size_t method_length;
  int http_major, http_minor;
  const char *path;       size_t path_length;
  size_t route_length;    /* the route's prefix: the path past it names a channel */
  const char *query;      size_t query_length;
  const char *upgrade;    size_t upgrade_length;
  const char *connection; size_t connection_length;
  const char *version;    size_t version_length;   /* Sec-WebSocket-Version */
  const char *key;        size_t key_length;       /* Sec-WebSocket-Key */
  const char *origin;     size_t origin_length;
  const char *protocols;  size_t protocols_length; /* Sec-WebSocket-Protocol */
  const char *extensions; size_t extensions_length; /* Sec-WebSocket-Extensions */
} ws_upgrade_request;

/* The module's settings that shape the answer. */
typedef struct ws_handshake_policy {
  const char *allowed_origins; /* comma-separated Origin values (NUL-terminated); NULL: any */
  const char *subprotocols;    /* comma-separated, in order of preference; NULL: none */
  channel_check_fn check_channel;
  int compression;             /* the route offers permessage-deflate */
} ws_handshake_policy;

enum { WS_MAX_SUBPROTOCOL = 127 };

typedef struct ws_handshake {
  int status;          /* 101: accept; else refuse with it (400, 403, 405, 426) */
  const char *problem; /* a refusal's reason (static) */
  char accept[29];     /* Sec-WebSocket-Accept (NUL-terminated) */
  char protocol[WS_MAX_SUBPROTOCOL + 1]; /* the subprotocol chosen (NUL-terminated), "" for none */
  subscription channels;
  ws_deflate_agreement deflate; /* permessage-deflate, when deflate.accepted */
} ws_handshake;

/* Decides the answer to `request` into *out. */
void ws_handshake_read(ws_handshake *out, const ws_upgrade_request *request, const ws_handshake_policy *policy);

#endif
