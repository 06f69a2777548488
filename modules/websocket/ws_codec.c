#include "ws_codec.h"

#include <string.h>

void ws_parser_init(ws_parser *p, uint32_t max_message_size) {
  memset(p, 0, sizeof *p);
  p->max_message_size = max_message_size;
  p->header_needed = 2;
}

uint32_t ws_compressed_limit(uint32_t max_message_size) { return max_message_size + max_message_size / 1024 + 64; }

static ws_event fail(ws_parser *p, uint16_t code, const char *reason) {
  p->fail_code = code;
  p->fail_reason = reason;
  return WS_FAIL;
}

/* The header is complete: check it against the rules of RFC 6455 section 5. */
static ws_event start_frame(ws_parser *p) {
  const uint8_t *h = p->header;
  uint8_t length7 = h[1] & 0x7F;
  size_t at = 2;
  int control;
  p->fin = (h[0] & 0x80) != 0;
  p->opcode = h[0] & 0x0F;
  int rsv1 = (h[0] & 0x40) != 0;
  uint32_t limit;
  if (h[0] & 0x30) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension");
  if (rsv1 && !p->rsv1_allowed) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension");
  if (!(h[1] & 0x80)) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "client frames must be masked");
  control = p->opcode >= 0x8;
  /* RFC 7692 section 6: RSV1 marks the first frame of a compressed data message, nothing else. */
  if (rsv1 && control) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "RSV1 set on a control frame");
  if (rsv1 && p->opcode == WS_OP_CONTINUATION) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "RSV1 set on a continuation frame");
  if (p->opcode != WS_OP_CONTINUATION && p->opcode != WS_OP_TEXT && p->opcode != WS_OP_BINARY &&
      p->opcode != WS_OP_CLOSE && p->opcode != WS_OP_PING && p->opcode != WS_OP_PONG)
    return fail(p, WS_CLOSE_PROTOCOL_ERROR, "unknown opcode");
  if (length7 == 126) {
    p->payload_length = (uint64_t)h[2] << 8 | h[3];
    at = 4;
  } else if (length7 == 127) {
    int i;
    p->payload_length = 0;
    for (i = 0; i < 8; ++i) p->payload_length = p->payload_length << 8 | h[2 + i];
    at = 10;
    if (p->payload_length >> 63) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "payload length has its top bit set");
  } else {
    p->payload_length = length7;
  }
  memcpy(p->mask, h + at, 4);
  p->payload_read = 0;
  p->in_payload = 1;
  if (control) {
    if (!p->fin) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
    if (p->payload_length > 125) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "control frame payload over 125 bytes");
    p->control_length = 0;
    return WS_NEED_MORE;
  }
  if (p->opcode == WS_OP_CONTINUATION) {
    if (!p->message_opcode) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "continuation frame without a message");
  } else {
    if (p->message_opcode) return fail(p, WS_CLOSE_PROTOCOL_ERROR, "new message before the previous one ended");
    p->message_opcode = p->opcode;
    p->message_compressed = (uint8_t)rsv1;
    p->message_length = 0;
    memset(&p->utf8, 0, sizeof p->utf8);
  }
  limit = p->message_compressed ? ws_compressed_limit(p->max_message_size) : p->max_message_size;
  if (p->payload_length > limit - p->message_length || p->message_length > limit)
    return fail(p, WS_CLOSE_TOO_BIG, "message too big");
  p->message_length += (uint32_t)p->payload_length;
  return WS_NEED_MORE;
}

static size_t header_size(const uint8_t *h) {
  uint8_t length7 = h[1] & 0x7F;
  return 2 + (length7 == 126 ? 2 : length7 == 127 ? 8 : 0) + 4;
}

/* The frame's payload is complete. */
static ws_event end_frame(ws_parser *p) {
  p->in_payload = 0;
  p->header_length = 0;
  p->header_needed = 2;
  if (p->opcode >= 0x8) {
    p->control_opcode = p->opcode;
    return WS_CONTROL;
  }
  if (!p->fin) return WS_NEED_MORE;
  if (p->message_opcode == WS_OP_TEXT && !p->message_compressed && p->utf8.state != UTF8_ACCEPT)
    return fail(p, WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
  p->ended_opcode = p->message_opcode;
  p->message_opcode = 0;
  return WS_MESSAGE_END;
}

ws_event ws_parse(ws_parser *p, const char *data, size_t length, size_t *offset, char *scratch, size_t scratch_size,
                  const char **chunk, size_t *chunk_length) {
  for (;;) {
    if (p->in_payload && p->payload_read == p->payload_length) {
      ws_event e = end_frame(p); /* WS_NEED_MORE after a middle fragment: go on with the input */
      if (e != WS_NEED_MORE) return e;
    }
    if (*offset >= length) return WS_NEED_MORE;
    if (!p->in_payload) {
      /* Reading a header: 2 bytes tell how long it is. */
      while (p->header_length < p->header_needed && *offset < length) p->header[p->header_length++] = (uint8_t)data[(*offset)++];
      if (p->header_length < p->header_needed) return WS_NEED_MORE;
      if (p->header_needed == 2) {
        p->header_needed = (uint8_t)header_size(p->header);
        if (p->header_length < p->header_needed) continue;
      }
      if (start_frame(p) == WS_FAIL) return WS_FAIL;
      continue;
    }
    {
      /* Payload: unmask into scratch what is here of it. */
      uint64_t left = p->payload_length - p->payload_read;
      size_t n = length - *offset < left ? length - *offset : (size_t)left;
      char *at = scratch;
      size_t i;
      if (n > scratch_size) n = scratch_size;
      for (i = 0; i < n; ++i) at[i] = (char)(data[*offset + i] ^ p->mask[(p->payload_read + i) & 3]);
      p->payload_read += n;
      *offset += n;
      if (p->opcode >= 0x8) {
        memcpy(p->control + p->control_length, at, n);
        p->control_length = (uint8_t)(p->control_length + n);
        continue;
      }
      if (p->message_opcode == WS_OP_TEXT && !p->message_compressed && utf8_feed(&p->utf8, (const uint8_t *)at, n) == UTF8_REJECT)
        return fail(p, WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
      *chunk = at;
      *chunk_length = n;
      return WS_DATA;
    }
  }
}

uint16_t ws_check_close(const uint8_t *payload, size_t length, uint16_t *code) {
  uint16_t c;
  if (length == 0) {
    *code = 1005;
    return 0;
  }
  if (length == 1) return WS_CLOSE_PROTOCOL_ERROR;
  c = (uint16_t)(payload[0] << 8 | payload[1]);
  /* Codes a peer may send: 1000-1003, 1007-1014 (not 1004-1006, 1015), 3000-4999. */
  if (!((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)))
    return WS_CLOSE_PROTOCOL_ERROR;
  if (!utf8_valid(payload + 2, length - 2)) return WS_CLOSE_INVALID_DATA;
  *code = c;
  return 0;
}

size_t ws_frame_header(uint8_t opcode, uint64_t length, uint8_t out[10]) {
  out[0] = (uint8_t)(0x80 | opcode);
  if (length < 126) {
    out[1] = (uint8_t)length;
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = (uint8_t)(length >> 8);
    out[3] = (uint8_t)length;
    return 4;
  }
  {
    int i;
    out[1] = 127;
    for (i = 0; i < 8; ++i) out[2 + i] = (uint8_t)(length >> (56 - 8 * i));
    return 10;
  }
}
