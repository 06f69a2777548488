/* JSON string escaping, for the built-in modules that put message data into JSON text. */
#ifndef TETHER_MODULES_COMMON_JSON_H
#define TETHER_MODULES_COMMON_JSON_H

#include <stddef.h>

/* Appends `data` JSON-escaped (without quotes) through append(). Invalid UTF-8 bytes become
 * U+FFFD so that the result is always valid UTF-8. */
typedef void (*json_append_fn)(void *out, const void *data, size_t length);
void json_escape(const char *data, size_t length, json_append_fn append, void *out);

#endif
