/* libFuzzer harness: modules/common/query.c, utf8.c and json.c. Input: byte 0 is a decoding
 * capacity; the rest is a query string. Every parameter query_next yields must lie inside the
 * input; every value is decoded into a heap block of exactly that capacity, and the answer must
 * agree with a decode into room enough (QUERY_TOO_LONG exactly when the result is longer, the
 * same bytes when it fits). The same bytes also go through utf8_valid and json_escape, whose
 * output must be valid UTF-8 with no raw control character, quote or lone backslash. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/common/json.h"
#include "modules/common/query.h"
#include "modules/common/utf8.h"
#include "tests/fuzz/fuzz_fields.h"

typedef struct text {
  char *data;
  size_t length, capacity;
} text;

static void append(void *out, const void *data, size_t length) {
  text *t = out;
  if (t->length + length > t->capacity) {
    t->capacity = (t->length + length) * 2;
    t->data = realloc(t->data, t->capacity);
  }
  memcpy(t->data + t->length, data, length);
  t->length += length;
}

static void check_decode(const char *value, size_t length, size_t capacity) {
  char *room = malloc(length ? length : 1), *exact = malloc(capacity ? capacity : 1);
  size_t full_length = 0, n = 0;
  int full = query_decode(value, length, room, length, &full_length);
  int bounded = query_decode(value, length, exact, capacity, &n);
  FUZZ_CHECK(full == QUERY_OK || full == QUERY_BAD_ESCAPE);
  if (full == QUERY_OK) {
    FUZZ_CHECK(full_length <= length);
    if (full_length > capacity) {
      FUZZ_CHECK(bounded == QUERY_TOO_LONG);
    } else {
      FUZZ_CHECK(bounded == QUERY_OK && n == full_length && memcmp(room, exact, n) == 0);
    }
  } else {
    FUZZ_CHECK(bounded == QUERY_BAD_ESCAPE || bounded == QUERY_TOO_LONG);
  }
  free(room);
  free(exact);
}

static void check_json(const char *data, size_t length) {
  text out = {NULL, 0, 0};
  size_t i;
  json_escape(data, length, append, &out);
  FUZZ_CHECK(utf8_valid(out.data ? out.data : "", out.length));
  for (i = 0; i < out.length; ++i) {
    unsigned char c = (unsigned char)out.data[i];
    FUZZ_CHECK(c >= 0x20 && c != '"');
    if (c == '\\') {
      FUZZ_CHECK(i + 1 < out.length);
      ++i; /* the escaped character */
    }
  }
  if (utf8_valid(data, length)) FUZZ_CHECK(out.length >= length);
  free(out.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *query, *name, *value;
  char *copy;
  size_t capacity, position = 0, name_length, value_length, pairs = 0;
  if (size < 1) return 0;
  capacity = data[0];
  copy = malloc(size - 1 ? size - 1 : 1);
  memcpy(copy, data + 1, size - 1);
  query = copy;
  while (query_next(query, size - 1, &position, &name, &name_length, &value, &value_length)) {
    FUZZ_CHECK(++pairs <= size);
    FUZZ_CHECK(name >= query && name + name_length <= query + size - 1);
    FUZZ_CHECK(value >= query && value + value_length <= query + size - 1);
    FUZZ_CHECK(memchr(name, '&', name_length) == NULL && memchr(name, '=', name_length) == NULL);
    FUZZ_CHECK(memchr(value, '&', value_length) == NULL);
    check_decode(value, value_length, capacity);
  }
  FUZZ_CHECK(position == size - 1);
  check_decode(query, size - 1, capacity);
  check_json(query, size - 1);
  free(copy);
  return 0;
}
