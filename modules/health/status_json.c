#include "status_json.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

/* The figures taken from the metrics registry, summed over all of its samples. */
typedef struct {
  int64_t subscribers, published, delivered, dropped, reloads, reload_failures;
} counters;

static const char *const state_names[] = {"starting", "serving", "draining", "stopping"};

static uint64_t wall_clock_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

/* The value of `kind="..."` in a sample's labels; 0 if it has none. */
static int kind_label(const char *labels, const char **value, size_t *length) {
  const char *start = strstr(labels, "kind=\""), *end;
  if (!start) return 0;
  start += 6;
  end = strchr(start, '"');
  if (!end) return 0;
  *value = start;
  *length = (size_t)(end - start);
  return 1;
}

/* One pass over the registry: "connections" (one member per kind of tether_connections_open)
 * goes out as it is read, the counters are gathered for later. */
static void write_connections(const tether_host *host, text *out, counters *c) {
  size_t count = host->metric_count(), i, kinds = 0;
  memset(c, 0, sizeof *c);
  text_printf(out, "\"connections\":{");
  for (i = 0; i < count; ++i) {
    tether_metric_sample s;
    const char *kind;
    size_t kind_length;
    memset(&s, 0, sizeof s);
    s.size = sizeof s;
    if (host->metric_read(i, &s) != TETHER_OK) continue;
    if (strcmp(s.name, "tether_connections_open") == 0 && kind_label(s.labels, &kind, &kind_length)) {
      text_printf(out, "%s", kinds++ ? "," : "");
      text_json_string(out, kind, kind_length);
      text_printf(out, ":%" PRId64, s.value);
    }
    else if (strcmp(s.name, "tether_subscribers") == 0) c->subscribers += s.value;
    else if (strcmp(s.name, "tether_messages_published_total") == 0) c->published += s.value;
    else if (strcmp(s.name, "tether_messages_delivered_total") == 0) c->delivered += s.value;
    else if (strcmp(s.name, "tether_messages_dropped_total") == 0) c->dropped += s.value;
    else if (strcmp(s.name, "tether_reloads_total") == 0) c->reloads += s.value;
    else if (strcmp(s.name, "tether_reload_failures_total") == 0) c->reload_failures += s.value;
  }
  text_printf(out, "},");
}

static void write_generations(const tether_host *host, const tether_status *status, text *out) {
  size_t count = host->status_generation_count(status), i, p, written = 0;
  size_t workers[4] = {0, 0, 0, 0};
  text_printf(out, "\"generations\":[");
  for (i = 0; i < count; ++i) {
    tether_generation_info g;
    memset(&g, 0, sizeof g);
    g.size = sizeof g;
    if (host->status_generation(status, i, &g) != TETHER_OK || (unsigned)g.state > TETHER_GENERATION_STOPPING) continue;
    workers[g.state] += g.running;
    text_printf(out, "%s{\"number\":%u,\"state\":\"%s\",\"since_ms\":%" PRIu64 ",\"workers\":%u,\"running\":%zu,\"pids\":[",
                written++ ? "," : "", g.number, state_names[g.state], g.since_ms, g.workers, g.running);
    for (p = 0; p < g.pid_count; ++p) text_printf(out, "%s%" PRId32, p ? "," : "", g.pids[p]);
    text_printf(out, "]}");
  }
  text_printf(out, "],\"workers\":{\"starting\":%zu,\"serving\":%zu,\"draining\":%zu,\"stopping\":%zu},", workers[0],
              workers[1], workers[2], workers[3]);
}

static void write_reloads(const tether_host *host, const tether_status *status, const counters *c, text *out) {
  tether_reload_info r;
  memset(&r, 0, sizeof r);
  r.size = sizeof r;
  text_printf(out, "\"reloads\":{\"total\":%" PRId64 ",\"failed\":%" PRId64 ",\"last\":", c->reloads, c->reload_failures);
  if (host->status_reload(status, &r) != TETHER_OK || r.time_ms == 0) {
    text_printf(out, "null},");
    return;
  }
  text_printf(out, "{\"time_ms\":%" PRIu64 ",\"ok\":%s,\"message\":", r.time_ms, r.ok ? "true" : "false");
  text_json_string(out, r.message, strlen(r.message));
  text_printf(out, "}},");
}

static void write_channels(const tether_host *host, const tether_status *status, text *out) {
  size_t count = host->status_channel_count(status), i, written = 0;
  text_printf(out, "\"channels\":[");
  for (i = 0; i < count; ++i) {
    tether_channel_info ch;
    memset(&ch, 0, sizeof ch);
    ch.size = sizeof ch;
    if (host->status_channel(status, i, &ch) != TETHER_OK) continue;
    text_printf(out, "%s{\"name\":", written++ ? "," : "");
    text_json_string(out, ch.name, ch.name_length);
    text_printf(out, ",\"subscribers\":%" PRIu64 ",\"messages\":%" PRIu64 "}", ch.subscribers, ch.messages);
  }
  text_printf(out, "]");
}

int status_json_build(const tether_host *host, tether_request *request, text *out) {
  tether_status *status;
  counters c;
  if (host->abi_minor < 5) return TETHER_ERROR;
  status = host->status_take(host->request_worker(request), STATUS_BUSIEST_CHANNELS);
  if (!status) return TETHER_ERROR;
  text_printf(out, "{\"version\":1,\"server\":");
  text_json_string(out, host->server_version, strlen(host->server_version));
  text_printf(out, ",\"time_ms\":%" PRIu64 ",", wall_clock_ms());
  write_generations(host, status, out);
  write_connections(host, out, &c);
  text_printf(out, "\"subscribers\":%" PRId64 ",\"messages\":{\"published\":%" PRId64 ",\"delivered\":%" PRId64
              ",\"dropped\":%" PRId64 "},", c.subscribers, c.published, c.delivered, c.dropped);
  write_reloads(host, status, &c, out);
  write_channels(host, status, out);
  text_printf(out, "}\n");
  host->status_release(status);
  return out->failed ? TETHER_ERROR : TETHER_OK;
}

int serve_status_json(const tether_host *host, tether_request *request) {
  text page = {NULL, 0, 0, 0};
  int status = status_json_build(host, request, &page);
  if (status == TETHER_OK) {
    host->response_header(request, "Cache-Control", "no-store");
    status = host->respond(request, 200, "application/json", page.data, page.length);
  }
  text_free(&page);
  return status;
}
