/*
 * sse — Server-Sent Events subscribers for pub/sub channels (a streamed text/event-stream
 * response per client).
 *
 *   [modules.sse]
 *   retry = "2s"                 # the reconnection delay announced to clients (retry:), default 2s
 *
 *   [[route]]
 *   path = "/sse/" + "*"          # a prefix route; GET /sse/{channel}[?channel=more&lastEventId=<id>]
 *   handler = "sse"
 *   [route.sse]
 *   max_queue = "1MiB"           # unsent bytes per client before slow_consumer applies
 *   slow_consumer = "disconnect" # "disconnect" or "drop" (oldest; then an "event: dropped")
 *
 * Each message is one event: "id: <id>" and its data as "data:" lines (split at CR, LF and
 * CRLF). Resume from the Last-Event-ID header or ?lastEventId=; when messages after it are gone,
 * an "event: gap" comes first. A comment line every heartbeat_interval (keepalive module,
 * default 30s) keeps proxies from timing the stream out. Draining (reload): after drain_timeout
 * a short "retry:" and the end of the stream, so the client reconnects to the new workers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>
#include <time.h>

#include "../common/query.h"
#include "../common/queue_settings.h"

enum { MAX_CHANNELS = 16, SWEEP_MS = 250 };

typedef struct {
  uint64_t retry_ms;
} module_config;

typedef struct {
  queue_settings queue;
} route_config;

static const route_config default_route = {QUEUE_SETTINGS_DEFAULT};

typedef struct sse_conn {
  tether_connection *connection;
  struct sse_conn *prev, *next;
  uint64_t last_beat_ms;
  uint64_t interval_ms;
} sse_conn;

static const tether_host *host;
static tether_worker *worker;
static tether_timer *sweep_timer;
static tether_feed *feed;
static sse_conn *connections;
static tether_metric open_metric;

static uint64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static int create_config(const tether_host *h, tether_config *table, void **out) {
  static const char *const keys[] = {"retry"};
  module_config *c = calloc(1, sizeof *c);
  int ok;
  host = h;
  if (!c) return TETHER_ERROR;
  c->retry_ms = 2000;
  ok = host->config_only_keys(table, keys, 1) == TETHER_OK;
  ok = host->config_duration_ms(table, "retry", &c->retry_ms) != TETHER_ERROR && ok;
  *out = c;
  return ok ? TETHER_OK : TETHER_ERROR;
}

static void destroy_config(void *config) { free(config); }

static int create_route_config(const tether_host *h, tether_config *table, void *config, void **out) {
  static const char *const keys[] = {"max_queue", "slow_consumer"};
  route_config *r = malloc(sizeof *r);
  int ok;
  (void)config;
  host = h;
  if (!r) return TETHER_ERROR;
  *r = default_route;
  ok = host->config_only_keys(table, keys, 2) == TETHER_OK;
  ok = read_queue_settings(host, table, &r->queue) && ok;
  *out = r;
  return ok ? TETHER_OK : TETHER_ERROR;
}

static void destroy_route_config(void *route) { free(route); }

/* ---- events */

static void append_literal(tether_buffer *out, const char *s) { host->buffer_append(out, s, strlen(s)); }

/* "data: <line>\n" per line of `data`; a trailing line break still ends with an empty data line. */
static void append_data(tether_buffer *out, const char *data, size_t length) {
  size_t start = 0, i = 0;
  for (;;) {
    if (i == length || data[i] == '\n' || data[i] == '\r') {
      append_literal(out, "data: ");
      host->buffer_append(out, data + start, i - start);
      append_literal(out, "\n");
      if (i == length) break;
      if (data[i] == '\r' && i + 1 < length && data[i + 1] == '\n') ++i;
      start = ++i;
      continue;
    }
    ++i;
  }
}

static int encode_event(void *user, const tether_message *m, tether_buffer *out) {
  (void)user;
  append_literal(out, "id: ");
  host->buffer_append(out, m->id, m->id_length);
  append_literal(out, "\n");
  append_data(out, m->data, m->data_length);
  append_literal(out, "\n");
  return TETHER_OK;
}

static int encode_notice(void *user, const tether_notice *n, tether_buffer *out) {
  char number[32];
  (void)user;
  if (n->kind == TETHER_NOTICE_GAP) {
    append_literal(out, "event: gap\ndata: {\"channel\":\"");
    host->buffer_append(out, n->channel, n->channel_length);
    append_literal(out, "\",\"since\":\"");
    host->buffer_append(out, n->since, n->since_length);
    append_literal(out, "\"}\n\n");
  } else {
    snprintf(number, sizeof number, "%llu", (unsigned long long)n->count);
    append_literal(out, "event: dropped\ndata: {\"count\":");
    append_literal(out, number);
    append_literal(out, "}\n\n");
  }
  return TETHER_OK;
}

/* ---- connections */

static void forget(sse_conn *c) {
  if (c->prev) c->prev->next = c->next;
  else connections = c->next;
  if (c->next) c->next->prev = c->prev;
  host->metric_add(worker, open_metric, -1);
  free(c);
}

static void write_text(sse_conn *c, const char *text) { host->connection_write(c->connection, text, strlen(text)); }

static void on_close(tether_connection *connection, void *user) {
  (void)connection;
  forget(user);
}

static void on_overflow(tether_connection *connection, void *user) {
  write_text(user, ": closing: this client does not read its events fast enough\n\n");
  host->connection_close(connection);
}

/* Reload: tell the client to come back soon, and end the stream (EventSource reconnects with
 * Last-Event-ID to the new workers). */
static void on_shutdown(tether_connection *connection, void *user) {
  write_text(user, "retry: 250\n\n");
  forget(user);
  host->stream_end(connection);  /* no on_close after this */
}

static const tether_stream_callbacks callbacks = {
    sizeof(tether_stream_callbacks), NULL, NULL, on_close, on_overflow, on_shutdown,
};

static void sweep(tether_timer *timer, void *user) {
  uint64_t now = now_ms();
  sse_conn *c;
  (void)timer;
  (void)user;
  for (c = connections; c; c = c->next)
    if (c->interval_ms && now - c->last_beat_ms >= c->interval_ms) {
      c->last_beat_ms = now;
      write_text(c, ":\n\n");
    }
}

static int refuse(tether_request *request, int status, const char *why) {
  char body[256];
  int n = snprintf(body, sizeof body, "%s\n", why);
  host->respond(request, status, "text/plain", body, (size_t)n);
  return TETHER_OK;
}

static int content(tether_request *request, void *config, void *route_config_ptr) {
  const route_config *route = route_config_ptr ? route_config_ptr : &default_route;
  const module_config *settings = config;
  char names[MAX_CHANNELS][129], since[64], text[64];
  size_t count = 0, position = 0, name_length, value_length, since_length = 0, i;
  const char *name, *value, *header;
  int has_since = 0;
  tether_request_info info;
  tether_connection *conn;
  sse_conn *c;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  if (!(info.method_length == 3 && memcmp(info.method, "GET", 3) == 0)) {
    host->response_header(request, "Allow", "GET");
    return refuse(request, 405, "event streams use GET");
  }
  if (info.path_length > info.route_length && info.route_length) {
    size_t n = info.path_length - info.route_length;
    if (n > 128) return refuse(request, 400, "the channel name is longer than 128 bytes");
    memcpy(names[0], info.path + info.route_length, n);
    names[0][n] = 0;
    count = 1;
  }
  while (query_next(info.query, info.query_length, &position, &name, &name_length, &value, &value_length)) {
    char decoded[3 * 128 + 1];
    size_t n;
    if (value_length > 3 * 128) return refuse(request, 400, "a query value is too long");
    if ((n = query_decode(value, value_length, decoded)) == (size_t)-1) return refuse(request, 400, "bad %-escape in the query");
    if (name_length == 7 && memcmp(name, "channel", 7) == 0) {
      if (count == MAX_CHANNELS) return refuse(request, 400, "too many channels (at most 16 per connection)");
      if (n > 128) return refuse(request, 400, "the channel name is longer than 128 bytes");
      memcpy(names[count], decoded, n);
      names[count++][n] = 0;
    } else if (name_length == 11 && memcmp(name, "lastEventId", 11) == 0 && n < sizeof since) {
      memcpy(since, decoded, n);
      since_length = n;
      has_since = 1;
    }
  }
  /* The header wins over the query: it is what EventSource sends when it reconnects. */
  if ((header = host->request_header(request, "last-event-id", &value_length)) && value_length < sizeof since) {
    memcpy(since, header, value_length);
    since_length = value_length;
    has_since = 1;
  }
  if (count == 0) return refuse(request, 400, "no channel: use {route}{channel} or ?channel=");
  for (i = 0; i < count; ++i) {
    const char *problem = host->channel_problem(names[i], strlen(names[i]));
    if (problem) return refuse(request, 400, problem);
  }

  if (!(c = calloc(1, sizeof *c))) return TETHER_ERROR;
  host->response_header(request, "Cache-Control", "no-cache");
  host->response_header(request, "X-Accel-Buffering", "no");
  conn = host->stream_start(request, 200, "text/event-stream", &callbacks, c);
  if (!conn) {
    free(c);
    return TETHER_ERROR;
  }
  c->connection = conn;
  c->last_beat_ms = now_ms();
  host->connection_heartbeat(conn, &c->interval_ms, NULL);
  c->next = connections;
  if (connections) connections->prev = c;
  connections = c;
  host->metric_add(worker, open_metric, 1);
  snprintf(text, sizeof text, "retry: %llu\n\n", (unsigned long long)(settings ? settings->retry_ms : 2000));
  write_text(c, text);
  host->connection_set_queue_limit(conn, route->queue.max_queue, route->queue.slow_consumer);
  for (i = 0; i < count; ++i)
    host->subscribe(conn, feed, names[i], strlen(names[i]), has_since ? since : NULL, has_since ? since_length : 0);
  return TETHER_OK;
}

static int worker_init(const tether_host *h, tether_worker *w, void *config) {
  static const tether_feed_format format = {sizeof(tether_feed_format), encode_event, encode_notice, NULL};
  (void)config;
  host = h;
  worker = w;
  if (host->abi_minor < 1) return TETHER_ERROR;
  if (!(feed = host->feed_create(w, &format))) return TETHER_ERROR;
  open_metric = host->metric_register("tether_connections_open", "kind=\"sse\"", "Open client connections by kind.",
                                      TETHER_METRIC_GAUGE);
  sweep_timer = host->timer_start(w, SWEEP_MS, SWEEP_MS, sweep, NULL);
  return sweep_timer ? TETHER_OK : TETHER_ERROR;
}

static void worker_exit(tether_worker *w, void *config) {
  (void)w;
  (void)config;
  if (sweep_timer) host->timer_stop(sweep_timer);
  sweep_timer = NULL;
}

static const tether_module module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "sse",
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
