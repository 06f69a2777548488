#include "ws_deflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The output buffer is kept between messages up to this size; a larger one (a big message) is
 * given back after use. */
enum { KEPT_OUTPUT = 64 * 1024 };

struct ws_deflater {
  z_stream stream;
  uint8_t *out;
  size_t capacity;
};

ws_deflater *ws_deflater_create(int level, int window_bits) {
  ws_deflater *d = calloc(1, sizeof *d);
  int small = window_bits <= 8;
  if (!d) return NULL;
  /* memLevel 8 is zlib's default; a negative window is raw deflate, without zlib's header. */
  if (deflateInit2(&d->stream, level, Z_DEFLATED, -(small ? 9 : window_bits), 8, small ? Z_RLE : Z_DEFAULT_STRATEGY) != Z_OK) {
    free(d);
    return NULL;
  }
  return d;
}

void ws_deflater_destroy(ws_deflater *d) {
  if (!d) return;
  deflateEnd(&d->stream);
  free(d->out);
  free(d);
}

static int grow(ws_deflater *d, size_t capacity) {
  uint8_t *grown;
  if (capacity <= d->capacity) return 1;
  if (!(grown = realloc(d->out, capacity))) return 0;
  d->out = grown;
  d->capacity = capacity;
  return 1;
}

const uint8_t *ws_deflate_message(ws_deflater *d, const void *data, size_t length, size_t *compressed_length) {
  z_stream *z = &d->stream;
  size_t produced = 0;
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  if (length > UINT_MAX || deflateReset(z) != Z_OK) return NULL;
  /* deflateBound() covers the data; the sync flush adds at most an empty stored block. */
  if (!grow(d, deflateBound(z, (uLong)length) + 16)) return NULL;
  z->next_in = (Bytef *)(uintptr_t)data;
  z->avail_in = (uInt)length;
  for (;;) {
    int status;
    size_t room = d->capacity - produced;
    if (room > UINT_MAX) room = UINT_MAX;
    z->next_out = d->out + produced;
    z->avail_out = (uInt)room;
    status = deflate(z, Z_SYNC_FLUSH);
    produced += room - z->avail_out;
    if (status != Z_OK && status != Z_BUF_ERROR) return NULL;
    if (z->avail_in == 0 && z->avail_out != 0) break;
    if (!grow(d, d->capacity * 2)) return NULL;
  }
  /* A sync flush ends with an empty stored block: 00 00 ff ff, which the receiver adds back. */
  if (produced < 4 || memcmp(d->out + produced - 4, tail, 4) != 0) return NULL;
  *compressed_length = produced - 4;
  return d->out;
}

void ws_deflater_trim(ws_deflater *d) {
  if (d->capacity <= KEPT_OUTPUT) return;
  free(d->out);
  d->out = NULL;
  d->capacity = 0;
}
