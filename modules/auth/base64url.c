#include "base64url.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of a base64url character, or -1. */
static int sextet(unsigned char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

size_t base64url_decoded_max(size_t length) { return length / 4 * 3 + (length % 4 ? length % 4 - 1 : 0); }

int base64url_decode(const char *in, size_t length, uint8_t *out, size_t capacity, size_t *out_length) {
  size_t i, n = 0;
  uint32_t bits = 0;
  int held = 0; /* bits waiting in `bits` */
  if (length % 4 == 1 || base64url_decoded_max(length) > capacity) return -1;
  for (i = 0; i < length; ++i) {
    int v = sextet((unsigned char)in[i]);
    if (v < 0) return -1;
    bits = (bits << 6) | (uint32_t)v;
    held += 6;
    if (held >= 8) {
      held -= 8;
      out[n++] = (uint8_t)(bits >> held);
      bits &= (1u << held) - 1;
    }
  }
  if (bits != 0) return -1; /* a non-canonical last character */
  *out_length = n;
  return 0;
}

size_t base64url_encoded_length(size_t length) { return length / 3 * 4 + (length % 3 ? length % 3 + 1 : 0); }

void base64url_encode(const uint8_t *in, size_t length, char *out) {
  size_t i, n = 0;
  for (i = 0; i + 2 < length; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[n++] = alphabet[v >> 18];
    out[n++] = alphabet[(v >> 12) & 63];
    out[n++] = alphabet[(v >> 6) & 63];
    out[n++] = alphabet[v & 63];
  }
  if (length - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[n++] = alphabet[v >> 18];
    out[n++] = alphabet[(v >> 12) & 63];
  } else if (length - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[n++] = alphabet[v >> 18];
    out[n++] = alphabet[(v >> 12) & 63];
    out[n++] = alphabet[(v >> 6) & 63];
  }
}
