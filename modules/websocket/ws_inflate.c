#include "ws_inflate.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "../common/utf8.h"

struct ws_inflater {
  z_stream stream;
  uint64_t produced, limit; /* of the current message */
  utf8_state utf8;
  uint8_t text;
  uint8_t ended; /* the sender ended its DEFLATE stream (a block with BFINAL): the rest is ignored */
};

ws_inflater *ws_inflater_create(int window_bits) {
  ws_inflater *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  if (inflateInit2(&f->stream, -(window_bits < 9 ? 9 : window_bits)) != Z_OK) {
    free(f);
    return NULL;
  }
  return f;
}

void ws_inflater_destroy(ws_inflater *f) {
  if (!f) return;
  inflateEnd(&f->stream);
  free(f);
}

void ws_inflate_begin(ws_inflater *f, int text, uint64_t limit) {
  f->produced = 0;
  f->limit = limit;
  f->text = (uint8_t)(text != 0);
  memset(&f->utf8, 0, sizeof f->utf8);
  if (f->ended) inflateReset(&f->stream); /* a new stream, without the old window */
  f->ended = 0;
}

ws_inflate_result ws_inflate(ws_inflater *f, const void *data, size_t length, char *scratch, size_t scratch_size,
                             ws_inflate_sink sink, void *user) {
  z_stream *z = &f->stream;
  if (f->ended) return WS_INFLATE_OK;
  while (length) {
    /* zlib counts in uInt: feed a very long piece in parts. */
    size_t part = length > UINT_MAX ? UINT_MAX : length;
    z->next_in = (Bytef *)(uintptr_t)data;
    z->avail_in = (uInt)part;
    for (;;) {
      /* Room for one byte past the limit, so that going past it shows; that byte is never kept. */
      size_t room = scratch_size, n;
      int status;
      if (room > f->limit - f->produced + 1) room = (size_t)(f->limit - f->produced + 1);
      if (room > UINT_MAX) room = UINT_MAX;
      z->next_out = (Bytef *)scratch;
      z->avail_out = (uInt)room;
      status = inflate(z, Z_SYNC_FLUSH);
      if (status == Z_MEM_ERROR) return WS_INFLATE_NO_MEMORY;
      if (status != Z_OK && status != Z_STREAM_END && status != Z_BUF_ERROR) return WS_INFLATE_BAD_DATA;
      n = room - z->avail_out;
      f->produced += n;
      if (f->produced > f->limit) return WS_INFLATE_TOO_BIG;
      if (n) {
        if (f->text && utf8_feed(&f->utf8, (const uint8_t *)scratch, n) == UTF8_REJECT) return WS_INFLATE_BAD_UTF8;
        if (!sink(user, scratch, n)) return WS_INFLATE_STOPPED;
      }
      if (status == Z_STREAM_END) {
        f->ended = 1;
        return WS_INFLATE_OK;
      }
      /* Done with this input once it is all taken and nothing is left to come out. */
      if (z->avail_in == 0 && z->avail_out != 0) break;
      if (status == Z_BUF_ERROR && n == 0) break; /* no progress possible: needs more input */
    }
    data = (const char *)data + part;
    length -= part;
  }
  return WS_INFLATE_OK;
}

ws_inflate_result ws_inflate_end(ws_inflater *f, char *scratch, size_t scratch_size, ws_inflate_sink sink, void *user) {
  static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
  ws_inflate_result r = ws_inflate(f, tail, sizeof tail, scratch, scratch_size, sink, user);
  if (r != WS_INFLATE_OK) return r;
  /* A message ends at a block boundary once its tail (an empty stored block) is read: zlib then
   * says so with 128 in data_type. A truncated block, or data cut inside a block, would have
   * taken the tail as its own bytes and handed them on as the message's. */
  if (!f->ended && !(f->stream.data_type & 128)) return WS_INFLATE_BAD_DATA;
  if (f->text && f->utf8.state != UTF8_ACCEPT) return WS_INFLATE_BAD_UTF8;
  return WS_INFLATE_OK;
}
