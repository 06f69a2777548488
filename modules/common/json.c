#include "json.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

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
