/* What a streaming request (WebSocket upgrade, event stream) asks to subscribe to: the channels
 * it names — {route}{channel} in the path, then every ?channel= — and the message id to resume
 * after. Shared by the websocket and sse modules so that both read a request the same way.
 *
 * Names and the id are bytes with a length, never C strings: "news%00junk" decodes to 9 bytes,
 * which the channel check (the host's channel_problem, the rule the publish API uses) refuses,
 * instead of a NUL that would cut it to "news". Everything is bounded before it is copied. */
#ifndef TETHER_MODULES_COMMON_SUBSCRIPTION_H
#define TETHER_MODULES_COMMON_SUBSCRIPTION_H

#include <stddef.h>
#include <stdint.h>

enum {
  SUBSCRIPTION_MAX_CHANNELS = 16, /* per connection */
  SUBSCRIPTION_MAX_NAME = 128,    /* bytes, as the broker's channel names */
  SUBSCRIPTION_MAX_ID = 64,       /* bytes of a resume id (ours are "<8 hex>-<number>", at most 29) */
};

typedef struct subscription {
  size_t count;
  uint8_t name_lengths[SUBSCRIPTION_MAX_CHANNELS];
  char names[SUBSCRIPTION_MAX_CHANNELS][SUBSCRIPTION_MAX_NAME]; /* not NUL-terminated */
  int has_since;
  size_t since_length;
  char since[SUBSCRIPTION_MAX_ID]; /* not NUL-terminated */
} subscription;

/* Where a resume id comes from (a query parameter or a header), and the messages that name it:
 * SUBSCRIPTION_ID_SOURCE("since"). */
typedef struct subscription_id_source {
  const char *name;
  const char *too_long;
  const char *bad_escape;
} subscription_id_source;
#define SUBSCRIPTION_ID_SOURCE(name) {name, name " is not a message id (at most 64 bytes)", "bad %-escape in " name}

/* NULL if name[0..length) is a valid channel name, else a static message saying why not. */
typedef const char *(*channel_check_fn)(const char *name, size_t length);

/* Reads the channels of a request into *s: the path past the route's prefix (route_length bytes;
 * a route without a prefix names no channel there), then every `channel` query parameter, and
 * the last `since` parameter as the id to resume after (since NULL: no id is read). Parameters with other names are not
 * looked at (they may be long or malformed). Returns NULL, or a static message for a 400. */
const char *subscription_read(subscription *s, const char *path, size_t path_length, size_t route_length,
                              const char *query, size_t query_length, const subscription_id_source *since,
                              channel_check_fn check);

/* Sets the id to resume after from a header (used as is: headers are not percent-encoded).
 * Returns NULL, or a static message for a 400. */
const char *subscription_set_since(subscription *s, const char *id, size_t length, const subscription_id_source *header);

#endif
