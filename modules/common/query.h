/* Small helpers the built-in streaming modules share (compiled into each, like any module's
 * own sources): query-string parameters, UTF-8 validation and JSON string escaping. */
#ifndef TETHER_MODULES_COMMON_QUERY_H
#define TETHER_MODULES_COMMON_QUERY_H

#include <stddef.h>
#include <stdint.h>

/* Iterates the "name=value" pairs of a query string. Start with *position = 0; returns 1 with
 * name/value (still percent-encoded) set, 0 at the end. */
int query_next(const char *query, size_t length, size_t *position, const char **name, size_t *name_length,
               const char **value, size_t *value_length);
/* Percent-decodes in[0..length) (and '+' to space) into out[0..capacity): QUERY_OK with
 * *decoded_length set, QUERY_BAD_ESCAPE for a malformed %-escape, QUERY_TOO_LONG when the
 * result does not fit. Nothing is ever cut short, and the result is bytes (it may hold NUL):
 * use *decoded_length, never strlen. */
enum { QUERY_OK = 0, QUERY_BAD_ESCAPE = -1, QUERY_TOO_LONG = -2 };
int query_decode(const char *in, size_t length, char *out, size_t capacity, size_t *decoded_length);

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

/* Appends `data` JSON-escaped (without quotes) through append(). Invalid UTF-8 bytes become
 * U+FFFD so that the result is always valid UTF-8. */
typedef void (*json_append_fn)(void *out, const void *data, size_t length);
void json_escape(const char *data, size_t length, json_append_fn append, void *out);

#endif
