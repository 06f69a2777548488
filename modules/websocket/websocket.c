/*
 * websocket — WebSocket (RFC 6455) subscribers for pub/sub channels, on our own codec
 * (ws_codec.c) and the connection-takeover API.
 *
 *   [modules.websocket]
 *   max_message_size = "64KiB"   # largest client message (1009 beyond), default 64KiB
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
 *
 * Heartbeat: a ping every heartbeat_interval of silence, close 1001 after heartbeat_timeout without
 * any frame from the client (both per connection, from the keepalive module; default 30s/60s).
 * Resume: ?since=<id> delivers the messages after that id first; in json format a
 * {"event":"gap",…} notice says when some are gone. Draining (reload): close 1001 after drain_timeout.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <tether/module.h>
#include <time.h>

#include "../common/query.h"
#include "../common/queue_settings.h"
#include "sha1.h"
#include "ws_codec.h"

enum { FORMAT_JSON, FORMAT_RAW };
enum { CLIENT_IGNORE, CLIENT_ECHO, CLIENT_PUBLISH };
enum { MAX_CHANNELS = 16, SWEEP_MS = 100, SCRATCH_SIZE = 16384 };

typedef struct {
  uint64_t max_message_size;
  char *allowed_origins; /* comma-separated, or NULL */
  char *subprotocols;
} module_config;

typedef struct {
  int format;
  int client_messages;
  queue_settings queue;
} route_config;

static const route_config default_route = {FORMAT_JSON, CLIENT_IGNORE, QUEUE_SETTINGS_DEFAULT};

/* One upgraded connection: kept small, there may be a hundred thousand of them per worker. */
typedef struct ws_conn {
  tether_connection *connection;
  const route_config *route;
  struct ws_conn *prev, *next;
  char *message; /* the client message being assembled (echo/publish routes only) */
  char *publish_channel;
  uint32_t message_length, message_capacity; /* bounded by max_message_size (at most 1GiB) */
  uint32_t last_seen_ms, last_ping_ms;       /* now_ms(), compared as differences (wraps after 49 days) */
  uint32_t interval_ms, timeout_ms;
  uint8_t closing; /* we sent a close frame: ignore everything else */
  ws_parser parser;
} ws_conn;

static const tether_host *host;
static tether_worker *worker;
static tether_timer *sweep_timer;
static tether_feed *feeds[2];
static ws_conn *connections;
static tether_metric open_metric;
static char scratch[SCRATCH_SIZE];

static uint32_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint32_t)((uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000);
}

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

static int create_route_config(const tether_host *h, tether_config *table, void *config, void **out) {
  static const char *const keys[] = {"format", "client_messages", "max_queue", "slow_consumer"};
  route_config *r = malloc(sizeof *r);
  const char *value;
  int ok, status;
  (void)config;
  host = h;
  if (!r) return TETHER_ERROR;
  *r = default_route;
  ok = host->config_only_keys(table, keys, 4) == TETHER_OK;
  if ((status = host->config_string(table, "format", &value)) == TETHER_OK) {
    if (strcmp(value, "json") == 0) r->format = FORMAT_JSON;
    else if (strcmp(value, "raw") == 0) r->format = FORMAT_RAW;
    else host->config_error(table, "format", "must be \"json\" or \"raw\""), ok = 0;
  } else if (status == TETHER_ERROR) ok = 0;
  if ((status = host->config_string(table, "client_messages", &value)) == TETHER_OK) {
    if (strcmp(value, "ignore") == 0) r->client_messages = CLIENT_IGNORE;
    else if (strcmp(value, "echo") == 0) r->client_messages = CLIENT_ECHO;
    else if (strcmp(value, "publish") == 0) r->client_messages = CLIENT_PUBLISH;
    else host->config_error(table, "client_messages", "must be \"ignore\", \"echo\" or \"publish\""), ok = 0;
  } else if (status == TETHER_ERROR) ok = 0;
  ok = read_queue_settings(host, table, &r->queue) && ok;
  *out = r;
  return ok ? TETHER_OK : TETHER_ERROR;
}

static void destroy_route_config(void *route) { free(route); }

/* ---- frames out */

static void send_frame(ws_conn *c, uint8_t opcode, const void *payload, size_t length) {
  uint8_t header[10];
  size_t header_length = ws_frame_header(opcode, length, header);
  char small[512];
  char *frame = header_length + length <= sizeof small ? small : malloc(header_length + length);
  if (!frame) return;
  memcpy(frame, header, header_length);
  if (length) memcpy(frame + header_length, payload, length);
  host->connection_write(c->connection, frame, header_length + length);
  if (frame != small) free(frame);
}

/* Sends a close frame and ends the connection once it is written. */
static void close_with(ws_conn *c, uint16_t code, const char *reason) {
  uint8_t payload[125];
  size_t reason_length = reason ? strlen(reason) : 0;
  if (c->closing) return;
  c->closing = 1;
  if (reason_length > 123) reason_length = 123;
  payload[0] = (uint8_t)(code >> 8);
  payload[1] = (uint8_t)code;
  if (reason_length) memcpy(payload + 2, reason, reason_length);
  send_frame(c, WS_OP_CLOSE, payload, 2 + reason_length);
  host->connection_close(c->connection);
}

/* ---- feeds: how messages look on the wire */

typedef struct {
  char *data;
  size_t length, capacity;
} growable;

static growable json; /* reused for every encoding: hooks run on one thread */

static void json_append(void *out, const void *data, size_t length) {
  growable *g = out;
  if (g->length + length > g->capacity) {
    size_t capacity = g->capacity ? g->capacity : 256;
    char *grown;
    while (capacity < g->length + length) capacity *= 2;
    if (!(grown = realloc(g->data, capacity))) return;
    g->data = grown;
    g->capacity = capacity;
  }
  memcpy(g->data + g->length, data, length);
  g->length += length;
}

static void json_literal(const char *s) { json_append(&json, s, strlen(s)); }

static int emit_frame(tether_buffer *out, uint8_t opcode, const void *payload, size_t length) {
  uint8_t header[10];
  size_t header_length = ws_frame_header(opcode, length, header);
  host->buffer_append(out, header, header_length);
  host->buffer_append(out, payload, length);
  return TETHER_OK;
}

static int encode_json(void *user, const tether_message *m, tether_buffer *out) {
  (void)user;
  json.length = 0;
  json_literal("{\"channel\":\"");
  json_append(&json, m->channel, m->channel_length);
  json_literal("\",\"id\":\"");
  json_append(&json, m->id, m->id_length);
  json_literal("\",\"data\":\"");
  json_escape(m->data, m->data_length, json_append, &json);
  json_literal("\"}");
  return emit_frame(out, WS_OP_TEXT, json.data, json.length);
}

static int encode_json_notice(void *user, const tether_notice *n, tether_buffer *out) {
  char number[32];
  (void)user;
  json.length = 0;
  if (n->kind == TETHER_NOTICE_GAP) {
    json_literal("{\"event\":\"gap\",\"channel\":\"");
    json_append(&json, n->channel, n->channel_length);
    json_literal("\",\"since\":\"");
    json_append(&json, n->since, n->since_length);
    json_literal("\"}");
  } else {
    snprintf(number, sizeof number, "%llu", (unsigned long long)n->count);
    json_literal("{\"event\":\"dropped\",\"count\":");
    json_literal(number);
    json_literal("}");
  }
  return emit_frame(out, WS_OP_TEXT, json.data, json.length);
}

static int encode_raw(void *user, const tether_message *m, tether_buffer *out) {
  (void)user;
  return emit_frame(out, utf8_valid(m->data, m->data_length) ? WS_OP_TEXT : WS_OP_BINARY, m->data, m->data_length);
}

/* ---- frames in */

static void handle_control(ws_conn *c) {
  ws_parser *p = &c->parser;
  if (p->control_opcode == WS_OP_PING) {
    send_frame(c, WS_OP_PONG, p->control, p->control_length);
  } else if (p->control_opcode == WS_OP_CLOSE) {
    uint16_t code = 0, bad = ws_check_close(p->control, p->control_length, &code);
    if (bad) {
      close_with(c, bad, bad == WS_CLOSE_INVALID_DATA ? "close reason is not UTF-8" : "invalid close frame");
      return;
    }
    /* The client closes: answer with its code (an empty close for an empty one). */
    c->closing = 1;
    send_frame(c, WS_OP_CLOSE, p->control, code == 1005 ? 0 : 2);
    host->connection_close(c->connection);
  }
  /* A pong only proves the client is alive, like any frame. */
}

static int keep_data(ws_conn *c, const char *data, size_t length) {
  if (c->route->client_messages == CLIENT_IGNORE) return 1;
  if ((size_t)c->message_length + length > c->message_capacity) {
    size_t capacity = c->message_capacity ? c->message_capacity : 1024;
    char *grown;
    while (capacity < (size_t)c->message_length + length) capacity *= 2;
    if (!(grown = realloc(c->message, capacity))) return 0;
    c->message = grown;
    c->message_capacity = (uint32_t)capacity;
  }
  memcpy(c->message + c->message_length, data, length);
  c->message_length += (uint32_t)length;
  return 1;
}

static void handle_message(ws_conn *c, uint8_t opcode) {
  if (c->route->client_messages == CLIENT_ECHO) {
    send_frame(c, opcode, c->message, c->message_length);
  } else if (c->route->client_messages == CLIENT_PUBLISH && c->publish_channel) {
    if (host->publish(worker, c->publish_channel, strlen(c->publish_channel), c->message, c->message_length) != TETHER_OK)
      close_with(c, WS_CLOSE_TOO_BIG, "message over the broker's max_message_size");
  }
  c->message_length = 0;
  if (c->message_capacity > 64 * 1024) { /* do not keep a large buffer for an idle client */
    free(c->message);
    c->message = NULL;
    c->message_capacity = 0;
  }
}

static void on_read(tether_connection *connection, const char *data, size_t length, void *user) {
  ws_conn *c = user;
  size_t offset = 0;
  (void)connection;
  c->last_seen_ms = now_ms();
  while (!c->closing) {
    const char *chunk = NULL;
    size_t chunk_length = 0;
    switch (ws_parse(&c->parser, data, length, &offset, scratch, sizeof scratch, &chunk, &chunk_length)) {
      case WS_NEED_MORE: return;
      case WS_DATA:
        if (!keep_data(c, chunk, chunk_length)) close_with(c, WS_CLOSE_INTERNAL, "out of memory");
        break;
      case WS_MESSAGE_END: handle_message(c, c->parser.ended_opcode); break;
      case WS_CONTROL: handle_control(c); break;
      case WS_FAIL: close_with(c, c->parser.fail_code, c->parser.fail_reason); return;
    }
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

static void on_close(tether_connection *connection, void *user) {
  ws_conn *c = user;
  (void)connection;
  if (c->prev) c->prev->next = c->next;
  else connections = c->next;
  if (c->next) c->next->prev = c->prev;
  host->metric_add(worker, open_metric, -1);
  free(c->message);
  free(c->publish_channel);
  free(c);
}

static const tether_stream_callbacks callbacks = {
    sizeof(tether_stream_callbacks), on_read, NULL, on_close, on_overflow, on_shutdown,
};

/* Pings quiet clients, closes the ones that stopped answering. */
static void sweep(tether_timer *timer, void *user) {
  uint32_t now = now_ms();
  ws_conn *c, *next;
  (void)timer;
  (void)user;
  for (c = connections; c; c = next) {
    uint32_t quiet = now - c->last_seen_ms;
    next = c->next;
    if (c->closing) continue;
    if (c->timeout_ms && quiet >= c->timeout_ms) close_with(c, WS_CLOSE_GOING_AWAY, "ping timeout");
    else if (c->interval_ms && quiet >= c->interval_ms && now - c->last_ping_ms >= c->interval_ms) {
      c->last_ping_ms = now;
      send_frame(c, WS_OP_PING, NULL, 0);
    }
  }
}

/* ---- the handshake */

static int has_token(const char *value, size_t length, const char *token) {
  size_t n = strlen(token), i = 0;
  while (i < length) {
    size_t start, end;
    while (i < length && (value[i] == ' ' || value[i] == '\t' || value[i] == ',')) ++i;
    start = i;
    while (i < length && value[i] != ',') ++i;
    end = i;
    while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t')) --end;
    if (end - start == n && strncasecmp(value + start, token, n) == 0) return 1;
  }
  return 0;
}

/* The first of the comma-separated `list` that is in `offered`, or NULL. */
static const char *pick(const char *list, const char *offered, size_t offered_length, size_t *picked_length) {
  const char *p = list;
  while (p && *p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    char item[128];
    while (n && (*p == ' ')) ++p, --n;
    while (n && p[n - 1] == ' ') --n;
    if (n && n < sizeof item) {
      memcpy(item, p, n);
      item[n] = 0;
      if (has_token(offered, offered_length, item)) {
        *picked_length = n;
        return p;
      }
    }
    p = end ? end + 1 : NULL;
  }
  return NULL;
}

static int base64_decoded_length(const char *s, size_t n) {
  size_t i, pad = 0;
  if (n == 0 || n % 4) return -1;
  for (i = 0; i < n; ++i) {
    char c = s[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=' && i >= n - 2) ++pad;
    else if (!ok || pad) return -1;
  }
  return (int)(n / 4 * 3 - pad);
}

static void base64(const uint8_t *in, size_t n, char *out) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = table[v >> 18], out[o++] = table[(v >> 12) & 63], out[o++] = table[(v >> 6) & 63], out[o++] = table[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = table[v >> 18], out[o++] = table[(v >> 12) & 63], out[o++] = '=', out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = table[v >> 18], out[o++] = table[(v >> 12) & 63], out[o++] = table[(v >> 6) & 63], out[o++] = '=';
  }
  out[o] = 0;
}

static int refuse(tether_request *request, int status, const char *why) {
  char body[256];
  int n = snprintf(body, sizeof body, "%s\n", why);
  if (status == 426) {
    host->response_header(request, "Upgrade", "websocket");
    host->response_header(request, "Sec-WebSocket-Version", "13");
  }
  host->respond(request, status, "text/plain", body, (size_t)n);
  return TETHER_OK;
}

typedef struct {
  char names[MAX_CHANNELS][129];
  size_t count;
  char since[64];
  int has_since;
} subscription_request;

/* The channels ({route}{channel} and ?channel=) and ?since= of the request. */
static const char *read_channels(const tether_request_info *info, subscription_request *s) {
  size_t position = 0, name_length, value_length;
  const char *name, *value;
  memset(s, 0, sizeof *s);
  if (info->path_length > info->route_length && info->route_length) {
    size_t n = info->path_length - info->route_length;
    if (n > 128) return "the channel name is longer than 128 bytes";
    memcpy(s->names[0], info->path + info->route_length, n);
    s->count = 1;
  }
  while (query_next(info->query, info->query_length, &position, &name, &name_length, &value, &value_length)) {
    char decoded[129];
    size_t n;
    if (value_length > 3 * 128) return "a query value is too long";
    if (name_length == 7 && memcmp(name, "channel", 7) == 0) {
      char buffer[3 * 128 + 1];
      if ((n = query_decode(value, value_length, buffer)) == (size_t)-1 || n > 128) return "the channel name is not valid";
      if (s->count == MAX_CHANNELS) return "too many channels (at most 16 per connection)";
      memcpy(s->names[s->count++], buffer, n);
    } else if (name_length == 5 && memcmp(name, "since", 5) == 0) {
      if ((n = query_decode(value, value_length, decoded)) == (size_t)-1 || n >= sizeof s->since) return "since is not a message id";
      memcpy(s->since, decoded, n);
      s->since[n] = 0;
      s->has_since = 1;
    }
  }
  if (s->count == 0) return "no channel: use {route}{channel} or ?channel=";
  for (position = 0; position < s->count; ++position) {
    const char *problem = host->channel_problem(s->names[position], strlen(s->names[position]));
    if (problem) return problem;
  }
  return NULL;
}

static int content(tether_request *request, void *config, void *route_config_ptr) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  const route_config *route = route_config_ptr ? route_config_ptr : &default_route;
  module_config *c = config;
  tether_request_info info;
  subscription_request channels;
  const char *upgrade, *connection_header, *version, *key, *origin, *offered, *problem;
  size_t upgrade_length = 0, connection_length = 0, version_length = 0, key_length = 0, origin_length = 0;
  size_t offered_length = 0, picked_length = 0, i;
  char key_guid[128], accept[32], picked[128];
  uint8_t digest[20];
  ws_conn *wc;
  tether_connection *conn;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  if (info.method_length != 3 || memcmp(info.method, "GET", 3) != 0) {
    host->response_header(request, "Allow", "GET");
    return refuse(request, 405, "WebSocket handshakes use GET");
  }
  upgrade = host->request_header(request, "upgrade", &upgrade_length);
  connection_header = host->request_header(request, "connection", &connection_length);
  if (info.http_major != 1 || info.http_minor < 1 || !upgrade || !has_token(upgrade, upgrade_length, "websocket") ||
      !connection_header || !has_token(connection_header, connection_length, "upgrade"))
    return refuse(request, 426, "this is a WebSocket endpoint: send an HTTP/1.1 Upgrade: websocket request");
  version = host->request_header(request, "sec-websocket-version", &version_length);
  if (!version || version_length != 2 || memcmp(version, "13", 2) != 0)
    return refuse(request, 426, "unsupported Sec-WebSocket-Version: only 13 is");
  key = host->request_header(request, "sec-websocket-key", &key_length);
  if (!key || base64_decoded_length(key, key_length) != 16)
    return refuse(request, 400, "Sec-WebSocket-Key must be 16 bytes in base64");
  origin = host->request_header(request, "origin", &origin_length);
  if (c && c->allowed_origins) {
    char o[256];
    if (!origin || origin_length >= sizeof o) return refuse(request, 403, "Origin not allowed");
    memcpy(o, origin, origin_length);
    o[origin_length] = 0;
    if (!has_token(c->allowed_origins, strlen(c->allowed_origins), o)) return refuse(request, 403, "Origin not allowed");
  }
  if ((problem = read_channels(&info, &channels))) return refuse(request, 400, problem);

  memcpy(key_guid, key, key_length);
  memcpy(key_guid + key_length, guid, sizeof guid - 1);
  ws_sha1(key_guid, key_length + sizeof guid - 1, digest);
  base64(digest, sizeof digest, accept);
  host->response_header(request, "Upgrade", "websocket");
  host->response_header(request, "Connection", "Upgrade");
  host->response_header(request, "Sec-WebSocket-Accept", accept);
  offered = host->request_header(request, "sec-websocket-protocol", &offered_length);
  if (c && c->subprotocols && offered) {
    const char *p = pick(c->subprotocols, offered, offered_length, &picked_length);
    if (p && picked_length < sizeof picked) {
      memcpy(picked, p, picked_length);
      picked[picked_length] = 0;
      host->response_header(request, "Sec-WebSocket-Protocol", picked);
    }
  }

  if (!(wc = calloc(1, sizeof *wc))) return TETHER_ERROR;
  wc->route = route;
  ws_parser_init(&wc->parser, c ? (uint32_t)c->max_message_size : 64 * 1024);
  if (route->client_messages == CLIENT_PUBLISH) wc->publish_channel = strdup(channels.names[0]);
  conn = host->upgrade(request, 101, &callbacks, wc);
  if (!conn) {
    free(wc->publish_channel);
    free(wc);
    return TETHER_ERROR;
  }
  wc->connection = conn;
  wc->last_seen_ms = wc->last_ping_ms = now_ms();
  {
    uint64_t interval = 0, timeout = 0;
    host->connection_heartbeat(conn, &interval, &timeout);
    wc->interval_ms = interval > UINT32_MAX ? UINT32_MAX : (uint32_t)interval;
    wc->timeout_ms = timeout > UINT32_MAX ? UINT32_MAX : (uint32_t)timeout;
  }
  wc->next = connections;
  if (connections) connections->prev = wc;
  connections = wc;
  host->metric_add(worker, open_metric, 1);
  host->connection_set_queue_limit(conn, route->queue.max_queue, route->queue.slow_consumer);
  for (i = 0; i < channels.count; ++i)
    host->subscribe(conn, feeds[route->format], channels.names[i], strlen(channels.names[i]),
                    channels.has_since ? channels.since : NULL, channels.has_since ? strlen(channels.since) : 0);
  return TETHER_OK;
}

/* ---- worker lifecycle */

static int worker_init(const tether_host *h, tether_worker *w, void *config) {
  static const tether_feed_format json_format = {sizeof(tether_feed_format), encode_json, encode_json_notice, NULL};
  static const tether_feed_format raw_format = {sizeof(tether_feed_format), encode_raw, NULL, NULL};
  (void)config;
  host = h;
  worker = w;
  if (host->abi_minor < 1) return TETHER_ERROR;
  feeds[FORMAT_JSON] = host->feed_create(w, &json_format);
  feeds[FORMAT_RAW] = host->feed_create(w, &raw_format);
  if (!feeds[FORMAT_JSON] || !feeds[FORMAT_RAW]) return TETHER_ERROR;
  open_metric = host->metric_register("tether_connections_open", "kind=\"websocket\"", "Open client connections by kind.",
                                      TETHER_METRIC_GAUGE);
  sweep_timer = host->timer_start(w, SWEEP_MS, SWEEP_MS, sweep, NULL);
  return sweep_timer ? TETHER_OK : TETHER_ERROR;
}

static void worker_exit(tether_worker *w, void *config) {
  (void)w;
  (void)config;
  if (sweep_timer) host->timer_stop(sweep_timer);
  sweep_timer = NULL;
  free(json.data);
  json.data = NULL;
  json.capacity = json.length = 0;
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
