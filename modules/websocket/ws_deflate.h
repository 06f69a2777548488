/* permessage-deflate for what the server sends (RFC 7692 section 7.2.1): a message's payload
 * deflated on its own (no context taken over from earlier messages, as negotiated with
 * server_no_context_takeover), flushed, and the final 00 00 ff ff removed. One compressor per
 * level and window serves every feed that uses them: the feed encoders run one at a time. */
#ifndef TETHER_WS_DEFLATE_H
#define TETHER_WS_DEFLATE_H

#include <stddef.h>
#include <stdint.h>

typedef struct ws_deflater ws_deflater;

/* level 1..9; window_bits 8..15. zlib's raw deflate has no 256-byte window, so 8 is made with a
 * 512-byte one and matches of distance 1 only (Z_RLE), which a 256-byte window inflates.
 * NULL when out of memory. */
ws_deflater *ws_deflater_create(int level, int window_bits);
void ws_deflater_destroy(ws_deflater *deflater);

/* The compressed payload of a message of `length` bytes, in memory of the deflater's valid until
 * its next call; NULL when out of memory. */
const uint8_t *ws_deflate_message(ws_deflater *deflater, const void *data, size_t length, size_t *compressed_length);
/* Gives back the output memory if a big message grew it (call once the payload is copied). */
void ws_deflater_trim(ws_deflater *deflater);

#endif
