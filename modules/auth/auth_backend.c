#include "auth_backend.h"

#include <stdlib.h>

#include "../common/clock.h"
#include "../common/refusal.h"

/* A question waiting for the backend: its request, kept in a list for worker_exit. */
typedef struct pending {
  tether_request *request;
  auth_route *route;
  backend_call *call;
  struct pending *prev, *next;
} pending;

/* A route whose client this worker made, for worker_exit. */
typedef struct client_route {
  auth_route *route;
  struct client_route *next;
} client_route;

static const tether_host *host;
static tether_worker *worker;
static auth_backend_decided_fn decided;
static pending *waiting;
static client_route *routes;
static tether_metric breaker_open_metric;

/* ---- auth_loop on the host: io and timers of ABI 1.4 ---- */

static void io_fired(tether_io *io, int events, void *user) {
  auth_event *event = user;
  int mapped = (events & TETHER_IO_READ ? AUTH_IO_READ : 0) | (events & TETHER_IO_WRITE ? AUTH_IO_WRITE : 0) |
               (events & TETHER_IO_ERROR ? AUTH_IO_ERROR : 0);
  (void)io;
  event->fire(event, mapped);
}
static int host_events(int events) {
  return (events & AUTH_IO_READ ? TETHER_IO_READ : 0) | (events & AUTH_IO_WRITE ? TETHER_IO_WRITE : 0);
}
static auth_io *io_start(void *context, int fd, int events, auth_event *event) {
  return (auth_io *)host->io_start(context, fd, host_events(events), io_fired, event);
}
static int io_update(auth_io *io, int events) {
  return host->io_update((tether_io *)io, host_events(events)) == TETHER_OK ? 0 : -1;
}
static void io_stop(auth_io *io) { host->io_stop((tether_io *)io); }

static void timer_fired(tether_timer *timer, void *user) {
  auth_event *event = user;
  (void)timer;
  event->fire(event, 0);
}
static auth_timer *timer_start(void *context, uint64_t timeout_ms, auth_event *event) {
  return (auth_timer *)host->timer_start(context, timeout_ms, 0, timer_fired, event);
}
static void timer_stop(auth_timer *timer) { host->timer_stop((tether_timer *)timer); }

static uint64_t now_ms(void *context) {
  (void)context;
  return monotonic_ms();
}

/* One log line per change of a backend's breaker, and a gauge of the open ones (per worker). */
static void breaker_changed(void *user, breaker_state from, breaker_state to) {
  const auth_route *route = user;
  host->log(to == BREAKER_CLOSED ? TETHER_LOG_NOTICE : TETHER_LOG_WARN, "auth", "backend %s: circuit breaker %s -> %s%s",
            route->backend_text, breaker_state_name(from), breaker_state_name(to),
            to == BREAKER_OPEN ? " (clients get the on_backend_error answer without a call)" : "");
  if (to == BREAKER_OPEN) host->metric_add(worker, breaker_open_metric, 1);
  if (from == BREAKER_OPEN) host->metric_add(worker, breaker_open_metric, -1);
}

void auth_backend_init(const tether_host *h, tether_worker *w, auth_backend_decided_fn fn) {
  host = h;
  worker = w;
  decided = fn;
  breaker_open_metric = host->metric_register("tether_auth_backend_breakers_open", "",
                                              "Backend clients (route and worker) whose circuit breaker is open.",
                                              TETHER_METRIC_GAUGE);
}

static backend_client *client_of(auth_route *route) {
  auth_loop loop = {worker, io_start, io_update, io_stop, timer_start, timer_stop, now_ms};
  client_route *entry;
  if (route->client) return route->client;
  if (!(entry = malloc(sizeof *entry))) return NULL;
  route->settings.on_breaker = breaker_changed;
  route->settings.on_breaker_user = route;
  if (!(route->client = backend_client_create(&loop, &route->backend, &route->settings))) {
    free(entry);
    return NULL;
  }
  entry->route = route;
  entry->next = routes;
  routes = entry;
  return route->client;
}

static void unlink_pending(pending *p) {
  if (p->prev) p->prev->next = p->next;
  else waiting = p->next;
  if (p->next) p->next->prev = p->prev;
}

static void answered(void *user, const backend_verdict *verdict) {
  pending *p = user;
  unlink_pending(p);
  decided(p->request, p->route, verdict, 1);
  free(p);
}

int auth_backend_ask(tether_request *request, auth_route *route, const backend_question *question) {
  backend_client *client = client_of(route);
  const backend_verdict *verdict = NULL;
  pending *p;
  if (!client || !(p = calloc(1, sizeof *p))) return TETHER_ERROR;
  p->request = request;
  p->route = route;
  switch (backend_client_ask(client, question, answered, p, &p->call, &verdict)) {
    case BACKEND_ASK_PENDING:
      p->next = waiting;
      if (waiting) waiting->prev = p;
      waiting = p;
      return TETHER_AGAIN;
    case BACKEND_ASK_INVALID:
      free(p);
      return refuse_request(host, request, 400, verdict && verdict->reason ? verdict->reason : "bad request");
    default:
      free(p);
      return decided(request, route, verdict, 0);
  }
}

void auth_backend_exit(void) {
  while (waiting) {
    pending *p = waiting;
    unlink_pending(p);
    backend_client_cancel(p->call);
    refuse_request(host, p->request, 503, "the server is shutting down");
    free(p);
  }
  while (routes) {
    client_route *entry = routes;
    routes = entry->next;
    backend_client_destroy(entry->route->client);
    entry->route->client = NULL;
    free(entry);
  }
}
