/* permessage-deflate for what clients send (RFC 7692 section 7.2.2): a compressed message's
 * payload inflated with a bound on what comes out, so that a small frame that would inflate to
 * gigabytes costs at most `limit` bytes of output (into the caller's scratch, never allocated)
 * before it is refused. Text is checked for UTF-8 as it comes out.
 *
 * An inflater lives as long as the client's compression context: for one message when the
 * client compresses each message on its own (client_no_context_takeover), else for the
 * connection. About 7 KiB of zlib state, plus its window (2^window_bits bytes) once data came. */
#ifndef TETHER_WS_INFLATE_H
#define TETHER_WS_INFLATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws_inflater ws_inflater;

typedef enum ws_inflate_result {
  WS_INFLATE_OK = 0,
  WS_INFLATE_STOPPED,  /* the sink said stop */
  WS_INFLATE_TOO_BIG,  /* more than `limit` bytes would come out: close 1009 */
  WS_INFLATE_BAD_DATA, /* not DEFLATE data: close 1007 */
  WS_INFLATE_BAD_UTF8, /* a text message that is not UTF-8: close 1007 */
  WS_INFLATE_NO_MEMORY,
} ws_inflate_result;

/* Takes a piece of the inflated message; returns 1 to go on, 0 to stop. */
typedef int (*ws_inflate_sink)(void *user, const char *data, size_t length);

/* window_bits 8..15 as negotiated. 8 is inflated with 9: zlib-based clients that agreed to 8
 * compress with 512 bytes, and a larger window reads a smaller one's data. NULL: no memory. */
ws_inflater *ws_inflater_create(int window_bits);
void ws_inflater_destroy(ws_inflater *inflater);

/* A message starts: `text` says whether its output must be UTF-8; at most `limit` bytes of it. */
void ws_inflate_begin(ws_inflater *inflater, int text, uint64_t limit);
/* Inflates the next piece of the message's payload, handing what comes out to sink in pieces of
 * at most scratch_size bytes (in scratch). */
ws_inflate_result ws_inflate(ws_inflater *inflater, const void *data, size_t length, char *scratch, size_t scratch_size,
                             ws_inflate_sink sink, void *user);
/* The message's payload is complete: inflates the 00 00 ff ff the sender removed, and checks that
 * a text message does not end inside a UTF-8 sequence. */
ws_inflate_result ws_inflate_end(ws_inflater *inflater, char *scratch, size_t scratch_size, ws_inflate_sink sink, void *user);

#endif
