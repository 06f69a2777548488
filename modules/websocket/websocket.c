/*
 * websocket — WebSocket (RFC 6455) subscribers for pub/sub channels, on our own codec
 * (ws_codec.c) and the connection-takeover API.
 *
 *   [modules.websocket]
 *   max_message_size = "64KiB"   # largest client message, once inflated (1009 beyond), default 64KiB
 *   allowed_origins = ""         # comma-separated Origin values allowed; empty: any (default)
 *   subprotocols = ""            # comma-separated subprotocols offered; empty: none (default)
 *
 *   [[route]]
 *   path = "/ws/" + "*"           # a prefix route; GET /ws/{channel}[?channel=more&since=<id>]
 *   handler = "websocket"
 *   [route.websocket]
 *   format = "json"              # "json": {"channel":"…","id":"…","data":"…"} text frames; "raw": payload only
 *   client_messages = "ignore"   # "ignore", "echo" (sent back) or "publish" (to the first channel)
 *   max_queue = "1MiB"           # unsent bytes per client before slow_consumer applies
 *   slow_consumer = "disconnect" # "disconnect" (close 1008) or "drop" (oldest; json notice {"event":"dropped"})
 *   compression = "on"          # permessage-deflate (RFC 7692) for clients that offer it; "off": declined
 *   compression_level = 6        # zlib level 1..9 (6: zlib's default; each message is compressed once)
 *   compression_min_size = "128B" # smaller messages go uncompressed (they hardly shrink), default 128B
 *
 * permessage-deflate (ws_extensions.c negotiates, ws_feeds.c and ws_deflate.c compress, ws_inflate.c
 * inflates): always with server_no_context_takeover, so a published message is compressed once per
 * feed (one per format, level, minimum size and window the clients asked for) and the same frame
 * is queued on every subscriber of that feed; tether_websocket_compressed_messages_total counts
 * compressions.
 * Client messages with RSV1 are inflated with max_message_size applied to the inflated size
 * (1009 beyond, after at most that much output); a zlib stream is kept per connection only while
 * a compressed message arrives (every client is told client_no_context_takeover).
 *
 * Heartbeat: a ping every heartbeat_interval of silence, close 1001 after heartbeat_timeout without
 * any frame from the client (both per connection, from the keepalive module; default 30s/60s).
 * Resume: ?since=<id> delivers the messages after that id first; in json format a
 * {"event":"gap",…} notice says when some are gone. Draining (reload): close 1001 after drain_timeout.
 * Expired credentials (a host of ABI 1.4 and a module that set connection_set_expiry, e.g. auth):
 * close 4001 "token expired". A client renews them before that with the text message
 * {"type":"refresh","token":"<new token>"} (exactly these two members, strict JSON, at most 8KiB;
 * on every route, and never echoed or published), answered {"event":"refreshed"} when a module
 * accepted it, else {"event":"refresh_failed"} (the connection then closes at the old expiry).
 * Before the upgrade, a request gets 400 with the reason for: a channel name the publish API
 * would refuse (checked over its whole decoded length: a %00 is refused, not cut off), more than
 * 16 channels, a since longer than 64 bytes decoded, a bad %-escape in either (ws_handshake.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

#include "../common/clock.h"
#include "../common/heartbeat_wheel.h"
#include "../common/list.h"
#include "../common/queue_settings.h"
#include "../common/refusal.h"
#include "../auth/jwt_json.h"
#include "ws_codec.h"
#include "ws_feeds.h"
#include "ws_handshake.h"
#include "ws_inflate.h"

enum { CLIENT_IGNORE, CLIENT_ECHO, CLIENT_PUBLISH };
enum { SCRATCH_SIZE = 16384 };
/* Close code for expired credentials (4000-4999: for applications, RFC 6455 section 7.4.2). */
enum { WS_CLOSE_TOKEN_EXPIRED = 4001 };
/* The largest refresh message kept: the JSON reader's own bound. */
enum { REFRESH_MAX_SIZE = JWT_JSON_MAX_INPUT };
enum { DEFAULT_LEVEL = 6, DEFAULT_MIN_SIZE = 128 };

typedef struct {
  uint64_t max_message_size;
  char *allowed_origins; /* comma-separated, or NULL */
  char *subprotocols;
} module_config;

typedef struct route_config {
  int format;
  int client_messages;
  queue_settings queue;
  int compression;          /* offer permessage-deflate */
  int compression_level;    /* 1..9 */
  uint64_t compression_min_size;
  /* set in worker_init: the feed for each window a client may ask for (index: bits - 8) */
  tether_feed *deflate_feeds[WS_WINDOWS];
  list_link link; /* in routes */
} route_config;

static const route_config default_route = {WS_FORMAT_JSON, CLIENT_IGNORE, QUEUE_SETTINGS_DEFAULT, 1, DEFAULT_LEVEL,
                                           DEFAULT_MIN_SIZE, {NULL}, {NULL, NULL}};

/* One upgraded connection: kept small, there may be a hundred thousand of them per worker. */
typedef struct ws_conn {
  tether_connection *connection;
  const route_config *route;
  timer_wheel_entry beat; /* in beats while interval_ms or timeout_ms is set (see beat()) */
  char *message; /* the client message being assembled (echo/publish routes only) */
  char *publish_channel; /* not NUL-terminated */
  uint32_t message_length, message_capacity; /* bounded by max_message_size (at most 1GiB) */
  uint32_t last_seen_ms;                     /* now_ms(), compared as differences (wraps after 49 days) */
  uint32_t interval_ms, timeout_ms;
  uint8_t closing; /* we sent a close frame: ignore everything else */
  uint8_t publish_channel_length;
  uint8_t not_refresh; /* the message being assembled cannot be a refresh message (too long, binary) */
  uint8_t client_window_bits; /* permessage-deflate: the client's window; 0 when not negotiated */
  uint8_t inflating;          /* a compressed message is being inflated */
  uint8_t skipping;           /* ...or skipped: a route that ignores it, and it cannot be a refresh */
  ws_inflater *inflater; /* while a compressed message arrives (clients never keep their context: ws_extensions.c) */
  ws_parser parser;
} ws_conn;

static const tether_host *host;
static int host_refreshes; /* the host has connection_refresh (ABI 1.4) */
static tether_worker *worker;
static heartbeat_wheel beats;
/* Every route config of this process (create_route_config), and the one of routes without a
 * [route.websocket] table: worker_init makes their permessage-deflate feeds. */
static list_link routes = LIST_HEAD_INIT(routes);
static route_config untabled_route;
static tether_metric open_metric;
static char scratch[SCRATCH_SIZE];
static char inflated[SCRATCH_SIZE]; /* what a compressed client message inflates to, piece by piece */

/* The modules' clock, cut to 32 bits to keep ws_conn small: only differences are used. */
static uint32_t now_ms(void) { return (uint32_t)monotonic_ms(); }

/* ---- settings */

static int read_list(tether_config *table, const char *key, char **out) {
  const char *value = NULL;
  int status = host->config_string(table, key, &value);
  if (status == TETHER_ERROR) return 0;
  if (status == TETHER_OK && *value) *out = strdup(value);
  return 1;
}

static int create_config(const tether_host *h, tether_config *table, void **out) {
  static const char *const keys[] = {"max_message_size", "allowed_origins", "subprotocols"};
  module_config *c = calloc(1, sizeof *c);
  int ok;
  host = h;
  if (!c) return TETHER_ERROR;
  c->max_message_size = 64 * 1024;
  ok = host->config_only_keys(table, keys, 3) == TETHER_OK;
  ok = host->config_size(table, "max_message_size", &c->max_message_size) != TETHER_ERROR && ok;
  if (c->max_message_size == 0 || c->max_message_size > (1u << 30)) {
    host->config_error(table, "max_message_size", "must be between 1B and 1GiB");
    ok = 0;
  }
  ok = read_list(table, "allowed_origins", &c->allowed_origins) && ok;
  ok = read_list(table, "subprotocols", &c->subprotocols) && ok;
  *out = c;
  return ok ? TETHER_OK : TETHER_ERROR;
}

static void destroy_config(void *config) {
  module_config *c = config;
  if (!c) return;
  free(c->allowed_origins);
  free(c->subprotocols);
  free(c);
}

static int read_compression(tether_config *table, route_config *r) {
  const char *value;
  int64_t level;
  int ok = 1, status;
  if ((status = host->config_string(table, "compression", &value)) == TETHER_OK) {
    if (strcmp(value, "on") == 0) r->compression = 1;
    else if (strcmp(value, "off") == 0) r->compression = 0;
    else host->config_error(table, "compression", "must be \"on\" or \"off\""), ok = 0;
  } else if (status == TETHER_ERROR) ok = 0;
  if ((status = host->config_integer(table, "compression_level", &level)) == TETHER_OK) {
    if (level >= 1 && level <= WS_LEVELS) r->compression_level = (int)level;
    else host->config_error(table, "compression_level", "must be between 1 and 9"), ok = 0;
  } else if (status == TETHER_ERROR) ok = 0;
  if (host->config_size(table, "compression_min_size", &r->compression_min_size) == TETHER_ERROR) ok = 0;
  return ok;
}

static int create_route_config(const tether_host *h, tether_config *table, void *config, void **out) {
  static const char *const keys[] = {"format", "client_messages", "max_queue", "slow_consumer", "compression",
                                     "compression_level", "compression_min_size"};
  route_config *r = malloc(sizeof *r);
  const char *value;
  int ok, status;
  (void)config;
  host = h;
  if (!r) return TETHER_ERROR;
  *r = default_route;
  ok = host->config_only_keys(table, keys, sizeof keys / sizeof keys[0]) == TETHER_OK;
  if ((status = host->config_string(table, "format", &value)) == TETHER_OK) {
    if (strcmp(value, "json") == 0) r->format = WS_FORMAT_JSON;
    else if (strcmp(value, "raw") == 0) r->format = WS_FORMAT_RAW;
    else host->config_error(table, "format", "must be \"json\" or \"raw\""), ok = 0;
  } else if (status == TETHER_ERROR) ok = 0;
  if ((status = host->config_string(table, "client_messages", &value)) == TETHER_OK) {
    if (strcmp(value, "ignore") == 0) r->client_messages = CLIENT_IGNORE;
    else if (strcmp(value, "echo") == 0) r->client_messages = CLIENT_ECHO;
    else if (strcmp(value, "publish") == 0) r->client_messages = CLIENT_PUBLISH;
    else host->config_error(table, "client_messages", "must be \"ignore\", \"echo\" or \"publish\""), ok = 0;
  } else if (status == TETHER_ERROR) ok = 0;
  ok = read_queue_settings(host, table, &r->queue) && ok;
  ok = read_compression(table, r) && ok;
  list_insert_head(&routes, &r->link);
  *out = r;
  return ok ? TETHER_OK : TETHER_ERROR;
}

static void destroy_route_config(void *route) {
  route_config *r = route;
  if (!r) return;
  list_remove(&r->link);
  free(r);
}

/* ---- frames out
 *
 * A write can fail (the client reset the connection) and so close it: the host then answers -1,
 * and on_close comes, on a later turn of the loop (or, from an older host, already ran and freed
 * the ws_conn). Either way the connection is over: every caller of a function here that gets 0
 * back returns at once and touches nothing of the ws_conn. */

/* Writes one frame; 1 if the connection still takes frames, 0 if it is closing. */
static int send_frame(ws_conn *c, uint8_t opcode, const void *payload, size_t length) {
  uint8_t header[10];
  size_t header_length = ws_frame_header(opcode, length, header);
  char small[512];
  char *frame = header_length + length <= sizeof small ? small : malloc(header_length + length);
  int64_t queued;
  if (!frame) return 1; /* dropped; the connection is fine */
  memcpy(frame, header, header_length);
  if (length) memcpy(frame + header_length, payload, length);
  queued = host->connection_write(c->connection, frame, header_length + length);
  if (frame != small) free(frame);
  return queued >= 0;
}

/* Sends a close frame and ends the connection once it is written. Returns 0: the caller stops. */
static int close_with(ws_conn *c, uint16_t code, const char *reason) {
  tether_connection *connection = c->connection;
  uint8_t payload[125];
  size_t reason_length = reason ? strlen(reason) : 0;
  if (c->closing) return 0;
  c->closing = 1;
  if (reason_length > 123) reason_length = 123;
  payload[0] = (uint8_t)(code >> 8);
  payload[1] = (uint8_t)code;
  if (reason_length) memcpy(payload + 2, reason, reason_length);
  if (send_frame(c, WS_OP_CLOSE, payload, 2 + reason_length)) host->connection_close(connection);
  return 0;
}

/* ---- feeds: the route's permessage-deflate feeds (ws_feeds.c encodes) */

/* A route's deflate feeds; on failure it offers no compression (its deflate_feeds stay NULL). */
static void make_deflate_feeds(route_config *r) {
  int w;
  memset(r->deflate_feeds, 0, sizeof r->deflate_feeds);
  if (!r->compression) return;
  for (w = 0; w < WS_WINDOWS; ++w)
    if (!(r->deflate_feeds[w] = ws_deflate_feed(r->format, r->compression_level, r->compression_min_size, WS_MIN_WINDOW + w))) {
      memset(r->deflate_feeds, 0, sizeof r->deflate_feeds);
      return;
    }
}

/* ---- frames in: each handler returns 1 to go on parsing, 0 once the connection is closing */

static int handle_control(ws_conn *c) {
  ws_parser *p = &c->parser;
  uint16_t code = 0, bad;
  if (p->control_opcode == WS_OP_PING) return send_frame(c, WS_OP_PONG, p->control, p->control_length);
  if (p->control_opcode != WS_OP_CLOSE) return 1; /* a pong only proves the client is alive, like any frame */
  if ((bad = ws_check_close(p->control, p->control_length, &code)))
    return close_with(c, bad, bad == WS_CLOSE_INVALID_DATA ? "close reason is not UTF-8" : "invalid close frame");
  /* The client closes: answer with its code (an empty close for an empty one). */
  {
    tether_connection *connection = c->connection;
    c->closing = 1;
    if (send_frame(c, WS_OP_CLOSE, p->control, code == 1005 ? 0 : 2)) host->connection_close(connection);
  }
  return 0;
}

static int keep_bytes(ws_conn *c, const char *data, size_t length) {
  if ((size_t)c->message_length + length > c->message_capacity) {
    size_t capacity = c->message_capacity ? c->message_capacity : 1024;
    char *grown;
    while (capacity < (size_t)c->message_length + length) capacity *= 2;
    if (!(grown = realloc(c->message, capacity))) return close_with(c, WS_CLOSE_INTERNAL, "out of memory");
    c->message = grown;
    c->message_capacity = (uint32_t)capacity;
  }
  memcpy(c->message + c->message_length, data, length);
  c->message_length += (uint32_t)length;
  return 1;
}

static int json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Whether data that begins a message begins a JSON object, as a refresh message does. */
static int may_begin_object(const char *data, size_t length) {
  size_t i = 0;
  while (i < length && json_space(data[i])) ++i;
  return i == length || data[i] == '{';
}

/* Routes that ignore client messages still keep what may be a refresh message: a text message
 * up to REFRESH_MAX_SIZE that begins like a JSON object. */
static int keep_data(ws_conn *c, uint8_t opcode, const char *data, size_t length) {
  int may_refresh = host_refreshes && !c->not_refresh && opcode == WS_OP_TEXT &&
                    (size_t)c->message_length + length <= REFRESH_MAX_SIZE &&
                    (c->message_length != 0 || may_begin_object(data, length));
  if (!may_refresh) c->not_refresh = 1;
  if (c->route->client_messages == CLIENT_IGNORE) {
    if (may_refresh) return keep_bytes(c, data, length);
    c->message_length = 0;
    return 1;
  }
  return keep_bytes(c, data, length);
}

/* Forgets the message just handled; a large buffer is not kept for an idle client, nor any on a
 * route that only looks for refresh messages. */
static void reset_message(ws_conn *c) {
  c->message_length = 0;
  c->not_refresh = 0;
  if (c->message_capacity > 64 * 1024 || c->route->client_messages == CLIENT_IGNORE) {
    free(c->message);
    c->message = NULL;
    c->message_capacity = 0;
  }
}

/* Whether the text is a JSON object at first sight: '{' ... '}' inside JSON whitespace. Every
 * text message of a route is looked at, so the others (an echoed number, say) cost this only. */
static int looks_like_object(const char *text, size_t length) {
  size_t first = 0, last = length;
  while (first < length && json_space(text[first])) ++first;
  while (last > first && json_space(text[last - 1])) --last;
  return last - first >= 2 && text[first] == '{' && text[last - 1] == '}';
}

/* The token of a refresh message: exactly {"type":"refresh","token":"<token>"} (in any order,
 * any JSON whitespace). 1 with the token in *token (a view into `object`), else 0. */
static int read_refresh_message(const char *text, size_t length, jwt_json_object *object, jwt_json_string *token) {
  const jwt_json_member *type, *value;
  const char *why;
  if (!looks_like_object(text, length) || jwt_json_parse(text, length, object, &why) != 0) return 0;
  type = jwt_json_find(object, "type");
  value = jwt_json_find(object, "token");
  if (object->member_count == 2 && type && value && type->kind == JWT_JSON_STRING && value->kind == JWT_JSON_STRING &&
      type->string.length == 7 && memcmp(type->string.data, "refresh", 7) == 0) {
    *token = value->string;
    return 1;
  }
  jwt_json_free(object);
  return 0;
}

/* A refresh message goes to the host's refresh hooks (the auth module), not to the route. 1 if
 * the message was one (and was answered), 0 if it is an ordinary message; -1: closing. */
static int handle_refresh(ws_conn *c) {
  static jwt_json_object object; /* 8 KiB: not on the stack; hooks run on one thread */
  static const char refreshed[] = "{\"event\":\"refreshed\"}";
  static const char failed[] = "{\"event\":\"refresh_failed\"}";
  jwt_json_string token;
  int status;
  if (!read_refresh_message(c->message, c->message_length, &object, &token)) return 0;
  status = host->connection_refresh(c->connection, token.data, token.length);
  jwt_json_free(&object);
  if (status == TETHER_OK) return send_frame(c, WS_OP_TEXT, refreshed, sizeof refreshed - 1) ? 1 : -1;
  return send_frame(c, WS_OP_TEXT, failed, sizeof failed - 1) ? 1 : -1;
}

static int handle_message(ws_conn *c, uint8_t opcode) {
  if (opcode == WS_OP_TEXT && !c->not_refresh && c->message_length != 0 && host_refreshes) {
    int refresh = handle_refresh(c);
    if (refresh < 0) return 0;
    if (refresh > 0) {
      reset_message(c);
      return 1;
    }
  }
  if (c->route->client_messages == CLIENT_ECHO) {
    if (!send_frame(c, opcode, c->message, c->message_length)) return 0;
  } else if (c->route->client_messages == CLIENT_PUBLISH && c->publish_channel) {
    if (host->publish(worker, c->publish_channel, c->publish_channel_length, c->message, c->message_length) != TETHER_OK)
      return close_with(c, WS_CLOSE_TOO_BIG, "message over the broker's max_message_size");
  }
  reset_message(c);
  return 1;
}

/* ---- compressed client messages (RSV1): inflated into `inflated`, then kept like any data */

/* The sink of ws_inflate(): 1 to go on, 0 once the connection is closing. */
static int keep_inflated(void *user, const char *data, size_t length) {
  ws_conn *c = user;
  /* While data comes the message is open; at its end the parser already moved it to ended_opcode. */
  if (!keep_data(c, c->parser.message_opcode ? c->parser.message_opcode : c->parser.ended_opcode, data, length))
    return 0;
  /* Ignored, and no refresh any more: stop inflating it (inflate_data). */
  if (c->route->client_messages == CLIENT_IGNORE && c->not_refresh) {
    c->skipping = 1;
    return 0;
  }
  return 1;
}

static int inflate_result(ws_conn *c, ws_inflate_result result) {
  switch (result) {
    case WS_INFLATE_OK: return 1;
    case WS_INFLATE_STOPPED: return 0; /* closing: c may be gone already */
    case WS_INFLATE_TOO_BIG: return close_with(c, WS_CLOSE_TOO_BIG, "message too big once inflated");
    case WS_INFLATE_BAD_DATA: return close_with(c, WS_CLOSE_INVALID_DATA, "invalid compressed data");
    case WS_INFLATE_BAD_UTF8: return close_with(c, WS_CLOSE_INVALID_DATA, "text message is not valid UTF-8");
    case WS_INFLATE_NO_MEMORY: break;
  }
  return close_with(c, WS_CLOSE_INTERNAL, "out of memory");
}

/* The inflater of a compressed message that starts (with its first data, or at its end when it
 * has none), made on the first one: idle clients never have one. */
static int begin_inflating(ws_conn *c, uint8_t opcode) {
  if (c->inflating) return 1;
  if (!c->inflater && !(c->inflater = ws_inflater_create(c->client_window_bits)))
    return close_with(c, WS_CLOSE_INTERNAL, "out of memory");
  ws_inflate_begin(c->inflater, opcode == WS_OP_TEXT, c->parser.max_message_size);
  c->inflating = 1;
  return 1;
}

/* On a route that ignores client messages, a compressed message is inflated only while it may
 * still be a refresh message (text, at most REFRESH_MAX_SIZE): past that its content is thrown
 * away unread, rather than making the worker inflate up to max_message_size for nothing (a
 * small upload can inflate to a thousand times its size). No context is kept between messages
 * (ws_extensions.c), so the next one starts afresh. */
static void skip_rest_of_message(ws_conn *c) {
  c->inflating = 0;
  ws_inflater_destroy(c->inflater);
  c->inflater = NULL;
}

static int inflate_data(ws_conn *c, const char *data, size_t length) {
  ws_inflate_result result;
  if (c->skipping) return 1;
  if (!begin_inflating(c, c->parser.message_opcode)) return 0;
  result = ws_inflate(c->inflater, data, length, inflated, sizeof inflated, keep_inflated, c);
  if (result == WS_INFLATE_STOPPED && c->skipping) {
    skip_rest_of_message(c);
    return 1;
  }
  return inflate_result(c, result);
}

/* The end of a compressed message: the rest of its output, then the message as any other. No
 * client keeps its context (ws_extensions.c answers client_no_context_takeover), so the inflater
 * goes with each message: an idle connection holds no zlib state. */
static int end_inflated_message(ws_conn *c) {
  ws_inflate_result result;
  if (c->skipping) {
    c->skipping = 0;
    reset_message(c);
    return 1;
  }
  if (!begin_inflating(c, c->parser.ended_opcode)) return 0;
  result = ws_inflate_end(c->inflater, inflated, sizeof inflated, keep_inflated, c);
  if (result == WS_INFLATE_STOPPED && c->skipping) {
    skip_rest_of_message(c);
    c->skipping = 0;
    reset_message(c);
    return 1;
  }
  if (result != WS_INFLATE_OK) return inflate_result(c, result);
  c->inflating = 0;
  ws_inflater_destroy(c->inflater);
  c->inflater = NULL;
  return handle_message(c, c->parser.ended_opcode);
}

/* One event of the parser; 1 to go on with the rest of the input. */
static int handle_event(ws_conn *c, ws_event event, const char *chunk, size_t chunk_length) {
  switch (event) {
    case WS_NEED_MORE: return 0;
    case WS_DATA:
      if (c->parser.message_compressed) return inflate_data(c, chunk, chunk_length);
      return keep_data(c, c->parser.message_opcode, chunk, chunk_length);
    case WS_MESSAGE_END:
      if (c->parser.message_compressed) return end_inflated_message(c);
      return handle_message(c, c->parser.ended_opcode);
    case WS_CONTROL: return handle_control(c);
    case WS_FAIL: return close_with(c, c->parser.fail_code, c->parser.fail_reason);
  }
  return 0;
}

/* Parses what came, frame by frame, until it is all consumed or the connection is closing: after
 * our close frame (or the client's), the rest of the input is not looked at. */
static void on_read(tether_connection *connection, const char *data, size_t length, void *user) {
  ws_conn *c = user;
  size_t offset = 0;
  (void)connection;
  if (c->closing) return;
  c->last_seen_ms = now_ms();
  for (;;) {
    const char *chunk = NULL;
    size_t chunk_length = 0;
    ws_event event = ws_parse(&c->parser, data, length, &offset, scratch, sizeof scratch, &chunk, &chunk_length);
    if (!handle_event(c, event, chunk, chunk_length)) return;
  }
}

static void on_overflow(tether_connection *connection, void *user) {
  ws_conn *c = user;
  (void)connection;
  close_with(c, WS_CLOSE_POLICY, "slow consumer: too many unsent messages");
}

static void on_shutdown(tether_connection *connection, void *user) {
  ws_conn *c = user;
  (void)connection;
  close_with(c, WS_CLOSE_GOING_AWAY, "server restarting: reconnect and resume");
}

static void on_expired(tether_connection *connection, void *user) {
  ws_conn *c = user;
  (void)connection;
  close_with(c, WS_CLOSE_TOKEN_EXPIRED, "token expired");
}

static void on_close(tether_connection *connection, void *user) {
  ws_conn *c = user;
  (void)connection;
  heartbeat_wheel_cancel(&beats, &c->beat);
  host->metric_add(worker, open_metric, -1);
  free(c->message);
  free(c->publish_channel);
  ws_inflater_destroy(c->inflater);
  free(c);
}

static const tether_stream_callbacks callbacks = {
    sizeof(tether_stream_callbacks), on_read, NULL, on_close, on_overflow, on_shutdown, on_expired,
};

/* ---- heartbeat
 *
 * A connection's entry in beats is due when it next needs looking at: a ping once it has been
 * quiet for interval_ms (and every interval_ms while it stays quiet), the close once quiet for
 * timeout_ms. Reading a frame only notes the time (on_read): the entry is moved when it fires
 * and finds the connection was not quiet, so a busy client costs one wheel operation per
 * interval, not one per frame. */

/* How long from now, quiet for `quiet` ms, until the ping or the close that comes first. */
static uint32_t until_next_beat(const ws_conn *c, uint32_t quiet) {
  uint32_t wait = UINT32_MAX;
  if (c->interval_ms) wait = quiet < c->interval_ms ? c->interval_ms - quiet : c->interval_ms;
  if (c->timeout_ms && c->timeout_ms - quiet < wait) wait = c->timeout_ms - quiet;
  return wait;
}

static void beat(timer_wheel_entry *entry, void *user) {
  ws_conn *c = LIST_ENTRY(entry, ws_conn, beat);
  uint64_t now = monotonic_ms();
  uint32_t quiet = (uint32_t)now - c->last_seen_ms;
  (void)user;
  if (c->closing) return;
  if (c->timeout_ms && quiet >= c->timeout_ms) {
    close_with(c, WS_CLOSE_GOING_AWAY, "ping timeout");
    return;
  }
  heartbeat_wheel_schedule(&beats, &c->beat, now + until_next_beat(c, quiet));
  if (c->interval_ms && quiet >= c->interval_ms) send_frame(c, WS_OP_PING, NULL, 0); /* the last use of c */
}

/* ---- the handshake (ws_handshake.c decides; here the answer goes out) */

/* A 426 names the protocol and version the client should have asked for (RFC 6455 §4.4). */
static int refuse(tether_request *request, int status, const char *why) {
  if (status == 426) {
    host->response_header(request, "Upgrade", "websocket");
    host->response_header(request, "Sec-WebSocket-Version", "13");
  }
  return refuse_request(host, request, status, why);
}

static void read_upgrade_request(tether_request *request, const tether_request_info *info, ws_upgrade_request *r) {
  r->method = info->method, r->method_length = info->method_length;
  r->http_major = info->http_major, r->http_minor = info->http_minor;
  r->path = info->path, r->path_length = info->path_length;
  r->route_length = info->route_length;
  r->query = info->query, r->query_length = info->query_length;
  r->upgrade = host->request_header(request, "upgrade", &r->upgrade_length);
  r->connection = host->request_header(request, "connection", &r->connection_length);
  r->version = host->request_header(request, "sec-websocket-version", &r->version_length);
  r->key = host->request_header(request, "sec-websocket-key", &r->key_length);
  r->origin = host->request_header(request, "origin", &r->origin_length);
  r->protocols = host->request_header(request, "sec-websocket-protocol", &r->protocols_length);
  r->extensions = host->request_header(request, "sec-websocket-extensions", &r->extensions_length);
}

/* A copy of the first channel, for routes whose client messages are published to it. */
static int keep_publish_channel(ws_conn *wc, const subscription *channels) {
  if (wc->route->client_messages != CLIENT_PUBLISH) return 1;
  if (!(wc->publish_channel = malloc(channels->name_lengths[0]))) return 0;
  memcpy(wc->publish_channel, channels->names[0], channels->name_lengths[0]);
  wc->publish_channel_length = channels->name_lengths[0];
  return 1;
}

static int content(tether_request *request, void *config, void *route_config_ptr) {
  const route_config *route = route_config_ptr ? route_config_ptr : &untabled_route;
  module_config *c = config;
  ws_handshake_policy policy = {c ? c->allowed_origins : NULL, c ? c->subprotocols : NULL, NULL, 0};
  tether_request_info info;
  ws_upgrade_request upgrade_request;
  ws_handshake handshake;
  const subscription *channels = &handshake.channels;
  ws_conn *wc;
  tether_connection *conn;
  tether_feed *feed = ws_plain_feed(route->format);
  size_t i;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  read_upgrade_request(request, &info, &upgrade_request);
  policy.check_channel = host->channel_problem;
  policy.compression = route->deflate_feeds[0] != NULL; /* "on", and its feeds were made */
  ws_handshake_read(&handshake, &upgrade_request, &policy);
  if (handshake.status != 101) return refuse(request, handshake.status, handshake.problem);
  /* What the client sends is published on its first channel: an access module (auth) may say
   * that this client may subscribe there but not publish. */
  if (route->client_messages == CLIENT_PUBLISH &&
      host->size >= offsetof(tether_host, request_publish_allowed) + sizeof host->request_publish_allowed &&
      host->request_publish_allowed && host->request_publish_allowed(request, channels->names[0], channels->name_lengths[0]) != TETHER_OK)
    return refuse(request, 403, "not allowed to publish on this channel");

  host->response_header(request, "Upgrade", "websocket");
  host->response_header(request, "Connection", "Upgrade");
  host->response_header(request, "Sec-WebSocket-Accept", handshake.accept);
  if (handshake.protocol[0]) host->response_header(request, "Sec-WebSocket-Protocol", handshake.protocol);
  if (handshake.deflate.accepted) host->response_header(request, "Sec-WebSocket-Extensions", handshake.deflate.response);
  if (!(wc = calloc(1, sizeof *wc))) return TETHER_ERROR;
  wc->route = route;
  timer_wheel_entry_init(&wc->beat); /* before on_close may come, which cancels it */
  ws_parser_init(&wc->parser, c ? (uint32_t)c->max_message_size : 64 * 1024);
  if (handshake.deflate.accepted) {
    wc->parser.rsv1_allowed = 1;
    wc->client_window_bits = handshake.deflate.client_window_bits;
    feed = route->deflate_feeds[handshake.deflate.server_window_bits - WS_MIN_WINDOW];
  }
  if (!keep_publish_channel(wc, channels) || !(conn = host->upgrade(request, 101, &callbacks, wc))) {
    free(wc->publish_channel);
    free(wc);
    return TETHER_ERROR;
  }
  wc->connection = conn;
  wc->last_seen_ms = now_ms();
  {
    uint64_t interval = 0, timeout = 0;
    host->connection_heartbeat(conn, &interval, &timeout);
    wc->interval_ms = interval > UINT32_MAX ? UINT32_MAX : (uint32_t)interval;
    wc->timeout_ms = timeout > UINT32_MAX ? UINT32_MAX : (uint32_t)timeout;
  }
  if (wc->interval_ms || wc->timeout_ms) heartbeat_wheel_schedule(&beats, &wc->beat, monotonic_ms() + until_next_beat(wc, 0));
  host->metric_add(worker, open_metric, 1);
  host->connection_set_queue_limit(conn, route->queue.max_queue, route->queue.slow_consumer);
  /* Subscribing may write history to the client: from here on only the handle and locals are
   * used, not wc (a failed write closes the connection). */
  for (i = 0; i < channels->count; ++i)
    host->subscribe(conn, feed, channels->names[i], channels->name_lengths[i],
                    channels->has_since ? channels->since : NULL, channels->since_length);
  return TETHER_OK;
}

/* ---- worker lifecycle */

static int worker_init(const tether_host *h, tether_worker *w, void *config) {
  list_link *at, *next;
  (void)config;
  host = h;
  worker = w;
  if (host->abi_minor < 1) return TETHER_ERROR;
  host_refreshes = host->abi_minor >= 4;
  if (ws_feeds_init(h, w) != TETHER_OK) return TETHER_ERROR;
  untabled_route = default_route;
  make_deflate_feeds(&untabled_route);
  LIST_FOR_EACH_SAFE(at, next, &routes) make_deflate_feeds(LIST_ENTRY(at, route_config, link));
  open_metric = host->metric_register("tether_connections_open", "kind=\"websocket\"", "Open client connections by kind.",
                                      TETHER_METRIC_GAUGE);
  heartbeat_wheel_init(&beats, host, w, beat, NULL);
  return TETHER_OK;
}

static void worker_exit(tether_worker *w, void *config) {
  (void)w;
  (void)config;
  heartbeat_wheel_exit(&beats);
  ws_feeds_exit();
}

static const tether_module module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "websocket",
    .version = "1.0.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_config = destroy_config,
    .destroy_route_config = destroy_route_config,
    .worker_init = worker_init,
    .worker_exit = worker_exit,
    .content = content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &module; }
