#include "ws_feeds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/json.h"
#include "../common/text.h"
#include "../common/utf8.h"
#include "ws_codec.h"
#include "ws_deflate.h"

static const tether_host *host;
static tether_worker *worker;
static tether_feed *plain_feeds[2];
static tether_metric compressed_metric;

static text json; /* reused for every encoding: hooks run on one thread */

/* json_escape()'s sink. */
static void json_append(void *out, const void *data, size_t length) { text_append(out, data, length); }

static void json_literal(const char *s) { text_append(&json, s, strlen(s)); }

/* Starts the next encoding in `json`: empty, and not failed. */
static void json_begin(void) {
  json.length = 0;
  json.failed = 0;
}

/* A permessage-deflate feed: its messages compressed for clients that asked for this window.
 * The format's user pointer; plain feeds have none. */
typedef struct deflate_feed {
  int format, level, window_bits;
  uint64_t min_size;
  tether_feed *feed;
  struct deflate_feed *next;
} deflate_feed;

static deflate_feed *deflate_feeds;
/* One compressor per level and window, made at its first message: feeds encode one at a time. */
static ws_deflater *deflaters[WS_LEVELS][WS_WINDOWS];

static void append_frame(tether_buffer *out, uint8_t opcode, int compressed, const void *payload, size_t length) {
  uint8_t header[10];
  size_t header_length = ws_frame_header(opcode, length, header);
  if (compressed) header[0] |= 0x40; /* RSV1: a compressed message (RFC 7692 section 6) */
  host->buffer_append(out, header, header_length);
  host->buffer_append(out, payload, length);
}

/* The frame of a message for a feed: compressed on a deflate feed when it is long enough and
 * gets shorter, else as it is (RSV1 clear), which permessage-deflate allows message by message. */
static int emit_frame(const deflate_feed *f, tether_buffer *out, uint8_t opcode, const void *payload, size_t length) {
  ws_deflater **d;
  const uint8_t *compressed;
  size_t compressed_length;
  if (!f || length < f->min_size) {
    append_frame(out, opcode, 0, payload, length);
    return TETHER_OK;
  }
  d = &deflaters[f->level - 1][f->window_bits - WS_MIN_WINDOW];
  if (!*d) *d = ws_deflater_create(f->level, f->window_bits);
  compressed = *d ? ws_deflate_message(*d, payload, length, &compressed_length) : NULL;
  if (compressed) host->metric_add(worker, compressed_metric, 1);
  if (compressed && compressed_length < length) append_frame(out, opcode, 1, compressed, compressed_length);
  else append_frame(out, opcode, 0, payload, length);
  if (*d) ws_deflater_trim(*d);
  return TETHER_OK;
}

static int encode_json(void *user, const tether_message *m, tether_buffer *out) {
  json_begin();
  json_literal("{\"channel\":\"");
  text_append(&json, m->channel, m->channel_length);
  json_literal("\",\"id\":\"");
  text_append(&json, m->id, m->id_length);
  json_literal("\",\"data\":\"");
  json_escape(m->data, m->data_length, json_append, &json);
  json_literal("\"}");
  if (json.failed) return TETHER_ERROR; /* out of memory: this message is skipped, never cut short */
  return emit_frame(user, out, WS_OP_TEXT, json.data, json.length);
}

static int encode_json_notice(void *user, const tether_notice *n, tether_buffer *out) {
  char number[32];
  json_begin();
  if (n->kind == TETHER_NOTICE_GAP) {
    json_literal("{\"event\":\"gap\",\"channel\":\"");
    text_append(&json, n->channel, n->channel_length);
    json_literal("\",\"since\":\"");
    text_append(&json, n->since, n->since_length);
    json_literal("\"}");
  } else {
    snprintf(number, sizeof number, "%llu", (unsigned long long)n->count);
    json_literal("{\"event\":\"dropped\",\"count\":");
    json_literal(number);
    json_literal("}");
  }
  if (json.failed) return TETHER_ERROR; /* out of memory: this message is skipped, never cut short */
  return emit_frame(user, out, WS_OP_TEXT, json.data, json.length);
}

static int encode_raw(void *user, const tether_message *m, tether_buffer *out) {
  return emit_frame(user, out, utf8_valid(m->data, m->data_length) ? WS_OP_TEXT : WS_OP_BINARY, m->data, m->data_length);
}

static const tether_feed_format formats[2] = {
    {sizeof(tether_feed_format), encode_json, encode_json_notice, NULL},
    {sizeof(tether_feed_format), encode_raw, NULL, NULL},
};

int ws_feeds_init(const tether_host *h, tether_worker *w) {
  host = h;
  worker = w;
  plain_feeds[WS_FORMAT_JSON] = host->feed_create(w, &formats[WS_FORMAT_JSON]);
  plain_feeds[WS_FORMAT_RAW] = host->feed_create(w, &formats[WS_FORMAT_RAW]);
  compressed_metric = host->metric_register("tether_websocket_compressed_messages_total", "",
                                            "Messages and notices deflated for permessage-deflate clients: live ones once "
                                            "per message and feed, whatever the number of subscribers; "
                                            "history replayed on a resume once per resuming client.",
                                            TETHER_METRIC_COUNTER);
  return plain_feeds[WS_FORMAT_JSON] && plain_feeds[WS_FORMAT_RAW] ? TETHER_OK : TETHER_ERROR;
}

tether_feed *ws_plain_feed(int format) { return plain_feeds[format]; }

tether_feed *ws_deflate_feed(int format, int level, uint64_t min_size, int window_bits) {
  deflate_feed *f;
  tether_feed_format with_user = formats[format];
  for (f = deflate_feeds; f; f = f->next)
    if (f->format == format && f->level == level && f->min_size == min_size && f->window_bits == window_bits)
      return f->feed;
  if (!(f = calloc(1, sizeof *f))) return NULL;
  f->format = format, f->level = level, f->min_size = min_size, f->window_bits = window_bits;
  with_user.user = f;
  if (!(f->feed = host->feed_create(worker, &with_user))) {
    free(f);
    return NULL;
  }
  f->next = deflate_feeds;
  deflate_feeds = f;
  return f->feed;
}

void ws_feeds_exit(void) {
  int l, w;
  while (deflate_feeds) {
    deflate_feed *next = deflate_feeds->next;
    free(deflate_feeds);
    deflate_feeds = next;
  }
  for (l = 0; l < WS_LEVELS; ++l)
    for (w = 0; w < WS_WINDOWS; ++w) {
      ws_deflater_destroy(deflaters[l][w]);
      deflaters[l][w] = NULL;
    }
  text_free(&json);
  plain_feeds[0] = plain_feeds[1] = NULL;
}
