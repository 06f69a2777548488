#include "auth_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy_string(const char *s) {
  size_t n = strlen(s) + 1;
  char *copy = malloc(n);
  if (copy) memcpy(copy, s, n);
  return copy;
}

/* The PEM at `path`, whole, into a buffer the caller frees; NULL with *why set. */
static char *read_pem(const char *path, size_t *length, char *why, size_t why_size) {
  FILE *f = fopen(path, "rb");
  char *pem;
  size_t n;
  if (!f) {
    snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  pem = malloc(JWT_MAX_PEM + 1);
  n = pem ? fread(pem, 1, JWT_MAX_PEM + 1, f) : 0;
  if (pem && ferror(f)) {
    snprintf(why, why_size, "cannot read %s: %s", path, strerror(errno));
    free(pem);
    pem = NULL;
  } else if (pem && n > JWT_MAX_PEM) {
    snprintf(why, why_size, "%s is larger than %d bytes: not a public key", path, JWT_MAX_PEM);
    free(pem);
    pem = NULL;
  } else if (!pem) {
    snprintf(why, why_size, "out of memory");
  }
  fclose(f);
  *length = n;
  return pem;
}

/* jwt_secret or jwt_public_key (not both): the key, or 0 after recording the error. */
static int read_key(const tether_host *host, tether_config *settings, auth_config *c) {
  const char *secret = NULL, *path = NULL;
  char why[256] = "";
  int has_secret = host->config_string(settings, "jwt_secret", &secret);
  int has_path = host->config_string(settings, "jwt_public_key", &path);
  if (has_secret == TETHER_ERROR || has_path == TETHER_ERROR) return 0;
  if (has_secret == TETHER_OK && has_path == TETHER_OK) {
    host->config_error(settings, "jwt_public_key", "set jwt_secret (HMAC) or jwt_public_key, not both");
    return 0;
  }
  if (has_secret == TETHER_OK) {
    if (!(c->key = jwt_key_hmac(secret, strlen(secret), why, sizeof why))) {
      host->config_error(settings, "jwt_secret", why);
      return 0;
    }
  } else if (has_path == TETHER_OK) {
    size_t length = 0;
    char *pem = read_pem(path, &length, why, sizeof why);
    if (pem) c->key = jwt_key_pem(pem, length, why, sizeof why);
    free(pem);
    if (!c->key) {
      host->config_error(settings, "jwt_public_key", why);
      return 0;
    }
  }
  return 1;
}

/* An optional non-empty string setting, copied into *out. */
static int read_text(const tether_host *host, tether_config *settings, const char *key, char **out) {
  const char *value = NULL;
  int found = host->config_string(settings, key, &value);
  if (found == TETHER_ERROR) return 0;
  if (found == TETHER_DECLINED) return 1;
  if (!*value) {
    host->config_error(settings, key, "must not be empty (leave it out to not check it)");
    return 0;
  }
  if (!(*out = copy_string(value))) return 0;
  return 1;
}

int auth_config_create(const tether_host *host, tether_config *settings, auth_config **out) {
  static const char *const known[] = {"jwt_secret", "jwt_public_key", "issuer", "audience", "leeway",
                                      "max_connections_per_user", "max_users"};
  auth_config *c = calloc(1, sizeof *c);
  uint64_t leeway_ms = 5000;
  int ok;
  if (!c) return TETHER_ERROR;
  c->max_users = 65536;
  ok = host->config_only_keys(settings, known, sizeof known / sizeof *known) == TETHER_OK;
  ok = read_key(host, settings, c) && ok;
  ok = read_text(host, settings, "issuer", &c->issuer) && ok;
  ok = read_text(host, settings, "audience", &c->audience) && ok;
  if (host->config_duration_ms(settings, "leeway", &leeway_ms) == TETHER_ERROR) ok = 0;
  else if (leeway_ms > 600000) {
    host->config_error(settings, "leeway", "must be at most 10m");
    ok = 0;
  }
  c->leeway_s = leeway_ms / 1000;
  if (host->config_integer(settings, "max_connections_per_user", &c->max_connections_per_user) == TETHER_ERROR) ok = 0;
  else if (c->max_connections_per_user < 0 || c->max_connections_per_user > 1000000) {
    host->config_error(settings, "max_connections_per_user", "must be between 0 (no limit) and 1000000");
    ok = 0;
  }
  if (host->config_integer(settings, "max_users", &c->max_users) == TETHER_ERROR) ok = 0;
  else if (c->max_users < 8 || c->max_users > 16 * 1024 * 1024) {
    host->config_error(settings, "max_users", "must be between 8 and 16777216");
    ok = 0;
  }
  if (!ok) {
    auth_config_free(c);
    return TETHER_ERROR;
  }
  *out = c;
  return TETHER_OK;
}

void auth_config_free(auth_config *c) {
  if (!c) return;
  jwt_key_free(c->key);
  free(c->issuer);
  free(c->audience);
  free(c);
}

/* A duration setting in ms, between min_ms and max_ms (for the message: their text). */
static int read_ms(const tether_host *host, tether_config *settings, const char *key, uint64_t min_ms, uint64_t max_ms,
                   const char *range, uint64_t *out) {
  uint64_t value = *out;
  int found = host->config_duration_ms(settings, key, &value);
  if (found == TETHER_ERROR) return 0;
  if (found == TETHER_OK && (value < min_ms || value > max_ms)) {
    host->config_error(settings, key, range);
    return 0;
  }
  *out = value;
  return 1;
}

static int read_count(const tether_host *host, tether_config *settings, const char *key, int64_t min, int64_t max,
                      const char *range, uint32_t *out) {
  int64_t value = *out;
  int found = host->config_integer(settings, key, &value);
  if (found == TETHER_ERROR) return 0;
  if (found == TETHER_OK && (value < min || value > max)) {
    host->config_error(settings, key, range);
    return 0;
  }
  *out = (uint32_t)value;
  return 1;
}

/* require = "backend": where to ask and how long to wait, the pool, the breaker, the cache. */
static int read_backend(const tether_host *host, tether_config *settings, auth_route *r) {
  const char *url = NULL, *on_error = "deny", *why;
  backend_settings *b = &r->settings;
  int ok = 1;
  backend_settings_default(b);
  if (host->config_string(settings, "backend", &url) != TETHER_OK) {
    if (!url) host->config_error(settings, NULL, "require = \"backend\" needs backend = \"http://host:port/path\"");
    return 0;
  }
  if ((why = backend_url_parse(url, strlen(url), &r->backend))) {
    host->config_error(settings, "backend", why);
    ok = 0;
  }
  snprintf(r->backend_text, sizeof r->backend_text, "%s", url);
  ok = read_ms(host, settings, "backend_timeout", 10, 60000, "must be between 10ms and 1m", &b->timeout_ms) && ok;
  ok = read_ms(host, settings, "connect_timeout", 10, 60000, "must be between 10ms and 1m", &b->connect_timeout_ms) && ok;
  ok = read_ms(host, settings, "idle_timeout", 100, 3600000, "must be between 100ms and 1h", &b->idle_timeout_ms) && ok;
  ok = read_ms(host, settings, "cool_down", 100, 3600000, "must be between 100ms and 1h", &b->cool_down_ms) && ok;
  ok = read_ms(host, settings, "cache_ttl", 0, 3600000, "must be between 0 (no cache) and 1h", &b->cache_ttl_ms) && ok;
  ok = read_count(host, settings, "pool_size", 1, 4096, "must be between 1 and 4096", &b->pool_size) && ok;
  ok = read_count(host, settings, "max_idle", 0, 4096, "must be between 0 and 4096", &b->max_idle) && ok;
  ok = read_count(host, settings, "queue_size", 0, 1000000, "must be between 0 and 1000000", &b->queue_size) && ok;
  ok = read_count(host, settings, "failure_threshold", 0, 1000000, "must be between 0 (no breaker) and 1000000",
                  &b->failure_threshold) && ok;
  if (b->max_idle > b->pool_size) b->max_idle = b->pool_size;
  if (host->config_string(settings, "on_backend_error", &on_error) == TETHER_ERROR) ok = 0;
  else if (strcmp(on_error, "allow") == 0) r->allow_on_error = 1;
  else if (strcmp(on_error, "deny") != 0) {
    host->config_error(settings, "on_backend_error", "must be \"deny\" (503) or \"allow\"");
    ok = 0;
  }
  return ok;
}

/* Every key but require is the backend's: on another route it would be silently ignored, and
 * a route the operator meant to ask a backend would not. */
static int only_require(const tether_host *host, tether_config *settings) {
  size_t count = host->config_key_count(settings);
  for (size_t i = 0; i < count; ++i) {
    const char *key = host->config_key(settings, i);
    if (key && strcmp(key, "require") != 0) {
      host->config_error(settings, key, "is read only with require = \"backend\"");
      return 0;
    }
  }
  return 1;
}

int auth_route_create(const tether_host *host, tether_config *settings, const auth_config *config, auth_route **out) {
  static const char *const known[] = {"require", "backend", "backend_timeout", "connect_timeout", "on_backend_error",
                                      "pool_size", "max_idle", "idle_timeout", "queue_size", "failure_threshold",
                                      "cool_down", "cache_ttl"};
  const char *require = "none";
  auth_route *r = calloc(1, sizeof *r);
  int ok;
  if (!r) return TETHER_ERROR;
  ok = host->config_only_keys(settings, known, sizeof known / sizeof *known) == TETHER_OK;
  if (host->config_string(settings, "require", &require) == TETHER_ERROR) ok = 0;
  else if (strcmp(require, "none") == 0) r->require = AUTH_REQUIRE_NONE;
  else if (strcmp(require, "token") == 0) r->require = AUTH_REQUIRE_TOKEN;
  else if (strcmp(require, "backend") == 0) r->require = AUTH_REQUIRE_BACKEND;
  else {
    host->config_error(settings, "require", "must be \"token\", \"backend\" or \"none\"");
    ok = 0;
  }
  if (ok && r->require == AUTH_REQUIRE_TOKEN && (!config || !config->key)) {
    host->config_error(settings, "require", "require = \"token\" needs jwt_secret or jwt_public_key in [modules.auth]");
    ok = 0;
  }
  if (ok && r->require == AUTH_REQUIRE_BACKEND) ok = read_backend(host, settings, r);
  if (ok && r->require != AUTH_REQUIRE_BACKEND) ok = only_require(host, settings);
  if (!ok) {
    free(r);
    return TETHER_ERROR;
  }
  *out = r;
  return TETHER_OK;
}

void auth_route_free(auth_route *route) { free(route); }
