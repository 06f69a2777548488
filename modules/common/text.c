#include "text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int reserve(text *t, size_t more) {
  size_t capacity;
  char *grown;
  if (t->failed) return 0;
  if (t->capacity - t->length > more) return 1;
  capacity = t->capacity ? t->capacity : 4096;
  while (capacity - t->length <= more) {
    if (capacity > ((size_t)-1) / 2) {
      t->failed = 1;
      return 0;
    }
    capacity *= 2;
  }
  grown = realloc(t->data, capacity);
  if (!grown) {
    t->failed = 1;
    return 0;
  }
  t->data = grown;
  t->capacity = capacity;
  return 1;
}

void text_printf(text *t, const char *format, ...) {
  va_list args;
  int n;
  va_start(args, format);
  n = vsnprintf(NULL, 0, format, args);
  va_end(args);
  if (n < 0) {
    t->failed = 1;
    return;
  }
  if (!reserve(t, (size_t)n)) return;
  va_start(args, format);
  vsnprintf(t->data + t->length, t->capacity - t->length, format, args);
  va_end(args);
  t->length += (size_t)n;
}

void text_append(text *t, const void *data, size_t length) {
  if (!reserve(t, length)) return;
  memcpy(t->data + t->length, data, length);
  t->length += length;
}

static void append_to_text(void *out, const void *data, size_t length) { text_append(out, data, length); }

void text_json_string(text *t, const char *data, size_t length) {
  size_t start = 0, i;
  text_append(t, "\"", 1);
  for (i = 0; i < length; ++i) {
    const char *escape = NULL;
    if (data[i] == '<') escape = "\\u003c";
    else if (data[i] == '>') escape = "\\u003e";
    else if (data[i] == '&') escape = "\\u0026";
    if (!escape) continue;
    json_escape(data + start, i - start, append_to_text, t);
    text_append(t, escape, 6);
    start = i + 1;
  }
  json_escape(data + start, length - start, append_to_text, t);
  text_append(t, "\"", 1);
}

void text_free(text *t) {
  free(t->data);
  t->data = NULL;
  t->length = t->capacity = 0;
}
