#include "query.h"

#include <stdio.h>
#include <string.h>

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

int utf8_feed(utf8_state *s, const uint8_t *data, size_t length) {
  size_t i;
  if (s->state == UTF8_REJECT) return UTF8_REJECT;
  for (i = 0; i < length; ++i) {
    uint8_t b = data[i];
    if (s->needed == 0) {
      if (b < 0x80) continue;
      if (b >= 0xC2 && b <= 0xDF) s->needed = 1, s->lower = 0x80, s->upper = 0xBF;
      else if (b == 0xE0) s->needed = 2, s->lower = 0xA0, s->upper = 0xBF;
      else if (b == 0xED) s->needed = 2, s->lower = 0x80, s->upper = 0x9F;  /* no surrogates */
      else if (b >= 0xE1 && b <= 0xEF) s->needed = 2, s->lower = 0x80, s->upper = 0xBF;
      else if (b == 0xF0) s->needed = 3, s->lower = 0x90, s->upper = 0xBF;
      else if (b >= 0xF1 && b <= 0xF3) s->needed = 3, s->lower = 0x80, s->upper = 0xBF;
      else if (b == 0xF4) s->needed = 3, s->lower = 0x80, s->upper = 0x8F;  /* <= U+10FFFF */
      else return s->state = UTF8_REJECT;
      s->state = 2;
    } else {
      if (b < s->lower || b > s->upper) return s->state = UTF8_REJECT;
      s->lower = 0x80, s->upper = 0xBF;
      if (--s->needed == 0) s->state = UTF8_ACCEPT;
    }
  }
  return s->state;
}

int utf8_valid(const void *data, size_t length) {
  utf8_state s = {0, 0, 0, 0};
  return utf8_feed(&s, data, length) == UTF8_ACCEPT;
}

void json_escape(const char *data, size_t length, json_append_fn append, void *out) {
  const uint8_t *p = (const uint8_t *)data;
  size_t i = 0, run = 0;
  while (i < length) {
    uint8_t c = p[i];
    size_t sequence = 1;
    const char *escape = NULL;
    char buffer[8];
    if (c == '"') escape = "\\\"";
    else if (c == '\\') escape = "\\\\";
    else if (c == '\n') escape = "\\n";
    else if (c == '\r') escape = "\\r";
    else if (c == '\t') escape = "\\t";
    else if (c < 0x20) {
      snprintf(buffer, sizeof buffer, "\\u%04x", c);
      escape = buffer;
    } else if (c >= 0x80) {
      /* The length of the longest valid sequence starting here; 0: invalid byte. */
      utf8_state s = {0, 0, 0, 0};
      size_t n = 0;
      sequence = 0;
      while (i + n < length && n < 4) {
        int state = utf8_feed(&s, p + i + n, 1);
        ++n;
        if (state == UTF8_REJECT) break;
        if (state == UTF8_ACCEPT) {
          sequence = n;
          break;
        }
      }
      if (sequence == 0) escape = "\xEF\xBF\xBD", sequence = 1;
    }
    if (escape) {
      if (run) append(out, data + i - run, run);
      run = 0;
      append(out, escape, strlen(escape));
      i += sequence;
      continue;
    }
    run += sequence;
    i += sequence;
  }
  if (run) append(out, data + length - run, run);
}
