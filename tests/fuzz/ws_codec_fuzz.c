/* libFuzzer harness: the WebSocket frame parser (modules/websocket/ws_codec.c) on arbitrary
 * client bytes. Input: byte 0 picks max_message_size (its top bit: permessage-deflate negotiated,
 * so that RSV1 marks compressed messages, whose payload is bounded by ws_compressed_limit and not
 * checked as UTF-8 here), byte 1 the scratch size, byte 2 seeds how
 * the rest (the byte stream) is split into reads. The stream is parsed whole and then in those
 * pieces, and both must report the same messages, control frames and failure; on the way every
 * event is checked against RFC 6455 (lengths, UTF-8 of text, close payloads, close codes). The
 * server's frame header encoder must give the shortest encoding, which the parser reads back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/common/utf8.h"
#include "modules/websocket/ws_codec.h"

#define CHECK(condition) \
  do {                   \
    if (!(condition)) abort(); \
  } while (0)

enum { MAX_LOG = 1 << 16 };

/* What a parse reported, normalised so that splits do not matter: each message's whole
 * payload, each control frame, the failure. */
typedef struct report {
  uint8_t log[MAX_LOG];
  size_t length;
  int overflow;
  uint8_t message[(1 << 17) + 256]; /* the message being assembled (room for ws_compressed_limit) */
  size_t message_length;
  int message_compressed;
} report;

static void note(report *r, const void *data, size_t length) {
  if (r->overflow || r->length + length > sizeof r->log) {
    r->overflow = 1;
    return;
  }
  if (length) memcpy(r->log + r->length, data, length);
  r->length += length;
}

static void note_event(report *r, uint8_t kind, uint8_t detail, const void *payload, size_t length) {
  uint8_t head[2 + sizeof(size_t)];
  head[0] = kind, head[1] = detail;
  memcpy(head + 2, &length, sizeof length);
  note(r, head, sizeof head);
  note(r, payload, length);
}

static int valid_close_code(uint16_t code) {
  return code == 1005 || (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

/* ws_frame_header(length), with the mask bit a client sets, must parse back to that length. */
static void check_header_round_trip(uint64_t length) {
  uint8_t frame[14] = {0};
  size_t n = ws_frame_header(WS_OP_BINARY, length, frame), offset = 0, chunk_length = 0;
  const char *chunk = NULL;
  char scratch[1];
  ws_parser p;
  CHECK(n == (length < 126 ? 2u : length <= 0xFFFF ? 4u : 10u));
  CHECK(frame[0] == (0x80 | WS_OP_BINARY));
  frame[1] |= 0x80;
  ws_parser_init(&p, UINT32_MAX);
  ws_parse(&p, (const char *)frame, n + 4, &offset, scratch, sizeof scratch, &chunk, &chunk_length);
  CHECK(offset == n + 4);
  CHECK(p.payload_length == length);
}

/* Checks one event and records it; 0 once parsing must stop. */
static int take(report *r, ws_parser *p, ws_event event, const char *chunk, size_t chunk_length, const char *scratch,
                size_t scratch_size, uint32_t max_message_size) {
  switch (event) {
    case WS_NEED_MORE: return 0;
    case WS_DATA:
      CHECK(chunk >= scratch && chunk_length <= scratch_size && chunk + chunk_length <= scratch + scratch_size);
      CHECK(p->message_opcode == WS_OP_TEXT || p->message_opcode == WS_OP_BINARY);
      CHECK(r->message_length + chunk_length <=
            (p->message_compressed ? ws_compressed_limit(max_message_size) : max_message_size));
      CHECK(p->rsv1_allowed || !p->message_compressed);
      r->message_compressed = p->message_compressed;
      memcpy(r->message + r->message_length, chunk, chunk_length);
      r->message_length += chunk_length;
      return 1;
    case WS_MESSAGE_END:
      CHECK(p->ended_opcode == WS_OP_TEXT || p->ended_opcode == WS_OP_BINARY);
      if (p->ended_opcode == WS_OP_TEXT && !r->message_compressed) CHECK(utf8_valid(r->message, r->message_length));
      note_event(r, 'M', p->ended_opcode, r->message, r->message_length);
      r->message_compressed = 0;
      check_header_round_trip(r->message_length);
      r->message_length = 0;
      return 1;
    case WS_CONTROL: {
      uint16_t code = 0, bad;
      CHECK(p->control_opcode == WS_OP_CLOSE || p->control_opcode == WS_OP_PING || p->control_opcode == WS_OP_PONG);
      CHECK(p->control_length <= 125);
      if (p->control_opcode == WS_OP_CLOSE) {
        bad = ws_check_close(p->control, p->control_length, &code);
        if (bad) {
          CHECK(bad == WS_CLOSE_PROTOCOL_ERROR || bad == WS_CLOSE_INVALID_DATA);
        } else {
          CHECK(valid_close_code(code) && p->control_length != 1);
          if (p->control_length >= 2) CHECK(utf8_valid(p->control + 2, p->control_length - 2u));
        }
      }
      note_event(r, 'C', p->control_opcode, p->control, p->control_length);
      return 1;
    }
    case WS_FAIL:
      CHECK(p->fail_reason != NULL);
      CHECK(p->fail_code == WS_CLOSE_PROTOCOL_ERROR || p->fail_code == WS_CLOSE_INVALID_DATA || p->fail_code == WS_CLOSE_TOO_BIG);
      note_event(r, 'F', (uint8_t)(p->fail_code - 1000), NULL, 0);
      return 0;
  }
  abort();
}

/* Feeds data[0..length) in reads that end at the given cut points (sorted, < length). */
static void parse(report *r, const uint8_t *data, size_t length, const size_t *cuts, size_t cut_count,
                  uint32_t max_message_size, size_t scratch_size, int rsv1_allowed) {
  ws_parser p;
  char *scratch = malloc(scratch_size);
  size_t start = 0, i;
  int failed = 0;
  ws_parser_init(&p, max_message_size);
  p.rsv1_allowed = (uint8_t)rsv1_allowed;
  for (i = 0; i <= cut_count && !failed; ++i) {
    size_t end = i < cut_count ? cuts[i] : length, offset = 0, piece = end - start, calls = 0;
    /* A read of its own, in a buffer of its exact size: ASan sees any byte read past it. */
    char *read = malloc(piece ? piece : 1);
    memcpy(read, data + start, piece);
    for (;;) {
      const char *chunk = NULL;
      size_t chunk_length = 0;
      ws_event event = ws_parse(&p, read, piece, &offset, scratch, scratch_size, &chunk, &chunk_length);
      CHECK(offset <= piece);
      CHECK(++calls <= 4 * piece + 16); /* every call but the last makes progress or reports */
      if (event == WS_FAIL) failed = 1;
      if (!take(r, &p, event, chunk, chunk_length, scratch, scratch_size, max_message_size)) break;
    }
    if (!failed) CHECK(offset == piece);
    free(read);
    start = end;
  }
  free(scratch);
}

static report whole, split;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t limits[] = {0, 1, 2, 125, 126, 127, 1000, 4096, 65535, 65536, 1u << 17};
  uint32_t max_message_size;
  int deflate;
  size_t scratch_size, cuts[64], cut_count = 0, length, i;
  uint32_t seed;
  if (size < 3) return 0;
  if (size >= 11) {
    uint64_t length = 0;
    for (i = 3; i < 11; ++i) length = length << 8 | data[i];
    check_header_round_trip(length >> (data[2] % 64)); /* lengths of every size */
  }
  max_message_size = limits[(data[0] & 0x7f) % (sizeof limits / sizeof limits[0])];
  scratch_size = data[1] < 128 ? 1u + data[1] % 16 : 16384;
  seed = data[2];
  deflate = data[0] >> 7;
  data += 3, size -= 3;
  length = size;
  /* Cut points from a small generator seeded by the input, so that a crash reproduces. */
  for (i = 0; i < sizeof cuts / sizeof cuts[0] && length > 1 && seed; ++i) {
    seed = seed * 1103515245u + 12345u;
    if ((seed >> 16) % 4 == 0) continue;
    cuts[cut_count] = 1 + (seed >> 8) % (length - 1);
    if (cut_count && cuts[cut_count] <= cuts[cut_count - 1]) continue;
    ++cut_count;
  }
  memset(&whole, 0, offsetof(report, message));
  memset(&split, 0, offsetof(report, message));
  whole.message_length = split.message_length = 0;
  whole.message_compressed = split.message_compressed = 0;
  parse(&whole, data, length, NULL, 0, max_message_size, 16384, deflate);
  parse(&split, data, length, cuts, cut_count, max_message_size, scratch_size, deflate);
  if (!whole.overflow && !split.overflow) {
    CHECK(whole.length == split.length);
    CHECK(memcmp(whole.log, split.log, whole.length) == 0);
  }
  return 0;
}
