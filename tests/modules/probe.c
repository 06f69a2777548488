/*
 * probe — a module for the integration tests. Each route says what it does:
 *   [route.probe] action = "version"   answers "probe <PROBE_VERSION>"
 *                 action = "crash"     dereferences NULL (the worker dies)
 *                 action = "defer"     answers 250 ms later from a timer (TETHER_AGAIN) and logs
 *                                      "deferred answer given" (also when the client has left)
 *                 action = "work"      answers after host->queue_work ran on the thread pool
 *                 action = "header"    echoes the X-Probe request header and sets one
 *                 action = "deny"      access phase answers 403 for this route
 *                 action = "sockopts"  reports the connection's socket options and heartbeat
 *                 action = "stream"    streams "chunk 1".."chunk 4", one every 50 ms
 *                 action = "flood"     streams 32 MiB as fast as the client reads (backpressure)
 *                 action = "echo"      upgrades (Upgrade: probe-echo) and echoes bytes; "bye" closes
 *                 action = "subscribe" streams, subscribes to channels probe-0..probe-99 and
 *                                      writes how many subscriptions the host took
 * [modules.probe] greeting = "..." is prefixed to "version" answers; `fail_init = true` makes
 * worker_init fail; `log_closed = true` logs "probe: closed <peer address>|no peer" from the
 * connection_closed hook. Built several times with different PROBE_VERSION / PROBE_ABI_MAJOR.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

#ifndef PROBE_VERSION
#define PROBE_VERSION "1"
#endif
#ifndef PROBE_ABI_MAJOR
#define PROBE_ABI_MAJOR TETHER_MODULE_ABI_MAJOR
#endif

typedef enum {
  ACTION_VERSION, ACTION_CRASH, ACTION_DEFER, ACTION_WORK, ACTION_HEADER, ACTION_DENY, ACTION_SOCKOPTS,
  ACTION_STREAM, ACTION_FLOOD, ACTION_ECHO, ACTION_SUBSCRIBE
} action;

typedef struct {
  char greeting[64];
  int fail_init;
  int log_closed;
} module_config;

static const tether_host *host;

static int create_config(const tether_host *h, tether_config *settings, void **out) {
  static const char *const known[] = {"greeting", "fail_init", "log_closed"};
  const char *greeting = "";
  module_config *config;
  host = h;
  if (host->config_only_keys(settings, known, 3) != TETHER_OK) return TETHER_ERROR;
  if (host->config_string(settings, "greeting", &greeting) == TETHER_ERROR) return TETHER_ERROR;
  config = calloc(1, sizeof *config);
  snprintf(config->greeting, sizeof config->greeting, "%s", greeting);
  if (host->config_boolean(settings, "fail_init", &config->fail_init) == TETHER_ERROR ||
      host->config_boolean(settings, "log_closed", &config->log_closed) == TETHER_ERROR) {
    free(config);
    return TETHER_ERROR;
  }
  *out = config;
  return TETHER_OK;
}

static void destroy_config(void *config) { free(config); }

static int create_route_config(const tether_host *h, tether_config *settings, void *config, void **out) {
  static const char *const known[] = {"action"};
  static const char *const names[] = {"version", "crash", "defer", "work",  "header",
                                      "deny",    "sockopts", "stream", "flood", "echo", "subscribe"};
  const char *name = "version";
  size_t i;
  (void)config;
  host = h;
  if (host->config_only_keys(settings, known, 1) != TETHER_OK) return TETHER_ERROR;
  if (host->config_string(settings, "action", &name) == TETHER_ERROR) return TETHER_ERROR;
  for (i = 0; i < sizeof names / sizeof names[0]; ++i)
    if (strcmp(name, names[i]) == 0) {
      action *a = malloc(sizeof *a);
      *a = (action)i;
      *out = a;
      return TETHER_OK;
    }
  host->config_error(settings, "action", "is not an action probe knows");
  return TETHER_ERROR;
}

static void destroy_route_config(void *route) { free(route); }

static int worker_init(const tether_host *h, tether_worker *worker, void *config) {
  (void)worker;
  host = h;
  if (((module_config *)config)->fail_init) {
    host->log(TETHER_LOG_ERROR, "probe", "fail_init is set");
    return TETHER_ERROR;
  }
  return TETHER_OK;
}

static void connection_closed(tether_worker *worker, void *config, const tether_connection_info *info) {
  char text[INET6_ADDRSTRLEN] = "no peer";
  (void)worker;
  if (!((module_config *)config)->log_closed) return;
  if (info->peer && info->peer->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)info->peer)->sin_addr, text, sizeof text);
  host->log(TETHER_LOG_NOTICE, "probe", "closed %s", text);
}

static void answer_later(tether_timer *timer, void *user) {
  tether_request *request = user;
  host->timer_stop(timer);
  host->respond(request, 200, "text/plain", "deferred\n", 9);
  host->log(TETHER_LOG_INFO, "probe", "deferred answer given");
}

static void slow_work(void *user) { (void)user; }

static void work_done(void *user, int status) {
  host->respond(user, status == TETHER_OK ? 200 : 500, "text/plain", "worked\n", 7);
}

/* Exported, so that the crash report can name it. */
TETHER_MODULE_EXPORT __attribute__((noinline)) int probe_crash(void) { return *(volatile int *)NULL; }

static int socket_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  getsockopt(fd, level, name, &value, &length);
  return value;
}

static int report_sockopts(tether_request *request) {
  tether_connection *connection = host->request_connection(request);
  int fd = host->connection_fd(connection);
  uint64_t interval = 0, timeout = 0;
  char text[256];
  int n;
  host->connection_heartbeat(connection, &interval, &timeout);
  n = snprintf(text, sizeof text, "nodelay=%d keepalive=%d idle=%d interval=%d count=%d user_timeout=%d heartbeat=%lu/%lu\n",
               socket_option(fd, IPPROTO_TCP, TCP_NODELAY) != 0, socket_option(fd, SOL_SOCKET, SO_KEEPALIVE) != 0,
               socket_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), socket_option(fd, IPPROTO_TCP, TCP_KEEPINTVL),
               socket_option(fd, IPPROTO_TCP, TCP_KEEPCNT), socket_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT),
               (unsigned long)interval, (unsigned long)timeout);
  return host->respond(request, 200, "text/plain", text, (size_t)n);
}

/* ---- streamed responses */

typedef struct {
  tether_connection *connection;
  tether_timer *timer;
  int sent;
  size_t flooded;
  int waits; /* times the flood stopped for backpressure */
} stream_state;

static void stream_closed(tether_connection *connection, void *user) {
  stream_state *s = user;
  (void)connection;
  if (s->timer) host->timer_stop(s->timer);
  free(s);
}

static void stream_tick(tether_timer *timer, void *user) {
  stream_state *s = user;
  char text[32];
  int n = snprintf(text, sizeof text, "chunk %d\n", ++s->sent);
  (void)timer;
  host->connection_write(s->connection, text, (size_t)n);
  if (s->sent == 4) {
    host->timer_stop(s->timer);
    s->timer = NULL;
    host->stream_end(s->connection);  /* no on_close follows: free here */
    free(s);
  }
}

#define FLOOD_TOTAL (32u * 1024u * 1024u)

static void flood_more(tether_connection *connection, void *user) {
  stream_state *s = user;
  static char block[16384];
  memset(block, 'x', sizeof block);
  while (s->flooded < FLOOD_TOTAL) {
    int64_t backlog = host->connection_write(connection, block, sizeof block);
    if (backlog < 0) return;
    s->flooded += sizeof block;
    if (backlog >= TETHER_WRITE_BACKLOG) {
      s->waits++;
      return; /* on_writable calls us again */
    }
  }
  host->log(TETHER_LOG_INFO, "probe", "flood done after %d waits for on_writable", s->waits);
  host->stream_end(connection);
  free(s);
}

static int start_stream(tether_request *request, int flood) {
  static const tether_stream_callbacks ticking = {sizeof(tether_stream_callbacks), NULL, NULL, stream_closed};
  static const tether_stream_callbacks flooding = {sizeof(tether_stream_callbacks), NULL, flood_more, stream_closed};
  stream_state *s = calloc(1, sizeof *s);
  s->connection = host->stream_start(request, 200, "text/plain", flood ? &flooding : &ticking, s);
  if (!s->connection) {
    free(s);
    return TETHER_ERROR;
  }
  if (flood) flood_more(s->connection, s);
  else s->timer = host->timer_start(host->request_worker(request), 50, 50, stream_tick, s);
  return TETHER_OK;
}

/* ---- an upgraded connection that echoes */

static void echo_read(tether_connection *connection, const char *data, size_t length, void *user) {
  (void)user;
  if (length >= 3 && memcmp(data + length - 3, "bye", 3) == 0) {
    host->connection_write(connection, "bye", 3);
    host->connection_close(connection);
    return;
  }
  host->connection_write(connection, data, length);
}

static int start_echo(tether_request *request) {
  static const tether_stream_callbacks echo = {sizeof(tether_stream_callbacks), echo_read, NULL, NULL};
  size_t length = 0;
  const char *upgrade = host->request_header(request, "upgrade", &length);
  if (!upgrade || length != 10 || memcmp(upgrade, "probe-echo", 10) != 0)
    return host->respond(request, 426, "text/plain", "upgrade to probe-echo\n", 22);
  host->response_header(request, "Upgrade", "probe-echo");
  host->response_header(request, "Connection", "Upgrade");
  return host->upgrade(request, 101, &echo, NULL) ? TETHER_OK : TETHER_ERROR;
}

/* ---- a subscriber that asks for more channels than a connection may hold */

static int encode_text(void *user, const tether_message *message, tether_buffer *out) {
  (void)user;
  host->buffer_append(out, message->data, message->data_length);
  return TETHER_OK;
}

static int start_subscriber(tether_request *request) {
  static const tether_feed_format format = {sizeof(tether_feed_format), encode_text, NULL, NULL};
  static const tether_stream_callbacks callbacks = {sizeof(tether_stream_callbacks), NULL, NULL, NULL};
  static tether_feed *feed;
  tether_connection *connection;
  char name[16], text[32];
  int i, taken = 0;
  if (!feed) feed = host->feed_create(host->request_worker(request), &format);
  connection = host->stream_start(request, 200, "text/plain", &callbacks, NULL);
  if (!feed || !connection) return TETHER_ERROR;
  for (i = 0; i < 100; ++i) {
    snprintf(name, sizeof name, "probe-%d", i);
    if (host->subscribe(connection, feed, name, strlen(name), NULL, 0) == TETHER_OK) ++taken;
  }
  snprintf(text, sizeof text, "subscribed %d\n", taken);
  host->connection_write(connection, text, strlen(text));
  return TETHER_OK;
}

static int access(tether_request *request, void *config, void *route) {
  (void)config;
  if (route && *(action *)route == ACTION_DENY) return host->respond(request, 403, "text/plain", "denied\n", 7);
  return TETHER_DECLINED;
}

static int content(tether_request *request, void *config, void *route) {
  module_config *c = config;
  char text[160];
  size_t length = 0;
  const char *value;
  int n;
  switch (route ? *(action *)route : ACTION_VERSION) {
    case ACTION_CRASH:
      return probe_crash();
    case ACTION_DEFER:
      host->timer_start(host->request_worker(request), 250, 0, answer_later, request);
      return TETHER_AGAIN;
    case ACTION_WORK:
      return host->queue_work(host->request_worker(request), slow_work, work_done, request) == TETHER_OK ? TETHER_AGAIN
                                                                                                    : TETHER_ERROR;
    case ACTION_SOCKOPTS:
      return report_sockopts(request);
    case ACTION_STREAM:
      return start_stream(request, 0);
    case ACTION_FLOOD:
      return start_stream(request, 1);
    case ACTION_ECHO:
      return start_echo(request);
    case ACTION_SUBSCRIBE:
      return start_subscriber(request);
    case ACTION_HEADER:
      value = host->request_header(request, "x-probe", &length);
      host->response_header(request, "X-Probe-Echo", "yes");
      return host->respond(request, 200, "text/plain", value ? value : "", value ? length : 0);
    default:
      n = snprintf(text, sizeof text, "%sprobe %s\n", c->greeting, PROBE_VERSION);
      return host->respond(request, 200, "text/plain", text, (size_t)n);
  }
}

static const tether_module probe_module = {
    sizeof(tether_module), PROBE_ABI_MAJOR, TETHER_MODULE_ABI_MINOR, "probe", PROBE_VERSION,
    create_config, create_route_config, destroy_config, destroy_route_config,
    worker_init, NULL, NULL, NULL, connection_closed, access, content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &probe_module; }
