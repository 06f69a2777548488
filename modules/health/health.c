/*
 * health — liveness, readiness and Prometheus metrics.
 *
 * Routes name it as their handler; what a route serves is its [route.health] endpoint, or by
 * default the last segment of the route's path:
 *   "healthz"  200 "ok" while the worker's event loop turns (answering proves it)
 *   "readyz"   200 "ready", or 503 with the reason: "draining" once this worker drains
 *              (reload or stop), or what its broker lacks (broker = "redis" unreachable)
 *   "metrics"  every metric of the shared registry, summed over all workers, in the
 *              Prometheus text format (version 0.0.4)
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
 *
 * Built only against <tether/module.h>, like a third-party module.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

typedef enum { ENDPOINT_FROM_PATH = 0, ENDPOINT_HEALTHZ, ENDPOINT_READYZ, ENDPOINT_METRICS } endpoint;

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
    if (strcmp(name, "healthz") == 0) route->which = ENDPOINT_HEALTHZ;
    else if (strcmp(name, "readyz") == 0) route->which = ENDPOINT_READYZ;
    else if (strcmp(name, "metrics") == 0) route->which = ENDPOINT_METRICS;
    else {
      host->config_error(settings, "endpoint", "must be \"healthz\", \"readyz\" or \"metrics\"");
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
  if (length == 7 && memcmp(last, "healthz", 7) == 0) return ENDPOINT_HEALTHZ;
  if (length == 6 && memcmp(last, "readyz", 6) == 0) return ENDPOINT_READYZ;
  if (length == 7 && memcmp(last, "metrics", 7) == 0) return ENDPOINT_METRICS;
  return ENDPOINT_FROM_PATH;
}

/* A growing text buffer for the metrics page. */
typedef struct {
  char *data;
  size_t length, capacity;
  int failed;
} text;

static void append(text *t, const char *format, ...) {
  va_list args;
  int n;
  for (;;) {
    size_t room = t->capacity - t->length;
    va_start(args, format);
    n = vsnprintf(t->data ? t->data + t->length : NULL, room, format, args);
    va_end(args);
    if (n < 0) {
      t->failed = 1;
      return;
    }
    if ((size_t)n < room) {
      t->length += (size_t)n;
      return;
    }
    {
      size_t capacity = t->capacity ? t->capacity * 2 : 4096;
      char *grown;
      while (capacity - t->length <= (size_t)n) capacity *= 2;
      grown = realloc(t->data, capacity);
      if (!grown) {
        t->failed = 1;
        return;
      }
      t->data = grown;
      t->capacity = capacity;
    }
  }
}

/* Prometheus wants every sample of a family together, after one HELP and one TYPE line. Each
 * metric is read once (a read sums it over every worker): the page costs one pass over the
 * registry, then grouping by name in local memory. */
static int serve_metrics(tether_request *request) {
  size_t count = host->metric_count(), i, j;
  tether_metric_sample *samples = calloc(count ? count : 1, sizeof *samples);
  char *pending = calloc(count ? count : 1, 1); /* read and not yet on the page */
  text page = {NULL, 0, 0, 0};
  int status;
  if (!samples || !pending) page.failed = 1;
  for (i = 0; i < count && !page.failed; ++i) {
    samples[i].size = sizeof samples[i];
    pending[i] = host->metric_read(i, &samples[i]) == TETHER_OK;
  }
  for (i = 0; i < count && !page.failed; ++i) {
    const tether_metric_sample *first = &samples[i];
    if (!pending[i]) continue;
    append(&page, "# HELP %s %s\n# TYPE %s %s\n", first->name, first->help, first->name,
           first->type == TETHER_METRIC_GAUGE ? "gauge" : "counter");
    for (j = i; j < count; ++j) {
      const tether_metric_sample *s = &samples[j];
      if (!pending[j] || strcmp(s->name, first->name) != 0) continue;
      pending[j] = 0;
      if (s->labels[0]) append(&page, "%s{%s} %" PRId64 "\n", s->name, s->labels, s->value);
      else append(&page, "%s %" PRId64 "\n", s->name, s->value);
    }
  }
  free(samples);
  free(pending);
  if (page.failed) {
    free(page.data);
    return TETHER_ERROR;
  }
  status = host->respond(request, 200, "text/plain; version=0.0.4; charset=utf-8", page.data, page.length);
  free(page.data);
  return status;
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
      host->response_header(request, "Cache-Control", "no-store");
      return serve_metrics(request);
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
    .version = "1.0.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_route_config = destroy_route_config,
    .content = content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &health_module; }
