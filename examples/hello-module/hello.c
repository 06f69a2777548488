/*
 * hello — a complete tether module, built out of tree against the installed SDK.
 *
 *   [modules.hello]
 *   path = "/path/to/hello.so"      # or drop hello.so into the server's modules_dir
 *   greeting = "Hello"              # optional, default "Hello"
 *
 *   [[route]]
 *   path = "/hello/*"
 *   handler = "hello"
 *
 * GET /hello/world answers "Hello, world!" and counts answers in the metric
 * hello_answers_total (visible on the health module's /metrics).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tether/module.h>

typedef struct {
  char greeting[64];
} hello_config;

static const tether_host *host;
static tether_metric answers;

/* Settings: read and validate [modules.hello]; the host reports errors with file:line:col. */
static int create_config(const tether_host *h, tether_config *settings, void **out) {
  static const char *const known[] = {"greeting"};
  const char *greeting = "Hello";
  hello_config *config;
  host = h;
  if (host->config_only_keys(settings, known, 1) != TETHER_OK) return TETHER_ERROR;
  if (host->config_string(settings, "greeting", &greeting) == TETHER_ERROR) return TETHER_ERROR;
  if (strlen(greeting) >= sizeof config->greeting) {
    host->config_error(settings, "greeting", "is longer than 63 bytes");
    return TETHER_ERROR;
  }
  config = calloc(1, sizeof *config);
  if (!config) return TETHER_ERROR;
  strcpy(config->greeting, greeting);
  *out = config;
  return TETHER_OK;
}

static void destroy_config(void *config) { free(config); }

/* Once per worker process: register metrics here. */
static int worker_init(const tether_host *h, tether_worker *worker, void *config) {
  (void)worker;
  (void)config;
  host = h;
  answers = host->metric_register("hello_answers_total", "", "Greetings answered by the hello module.",
                                  TETHER_METRIC_COUNTER);
  return TETHER_OK;
}

/* The handler of routes with handler = "hello": the name is what follows the route's prefix. */
static int content(tether_request *request, void *config, void *route_config) {
  const hello_config *c = config;
  tether_request_info info;
  const char *name;
  size_t name_length;
  char text[256];
  int n;
  (void)route_config;
  memset(&info, 0, sizeof info);
  info.size = sizeof info;
  if (host->request_info(request, &info) != TETHER_OK) return TETHER_ERROR;
  name = info.path + info.route_length;
  name_length = info.path_length > info.route_length ? info.path_length - info.route_length : 0;
  if (name_length == 0) {
    name = "world";
    name_length = 5;
  }
  n = snprintf(text, sizeof text, "%s, %.*s!\n", c->greeting, (int)name_length, name);
  host->metric_add(host->request_worker(request), answers, 1);
  return host->respond(request, 200, "text/plain; charset=utf-8", text, (size_t)n);
}

static const tether_module hello_module = {
    .size = sizeof(tether_module),
    .abi_major = TETHER_MODULE_ABI_MAJOR,
    .abi_minor = TETHER_MODULE_ABI_MINOR,
    .name = "hello",
    .version = "1.0.0",
    .create_config = create_config,
    .destroy_config = destroy_config,
    .worker_init = worker_init,
    .content = content,
};

TETHER_MODULE_EXPORT const tether_module *TETHER_MODULE_ENTRY(void) { return &hello_module; }
