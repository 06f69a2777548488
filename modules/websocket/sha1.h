/* SHA-1 (FIPS 180-4), only for the WebSocket handshake's Sec-WebSocket-Accept, where RFC 6455
 * requires it; not for anything that needs a secure hash. */
#ifndef TETHER_WS_SHA1_H
#define TETHER_WS_SHA1_H

#include <stddef.h>
#include <stdint.h>

void ws_sha1(const void *data, size_t length, uint8_t digest[20]);

#endif
