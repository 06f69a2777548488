/*
 * keepalive — connection keep-alive tuning, for all connections, per listener, or per route.
 *
 *   [modules.keepalive]
 *   tcp_nodelay = true              # TCP_NODELAY (default true)
 *   tcp_keepalive = false           # SO_KEEPALIVE (default false), and when true:
 *   tcp_keepalive_idle = "60s"      #   TCP_KEEPIDLE    (default: the kernel's)
 *   tcp_keepalive_interval = "10s"  #   TCP_KEEPINTVL   (default: the kernel's)
 *   tcp_keepalive_count = 6         #   TCP_KEEPCNT     (default: the kernel's)
 *   tcp_user_timeout = "30s"        # TCP_USER_TIMEOUT (default: the kernel's)
 *   idle_timeout = "75s"            # HTTP keep-alive between requests (default: [limits] keepalive_timeout)
 *   max_requests = 1000             # requests per connection, 0 = no limit (default 0)
 *   heartbeat_interval = "30s"      # WebSocket ping / SSE comment interval (default 30s)
 *   heartbeat_timeout = "60s"       # give up after this long without a reply (default 60s)
 *
 *   [modules.keepalive.listen."127.0.0.1:8080"]   # overrides for one [[listen]] address
 *   tcp_keepalive = true
 *
 *   [[route]] ...
 *   [route.keepalive]               # overrides for one route: idle_timeout, max_requests,
 *   heartbeat_interval = "15s"      # heartbeat_interval, heartbeat_timeout
 *
 * Listener settings apply when a connection is accepted; route settings when a request on
 * that route arrives, for the rest of the connection.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <tether/module.h>

/* Every setting, each with a flag saying whether it was given (so that overrides layer). */
typedef struct {
  int has_nodelay, nodelay;
  int has_keepalive, keepalive;
  int has_idle, has_interval, has_count, has_user_timeout;
  uint64_t keepalive_idle_ms, keepalive_interval_ms, user_timeout_ms;
  int64_t keepalive_count;
  int has_http_idle, has_max_requests, has_heartbeat_interval, has_heartbeat_timeout;
  uint64_t http_idle_ms, max_requests, heartbeat_interval_ms, heartbeat_timeout_ms;
} settings;

typedef struct {
  struct sockaddr_storage address;
  settings values; /* already layered over the module's defaults */
} listener;

typedef struct {
  settings defaults;
  listener *listeners;
  size_t listener_count;
} module_config;

static const tether_host *host;

static const char *const socket_keys[] = {"tcp_nodelay", "tcp_keepalive", "tcp_keepalive_idle",
                                          "tcp_keepalive_interval", "tcp_keepalive_count", "tcp_user_timeout"};
static const char *const http_keys[] = {"idle_timeout", "max_requests", "heartbeat_interval", "heartbeat_timeout"};

/* Reads the keys present in `table` into `s`; returns 0 on a type error (already reported). */
static int read_settings(tether_config *table, settings *s, int with_socket_keys) {
  int64_t count = 0, max_requests = 0;
  int ok = 1;
#define READ(getter, key, has, field)                            \
  switch (host->getter(table, key, field)) {                     \
    case TETHER_OK: s->has = 1; break;                           \
    case TETHER_ERROR: ok = 0; break;                            \
    default: break;                                              \
  }
  if (with_socket_keys) {
    READ(config_boolean, "tcp_nodelay", has_nodelay, &s->nodelay)
    READ(config_boolean, "tcp_keepalive", has_keepalive, &s->keepalive)
    READ(config_duration_ms, "tcp_keepalive_idle", has_idle, &s->keepalive_idle_ms)
    READ(config_duration_ms, "tcp_keepalive_interval", has_interval, &s->keepalive_interval_ms)
    READ(config_integer, "tcp_keepalive_count", has_count, &count)
    READ(config_duration_ms, "tcp_user_timeout", has_user_timeout, &s->user_timeout_ms)
    if (s->has_count) {
      if (count < 1 || count > 127) {
        host->config_error(table, "tcp_keepalive_count", "must be between 1 and 127");
        ok = 0;
      }
      s->keepalive_count = count;
    }
    if ((s->has_idle && s->keepalive_idle_ms < 1000) || (s->has_interval && s->keepalive_interval_ms < 1000)) {
      host->config_error(table, s->has_idle && s->keepalive_idle_ms < 1000 ? "tcp_keepalive_idle" : "tcp_keepalive_interval",
                         "must be at least 1s (the kernel counts in seconds)");
      ok = 0;
    }
  }
  READ(config_duration_ms, "idle_timeout", has_http_idle, &s->http_idle_ms)
  READ(config_integer, "max_requests", has_max_requests, &max_requests)
  READ(config_duration_ms, "heartbeat_interval", has_heartbeat_interval, &s->heartbeat_interval_ms)
  READ(config_duration_ms, "heartbeat_timeout", has_heartbeat_timeout, &s->heartbeat_timeout_ms)
#undef READ
  if (s->has_max_requests) {
    if (max_requests < 0) {
      host->config_error(table, "max_requests", "must be 0 (no limit) or more");
      ok = 0;
    }
    s->max_requests = (uint64_t)max_requests;
  }
  if ((s->has_heartbeat_interval && s->heartbeat_interval_ms == 0) ||
      (s->has_heartbeat_timeout && s->heartbeat_timeout_ms == 0)) {
    host->config_error(table, s->has_heartbeat_interval && s->heartbeat_interval_ms == 0 ? "heartbeat_interval" : "heartbeat_timeout",
                       "must be greater than 0");
    ok = 0;
  }
  return ok;
}

/* Copies into `base` every setting `over` gives. */
static void layer(settings *base, const settings *over) {
#define TAKE(has, ...) if (over->has) { base->has = 1; __VA_ARGS__; }
  TAKE(has_nodelay, base->nodelay = over->nodelay)
  TAKE(has_keepalive, base->keepalive = over->keepalive)
  TAKE(has_idle, base->keepalive_idle_ms = over->keepalive_idle_ms)
  TAKE(has_interval, base->keepalive_interval_ms = over->keepalive_interval_ms)
  TAKE(has_count, base->keepalive_count = over->keepalive_count)
  TAKE(has_user_timeout, base->user_timeout_ms = over->user_timeout_ms)
  TAKE(has_http_idle, base->http_idle_ms = over->http_idle_ms)
  TAKE(has_max_requests, base->max_requests = over->max_requests)
  TAKE(has_heartbeat_interval, base->heartbeat_interval_ms = over->heartbeat_interval_ms)
  TAKE(has_heartbeat_timeout, base->heartbeat_timeout_ms = over->heartbeat_timeout_ms)
#undef TAKE
}

/* "127.0.0.1:8080" or "[::1]:8080" into a sockaddr; 0 if it is neither. */
static int parse_address(const char *text, struct sockaddr_storage *out) {
  char host_part[64];
  const char *colon = strrchr(text, ':');
  unsigned long port;
  char *end;
  size_t length;
  memset(out, 0, sizeof *out);
  if (!colon) return 0;
  port = strtoul(colon + 1, &end, 10);
  if (*end || port == 0 || port > 65535) return 0;
  length = (size_t)(colon - text);
  if (text[0] == '[') {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;
    if (length < 2 || text[length - 1] != ']' || length - 2 >= sizeof host_part) return 0;
    memcpy(host_part, text + 1, length - 2);
    host_part[length - 2] = '\0';
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    return inet_pton(AF_INET6, host_part, &in6->sin6_addr) == 1;
  } else {
    struct sockaddr_in *in4 = (struct sockaddr_in *)out;
    if (length >= sizeof host_part) return 0;
    memcpy(host_part, text, length);
    host_part[length] = '\0';
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host_part, &in4->sin_addr) == 1;
  }
}

static int same_address(const struct sockaddr_storage *a, const struct sockaddr *b) {
  if (!b || a->ss_family != b->sa_family) return 0;
  if (a->ss_family == AF_INET) {
    const struct sockaddr_in *x = (const struct sockaddr_in *)a, *y = (const struct sockaddr_in *)b;
    return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
  }
  if (a->ss_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a, *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
  }
  return 0;
}

static void destroy_config(void *config) {
  module_config *c = config;
  if (!c) return;
  free(c->listeners);
  free(c);
}

static int create_config(const tether_host *h, tether_config *table, void **out) {
  const char *known[sizeof socket_keys / sizeof *socket_keys + sizeof http_keys / sizeof *http_keys + 1];
  size_t n = 0, i;
  tether_config *listen = NULL;
  module_config *c;
  int ok;
  host = h;
  for (i = 0; i < sizeof socket_keys / sizeof *socket_keys; ++i) known[n++] = socket_keys[i];
  for (i = 0; i < sizeof http_keys / sizeof *http_keys; ++i) known[n++] = http_keys[i];
  known[n++] = "listen";
  c = calloc(1, sizeof *c);
  if (!c) return TETHER_ERROR;
  c->defaults.has_nodelay = 1;
  c->defaults.nodelay = 1;
  ok = host->config_only_keys(table, known, n) == TETHER_OK;
  ok = read_settings(table, &c->defaults, 1) && ok;
  switch (host->config_table(table, "listen", &listen)) {
    case TETHER_ERROR: ok = 0; break;
    case TETHER_OK: {
      size_t count = host->config_key_count(listen);
      c->listeners = calloc(count ? count : 1, sizeof *c->listeners);
      for (i = 0; i < count && c->listeners; ++i) {
        const char *address = host->config_key(listen, i);
        tether_config *overrides = NULL;
        listener *l = &c->listeners[c->listener_count];
        if (!parse_address(address, &l->address)) {
          host->config_error(listen, address, "is not an address such as \"127.0.0.1:8080\" or \"[::1]:8080\"");
          ok = 0;
          continue;
        }
        if (host->config_table(listen, address, &overrides) != TETHER_OK) {
          ok = 0;
          continue;
        }
        l->values = c->defaults;
        {
          settings given;
          memset(&given, 0, sizeof given);
          ok = host->config_only_keys(overrides, known, n - 1) == TETHER_OK && ok;
          ok = read_settings(overrides, &given, 1) && ok;
          layer(&l->values, &given);
        }
        c->listener_count++;
      }
      break;
    }
    default: break;
  }
  if (!ok) {
    destroy_config(c);
    return TETHER_ERROR;
  }
  *out = c;
  return TETHER_OK;
}

static int create_route_config(const tether_host *h, tether_config *table, void *config, void **out) {
  settings *route;
  int ok;
  (void)config;
  host = h;
  route = calloc(1, sizeof *route);
  if (!route) return TETHER_ERROR;
  ok = host->config_only_keys(table, http_keys, sizeof http_keys / sizeof *http_keys) == TETHER_OK;
  ok = read_settings(table, route, 0) && ok;
  if (!ok) {
    free(route);
    return TETHER_ERROR;
  }
  *out = route;
  return TETHER_OK;
}

static void destroy_route_config(void *route) { free(route); }

static void set_option(int fd, int level, int name, int value, const char *what) {
  if (setsockopt(fd, level, name, &value, sizeof value) != 0)
    host->log(TETHER_LOG_WARN, "keepalive", "cannot set %s on a connection", what);
}

/* HTTP keep-alive and heartbeat settings, given or not: unset ones keep the connection's value. */
static void apply_http(tether_connection *connection, const settings *s) {
  uint64_t interval = 0, timeout = 0;
  if (s->has_http_idle || s->has_max_requests)
    host->connection_set_keepalive(connection, s->has_http_idle ? s->http_idle_ms : 0, s->has_max_requests ? s->max_requests : 0);
  if (s->has_heartbeat_interval || s->has_heartbeat_timeout) {
    host->connection_heartbeat(connection, &interval, &timeout);
    host->connection_set_heartbeat(connection, s->has_heartbeat_interval ? s->heartbeat_interval_ms : interval,
                                   s->has_heartbeat_timeout ? s->heartbeat_timeout_ms : timeout);
  }
}

static int connection_accepted(tether_worker *worker, void *config, const tether_connection_info *info) {
  const module_config *c = config;
  const settings *s = &c->defaults;
  size_t i;
  (void)worker;
  for (i = 0; i < c->listener_count; ++i)
    if (same_address(&c->listeners[i].address, info->local)) s = &c->listeners[i].values;
  if (s->has_nodelay) set_option(info->fd, IPPROTO_TCP, TCP_NODELAY, s->nodelay, "TCP_NODELAY");
  if (s->has_keepalive) set_option(info->fd, SOL_SOCKET, SO_KEEPALIVE, s->keepalive, "SO_KEEPALIVE");
  if (s->keepalive) {
    if (s->has_idle) set_option(info->fd, IPPROTO_TCP, TCP_KEEPIDLE, (int)(s->keepalive_idle_ms / 1000), "TCP_KEEPIDLE");
    if (s->has_interval)
      set_option(info->fd, IPPROTO_TCP, TCP_KEEPINTVL, (int)(s->keepalive_interval_ms / 1000), "TCP_KEEPINTVL");
    if (s->has_count) set_option(info->fd, IPPROTO_TCP, TCP_KEEPCNT, (int)s->keepalive_count, "TCP_KEEPCNT");
  }
  if (s->has_user_timeout) set_option(info->fd, IPPROTO_TCP, TCP_USER_TIMEOUT, (int)s->user_timeout_ms, "TCP_USER_TIMEOUT");
  apply_http(info->connection, s);
  return TETHER_OK;
}

static int access_phase(tether_request *request, void *config, void *route) {
  tether_connection *connection;
  (void)config;
  if (!route) return TETHER_DECLINED;
  connection = host->request_connection(request);
  if (connection) apply_http(connection, route);
  return TETHER_DECLINED;
}

static const tether_module keepalive_module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "keepalive",
    .version = "1.0.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_config = destroy_config,
    .destroy_route_config = destroy_route_config,
    .connection_accepted = connection_accepted,
    .access = access_phase,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &keepalive_module; }
