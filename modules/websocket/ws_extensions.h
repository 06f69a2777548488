/* Sec-WebSocket-Extensions, server side: the client's offers (RFC 6455 section 9.1) read strictly,
 * and the permessage-deflate negotiation of RFC 7692 section 7.1. A pure function, like
 * ws_handshake.c, so that a fuzzer can call it.
 *
 * The first valid permessage-deflate offer is accepted. An offer with an unknown parameter, a
 * parameter twice or a value out of range is declined (the next one may still do); a header that
 * is not a valid extension list declines them all. The answer always carries
 * server_no_context_takeover: each message is compressed on its own, once, and the same frame
 * goes to every subscriber that negotiated the same window. */
#ifndef TETHER_WS_EXTENSIONS_H
#define TETHER_WS_EXTENSIONS_H

#include <stddef.h>
#include <stdint.h>

/* The longest answer: "permessage-deflate; server_no_context_takeover; client_no_context_takeover;
 * server_max_window_bits=15; client_max_window_bits=15" and a NUL. */
enum { WS_EXTENSIONS_RESPONSE_MAX = 128 };

typedef struct ws_deflate_agreement {
  uint8_t accepted;                   /* 1: permessage-deflate is on for this connection */
  uint8_t client_no_context_takeover; /* the client compresses each message on its own */
  uint8_t server_window_bits;         /* our compressor's LZ77 window, 8..15 (15 unless the client asked less) */
  uint8_t client_window_bits;         /* the client's window at most, 8..15 (15 unless it said less) */
  char response[WS_EXTENSIONS_RESPONSE_MAX]; /* the Sec-WebSocket-Extensions answer, "" if none */
} ws_deflate_agreement;

/* Reads the offers in header[0..length) (not NUL-terminated; NULL: no header) into *out. */
void ws_deflate_negotiate(const char *header, size_t length, ws_deflate_agreement *out);

#endif
