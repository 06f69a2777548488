/*
 * ratelimit — request rate limits per route and a concurrent-connection limit per client
 * address, both global across every worker (state in a tether shared zone, see limiter.h).
 *
 *   [modules.ratelimit]
 *   max_keys = 65536                    # buckets kept; least recently used ones are evicted
 *   max_connections_per_address = 0     # 0 = no limit; past it a connection's requests get 503
 *
 *   [[route]]
 *   path = "/api/"                      # (a prefix route such as "/api/" plus a star works too)
 *   ...
 *   [route.ratelimit]
 *   rate = "10/s"                       # tokens per second, minute or hour: "10/s", "600/m", "5/h"
 *   burst = 20                          # tokens saved up (default: one second's worth, at least 1)
 *   key = "address"                     # or "header:X-Api-Key" (falls back to the address when
 *                                       # absent) or "segment:2" (the 2nd path segment)
 *
 * Over the rate: 429 with Retry-After (seconds). Over the connection limit: 503, and the
 * connection closes after that answer; so too when the counts have no room for the address
 * (letting it through uncounted would lift its limit). The connections of a worker that dies
 * (crash, SIGKILL) stop counting: when its address reaches the limit, and for every address when
 * the next worker starts (limiter.h).
 */
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <tether/module.h>

#include "../common/clock.h"
#include "../common/connection_map.h"
#include "../common/limiter.h"
#include "../common/shared_limiter.h"

/* Addresses the table counts connections of, when max_connections_per_address is set. */
enum { kCountedAddresses = 65536 };

typedef enum { KEY_ADDRESS, KEY_HEADER, KEY_SEGMENT } key_kind;

typedef struct {
  double rate;  /* tokens per second */
  double burst;
  key_kind kind;
  char header[64];
  int segment;
} route_limit;

typedef struct {
  int64_t max_keys;
  int64_t max_connections;
} module_config;

static const tether_host *host;
static rl_state *state;
static tether_metric rejected_rate, rejected_connections;
/* Worker-local: connections this worker counted or refused, with the address hash they were
 * counted under (at close the peer may no longer be known: a reset socket). */
static connection_map connections;
static uint32_t self;  /* this worker's pid: the owner of the connections it counts */
static int counting;   /* 0: no room among the limiter's owners, every connection is refused */
static int warned_no_room;

enum { COUNTED = 1, REFUSED = 2 };

/* The address of a peer, without its port. */
static uint64_t address_hash(const struct sockaddr *peer) {
  if (peer && peer->sa_family == AF_INET)
    return rl_hash(&((const struct sockaddr_in *)peer)->sin_addr, 4, rl_state_secret(state));
  if (peer && peer->sa_family == AF_INET6)
    return rl_hash(&((const struct sockaddr_in6 *)peer)->sin6_addr, 16, rl_state_secret(state));
  return 1;
}

static int create_config(const tether_host *h, tether_config *settings, void **out) {
  static const char *const known[] = {"max_keys", "max_connections_per_address"};
  module_config *c = calloc(1, sizeof *c);
  int ok;
  host = h;
  if (!c) return TETHER_ERROR;
  c->max_keys = 65536;
  ok = host->config_only_keys(settings, known, 2) == TETHER_OK;
  ok = host->config_integer(settings, "max_keys", &c->max_keys) != TETHER_ERROR && ok;
  ok = host->config_integer(settings, "max_connections_per_address", &c->max_connections) != TETHER_ERROR && ok;
  if (c->max_keys < 8 || c->max_keys > 16 * 1024 * 1024) {
    host->config_error(settings, "max_keys", "must be between 8 and 16777216");
    ok = 0;
  }
  if (c->max_connections < 0 || c->max_connections > 1000000) {
    host->config_error(settings, "max_connections_per_address", "must be between 0 (no limit) and 1000000");
    ok = 0;
  }
  if (!ok) {
    free(c);
    return TETHER_ERROR;
  }
  *out = c;
  return TETHER_OK;
}

static void destroy_config(void *config) { free(config); }

static int parse_rate(const char *text, double *per_second) {
  char *end;
  double amount = strtod(text, &end);
  if (end == text || amount <= 0 || *end != '/') return 0;
  if (strcmp(end, "/s") == 0) *per_second = amount;
  else if (strcmp(end, "/m") == 0) *per_second = amount / 60.0;
  else if (strcmp(end, "/h") == 0) *per_second = amount / 3600.0;
  else return 0;
  return 1;
}

static int create_route_config(const tether_host *h, tether_config *settings, void *config, void **out) {
  static const char *const known[] = {"rate", "burst", "key"};
  const char *rate = NULL, *key = "address";
  int64_t burst = 0;
  route_limit *r;
  int ok, has_burst;
  (void)config;
  host = h;
  r = calloc(1, sizeof *r);
  if (!r) return TETHER_ERROR;
  ok = host->config_only_keys(settings, known, 3) == TETHER_OK;
  if (host->config_string(settings, "rate", &rate) != TETHER_OK || !parse_rate(rate, &r->rate)) {
    host->config_error(settings, rate ? "rate" : NULL, "needs a rate such as \"10/s\", \"600/m\" or \"5/h\"");
    ok = 0;
  }
  has_burst = host->config_integer(settings, "burst", &burst);
  if (has_burst == TETHER_ERROR || (has_burst == TETHER_OK && (burst < 1 || burst > 1000000))) {
    if (has_burst == TETHER_OK) host->config_error(settings, "burst", "must be between 1 and 1000000");
    ok = 0;
  }
  r->burst = has_burst == TETHER_OK ? (double)burst : (r->rate > 1.0 ? ceil(r->rate) : 1.0);
  if (host->config_string(settings, "key", &key) == TETHER_ERROR) ok = 0;
  else if (strcmp(key, "address") == 0) r->kind = KEY_ADDRESS;
  else if (strncmp(key, "header:", 7) == 0 && key[7] && strlen(key + 7) < sizeof r->header) {
    r->kind = KEY_HEADER;
    strcpy(r->header, key + 7);
  } else if (strncmp(key, "segment:", 8) == 0 && atoi(key + 8) >= 1) {
    r->kind = KEY_SEGMENT;
    r->segment = atoi(key + 8);
  } else {
    host->config_error(settings, "key", "must be \"address\", \"header:<name>\" or \"segment:<n>\"");
    ok = 0;
  }
  if (!ok) {
    free(r);
    return TETHER_ERROR;
  }
  *out = r;
  return TETHER_OK;
}

static void destroy_route_config(void *route) { free(route); }

static int worker_init(const tether_host *h, tether_worker *worker, void *config) {
  const module_config *c = config;
  /* One table for every generation (shared_limiter.h): its dimensions cannot change on a reload. */
  rl_dimensions wanted = {(uint32_t)c->max_keys, c->max_connections ? kCountedAddresses : 8}, had;
  (void)worker;
  host = h;
  state = rl_shared_state(host, "ratelimit", wanted, &had);
  if (!state && had.keys) {
    host->log(TETHER_LOG_ERROR, "ratelimit",
              "max_keys = %u with max_connections_per_address %s, but the server keeps its limits in a table for "
              "%u keys %s: changing either needs a restart",
              wanted.keys, c->max_connections ? "on" : "off", had.keys,
              had.addresses == kCountedAddresses ? "that counts connections" : "that does not count connections");
    return TETHER_ERROR;
  }
  if (!state) {
    host->log(TETHER_LOG_ERROR, "ratelimit", "no shared memory for its table: raise [server] shared_memory");
    return TETHER_ERROR;
  }
  self = (uint32_t)getpid();
  counting = 1;
  if (c->max_connections && !rl_owner_start(state, self)) {
    host->log(TETHER_LOG_ERROR, "ratelimit", "more than %d processes count connections: this worker refuses them all",
              RL_MAX_OWNERS);
    counting = 0;
  }
  rejected_rate = host->metric_register("tether_ratelimit_rejected_total", "reason=\"rate\"",
                                        "Requests refused by the ratelimit module.", TETHER_METRIC_COUNTER);
  rejected_connections = host->metric_register("tether_ratelimit_rejected_total", "reason=\"connections\"",
                                               "Requests refused by the ratelimit module.", TETHER_METRIC_COUNTER);
  return TETHER_OK;
}

static void worker_exit(tether_worker *worker, void *config) {
  (void)worker;
  (void)config;
  connection_map_clear(&connections);
}

static int connection_accepted(tether_worker *worker, void *config, const tether_connection_info *info) {
  const module_config *c = config;
  int verdict = RL_NO_ROOM;
  uint64_t address;
  connection_entry entry = {0};
  (void)worker;
  if (!c->max_connections) return TETHER_OK;
  address = address_hash(info->peer);
  if (counting) verdict = rl_connection_acquire(state, address, self, (uint32_t)c->max_connections);
  if (verdict == RL_NO_ROOM && counting && !warned_no_room) {
    host->log(TETHER_LOG_WARN, "ratelimit", "no room to count the connections of more addresses: they are refused");
    warned_no_room = 1;
  }
  /* refused ones are answered 503 on their first request */
  entry.connection = info->connection;
  entry.state = verdict == RL_COUNTED ? COUNTED : REFUSED;
  entry.hash = address;
  if (!connection_map_put(&connections, &entry)) {
    if (verdict == RL_COUNTED) rl_connection_release(state, address, self);
    return TETHER_ERROR;  /* out of memory: it cannot be counted, so it is not taken */
  }
  return TETHER_OK;
}

static void connection_closed(tether_worker *worker, void *config, const tether_connection_info *info) {
  const module_config *c = config;
  connection_entry entry;
  (void)worker;
  if (c->max_connections && connection_map_get(&connections, info->connection, 1, &entry) && entry.state == COUNTED)
    rl_connection_release(state, entry.hash, self);
}

/* The bucket key of a request for `route`, NULL-free: the header, path segment or address. */
static uint64_t request_key(tether_request *request, const route_limit *route, const tether_request_info *info) {
  uint64_t seed = rl_hash(info->route, info->route_length, 7);  /* each route has its own buckets */
  if (route->kind == KEY_HEADER) {
    size_t length = 0;
    const char *value = host->request_header(request, route->header, &length);
    if (value) return rl_hash(value, length, seed);
  } else if (route->kind == KEY_SEGMENT) {
    const char *p = info->path, *end = info->path + info->path_length;
    int n = 0;
    while (p < end) {
      const char *start;
      while (p < end && *p == '/') ++p;
      start = p;
      while (p < end && *p != '/') ++p;
      if (p > start && ++n == route->segment) return rl_hash(start, (size_t)(p - start), seed);
    }
  }
  return rl_hash(&seed, sizeof seed, address_hash(info->peer));
}

static int access_phase(tether_request *request, void *config, void *route_config) {
  const module_config *c = config;
  const route_limit *route = route_config;
  tether_request_info info;
  rl_verdict verdict;
  char retry[32];
  tether_connection *connection = host->request_connection(request);
  connection_entry entry;
  if (c->max_connections && connection && connection_map_get(&connections, connection, 0, &entry) &&
      entry.state == REFUSED) {
    host->metric_add(host->request_worker(request), rejected_connections, 1);
    host->connection_set_keepalive(connection, 0, 1);  /* this answer closes the connection */
    return host->respond(request, 503, "text/plain", "503 too many connections from your address\n", 43);
  }
  if (!route) return TETHER_DECLINED;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_DECLINED;
  verdict = rl_take(state, request_key(request, route, &info), route->rate, route->burst, monotonic_us());
  if (verdict.allowed) return TETHER_DECLINED;
  host->metric_add(host->request_worker(request), rejected_rate, 1);
  snprintf(retry, sizeof retry, "%.0f", ceil(verdict.retry_after) < 1 ? 1.0 : ceil(verdict.retry_after));
  host->response_header(request, "Retry-After", retry);
  return host->respond(request, 429, "text/plain", "429 too many requests\n", 22);
}

static const tether_module ratelimit_module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "ratelimit",
    .version = "1.0.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_config = destroy_config,
    .destroy_route_config = destroy_route_config,
    .worker_init = worker_init,
    .worker_exit = worker_exit,
    .connection_accepted = connection_accepted,
    .connection_closed = connection_closed,
    .access = access_phase,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &ratelimit_module; }
