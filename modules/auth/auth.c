/*
 * auth — who may connect, subscribe and publish: JWT bearer tokens checked before a WebSocket
 * upgrade, an event stream or a publish, and a limit of connections per user over all workers.
 *
 *   [modules.auth]
 *   jwt_secret = "…"                         # HS256/384/512, at least 32 bytes; or
 *   # jwt_public_key = "/etc/tether/jwt.pem" # RS256/384/512, ES256, ES384, EdDSA (PEM key or certificate)
 *   # issuer = "…"   audience = "…"
 *   leeway = "5s"                            # clock skew allowed on exp and nbf
 *   max_connections_per_user = 0             # 0 = no limit; counted on all workers
 *   max_users = 65536                        # users counted at once (shared memory)
 *
 *   [[route]]
 *   path = "/ws/" + "*"          # a prefix route
 *   handler = "websocket"
 *   [route.auth]
 *   require = "token"                        # or "backend", or "none" (the default)
 *   # require = "backend": backend = "http://127.0.0.1:9000/auth", backend_timeout = "3s",
 *   # on_backend_error = "deny" | "allow", pool and breaker settings (auth_config.c, tether.toml(5))
 *
 * On a route with require = "token" every request needs a token ("Authorization: Bearer …", or
 * ?token= where a browser cannot set headers: auth_token.h), verified as jwt.h says. Then each
 * channel the request names (as the websocket and sse modules read it: the path past the route,
 * every ?channel=) must be covered by the token's "channels" claim, or, for POST and PUT (a
 * publish), by its "publish" claim; a token without the claim covers none. The "sub" claim is
 * the user: with max_connections_per_user, a token must have one, and a connection that passed
 * counts against its user until it closes (kill -9 of a worker releases its counts, limiter.h).
 *
 * Answers: 401 with WWW-Authenticate (RFC 6750: no token, or an invalid one, with the reason as
 * error_description), 403 (a channel the token does not cover), 429 (the user's connections
 * are at the limit), 503 (no room to count the user: letting it through would lift its limit).
 * Each is a metric, tether_auth_refused_total{code="…"}; tether_auth_allowed_total counts the
 * rest. Routes without [route.auth] cost one pointer test per request.
 *
 * A token's exp (plus leeway) ends the connection (ABI 1.4 connection_set_expiry: WebSocket
 * close 4001, SSE "event: expired") unless the client refreshes it first: the refresh hook takes
 * a fresh token of the same sub. require = "backend" asks the application instead
 * (auth_backend.h): the access hook waits (TETHER_AGAIN) and the verdict answers or lets the
 * request through; the backend's user is counted and its channels checked like a token's.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tether/module.h>

#include "../common/connection_map.h"
#include "../common/limiter.h"
#include "../common/shared_limiter.h"
#include "../common/refusal.h"
#include "../common/subscription.h"
#include "auth_backend.h"
#include "auth_config.h"
#include "auth_token.h"
#include "jwt.h"

enum { CODE_400, CODE_401, CODE_403, CODE_429, CODE_503, CODES };
/* Whether the host offers a function (its table is at least as new as that member). */
#define HOST_HAS(member) (host->size >= offsetof(tether_host, member) + sizeof host->member)
/* What this worker keeps of a connection that passed (connection_map entries, under the user's
 * hash): whether it counts against its user, and whether its token expires (so that a refresh
 * must name the same user). */
enum { COUNTED = 1, EXPIRES = 2 };

static const tether_host *host;
static rl_state *users;            /* NULL without max_connections_per_user */
static connection_map connections; /* this worker's counted connections, by handle, under their user's hash */
static uint32_t self;              /* this worker's pid: the owner of its counts */
static int counting;               /* 0: no room among the limiter's owners: every limited connection is refused */
static tether_metric allowed_metric, refused_metric[CODES], refreshed_metric, backend_failed_metric;
static uint64_t user_seed = 0x9e3779b97f4a7c15ull; /* for counts only: the users' table secret */
static tether_worker *this_worker;
static const auth_config *module_config; /* this worker's [modules.auth] */

static int backend_decided(tether_request *request, const auth_route *route, const backend_verdict *v, int waited);

static int create_config(const tether_host *h, tether_config *settings, void **out) {
  host = h;
  return auth_config_create(h, settings, (auth_config **)out);
}
static void destroy_config(void *config) { auth_config_free(config); }

static int create_route_config(const tether_host *h, tether_config *settings, void *config, void **out) {
  host = h;
  return auth_route_create(h, settings, config, (auth_route **)out);
}
static void destroy_route_config(void *route) { auth_route_free(route); }

/* The users' counts live in one table for every generation (shared_limiter.h): max_users cannot
 * change on a reload. A worker of a reload that asks for another size fails, and so the reload. */
static int attach_users_table(const auth_config *c) {
  rl_dimensions wanted = {8, (uint32_t)c->max_users}, had;
  users = rl_shared_state(host, "auth.users", wanted, &had);
  if (users) return 1;
  if (had.addresses)
    host->log(TETHER_LOG_ERROR, "auth",
              "max_users is %u, but the server counts users in a table for %u: changing it needs a restart",
              wanted.addresses, had.addresses);
  else
    host->log(TETHER_LOG_ERROR, "auth", "no shared memory for the users' table: raise [server] shared_memory");
  return 0;
}

static int worker_init(const tether_host *h, tether_worker *worker, void *config) {
  static const char *const codes[CODES] = {"code=\"400\"", "code=\"401\"", "code=\"403\"", "code=\"429\"",
                                           "code=\"503\""};
  const auth_config *c = config;
  int i;
  host = h;
  this_worker = worker;
  module_config = c;
  allowed_metric = host->metric_register("tether_auth_allowed_total", "", "Requests the auth module let through.",
                                         TETHER_METRIC_COUNTER);
  for (i = 0; i < CODES; ++i)
    refused_metric[i] = host->metric_register("tether_auth_refused_total", codes[i],
                                              "Requests the auth module refused, by status.", TETHER_METRIC_COUNTER);
  refreshed_metric = host->metric_register("tether_auth_refreshed_total", "", "Tokens refreshed on live connections.",
                                           TETHER_METRIC_COUNTER);
  backend_failed_metric = host->metric_register("tether_auth_backend_failures_total", "",
                                                "Backend authorizations that got no usable answer.", TETHER_METRIC_COUNTER);
  if (host->abi_minor >= 4) auth_backend_init(host, worker, backend_decided);
  if (!c->max_connections_per_user) return TETHER_OK;
  if (!attach_users_table(c)) return TETHER_ERROR;
  user_seed = rl_state_secret(users);
  self = (uint32_t)getpid();
  counting = rl_owner_start(users, self);
  if (!counting)
    host->log(TETHER_LOG_ERROR, "auth", "more than %d processes count connections: this worker refuses limited users",
              RL_MAX_OWNERS);
  return TETHER_OK;
}

static void worker_exit(tether_worker *worker, void *config) {
  (void)worker;
  (void)config;
  size_t i;
  if (host->abi_minor >= 4) auth_backend_exit();
  for (i = 0; i < connections.capacity; ++i)
    if (connections.slots[i].connection) free(connections.slots[i].data);
  connection_map_clear(&connections);
}

static void connection_closed(tether_worker *worker, void *config, const tether_connection_info *info) {
  connection_entry entry;
  (void)worker;
  (void)config;
  if (!connection_map_get(&connections, info->connection, 1, &entry)) return;
  if (entry.state & COUNTED) rl_connection_release(users, entry.hash, self);
  free(entry.data);
}

static int refuse(tether_request *request, int code, int status, const char *why) {
  host->metric_add(host->request_worker(request), refused_metric[code], 1);
  return refuse_request(host, request, status, why);
}

/* 401 as RFC 6750 §3 has it: the challenge, and for a token that was there, why it failed. */
static int refuse_token(tether_request *request, const char *why, int had_token) {
  char challenge[256];
  if (had_token) {
    char description[160];
    size_t i;
    snprintf(description, sizeof description, "%s", why);
    for (i = 0; description[i]; ++i)  /* a quoted-string: no quote, backslash or control byte */
      if (description[i] == '"' || description[i] == '\\' || (unsigned char)description[i] < 0x20) description[i] = ' ';
    snprintf(challenge, sizeof challenge, "Bearer realm=\"tether\", error=\"invalid_token\", error_description=\"%s\"",
             description);
  } else {
    snprintf(challenge, sizeof challenge, "Bearer realm=\"tether\"");
  }
  host->response_header(request, "WWW-Authenticate", challenge);
  return refuse(request, CODE_401, 401, why);
}

/* The channel patterns a connection was granted: a token's claim or a backend's answer. */
typedef struct grant {
  const jwt_json_string *patterns; /* a token's */
  const backend_string *listed;    /* or a backend's */
  size_t count;
} grant;

static int granted(const grant *g, const char *channel, size_t length) {
  size_t i;
  for (i = 0; i < g->count; ++i) {
    const char *p = g->patterns ? g->patterns[i].data : g->listed[i].data;
    size_t n = g->patterns ? g->patterns[i].length : g->listed[i].length;
    if (jwt_pattern_matches(p, n, channel, length)) return 1;
  }
  return 0;
}

static int is_publish(const tether_request_info *info) {
  return (info->method_length == 4 && memcmp(info->method, "POST", 4) == 0) ||
         (info->method_length == 3 && memcmp(info->method, "PUT", 3) == 0);
}

/* The channels the request names: for a publish (POST, PUT) the path past the route up to a
 * '#', as the publish endpoint reads it; otherwise as the websocket and sse modules read them
 * (the path past the route, every ?channel=; the resume id is not looked at). NULL, or why they
 * cannot be read: the request is then refused (400), never let through unchecked. */
static const char *channels_of(const tether_request_info *info, subscription *s) {
  const char *problem;
  if (is_publish(info)) {
    size_t start = info->route_length, end = start;
    memset(s, 0, sizeof *s);
    while (end < info->path_length && info->path[end] != '#') ++end;
    if (end <= start || info->path_length < start) return "no channel: use {route}{channel}";
    if (end - start > SUBSCRIPTION_MAX_NAME) return "the channel name is too long";
    if ((problem = host->channel_problem(info->path + start, end - start))) return problem;
    memcpy(s->names[0], info->path + start, end - start);
    s->name_lengths[0] = (uint8_t)(end - start);
    s->count = 1;
    return NULL;
  }
  return subscription_read(s, info->path, info->path_length, info->route_length, info->query, info->query_length, NULL,
                           host->channel_problem);
}

/* Whether the grant covers every channel in `s`: NULL, or why not (403). */
static const char *channel_refusal(const tether_request_info *info, const subscription *s, const grant *g) {
  size_t i;
  for (i = 0; i < s->count; ++i)
    if (!granted(g, s->names[i], s->name_lengths[i]))
      return is_publish(info) ? "not allowed to publish on this channel" : "not allowed to subscribe to this channel";
  return NULL;
}

/* The user of a connection whose token expires: a refresh must name the same one (compared
 * byte for byte, never by hash). */
typedef struct user_copy {
  size_t length;
  char bytes[];
} user_copy;

static user_copy *copy_user(const char *user, size_t length) {
  user_copy *copy = malloc(sizeof *copy + length + 1);
  if (!copy) return NULL;
  copy->length = length;
  if (length) memcpy(copy->bytes, user, length);
  return copy;
}

static int same_user(const user_copy *copy, const char *user, size_t length) {
  return copy && copy->length == length && (length == 0 || memcmp(copy->bytes, user, length) == 0);
}

/* Forgets a connection: its entry and the copy of its user (not its count: the caller's). */
static void forget(tether_connection *connection) {
  connection_entry old;
  if (connection_map_get(&connections, connection, 1, &old)) free(old.data);
}

/* Remembers what this worker must know of a connection that passed, and counts it against its
 * user when there is a limit: TETHER_DECLINED when it may go on, else the refusal. `user` NULL:
 * nobody to count (a backend that named no user). A connection already known (another request
 * on it) keeps its count when the user is the same, else gives it back first. */
static int admit(tether_request *request, const auth_config *c, const char *user, size_t user_length, int expires) {
  tether_connection *connection = host->request_connection(request);
  connection_entry entry = {0}, old = {0};
  int had, verdict;
  if (!connection) return TETHER_DECLINED; /* the client left: nothing to remember */
  had = connection_map_get(&connections, connection, 0, &old);
  entry.connection = connection;
  entry.hash = rl_hash(user ? user : "", user ? user_length : 0, user_seed);
  entry.state = expires ? EXPIRES : 0;
  if (had && (old.state & COUNTED)) {
    if (old.hash == entry.hash && user) entry.state |= COUNTED; /* counted already */
    else rl_connection_release(users, old.hash, self);          /* the connection changes hands */
  }
  if (users && user && !(entry.state & COUNTED)) {
    verdict = counting ? rl_connection_acquire(users, entry.hash, self, (uint32_t)c->max_connections_per_user) : RL_NO_ROOM;
    if (verdict != RL_COUNTED) {
      forget(connection);
      if (verdict == RL_AT_LIMIT) return refuse(request, CODE_429, 429, "too many connections for this user");
      return refuse(request, CODE_503, 503, "no room to count this user's connections");
    }
    entry.state |= COUNTED;
  }
  if (!entry.state) {
    forget(connection);
    return TETHER_DECLINED;
  }
  if ((expires && !(entry.data = copy_user(user ? user : "", user ? user_length : 0))) ||
      !connection_map_put(&connections, &entry)) {
    free(entry.data);
    if (entry.state & COUNTED) rl_connection_release(users, entry.hash, self);
    forget(connection);
    return refuse(request, CODE_503, 503, "out of memory");
  }
  if (had) free(old.data); /* replaced */
  return TETHER_DECLINED;
}

/* When a token stops being valid: exp + leeway, as jwt_verify checks it, in unix ms (0: it does
 * not expire; an exp too far out to count in ms does not either). */
static uint64_t expiry_ms(const auth_config *c, const jwt_claims *claims) {
  if (!claims->has_exp) return 0;
  if (claims->exp < 0) return 1;
  if ((uint64_t)claims->exp > UINT64_MAX / 1000u - c->leeway_s) return 0;
  return ((uint64_t)claims->exp + c->leeway_s) * 1000u;
}

/* The connection's deadline is the token's (0 clears one an earlier request on it left). */
static void set_expiry(tether_request *request, uint64_t expires) {
  tether_connection *connection = host->request_connection(request);
  if (connection && host->abi_minor >= 4) host->connection_set_expiry(connection, expires);
}

static int verify(const auth_config *c, const char *token, size_t length, jwt_claims *claims, const char **why) {
  jwt_rules rules;
  int verdict;
  rules.issuer = c->issuer;
  rules.audience = c->audience;
  rules.leeway_s = c->leeway_s;
  rules.now_s = (uint64_t)time(NULL);
  verdict = jwt_verify(c->key, token, length, &rules, claims, why);
  if (verdict == JWT_FAILED) host->log(TETHER_LOG_ERROR, "auth", "a token could not be checked: %s", *why);
  return verdict;
}

static int check_token(tether_request *request, const auth_config *c, const tether_request_info *info,
                       const subscription *s) {
  char buffer[JWT_MAX_TOKEN];
  const char *token = NULL, *why = NULL;
  size_t length = 0;
  jwt_claims claims;
  grant g = {0};
  int found, verdict;
  uint64_t expires;
  found = auth_token_of(host, request, info->query, info->query_length, buffer, &token, &length, &why);
  if (found == AUTH_TOKEN_NONE) return refuse_token(request, "a token is required", 0);
  if (found == AUTH_TOKEN_MALFORMED) return refuse_token(request, why, 1);
  verdict = verify(c, token, length, &claims, &why);
  if (verdict == JWT_FAILED) return TETHER_ERROR; /* 500: the server's fault, not the client's */
  if (verdict != JWT_OK) return refuse_token(request, why, 1);
  g.patterns = is_publish(info) ? claims.publish : claims.channels;
  g.count = is_publish(info) ? claims.publish_count : claims.channel_count;
  if ((why = channel_refusal(info, s, &g))) {
    jwt_claims_free(&claims);
    return refuse(request, CODE_403, 403, why);
  }
  if (users && (!claims.sub || claims.sub_length == 0)) {
    jwt_claims_free(&claims);
    return refuse_token(request, "the token has no sub: max_connections_per_user needs a user", 1);
  }
  expires = expiry_ms(c, &claims);
  verdict = admit(request, c, claims.sub, claims.sub_length, expires != 0);
  jwt_claims_free(&claims);
  if (verdict != TETHER_DECLINED) return verdict;
  set_expiry(request, expires);
  if (HOST_HAS(request_authorized)) host->request_authorized(request);
  host->metric_add(host->request_worker(request), allowed_metric, 1);
  return TETHER_DECLINED;
}

/* ---- require = "backend" ---- */

/* Lets a request through: at once (the hook returns TETHER_DECLINED) or after waiting. */
static int let_through(tether_request *request, int waited) {
  host->metric_add(host->request_worker(request), allowed_metric, 1);
  if (waited) host->request_continue(request);
  return TETHER_DECLINED;
}

static int backend_decided(tether_request *request, const auth_route *route, const backend_verdict *v, int waited) {
  tether_request_info info;
  grant g = {0};
  const char *why;
  int verdict;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (v->result == BACKEND_DENY_401) {
    host->response_header(request, "WWW-Authenticate", "Bearer realm=\"tether\"");
    return refuse(request, CODE_401, 401, "the application refused the credentials");
  }
  if (v->result == BACKEND_DENY_403) return refuse(request, CODE_403, 403, "the application refused this request");
  if (v->result != BACKEND_ALLOW) {
    host->metric_add(host->request_worker(request), backend_failed_metric, 1);
    host->log(TETHER_LOG_DEBUG, "auth", "backend %s: %s", route->backend_text, v->reason ? v->reason : "no answer");
    if (route->allow_on_error && v->reason != backend_queue_full) return let_through(request, waited);
    host->response_header(request, "Retry-After", "1");
    return refuse(request, CODE_503, 503, "the authorization backend is unavailable");
  }
  if (v->has_channels) {
    subscription s;
    if (host->request_info(request, &info) != TETHER_OK || channels_of(&info, &s))
      return refuse(request, CODE_503, 503, "the request is gone");
    g.listed = v->channels;
    g.count = v->channel_count;
    if ((why = channel_refusal(&info, &s, &g))) return refuse(request, CODE_403, 403, why);
  }
  verdict = admit(request, module_config, v->user.data, v->user.length, 0);
  if (verdict != TETHER_DECLINED) return verdict;
  set_expiry(request, 0);
  if (HOST_HAS(request_authorized)) host->request_authorized(request);
  return let_through(request, waited);
}

/* Asks the route's backend, with the client's credentials and the channels it names. */
static int check_backend(tether_request *request, auth_route *route, const tether_request_info *info,
                         const subscription *s) {
  backend_string channels[SUBSCRIPTION_MAX_CHANNELS];
  backend_question q;
  size_t i, length = 0;
  const char *value;
  if (host->abi_minor < 4) return TETHER_ERROR; /* a server before 1.4 cannot wait in access */
  memset(&q, 0, sizeof q);
  q.method.data = info->method;
  q.method.length = info->method_length;
  q.uri.data = info->target;
  q.uri.length = info->target_length;
  if ((value = host->request_header(request, "Authorization", &length))) q.authorization.data = value, q.authorization.length = length;
  if ((value = host->request_header(request, "Cookie", &length))) q.cookie.data = value, q.cookie.length = length;
  for (i = 0; i < s->count; ++i) channels[i].data = s->names[i], channels[i].length = s->name_lengths[i];
  q.channels = channels;
  q.channel_count = s->count;
  return auth_backend_ask(request, route, &q);
}

static int access_phase(tether_request *request, void *config, void *route_config) {
  auth_route *route = route_config;
  tether_request_info info;
  subscription s;
  const char *why;
  if (!route || route->require == AUTH_REQUIRE_NONE) return TETHER_DECLINED;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  /* A publish with the server's own [pubsub] publish_token: the publish handler checks it. */
  if (is_publish(&info) && HOST_HAS(request_has_publish_token) && host->request_has_publish_token(request))
    return TETHER_DECLINED;
  if ((why = channels_of(&info, &s))) return refuse(request, CODE_400, 400, why);
  if (route->require == AUTH_REQUIRE_BACKEND) return check_backend(request, route, &info, &s);
  return check_token(request, config, &info, &s);
}

/* May the client publish what it sends on `channel` (a WebSocket route with client_messages =
 * "publish")? On a token route its token's publish claim must cover it: the token is read and
 * verified again (it passed access a moment ago, on this same request). A backend route leaves
 * it to the backend, which saw the request. */
static int publish_allowed(tether_request *request, void *config, void *route_config, const char *channel,
                           size_t channel_length) {
  const auth_config *c = config;
  const auth_route *route = route_config;
  tether_request_info info;
  char buffer[JWT_MAX_TOKEN];
  const char *token = NULL, *why = NULL;
  size_t length = 0;
  jwt_claims claims;
  int allowed;
  if (!route || route->require != AUTH_REQUIRE_TOKEN) return TETHER_DECLINED;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  if (auth_token_of(host, request, info.query, info.query_length, buffer, &token, &length, &why) != AUTH_TOKEN_FOUND)
    return TETHER_ERROR;
  if (verify(c, token, length, &claims, &why) != JWT_OK) return TETHER_ERROR;
  allowed = jwt_publish_allowed(&claims, channel, channel_length);
  jwt_claims_free(&claims);
  if (!allowed) host->metric_add(host->request_worker(request), refused_metric[CODE_403], 1);
  return allowed ? TETHER_OK : TETHER_ERROR;
}

/* A fresh token on a live connection (the websocket module's refresh message): it must verify
 * and name the connection's user; its exp becomes the connection's. The channels were checked
 * at connect and are not checked again. */
static int refresh(tether_connection *connection, void *config, void *route_config, const char *token, size_t length) {
  const auth_config *c = config;
  const auth_route *route = route_config;
  connection_entry entry;
  jwt_claims claims;
  const char *why = NULL;
  uint64_t expires;
  int same;
  if (!route || route->require != AUTH_REQUIRE_TOKEN) return TETHER_DECLINED;
  if (!connection_map_get(&connections, connection, 0, &entry) || !(entry.state & EXPIRES)) return TETHER_ERROR;
  if (verify(c, token, length, &claims, &why) != JWT_OK) return TETHER_ERROR;
  same = same_user(entry.data, claims.sub ? claims.sub : "", claims.sub ? claims.sub_length : 0);
  expires = expiry_ms(c, &claims);
  jwt_claims_free(&claims);
  if (!same) return TETHER_ERROR; /* another user's token */
  host->connection_set_expiry(connection, expires);
  if (!expires) { /* it no longer expires: nothing more to refresh */
    free(entry.data);
    entry.data = NULL;
    entry.state &= ~EXPIRES;
    if (entry.state) connection_map_put(&connections, &entry);
    else connection_map_get(&connections, connection, 1, NULL);
  }
  host->metric_add(this_worker, refreshed_metric, 1);
  return TETHER_OK;
}

static const tether_module auth_module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "auth",
    .version = "1.0.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_config = destroy_config,
    .destroy_route_config = destroy_route_config,
    .worker_init = worker_init,
    .worker_exit = worker_exit,
    .connection_closed = connection_closed,
    .access = access_phase,
    .refresh = refresh,
    .publish_allowed = publish_allowed,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &auth_module; }
