/*
 * probe — a module for the integration tests. Each route says what it does:
 *   [route.probe] action = "version"   answers "probe <PROBE_VERSION>"
 *                 action = "crash"     dereferences NULL (the worker dies)
 *                 action = "defer"     answers 250 ms later from a timer (TETHER_AGAIN)
 *                 action = "work"      answers after host->queue_work ran on the thread pool
 *                 action = "header"    echoes the X-Probe request header and sets one
 *                 action = "deny"      access phase answers 403 for this route
 *                 action = "sockopts"  reports the connection's socket options and heartbeat
 * [modules.probe] greeting = "..." is prefixed to "version" answers; `fail_init = true` makes
 * worker_init fail. Built several times with different PROBE_VERSION / PROBE_ABI_MAJOR.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

#ifndef PROBE_VERSION
#define PROBE_VERSION "1"
#endif
#ifndef PROBE_ABI_MAJOR
#define PROBE_ABI_MAJOR TETHER_MODULE_ABI_MAJOR
#endif

typedef enum { ACTION_VERSION, ACTION_CRASH, ACTION_DEFER, ACTION_WORK, ACTION_HEADER, ACTION_DENY, ACTION_SOCKOPTS } action;

typedef struct {
  char greeting[64];
  int fail_init;
} module_config;

static const tether_host *host;

static int create_config(const tether_host *h, tether_config *settings, void **out) {
  static const char *const known[] = {"greeting", "fail_init"};
  const char *greeting = "";
  module_config *config;
  host = h;
  if (host->config_only_keys(settings, known, 2) != TETHER_OK) return TETHER_ERROR;
  if (host->config_string(settings, "greeting", &greeting) == TETHER_ERROR) return TETHER_ERROR;
  config = calloc(1, sizeof *config);
  snprintf(config->greeting, sizeof config->greeting, "%s", greeting);
  if (host->config_boolean(settings, "fail_init", &config->fail_init) == TETHER_ERROR) {
    free(config);
    return TETHER_ERROR;
  }
  *out = config;
  return TETHER_OK;
}

static void destroy_config(void *config) { free(config); }

static int create_route_config(const tether_host *h, tether_config *settings, void *config, void **out) {
  static const char *const known[] = {"action"};
  static const char *const names[] = {"version", "crash", "defer", "work", "header", "deny", "sockopts"};
  const char *name = "version";
  size_t i;
  (void)config;
  host = h;
  if (host->config_only_keys(settings, known, 1) != TETHER_OK) return TETHER_ERROR;
  if (host->config_string(settings, "action", &name) == TETHER_ERROR) return TETHER_ERROR;
  for (i = 0; i < sizeof names / sizeof names[0]; ++i)
    if (strcmp(name, names[i]) == 0) {
      action *a = malloc(sizeof *a);
      *a = (action)i;
      *out = a;
      return TETHER_OK;
    }
  host->config_error(settings, "action", "is not an action probe knows");
  return TETHER_ERROR;
}

static void destroy_route_config(void *route) { free(route); }

static int worker_init(const tether_host *h, tether_worker *worker, void *config) {
  (void)worker;
  host = h;
  if (((module_config *)config)->fail_init) {
    host->log(TETHER_LOG_ERROR, "probe", "fail_init is set");
    return TETHER_ERROR;
  }
  return TETHER_OK;
}

static void answer_later(tether_timer *timer, void *user) {
  tether_request *request = user;
  host->timer_stop(timer);
  host->respond(request, 200, "text/plain", "deferred\n", 9);
}

static void slow_work(void *user) { (void)user; }

static void work_done(void *user, int status) {
  host->respond(user, status == TETHER_OK ? 200 : 500, "text/plain", "worked\n", 7);
}

/* Exported, so that the crash report can name it. */
TETHER_MODULE_EXPORT __attribute__((noinline)) int probe_crash(void) { return *(volatile int *)NULL; }

static int socket_option(int fd, int level, int name) {
  int value = -1;
  socklen_t length = sizeof value;
  getsockopt(fd, level, name, &value, &length);
  return value;
}

static int report_sockopts(tether_request *request) {
  tether_connection *connection = host->request_connection(request);
  int fd = host->connection_fd(connection);
  uint64_t interval = 0, timeout = 0;
  char text[256];
  int n;
  host->connection_heartbeat(connection, &interval, &timeout);
  n = snprintf(text, sizeof text, "nodelay=%d keepalive=%d idle=%d interval=%d count=%d user_timeout=%d heartbeat=%lu/%lu\n",
               socket_option(fd, IPPROTO_TCP, TCP_NODELAY) != 0, socket_option(fd, SOL_SOCKET, SO_KEEPALIVE) != 0,
               socket_option(fd, IPPROTO_TCP, TCP_KEEPIDLE), socket_option(fd, IPPROTO_TCP, TCP_KEEPINTVL),
               socket_option(fd, IPPROTO_TCP, TCP_KEEPCNT), socket_option(fd, IPPROTO_TCP, TCP_USER_TIMEOUT),
               (unsigned long)interval, (unsigned long)timeout);
  return host->respond(request, 200, "text/plain", text, (size_t)n);
}

static int access(tether_request *request, void *config, void *route) {
  (void)config;
  if (route && *(action *)route == ACTION_DENY) return host->respond(request, 403, "text/plain", "denied\n", 7);
  return TETHER_DECLINED;
}

static int content(tether_request *request, void *config, void *route) {
  module_config *c = config;
  char text[160];
  size_t length = 0;
  const char *value;
  int n;
  switch (route ? *(action *)route : ACTION_VERSION) {
    case ACTION_CRASH:
      return probe_crash();
    case ACTION_DEFER:
      host->timer_start(host->request_worker(request), 250, 0, answer_later, request);
      return TETHER_AGAIN;
    case ACTION_WORK:
      return host->queue_work(host->request_worker(request), slow_work, work_done, request) == TETHER_OK ? TETHER_AGAIN
                                                                                                    : TETHER_ERROR;
    case ACTION_SOCKOPTS:
      return report_sockopts(request);
    case ACTION_HEADER:
      value = host->request_header(request, "x-probe", &length);
      host->response_header(request, "X-Probe-Echo", "yes");
      return host->respond(request, 200, "text/plain", value ? value : "", value ? length : 0);
    default:
      n = snprintf(text, sizeof text, "%sprobe %s\n", c->greeting, PROBE_VERSION);
      return host->respond(request, 200, "text/plain", text, (size_t)n);
  }
}

static const tether_module probe_module = {
    sizeof(tether_module), PROBE_ABI_MAJOR, TETHER_MODULE_ABI_MINOR, "probe", PROBE_VERSION,
    create_config, create_route_config, destroy_config, destroy_route_config,
    worker_init, NULL, NULL, NULL, NULL, access, content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &probe_module; }
