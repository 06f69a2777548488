#include "query.h"

int query_next(const char *query, size_t length, size_t *position, const char **name, size_t *name_length,
               const char **value, size_t *value_length) {
  while (*position < length) {
    size_t start = *position, end = start, eq;
    while (end < length && query[end] != '&') ++end;
    *position = end < length ? end + 1 : end;
    if (end == start) continue;
    for (eq = start; eq < end && query[eq] != '='; ++eq) {}
    *name = query + start;
    *name_length = eq - start;
    *value = eq < end ? query + eq + 1 : query + end;
    *value_length = eq < end ? end - eq - 1 : 0;
    return 1;
  }
  return 0;
}

static int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int query_decode(const char *in, size_t length, char *out, size_t capacity, size_t *decoded_length) {
  size_t i, n = 0;
  for (i = 0; i < length; ++i) {
    char c = in[i];
    if (c == '%') {
      int hi, lo;
      if (length - i < 3) return QUERY_BAD_ESCAPE;
      hi = hex_digit(in[i + 1]);
      lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return QUERY_BAD_ESCAPE;
      c = (char)(hi * 16 + lo);
      i += 2;
    } else if (c == '+') {
      c = ' ';
    }
    if (n == capacity) return QUERY_TOO_LONG;
    out[n++] = c;
  }
  *decoded_length = n;
  return QUERY_OK;
}
