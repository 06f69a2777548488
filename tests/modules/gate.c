/*
 * gate — a module for the integration tests of module ABI 1.4 (access control's host side).
 * On routes with a [route.gate] table, its access hook reads the query:
 *   wait=<ms>        waits that long on a timer (TETHER_AGAIN), then lets the request through
 *                    with request_continue() and logs "gate: continued: <its return code>"
 *   wait=<ms>&deny   the same wait, then answers 401 "denied by gate\n" with respond() and logs
 *                    "gate: denied: <its return code>"
 *   expire_at=<ms>   sets the connection's expiry to that unix time in ms
 * Its refresh hook accepts the credentials "good" (expiry moved to now + refresh_extend) and
 * refuses anything else.
 *   [modules.gate]
 *   refresh_extend = "3s"   # how far an accepted refresh moves the expiry (default 3s)
 *   io_check = true         # worker_init runs a round trip over a socketpair through io_start
 *   io_leak = true          # worker_init leaves an io watched for the host to stop at exit
 * Built a second time with GATE_ABI_1_3: a module of ABI 1.3 (abi_minor 3, a descriptor whose
 * size ends before `refresh`), whose access hook only answers at once (deny → 403). Its
 * descriptor does hold a refresh hook past that size, which logs "gate: refresh of a 1.3
 * module called": the host must never call it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <tether/module.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  uint64_t refresh_extend_ms;
  int io_check;
  int io_leak;
} gate_config;

typedef struct {
  tether_request *request;
  tether_timer *timer;
  int deny;
} waiting_request;

static const tether_host *host;
static int route_marker; /* route_config of routes with a [route.gate] table */

/* The value of `name` in the query (up to the next '&'), NULL if absent. */
static const char *parameter(const char *query, size_t length, const char *name, size_t *value_length) {
  size_t name_length = strlen(name), i = 0;
  while (i < length) {
    size_t end = i;
    while (end < length && query[end] != '&') ++end;
    if (end - i >= name_length && memcmp(query + i, name, name_length) == 0 &&
        (end - i == name_length || query[i + name_length] == '=')) {
      size_t start = i + name_length + (end - i > name_length ? 1 : 0);
      *value_length = end - start;
      return query + start;
    }
    i = end + 1;
  }
  return NULL;
}

static int create_config(const tether_host *h, tether_config *settings, void **out) {
  static const char *const known[] = {"refresh_extend", "io_check", "io_leak"};
  gate_config *c = calloc(1, sizeof *c);
  host = h;
  if (!c) return TETHER_ERROR;
  c->refresh_extend_ms = 3000;
  *out = c;
  if (host->config_only_keys(settings, known, 3) != TETHER_OK ||
      host->config_duration_ms(settings, "refresh_extend", &c->refresh_extend_ms) == TETHER_ERROR ||
      host->config_boolean(settings, "io_check", &c->io_check) == TETHER_ERROR ||
      host->config_boolean(settings, "io_leak", &c->io_leak) == TETHER_ERROR)
    return TETHER_ERROR;
  return TETHER_OK;
}

static void destroy_config(void *config) { free(config); }

static int create_route_config(const tether_host *h, tether_config *settings, void *config, void **out) {
  (void)config;
  host = h;
  *out = &route_marker;
  return host->config_only_keys(settings, NULL, 0);
}

#ifdef GATE_ABI_1_3
static int check_access(tether_request *request, void *config, void *route_config) {
  tether_request_info info;
  size_t length = 0;
  (void)config;
  if (!route_config) return TETHER_DECLINED;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  if (!parameter(info.query, info.query_length, "deny", &length)) return TETHER_DECLINED;
  return host->respond(request, 403, "text/plain", "gate 1.3 says no\n", 17) == TETHER_OK ? TETHER_OK : TETHER_ERROR;
}

static int refresh_never(tether_connection *connection, void *config, void *route_config, const char *credentials,
                         size_t length) {
  (void)connection, (void)config, (void)route_config, (void)credentials, (void)length;
  host->log(TETHER_LOG_ERROR, "gate", "refresh of a 1.3 module called");
  return TETHER_OK;
}
#else
static tether_worker *worker;
static gate_config *settings;

static uint64_t number(const char *text, size_t length) {
  uint64_t value = 0;
  size_t i;
  for (i = 0; i < length && text[i] >= '0' && text[i] <= '9'; ++i) value = value * 10 + (uint64_t)(text[i] - '0');
  return value;
}

static uint64_t unix_now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* ---- waiting in access */

static void decide(tether_timer *timer, void *user) {
  waiting_request *w = user;
  (void)timer;
  host->timer_stop(w->timer);
  if (w->deny) {
    int status = host->respond(w->request, 401, "text/plain", "denied by gate\n", 15);
    host->log(TETHER_LOG_NOTICE, "gate", "denied: %d", status);
  } else {
    int status = host->request_continue(w->request);
    host->log(TETHER_LOG_NOTICE, "gate", "continued: %d", status);
  }
  free(w);
}

static int wait_then_decide(tether_request *request, uint64_t wait_ms, int deny) {
  waiting_request *w = calloc(1, sizeof *w);
  if (!w) return TETHER_ERROR;
  w->request = request;
  w->deny = deny;
  if (!(w->timer = host->timer_start(host->request_worker(request), wait_ms, 0, decide, w))) {
    free(w);
    return TETHER_ERROR;
  }
  return TETHER_AGAIN;
}

static int check_access(tether_request *request, void *config, void *route_config) {
  tether_request_info info;
  const char *value;
  size_t length = 0;
  int deny;
  (void)config;
  if (!route_config) return TETHER_DECLINED;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  deny = parameter(info.query, info.query_length, "deny", &length) != NULL;
  if ((value = parameter(info.query, info.query_length, "expire_at", &length)))
    host->connection_set_expiry(host->request_connection(request), number(value, length));
  if ((value = parameter(info.query, info.query_length, "wait", &length)))
    return wait_then_decide(request, number(value, length), deny);
  return TETHER_DECLINED;
}

static int refresh(tether_connection *connection, void *config, void *route_config, const char *credentials,
                   size_t length) {
  gate_config *c = config;
  if (!route_config) return TETHER_DECLINED;
  if (length != 4 || memcmp(credentials, "good", 4) != 0) return TETHER_ERROR;
  host->connection_set_expiry(connection, unix_now_ms() + c->refresh_extend_ms);
  return TETHER_OK;
}

/* ---- I/O: "ping" goes one way over a socketpair, "pong" comes back, then a hang-up. */

static int pair[2] = {-1, -1};
static int leaked_pipe[2] = {-1, -1}; /* never closed: the host stops its io after worker_exit */
static tether_io *near_io, *far_io;

static void on_far(tether_io *io, int events, void *user) {
  char text[8];
  (void)user;
  if (!(events & TETHER_IO_READ) || read(pair[1], text, sizeof text) != 4 || memcmp(text, "ping", 4) != 0) return;
  if (write(pair[1], "pong", 4) != 4) return;
  host->io_stop(io); /* inside its own callback */
  far_io = NULL;
  close(pair[1]); /* the near end sees the hang-up next */
  pair[1] = -1;
}

static void on_near(tether_io *io, int events, void *user) {
  char text[8];
  (void)user;
  if (events & TETHER_IO_WRITE) {
    if (write(pair[0], "ping", 4) == 4) host->io_update(io, TETHER_IO_READ);
    return;
  }
  if ((events & TETHER_IO_READ) && read(pair[0], text, sizeof text) == 4 && memcmp(text, "pong", 4) == 0)
    host->log(TETHER_LOG_NOTICE, "gate", "io: round trip done");
  if (events & TETHER_IO_ERROR) {
    host->log(TETHER_LOG_NOTICE, "gate", "io: hang-up seen");
    host->io_stop(io); /* inside its own callback */
    near_io = NULL;
    close(pair[0]);
    pair[0] = -1;
  }
}

static int start_io_check(void) {
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) != 0) return TETHER_ERROR;
  near_io = host->io_start(worker, pair[0], TETHER_IO_WRITE, on_near, NULL);
  far_io = host->io_start(worker, pair[1], TETHER_IO_READ, on_far, NULL);
  return near_io && far_io ? TETHER_OK : TETHER_ERROR;
}

static int worker_init(const tether_host *h, tether_worker *w, void *config) {
  host = h;
  worker = w;
  settings = config;
  if (host->abi_minor < 4) return TETHER_ERROR;
  if (settings->io_check && start_io_check() != TETHER_OK) return TETHER_ERROR;
  if (settings->io_leak && (pipe(leaked_pipe) != 0 || !host->io_start(w, leaked_pipe[0], TETHER_IO_READ, on_near, NULL)))
    return TETHER_ERROR;
  return TETHER_OK;
}

static void worker_exit(tether_worker *w, void *config) {
  (void)w;
  (void)config;
  if (near_io) host->io_stop(near_io);
  if (far_io) host->io_stop(far_io);
  if (pair[0] >= 0) close(pair[0]);
  if (pair[1] >= 0) close(pair[1]);
}
#endif

static const tether_module module = {
    .size =
#ifdef GATE_ABI_1_3
        offsetof(tether_module, refresh), /* as a module compiled against the 1.3 header */
    .abi_minor = 3,
    .refresh = refresh_never,             /* past its size: never to be read */
#else
        sizeof(tether_module),
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .worker_init = worker_init,
    .worker_exit = worker_exit,
    .refresh = refresh,
#endif
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .name = "gate",
    .version = "1.0.0",
    .create_config = create_config,
    .create_route_config = create_route_config,
    .destroy_config = destroy_config,
    .access = check_access,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &module; }
