/* Query strings, for the built-in streaming modules (compiled into each, like any module's own
 * sources): the name=value pairs of a query and bounded percent-decoding of a value. */
#ifndef TETHER_MODULES_COMMON_QUERY_H
#define TETHER_MODULES_COMMON_QUERY_H

#include <stddef.h>

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

#endif
