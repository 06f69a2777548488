/* RFC 6455 framing, server side: an incremental parser for client frames (masked) that checks
 * every rule a server must enforce, and the encoder for server frames (unmasked). No I/O and
 * no allocation here: websocket.c owns buffers and the connection. */
#ifndef TETHER_WS_CODEC_H
#define TETHER_WS_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "../common/utf8.h"

enum {
  WS_OP_CONTINUATION = 0x0,
  WS_OP_TEXT = 0x1,
  WS_OP_BINARY = 0x2,
  WS_OP_CLOSE = 0x8,
  WS_OP_PING = 0x9,
  WS_OP_PONG = 0xA,
};

/* Close codes we send (RFC 6455 section 7.4.1). */
enum {
  WS_CLOSE_NORMAL = 1000,
  WS_CLOSE_GOING_AWAY = 1001,
  WS_CLOSE_PROTOCOL_ERROR = 1002,
  WS_CLOSE_INVALID_DATA = 1007,     /* text that is not UTF-8 */
  WS_CLOSE_POLICY = 1008,
  WS_CLOSE_TOO_BIG = 1009,
  WS_CLOSE_INTERNAL = 1011,
  WS_CLOSE_TRY_AGAIN = 1013,
};

/* What the parser reports for each piece of input it consumed. */
typedef enum ws_event {
  WS_NEED_MORE = 0,   /* all input consumed, nothing else to report */
  WS_DATA,            /* payload bytes of a text/binary message (already unmasked) */
  WS_MESSAGE_END,     /* the message whose data came before is complete and valid */
  WS_CONTROL,         /* a complete control frame: opcode and payload in the parser */
  WS_FAIL,            /* a protocol violation: close with parser.fail_code / fail_reason */
} ws_event;

typedef struct ws_parser {
  /* limits, set before use */
  uint32_t max_message_size;
  uint8_t rsv1_allowed; /* permessage-deflate was negotiated: RSV1 marks a compressed message */
  /* frame header being read */
  uint8_t header[14];
  uint8_t header_length;
  uint8_t header_needed;
  /* current frame */
  uint8_t opcode;      /* of the frame */
  uint8_t fin;
  uint8_t mask[4];
  uint64_t payload_length;
  uint64_t payload_read;
  uint8_t in_payload;  /* the header is read; payload_read < payload_length or the end is not reported yet */
  /* current data message (across fragments) */
  uint8_t message_opcode; /* WS_OP_TEXT/BINARY while a message is open, else 0 */
  uint8_t ended_opcode;   /* of the message WS_MESSAGE_END reported */
  uint8_t message_compressed; /* RSV1 on its first frame: WS_DATA is compressed and UTF-8 not checked
                              * here; still valid at WS_MESSAGE_END */
  uint32_t message_length;  /* never over max_message_size (compressed: ws_compressed_limit()) */
  utf8_state utf8;
  /* the last complete control frame */
  uint8_t control_opcode;
  uint8_t control_length;
  uint8_t control[125];
  /* failure */
  uint16_t fail_code;
  const char *fail_reason;
} ws_parser;

void ws_parser_init(ws_parser *parser, uint32_t max_message_size);

/* The most payload bytes a compressed message may take on the wire: max_message_size once
 * inflated, and DEFLATE may grow data that does not compress by 5 bytes per 16 KiB block. */
uint32_t ws_compressed_limit(uint32_t max_message_size);

/* Consumes input from data[*offset..length). Returns one event at a time: for WS_DATA,
 * chunk and chunk_length point at unmasked payload in `scratch` (at most scratch_size bytes, valid
 * until the next call). Call again with the same data and offset until it returns WS_NEED_MORE
 * or WS_FAIL. */
ws_event ws_parse(ws_parser *parser, const char *data, size_t length, size_t *offset, char *scratch,
                  size_t scratch_size, const char **chunk, size_t *chunk_length);

/* Checks a received close frame's payload: returns 0 if valid with *code set (1005 when empty),
 * else the close code to fail with (1002 bad length/code, 1007 reason not UTF-8). */
uint16_t ws_check_close(const uint8_t *payload, size_t length, uint16_t *code);

/* Writes a server frame header for a payload of `length` into out (at most 10 bytes); returns
 * its size. */
size_t ws_frame_header(uint8_t opcode, uint64_t length, uint8_t out[10]);

#endif
