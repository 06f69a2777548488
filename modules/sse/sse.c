/*
 * sse — Server-Sent Events subscribers for pub/sub channels (a streamed text/event-stream
 * response per client).
 *
 *   [modules.sse]
 *   retry = "2s"                 # the reconnection delay announced to clients (retry:), default 2s;
 *                                # each client is told a moment drawn from [retry, 1.5 x retry]
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
 * default 30s) keeps proxies from timing the stream out. Draining (reload, at a moment of the
 * drain_spread) and max_connection_age: a short "retry:" (drawn from 250 to 1250 ms, so that the
 * clients told together do not all come back together) and the end of the stream, so the client
 * reconnects (to the new workers).
 * Expired credentials (a host of ABI 1.4 and a module that set connection_set_expiry, e.g. auth):
 * "event: expired" with data {"reason":"token expired"}, and the end of the stream.
 * A request gets 400 with the reason for: a channel name the publish API would refuse (a %00 is
 * refused, not cut off), more than 16 channels, a Last-Event-ID or lastEventId longer than 64
 * bytes, a bad %-escape in channel or lastEventId; other parameters are not looked at (the
 * rule of modules/common/subscription.c, which websocket shares; sse_request.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

#include "../common/clock.h"
#include "../common/heartbeat_wheel.h"
#include "../common/jitter.h"
#include "../common/queue_settings.h"
#include "../common/refusal.h"
#include "sse_request.h"

typedef struct {
  uint64_t retry_ms;
} module_config;

typedef struct {
  queue_settings queue;
} route_config;

static const route_config default_route = {QUEUE_SETTINGS_DEFAULT};

typedef struct sse_conn {
  tether_connection *connection;
  timer_wheel_entry beat; /* the next comment line, in beats while interval_ms is not 0 */
  uint64_t interval_ms;
} sse_conn;

static const tether_host *host;
static tether_worker *worker;
static heartbeat_wheel beats;
static tether_feed *feed;
static tether_metric open_metric;

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

/* ---- connections
 *
 * A write can fail (the client reset the connection) and so close it: the host then answers -1
 * and on_close comes on a later turn of the loop (an older host ran it at once and freed the
 * sse_conn). So a write is the last thing done with an sse_conn, or its result is checked. */

static void forget(sse_conn *c) {
  heartbeat_wheel_cancel(&beats, &c->beat);
  host->metric_add(worker, open_metric, -1);
  free(c);
}

/* 1 if the connection still takes writes, 0 if it is closing. */
static int write_text(tether_connection *connection, const char *text) {
  return host->connection_write(connection, text, strlen(text)) >= 0;
}

static void on_close(tether_connection *connection, void *user) {
  (void)connection;
  forget(user);
}

static void on_overflow(tether_connection *connection, void *user) {
  (void)user;
  if (write_text(connection, ": closing: this client does not read its events fast enough\n\n"))
    host->connection_close(connection);
}

/* Reload: tell the client to come back soon, and end the stream (EventSource reconnects with
 * Last-Event-ID to the new workers). When the hint cannot be written the connection is closing
 * and on_close forgets it; else stream_end means no on_close, so it is forgotten here. */
static void on_shutdown(tether_connection *connection, void *user) {
  char text[48];
  snprintf(text, sizeof text, "retry: %llu\n\n", (unsigned long long)jitter_between(250, 1250));
  if (!write_text(connection, text)) return;
  forget(user);
  host->stream_end(connection);
}

/* The client's credentials expired (ABI 1.4): say why, and end the stream as on_shutdown does. */
static void on_expired(tether_connection *connection, void *user) {
  if (!write_text(connection, "event: expired\ndata: {\"reason\":\"token expired\"}\n\n")) return;
  forget(user);
  host->stream_end(connection);
}

static const tether_stream_callbacks callbacks = {
    sizeof(tether_stream_callbacks), NULL, NULL, on_close, on_overflow, on_shutdown, on_expired,
};

/* A comment line every interval_ms keeps proxies from timing the stream out. The next one is
 * scheduled before this one is written: the write may end (and free) the client. */
static void beat(timer_wheel_entry *entry, void *user) {
  sse_conn *c = LIST_ENTRY(entry, sse_conn, beat);
  (void)user;
  heartbeat_wheel_schedule(&beats, &c->beat, monotonic_ms() + c->interval_ms);
  write_text(c->connection, ":\n\n");
}

static void read_stream_request(tether_request *request, const tether_request_info *info, sse_request *r) {
  r->method = info->method, r->method_length = info->method_length;
  r->path = info->path, r->path_length = info->path_length;
  r->route_length = info->route_length;
  r->query = info->query, r->query_length = info->query_length;
  r->last_event_id = host->request_header(request, "last-event-id", &r->last_event_id_length);
}

static int content(tether_request *request, void *config, void *route_config_ptr) {
  const route_config *route = route_config_ptr ? route_config_ptr : &default_route;
  const module_config *settings = config;
  const subscription *channels;
  char text[64];
  size_t i;
  tether_request_info info;
  sse_request stream_request;
  sse_answer answer;
  tether_connection *conn;
  sse_conn *c;
  uint64_t retry_ms;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  read_stream_request(request, &info, &stream_request);
  sse_request_read(&answer, &stream_request, host->channel_problem);
  if (answer.status != 200) return refuse_request(host, request, answer.status, answer.problem);
  channels = &answer.channels;

  if (!(c = calloc(1, sizeof *c))) return TETHER_ERROR;
  timer_wheel_entry_init(&c->beat); /* before on_close may come, which cancels it */
  host->response_header(request, "Cache-Control", "no-cache");
  host->response_header(request, "X-Accel-Buffering", "no");
  conn = host->stream_start(request, 200, "text/event-stream", &callbacks, c);
  if (!conn) {
    free(c);
    return TETHER_ERROR;
  }
  c->connection = conn;
  host->connection_heartbeat(conn, &c->interval_ms, NULL);
  if (c->interval_ms) heartbeat_wheel_schedule(&beats, &c->beat, monotonic_ms() + c->interval_ms);
  host->metric_add(worker, open_metric, 1);
  /* From the first write on, only the handle and locals are used, not c. */
  retry_ms = settings ? settings->retry_ms : 2000;
  snprintf(text, sizeof text, "retry: %llu\n\n", (unsigned long long)jitter_between(retry_ms, retry_ms + retry_ms / 2));
  if (!write_text(conn, text)) return TETHER_OK;
  host->connection_set_queue_limit(conn, route->queue.max_queue, route->queue.slow_consumer);
  for (i = 0; i < channels->count; ++i)
    host->subscribe(conn, feed, channels->names[i], channels->name_lengths[i], channels->has_since ? channels->since : NULL,
                    channels->since_length);
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
  heartbeat_wheel_init(&beats, host, w, beat, NULL);
  return TETHER_OK;
}

static void worker_exit(tether_worker *w, void *config) {
  (void)w;
  (void)config;
  heartbeat_wheel_exit(&beats);
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
