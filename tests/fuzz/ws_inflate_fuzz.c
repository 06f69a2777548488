/* libFuzzer harness: the websocket module's inflater of compressed client messages
 * (modules/websocket/ws_inflate.c) on arbitrary data. Input: byte 0 picks the window (8..15),
 * the output limit and whether the message is text; byte 1 the size of the pieces the payload
 * is fed in; the rest is the message's compressed payload, inflated once on a fresh inflater and,
 * if that went well, once more on the same one (a client that keeps its context). Whatever the data, what comes out
 * of a message never passes the limit, comes in pieces no larger than the scratch, and a text
 * message that ends well is UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "modules/common/utf8.h"
#include "modules/websocket/ws_inflate.h"
#include "tests/fuzz/fuzz_fields.h"

enum { SCRATCH = 257 };

typedef struct output {
  uint8_t *data;
  size_t length, limit;
} output;

static int keep(void *user, const char *data, size_t length) {
  output *o = user;
  FUZZ_CHECK(length > 0 && length <= SCRATCH);
  FUZZ_CHECK(o->length + length <= o->limit);
  memcpy(o->data + o->length, data, length);
  o->length += length;
  return 1;
}

static ws_inflate_result one_message(ws_inflater *f, const uint8_t *payload, size_t size, size_t step, int text, size_t limit) {
  static char scratch[SCRATCH];
  output o = {malloc(limit ? limit : 1), 0, limit};
  ws_inflate_result r = WS_INFLATE_OK;
  size_t at;
  ws_inflate_begin(f, text, limit);
  for (at = 0; at < size && r == WS_INFLATE_OK; at += step) {
    size_t n = size - at < step ? size - at : step;
    uint8_t *piece = malloc(n); /* exactly its size, for ASan */
    memcpy(piece, payload + at, n);
    r = ws_inflate(f, piece, n, scratch, sizeof scratch, keep, &o);
    free(piece);
  }
  if (r == WS_INFLATE_OK) r = ws_inflate_end(f, scratch, sizeof scratch, keep, &o);
  FUZZ_CHECK(r != WS_INFLATE_STOPPED && r != WS_INFLATE_NO_MEMORY);
  FUZZ_CHECK(o.length <= limit);
  if (r == WS_INFLATE_OK && text) FUZZ_CHECK(utf8_valid(o.data, o.length));
  free(o.data);
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const size_t limits[4] = {0, 100, 4096, 1 << 16};
  int window, text;
  size_t limit, step;
  ws_inflater *f;
  if (size < 2) return 0;
  window = 8 + (data[0] & 7);
  limit = limits[(data[0] >> 3) & 3];
  text = (data[0] >> 5) & 1;
  step = data[1] ? data[1] : size;
  if (!(f = ws_inflater_create(window))) return 0;
  /* After a failure the connection closes: the inflater is used again only after a success. */
  if (one_message(f, data + 2, size - 2, step, text, limit) == WS_INFLATE_OK)
    one_message(f, data + 2, size - 2, step, text, limit);
  ws_inflater_destroy(f);
  return 0;
}
