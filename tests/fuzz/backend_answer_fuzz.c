/* libFuzzer harness: what the auth module's backend client reads from the backend
 * (modules/auth/backend_answer.c: llhttp in response mode, the bounds, the JSON verdict), fed
 * without sockets. Byte 0: bits 0-6 the piece size minus 1 (the bytes come as a socket would cut
 * them), bit 7 "then the backend closes the connection". The rest is the backend's bytes.
 * Checked: the same bytes in one piece give the same outcome (cutting never changes a verdict);
 * a FAILURE has a reason; an ALLOW's user and channels are within their bounds, without control
 * bytes; a copy of the verdict (the allow-cache's) equals it; once DONE or BAD, feeding more
 * changes nothing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/auth/backend_answer.h"
#include "tests/fuzz/fuzz_fields.h"

static backend_feed read_all(backend_answer *a, const char *data, size_t length, size_t piece, int eof) {
  backend_feed feed = BACKEND_FEED_MORE;
  size_t at;
  backend_answer_init(a);
  for (at = 0; at < length && feed == BACKEND_FEED_MORE; at += piece)
    feed = backend_answer_feed(a, data + at, length - at < piece ? length - at : piece);
  if (eof && feed == BACKEND_FEED_MORE) feed = backend_answer_eof(a);
  return feed;
}

static int no_control(backend_string s) {
  size_t i;
  for (i = 0; i < s.length; ++i)
    if ((unsigned char)s.data[i] < 0x20 || s.data[i] == 0x7f) return 0;
  return 1;
}

static int same_string(backend_string a, backend_string b) {
  return a.length == b.length && (a.length == 0 || memcmp(a.data, b.data, a.length) == 0);
}

static int same_verdict(const backend_verdict *a, const backend_verdict *b) {
  size_t i;
  if (a->result != b->result || a->status != b->status || a->has_channels != b->has_channels ||
      a->channel_count != b->channel_count || !same_string(a->user, b->user) || (!a->user.data != !b->user.data))
    return 0;
  for (i = 0; i < a->channel_count; ++i)
    if (!same_string(a->channels[i], b->channels[i])) return 0;
  return 1;
}

static void check_verdict(const backend_verdict *v) {
  size_t i;
  FUZZ_CHECK(v->result >= BACKEND_ALLOW && v->result <= BACKEND_FAILURE);
  if (v->result == BACKEND_FAILURE) FUZZ_CHECK(v->reason != NULL);
  if (v->result == BACKEND_DENY_401) FUZZ_CHECK(v->status == 401);
  if (v->result == BACKEND_DENY_403) FUZZ_CHECK(v->status == 403);
  if (v->result != BACKEND_ALLOW) return;
  FUZZ_CHECK(v->status >= 200 && v->status <= 299);
  FUZZ_CHECK(v->user.length <= BACKEND_MAX_USER && no_control(v->user));
  FUZZ_CHECK(v->channel_count <= JWT_JSON_MAX_STRINGS && (v->has_channels || v->channel_count == 0));
  for (i = 0; i < v->channel_count; ++i)
    FUZZ_CHECK(v->channels[i].length >= 1 && v->channels[i].length <= BACKEND_MAX_CHANNEL + 1 &&
               no_control(v->channels[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static backend_answer cut, whole;
  backend_verdict v, w, copy;
  backend_feed feed, whole_feed;
  size_t piece, length;
  int eof;
  char *bytes;
  if (size < 1) return 0;
  piece = (size_t)(data[0] & 0x7f) + 1;
  eof = data[0] >> 7;
  /* An exact-size copy, so that ASan sees a read one byte past the input. */
  length = size - 1;
  bytes = malloc(length ? length : 1);
  memcpy(bytes, data + 1, length);

  feed = read_all(&cut, bytes, length, piece, eof);
  whole_feed = read_all(&whole, bytes, length, length ? length : 1, eof);
  FUZZ_CHECK(feed == whole_feed);
  FUZZ_CHECK(cut.body_length <= BACKEND_MAX_BODY && cut.body_length == whole.body_length);
  /* Bytes after the answer make it not reusable; in pieces, some of them may not have been read. */
  if (feed == BACKEND_FEED_DONE && whole.keep_alive) FUZZ_CHECK(cut.keep_alive);
  if (feed != BACKEND_FEED_MORE) FUZZ_CHECK(backend_answer_feed(&cut, "HTTP/1.1 200 OK\r\n\r\n", 19) == feed);
  if (feed == BACKEND_FEED_BAD) FUZZ_CHECK(cut.why != NULL);

  backend_answer_verdict(&cut, &v);
  backend_answer_verdict(&whole, &w);
  check_verdict(&v);
  FUZZ_CHECK(same_verdict(&v, &w));
  FUZZ_CHECK(backend_verdict_copy(&v, &copy) == 0 && same_verdict(&v, &copy));
  backend_verdict_free(&copy);
  backend_verdict_free(&v);
  backend_verdict_free(&w);
  free(bytes);
  return 0;
}
