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
 *   require = "token"                        # or "none" (the default)
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
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tether/module.h>

#include "../common/connection_map.h"
#include "../common/limiter.h"
#include "../common/refusal.h"
#include "../common/subscription.h"
#include "auth_config.h"
#include "auth_token.h"
#include "jwt.h"

enum { CODE_401, CODE_403, CODE_429, CODE_503, CODES };
enum { COUNTED = 1 };

static const tether_host *host;
static rl_state *users;            /* NULL without max_connections_per_user */
static connection_map connections; /* this worker's counted connections, by handle, under their user's hash */
static uint32_t self;              /* this worker's pid: the owner of its counts */
static int counting;               /* 0: no room among the limiter's owners: every limited connection is refused */
static tether_metric allowed_metric, refused_metric[CODES];

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

static int worker_init(const tether_host *h, tether_worker *worker, void *config) {
  static const char *const codes[CODES] = {"code=\"401\"", "code=\"403\"", "code=\"429\"", "code=\"503\""};
  const auth_config *c = config;
  int i;
  (void)worker;
  host = h;
  allowed_metric = host->metric_register("tether_auth_allowed_total", "", "Requests the auth module let through.",
                                         TETHER_METRIC_COUNTER);
  for (i = 0; i < CODES; ++i)
    refused_metric[i] = host->metric_register("tether_auth_refused_total", codes[i],
                                              "Requests the auth module refused, by status.", TETHER_METRIC_COUNTER);
  if (!c->max_connections_per_user) return TETHER_OK;
  {
    size_t size = rl_state_size(8, (uint32_t)c->max_users);
    void *zone = host->shared_zone("auth.users", size);
    if (!zone) {
      host->log(TETHER_LOG_ERROR, "auth", "no shared memory for %zu bytes: raise [server] shared_memory", size);
      return TETHER_ERROR;
    }
    users = rl_state_attach(zone, 8, (uint32_t)c->max_users);
  }
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
  connection_map_clear(&connections);
}

static void connection_closed(tether_worker *worker, void *config, const tether_connection_info *info) {
  connection_entry entry;
  (void)worker;
  (void)config;
  if (users && connection_map_get(&connections, info->connection, 1, &entry) && entry.state == COUNTED)
    rl_connection_release(users, entry.hash, self);
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

/* Whether the token covers every channel the request names: NULL, or why not (403). A request
 * whose channels cannot be read is let through: its handler answers it 400, as without auth. */
static const char *channel_refusal(const tether_request_info *info, const jwt_claims *claims) {
  static const subscription_id_source since = SUBSCRIPTION_ID_SOURCE("since");
  subscription s;
  int publishing = (info->method_length == 4 && memcmp(info->method, "POST", 4) == 0) ||
                   (info->method_length == 3 && memcmp(info->method, "PUT", 3) == 0);
  size_t i;
  if (subscription_read(&s, info->path, info->path_length, info->route_length, info->query, info->query_length, &since,
                        host->channel_problem))
    return NULL;
  for (i = 0; i < s.count; ++i) {
    int ok = publishing ? jwt_publish_allowed(claims, s.names[i], s.name_lengths[i])
                        : jwt_channel_allowed(claims, s.names[i], s.name_lengths[i]);
    if (!ok) return publishing ? "the token does not allow publishing on this channel"
                               : "the token does not allow this channel";
  }
  return NULL;
}

/* Counts the connection against its user: TETHER_DECLINED when it may go on, else the refusal. */
static int count_user(tether_request *request, const auth_config *c, const jwt_claims *claims) {
  tether_connection *connection = host->request_connection(request);
  connection_entry entry = {0};
  uint64_t user;
  int verdict;
  if (!users) return TETHER_DECLINED;
  if (!claims->sub || claims->sub_length == 0)
    return refuse_token(request, "the token has no sub: max_connections_per_user needs a user", 1);
  if (!connection) return TETHER_DECLINED; /* the client left: nothing to count */
  user = rl_hash(claims->sub, claims->sub_length, rl_state_secret(users));
  if (connection_map_get(&connections, connection, 0, &entry) && entry.state == COUNTED) {
    if (entry.hash == user) return TETHER_DECLINED; /* another request on a connection already counted */
    rl_connection_release(users, entry.hash, self); /* the connection changes hands */
    connection_map_get(&connections, connection, 1, NULL);
  }
  verdict = counting ? rl_connection_acquire(users, user, self, (uint32_t)c->max_connections_per_user) : RL_NO_ROOM;
  if (verdict == RL_AT_LIMIT) return refuse(request, CODE_429, 429, "too many connections for this user");
  if (verdict != RL_COUNTED) return refuse(request, CODE_503, 503, "no room to count this user's connections");
  entry.connection = connection;
  entry.state = COUNTED;
  entry.hash = user;
  if (!connection_map_put(&connections, &entry)) {
    rl_connection_release(users, user, self);
    return refuse(request, CODE_503, 503, "out of memory");
  }
  return TETHER_DECLINED;
}

static int access_phase(tether_request *request, void *config, void *route_config) {
  const auth_config *c = config;
  const auth_route *route = route_config;
  tether_request_info info;
  char buffer[JWT_MAX_TOKEN];
  const char *token = NULL, *why = NULL;
  size_t length = 0;
  jwt_rules rules;
  jwt_claims claims;
  int found, verdict;
  if (!route || route->require == AUTH_REQUIRE_NONE) return TETHER_DECLINED;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  found = auth_token_of(host, request, info.query, info.query_length, buffer, &token, &length, &why);
  if (found == AUTH_TOKEN_NONE) return refuse_token(request, "a token is required", 0);
  if (found == AUTH_TOKEN_MALFORMED) return refuse_token(request, why, 1);
  rules.issuer = c->issuer;
  rules.audience = c->audience;
  rules.leeway_s = c->leeway_s;
  rules.now_s = (uint64_t)time(NULL);
  verdict = jwt_verify(c->key, token, length, &rules, &claims, &why);
  if (verdict == JWT_FAILED) {
    host->log(TETHER_LOG_ERROR, "auth", "a token could not be checked: %s", why);
    return TETHER_ERROR; /* 500: the server's fault, not the client's */
  }
  if (verdict != JWT_OK) return refuse_token(request, why, 1);
  if ((why = channel_refusal(&info, &claims))) {
    jwt_claims_free(&claims);
    return refuse(request, CODE_403, 403, why);
  }
  verdict = count_user(request, c, &claims);
  jwt_claims_free(&claims);
  if (verdict != TETHER_DECLINED) return verdict;
  host->metric_add(host->request_worker(request), allowed_metric, 1);
  return TETHER_DECLINED;
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
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &auth_module; }
