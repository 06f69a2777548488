/* The auth module's settings: [modules.auth] (the key tokens are checked with, the claims'
 * rules, the per-user limit) and each route's [route.auth] (what it requires). Read in
 * create_config / create_route_config, in the workers and in the checker (`tether -t`), so
 * that a bad key file or a short secret fails the config at file:line:col; a reload reads the
 * key again (a rotated key is picked up). */
#ifndef TETHER_AUTH_CONFIG_H
#define TETHER_AUTH_CONFIG_H

#include <stdint.h>

#include <tether/module.h>

#include "backend_client.h"
#include "jwt.h"

typedef struct auth_config {
  jwt_key *key;      /* NULL: no jwt_secret nor jwt_public_key; routes cannot require a token */
  char *issuer;      /* NULL: not checked */
  char *audience;    /* NULL: tokens with an aud are refused */
  uint64_t leeway_s;
  int64_t max_connections_per_user; /* 0: no limit */
  int64_t max_users;                /* users counted at once (the shared table's room) */
} auth_config;

typedef enum { AUTH_REQUIRE_NONE = 0, AUTH_REQUIRE_TOKEN = 1, AUTH_REQUIRE_BACKEND = 2 } auth_require;

typedef struct auth_route {
  auth_require require;
  /* require = "backend" */
  char backend_text[BACKEND_URL_MAX + 1]; /* as configured, for the log */
  backend_url backend;
  backend_settings settings;
  int allow_on_error;            /* on_backend_error = "allow" (else "deny": 503) */
  backend_client *client;        /* this worker's, made on the route's first request */
} auth_route;

int auth_config_create(const tether_host *host, tether_config *settings, auth_config **out);
void auth_config_free(auth_config *config);
int auth_route_create(const tether_host *host, tether_config *settings, const auth_config *config, auth_route **out);
void auth_route_free(auth_route *route);

#endif
