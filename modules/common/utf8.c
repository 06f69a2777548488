#include "utf8.h"

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
