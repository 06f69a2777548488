/*
 * health — liveness, readiness, Prometheus metrics and the live status page.
 *
 * Routes name it as their handler; what a route serves is its [route.health] endpoint, or by
 * default the last segment of the route's path:
 *   "healthz"  200 "ok" while the worker's event loop turns (answering proves it)
 *   "readyz"   200 "ready", or 503 with the reason: "draining" once this worker drains
 *              (reload or stop), or what its broker lacks (broker = "redis" unreachable)
 *   "metrics"  every metric of the shared registry, summed over all workers, in the
 *              Prometheus text format (version 0.0.4)  (metrics_page.c)
 *   "status"   the live status page: one self-contained HTML page that shows status.json,
 *              fetched every second  (status_page.c, status.html)
 *   "status.json"  generations and workers, connections, subscribers, message counters,
 *              reloads and the busiest channels (status_json.c; docs/status.md)
 *
 *   [modules.health]            # no settings
 *   [[route]]
 *   path = "/metrics"
 *   handler = "health"          # endpoint "metrics" from the path
 *   [[route]]
 *   path = "/live"
 *   handler = "health"
 *   [route.health]
 *   endpoint = "healthz"
 *   [[route]]
 *   path = "/status"            # and "/status.json": the page fetches it beside itself
 *   handler = "health"
 *
 * Built only against <tether/module.h>, like a third-party module.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

#include "metrics_page.h"
#include "status_json.h"
#include "status_page.h"

typedef enum {
  ENDPOINT_FROM_PATH = 0,
  ENDPOINT_HEALTHZ,
  ENDPOINT_READYZ,
  ENDPOINT_METRICS,
  ENDPOINT_STATUS,
  ENDPOINT_STATUS_JSON,
} endpoint;

static const struct {
  const char *name;
  endpoint which;
} endpoints[] = {
    {"healthz", ENDPOINT_HEALTHZ}, {"readyz", ENDPOINT_READYZ},           {"metrics", ENDPOINT_METRICS},
    {"status", ENDPOINT_STATUS},   {"status.json", ENDPOINT_STATUS_JSON},
};
#define ENDPOINT_COUNT (sizeof endpoints / sizeof endpoints[0])

/* The endpoint named by `name` (`length` bytes), ENDPOINT_FROM_PATH if none. */
static endpoint endpoint_named(const char *name, size_t length) {
  size_t i;
  for (i = 0; i < ENDPOINT_COUNT; ++i)
    if (strlen(endpoints[i].name) == length && memcmp(endpoints[i].name, name, length) == 0) return endpoints[i].which;
  return ENDPOINT_FROM_PATH;
}

typedef struct {
  endpoint which;
} route_config;

static const tether_host *host;

static int create_config(const tether_host *h, tether_config *settings, void **config) {
  host = h;
  *config = NULL;
  return host->config_only_keys(settings, NULL, 0);
}

static int create_route_config(const tether_host *h, tether_config *settings, void *config, void **out) {
  static const char *const known[] = {"endpoint"};
  const char *name = NULL;
  route_config *route;
  (void)config;
  host = h;
  if (host->config_only_keys(settings, known, 1) != TETHER_OK) return TETHER_ERROR;
  route = calloc(1, sizeof *route);
  if (!route) return TETHER_ERROR;
  if (host->config_string(settings, "endpoint", &name) == TETHER_OK) {
    route->which = endpoint_named(name, strlen(name));
    if (route->which == ENDPOINT_FROM_PATH) {
      host->config_error(settings, "endpoint",
                         "must be \"healthz\", \"readyz\", \"metrics\", \"status\" or \"status.json\"");
      free(route);
      return TETHER_ERROR;
    }
  }
  *out = route;
  return TETHER_OK;
}

static void destroy_route_config(void *route) { free(route); }

static endpoint endpoint_of(const tether_request *request, const route_config *route) {
  tether_request_info info;
  const char *last;
  size_t length;
  if (route && route->which != ENDPOINT_FROM_PATH) return route->which;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return ENDPOINT_FROM_PATH;
  last = info.route + info.route_length;
  while (last > info.route && last[-1] == '/') --last;
  length = 0;
  while (last - length > info.route && last[-(long)length - 1] != '/') ++length;
  last -= length;
  return endpoint_named(last, length);
}

/* 200 "ready", or 503 with the reason: draining, or the broker unreachable. */
static int serve_readyz(tether_request *request) {
  const tether_worker *worker = host->request_worker(request);
  const char *why;
  char body[512];
  int n;
  if (host->abi_minor >= 3) why = host->worker_unready(worker);
  else why = host->worker_draining(worker) ? "draining" : NULL;
  if (!why) return host->respond(request, 200, "text/plain", "ready\n", 6);
  n = snprintf(body, sizeof body, "%s\n", why);
  if (n < 0) return TETHER_ERROR;
  if ((size_t)n >= sizeof body) { /* a long reason is cut, and still ends its line */
    n = (int)sizeof body - 1;
    body[n - 1] = '\n';
  }
  host->response_header(request, "Cache-Control", "no-store");
  return host->respond(request, 503, "text/plain", body, (size_t)n);
}

static int content(tether_request *request, void *config, void *route) {
  (void)config;
  switch (endpoint_of(request, route)) {
    case ENDPOINT_HEALTHZ:
      return host->respond(request, 200, "text/plain", "ok\n", 3);
    case ENDPOINT_READYZ:
      return serve_readyz(request);
    case ENDPOINT_METRICS:
      return serve_metrics(host, request);
    case ENDPOINT_STATUS:
      return serve_status_page(host, request);
    case ENDPOINT_STATUS_JSON:
      return serve_status_json(host, request);
    case ENDPOINT_FROM_PATH:
      break;
  }
  return TETHER_DECLINED;
}

static const tether_module health_module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "health",
    .version = "1.1.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_route_config = destroy_route_config,
    .content = content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &health_module; }
