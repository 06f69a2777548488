/* A growing text buffer, for what the modules build piece by piece (the health module's pages,
 * the websocket module's JSON frames). An allocation that fails marks it failed; every later
 * append is then a no-op, so a text is built without checks at each step and checked once at
 * the end. */
#ifndef TETHER_MODULES_COMMON_TEXT_H
#define TETHER_MODULES_COMMON_TEXT_H

#include <stddef.h>

typedef struct {
  char *data;
  size_t length, capacity;
  int failed;
} text;

void text_printf(text *t, const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void text_append(text *t, const void *data, size_t length);
/* `data` as a quoted JSON string: escaped by json.c (control bytes, quotes,
 * invalid UTF-8), and '<', '>' and '&' as \u003c, \u003e, \u0026, so that the text is also safe
 * inside an HTML <script> element. */
void text_json_string(text *t, const char *data, size_t length);
void text_free(text *t);

#endif
