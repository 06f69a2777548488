/* UTF-8 validation, for the built-in modules (WebSocket text frames and close reasons, JSON). */
#ifndef TETHER_MODULES_COMMON_UTF8_H
#define TETHER_MODULES_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF).
 * Start with state 0; utf8_feed returns UTF8_REJECT as soon as the input cannot be UTF-8, and
 * the text is complete and valid when the state is UTF8_ACCEPT after the last byte. */
enum { UTF8_ACCEPT = 0, UTF8_REJECT = 1 };
typedef struct utf8_state {
  uint8_t state;    /* UTF8_ACCEPT, UTF8_REJECT, or in a sequence */
  uint8_t needed;   /* continuation bytes still expected */
  uint8_t lower, upper; /* range allowed for the next continuation byte */
} utf8_state;
int utf8_feed(utf8_state *s, const uint8_t *data, size_t length);
int utf8_valid(const void *data, size_t length);

#endif
