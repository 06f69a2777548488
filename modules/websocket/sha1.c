#include "sha1.h"

#include <string.h>

static uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void compress(uint32_t h[5], const uint8_t block[64]) {
  uint32_t w[80], a, b, c, d, e;
  int i;
  for (i = 0; i < 16; ++i)
    w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
           (uint32_t)block[4 * i + 3];
  for (i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
  a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
  for (i = 0; i < 80; ++i) {
    uint32_t f, k, t;
    if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999u;
    else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1u;
    else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDCu;
    else f = b ^ c ^ d, k = 0xCA62C1D6u;
    t = rotl(a, 5) + f + e + k + w[i];
    e = d, d = c, c = rotl(b, 30), b = a, a = t;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void ws_sha1(const void *data, size_t length, uint8_t digest[20]) {
  uint32_t h[5] = {0x67452301u, 0xEFCDAB89u, 0x98BADCFEu, 0x10325476u, 0xC3D2E1F0u};
  const uint8_t *p = data;
  uint8_t tail[128];
  size_t rest = length, tail_length, i;
  uint64_t bits = (uint64_t)length * 8;
  while (rest >= 64) {
    compress(h, p);
    p += 64;
    rest -= 64;
  }
  /* The last block(s): the rest, a 1 bit, zeros, and the length in bits. */
  memset(tail, 0, sizeof tail);
  memcpy(tail, p, rest);
  tail[rest] = 0x80;
  tail_length = rest + 1 + 8 <= 64 ? 64 : 128;
  for (i = 0; i < 8; ++i) tail[tail_length - 1 - i] = (uint8_t)(bits >> (8 * i));
  compress(h, tail);
  if (tail_length == 128) compress(h, tail + 64);
  for (i = 0; i < 5; ++i) {
    digest[4 * i] = (uint8_t)(h[i] >> 24);
    digest[4 * i + 1] = (uint8_t)(h[i] >> 16);
    digest[4 * i + 2] = (uint8_t)(h[i] >> 8);
    digest[4 * i + 3] = (uint8_t)h[i];
  }
}
