/* How published messages look on a WebSocket: the feeds of the json and raw formats, and their
 * permessage-deflate twins. A deflate feed compresses each message once (server_no_context_takeover)
 * and the same frame goes to every subscriber on it; one deflate feed per format, zlib level,
 * minimum size and window, shared by every route with the same settings.
 * tether_websocket_compressed_messages_total counts the compressions. */
#ifndef TETHER_WS_FEEDS_H
#define TETHER_WS_FEEDS_H

#include <stdint.h>
#include <tether/module.h>

enum { WS_FORMAT_JSON, WS_FORMAT_RAW };
/* zlib's levels, and the windows a client may ask for (RFC 7692 section 7.1.2). */
enum { WS_LEVELS = 9, WS_MIN_WINDOW = 8, WS_WINDOWS = 15 - WS_MIN_WINDOW + 1 };

/* Makes the plain feeds and registers the metric; TETHER_ERROR if the host could not. */
int ws_feeds_init(const tether_host *host, tether_worker *worker);
/* Frees every feed's state (the host frees the feeds themselves with the worker). */
void ws_feeds_exit(void);

tether_feed *ws_plain_feed(int format);
/* The deflate feed of these settings (made at the first call); NULL without memory. */
tether_feed *ws_deflate_feed(int format, int level, uint64_t min_size, int window_bits);

#endif
