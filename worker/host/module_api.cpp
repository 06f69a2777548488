// The host functions of include/tether/module.h (ABI 1.4).
#include "worker/host/module_api.h"

#include <strings.h>

#include <cstdarg>
#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <unordered_set>

#include "core/log.h"
#include "core/shared_metrics.h"
#include "core/shared_zones.h"
#include "core/units.h"
#include "worker/host/module_runtime.h"
#include "worker/host/status_api.h"
#include "worker/http/http_response.h"
#include "worker/http/http_session.h"
#include "worker/pubsub/publish_endpoint.h"
#include "worker/pubsub/pubsub_hub.h"
#include "worker/transport/connection.h"

namespace tether {
namespace {

// ---- logging

void host_log(tether_log_level level, const char* module, const char* format, ...) {
  auto ours = static_cast<LogLevel>(std::min<int>(std::max<int>(level, TETHER_LOG_DEBUG), TETHER_LOG_ERROR));
  if (!Log::enabled(ours)) return;
  char text[2048];
  va_list args;
  va_start(args, format);
  vsnprintf(text, sizeof text, format, args);
  va_end(args);
  Log::write(ours, "[%s] %s", module ? module : "module", text);
}

// ---- settings

const ConfigValue* lookup(tether_config* settings, const char* key) {
  return settings && settings->table && key ? settings->table->find(key) : nullptr;
}

void record_error(tether_config* settings, const ConfigValue* at, const std::string& message) {
  settings->failed = true;
  SourcePosition where = at ? at->where : settings->table->where;
  settings->errors->push_back(ConfigError{settings->file, where, message + " in " + settings->context});
}

int wrong_type(tether_config* settings, const char* key, const ConfigValue* value, const char* expected) {
  record_error(settings, value, std::string("\"") + key + "\" must be " + expected);
  return TETHER_ERROR;
}

int config_string(tether_config* settings, const char* key, const char** out) {
  const ConfigValue* v = lookup(settings, key);
  if (!v) return TETHER_DECLINED;
  if (v->type != ConfigValue::Type::string) return wrong_type(settings, key, v, "a string");
  *out = v->string.c_str();
  return TETHER_OK;
}

int config_integer(tether_config* settings, const char* key, int64_t* out) {
  const ConfigValue* v = lookup(settings, key);
  if (!v) return TETHER_DECLINED;
  if (v->type != ConfigValue::Type::integer) return wrong_type(settings, key, v, "an integer");
  *out = v->integer;
  return TETHER_OK;
}

int config_boolean(tether_config* settings, const char* key, int* out) {
  const ConfigValue* v = lookup(settings, key);
  if (!v) return TETHER_DECLINED;
  if (v->type != ConfigValue::Type::boolean) return wrong_type(settings, key, v, "true or false");
  *out = v->boolean ? 1 : 0;
  return TETHER_OK;
}

int config_duration_ms(tether_config* settings, const char* key, uint64_t* out) {
  const ConfigValue* v = lookup(settings, key);
  if (!v) return TETHER_DECLINED;
  std::optional<Milliseconds> d;
  if (v->type == ConfigValue::Type::string) d = parse_duration(v->string);
  if (!d) return wrong_type(settings, key, v, "a duration such as \"250ms\" or \"30s\"");
  *out = static_cast<uint64_t>(d->count());
  return TETHER_OK;
}

int config_size(tether_config* settings, const char* key, uint64_t* out) {
  const ConfigValue* v = lookup(settings, key);
  if (!v) return TETHER_DECLINED;
  std::optional<std::uint64_t> size;
  if (v->type == ConfigValue::Type::string) size = parse_size(v->string);
  else if (v->type == ConfigValue::Type::integer && v->integer >= 0) size = static_cast<std::uint64_t>(v->integer);
  if (!size) return wrong_type(settings, key, v, "a size such as 4096 or \"64KiB\"");
  *out = *size;
  return TETHER_OK;
}

void config_error(tether_config* settings, const char* key, const char* message) {
  if (!settings || !message) return;
  const ConfigValue* at = key ? lookup(settings, key) : nullptr;
  record_error(settings, at, key && at ? std::string("\"") + key + "\": " + message : std::string(message));
}

int config_only_keys(tether_config* settings, const char* const* known, size_t count) {
  int status = TETHER_OK;
  for (const auto& [key, value] : settings->table->table) {
    bool ok = false;
    for (size_t i = 0; i < count && !ok; ++i) ok = key == known[i];
    if (!ok) {
      settings->failed = true;
      settings->errors->push_back(
          ConfigError{settings->file, value.key_where, "unknown key \"" + key + "\" in " + settings->context});
      status = TETHER_ERROR;
    }
  }
  return status;
}

int config_table(tether_config* settings, const char* key, tether_config** table) {
  const ConfigValue* v = lookup(settings, key);
  if (!v) return TETHER_DECLINED;
  if (v->type != ConfigValue::Type::table) return wrong_type(settings, key, v, "a table");
  tether_config& child = settings->children.emplace_back();
  child.table = v;
  child.file = settings->file;
  child.context = settings->context + "." + key;
  child.errors = settings->errors;
  *table = &child;
  return TETHER_OK;
}

size_t config_key_count(tether_config* settings) { return settings->table->table.size(); }

const char* config_key(tether_config* settings, size_t index) {
  return index < settings->table->table.size() ? settings->table->table[index].first.c_str() : nullptr;
}

// ---- worker

unsigned worker_id(const tether_worker* worker) { return worker->slot; }
unsigned worker_generation(const tether_worker* worker) { return worker->generation; }
int worker_draining(const tether_worker* worker) { return worker->draining ? 1 : 0; }

const char* worker_unready(const tether_worker* worker) {
  if (worker->draining) return "draining";
  worker->unready = worker->hub ? worker->hub->broker().problem() : std::string();
  return worker->unready.empty() ? nullptr : worker->unready.c_str();
}

// ---- requests

tether_worker* request_worker(const tether_request* request) { return request->worker; }

int request_info(const tether_request* request, tether_request_info* info) {
  if (!request->session || !info || info->size < sizeof(tether_request_info)) return TETHER_ERROR;
  const HttpSession& s = *request->session;
  std::string_view target = s.target();
  std::size_t question = target.find('?');
  std::string_view path = target.substr(0, question);
  std::string_view query = question == std::string_view::npos ? std::string_view() : target.substr(question + 1);
  info->method = s.method().data();
  info->method_length = s.method().size();
  info->target = target.data();
  info->target_length = target.size();
  info->path = path.data();
  info->path_length = path.size();
  info->query = query.data();
  info->query_length = query.size();
  info->body = s.body().data();
  info->body_length = s.body().size();
  info->route = request->route ? request->route->path.c_str() : "";
  info->route_length = request->route ? request->route->path.size() : 0;
  info->http_major = s.http_major();
  info->http_minor = s.http_minor();
  auto* mutable_request = const_cast<tether_request*>(request);
  if (mutable_request->peer_length == 0 && s.connection()) {
    mutable_request->peer_length = sizeof mutable_request->peer;
    if (!connection_of(s.connection()).peer_address(&mutable_request->peer, &mutable_request->peer_length))
      mutable_request->peer_length = 0;
  }
  info->peer = request->peer_length ? reinterpret_cast<const sockaddr*>(&request->peer) : nullptr;
  info->peer_length = request->peer_length;
  return TETHER_OK;
}

// Joining a field's lines may allocate: out of memory, the field reads as absent (nothing may
// throw into a module).
const char* request_header(const tether_request* request, const char* name, size_t* length) {
  if (!request->session || !name) return nullptr;
  const std::string* value = nullptr;
  try {
    value = request->session->header(name);
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
  if (!value) return nullptr;
  if (length) *length = value->size();
  return value->data();
}

// A name is a token and a value one line of visible bytes (RFC 9110 §5.1, §5.5): a module
// cannot end the head early or add lines of its own.
bool valid_header_text(const char* text, bool is_name) {
  if (!text) return false;
  return is_name ? is_token(text) : is_field_value(text);
}

// The server frames every body itself (Content-Length, or chunked for streams); a second
// framing header would let the client and a proxy read the body differently.
bool framing_header(const char* name) {
  return strcasecmp(name, "content-length") == 0 || strcasecmp(name, "transfer-encoding") == 0;
}

int response_header(tether_request* request, const char* name, const char* value) {
  if (!valid_header_text(name, true) || !valid_header_text(value, false) || framing_header(name)) return TETHER_ERROR;
  request->response_headers.append(name).append(": ").append(value).append("\r\n");
  return TETHER_OK;
}

int respond(tether_request* request, int status, const char* content_type, const void* body, size_t length) {
  // Nothing to send when the client left: the answer ends the request, whatever it says (a
  // refused answer would leave it unreleased, as the module answers once).
  if (request->state == tether_request::State::client_left ||
      request->state == tether_request::State::left_in_access) {
    request->owner->release(request);
    return TETHER_OK;
  }
  // A final status only (1xx are interim; upgrade() sends 101), in the range RFC 9110 §15 defines.
  if (status < 200 || status > 599) return TETHER_ERROR;
  if (content_type && !valid_header_text(content_type, false)) return TETHER_ERROR;
  request->state = tether_request::State::in_hand;
  std::string headers = std::move(request->response_headers);
  request->response_headers.clear();
  request->session->answer(status, content_type ? content_type : "",
                           headers, std::string_view(static_cast<const char*>(body), body ? length : 0));
  return TETHER_OK;
}

// ---- connections

tether_connection* request_connection(const tether_request* request) {
  return request->session ? request->session->connection() : nullptr;
}

int connection_fd(const tether_connection* connection) { return connection ? connection_of(connection).fd() : -1; }

int connection_set_keepalive(tether_connection* connection, uint64_t idle_timeout_ms, uint64_t max_requests) {
  if (!connection) return TETHER_ERROR;
  connection_of(connection).set_keepalive(idle_timeout_ms, max_requests);
  return TETHER_OK;
}

int connection_set_heartbeat(tether_connection* connection, uint64_t interval_ms, uint64_t timeout_ms) {
  if (!connection || interval_ms == 0 || timeout_ms == 0) return TETHER_ERROR;
  connection_of(connection).set_heartbeat(interval_ms, timeout_ms);
  return TETHER_OK;
}

int connection_heartbeat(const tether_connection* connection, uint64_t* interval_ms, uint64_t* timeout_ms) {
  if (!connection) return TETHER_ERROR;
  connection_of(connection).heartbeat(interval_ms, timeout_ms);
  return TETHER_OK;
}

// ---- streamed responses and upgrades

// Both answer the request, which is then in hand again. A request whose client left has no
// connection to stream on: NULL, and respond() is still to come for it (module.h). So is it for
// one whose connection closed meanwhile (a reset) though the session still answered: it keeps
// the state it waited in, so that the session's end marks it and that respond() releases it.
tether_connection* hand_over(tether_request* request, bool started, const tether_stream_callbacks* callbacks,
                             void* user) {
  if (!started) return nullptr;
  tether_request::State waited_as = request->state;
  request->state = tether_request::State::in_hand;
  request->response_headers.clear();
  tether_connection* connection = request->session->connection();
  if (connection_of(connection).attach_module_stream(callbacks, request->route, user)) return connection;
  if (waited_as == tether_request::State::deferred || waited_as == tether_request::State::in_access)
    request->state = waited_as;
  return nullptr;
}

tether_connection* stream_start(tether_request* request, int status, const char* content_type,
                                const tether_stream_callbacks* callbacks, void* user) {
  if (!request->session) return nullptr;
  bool started = request->session->start_stream(status, content_type ? content_type : "", request->response_headers);
  return hand_over(request, started, callbacks, user);
}

tether_connection* upgrade(tether_request* request, int status, const tether_stream_callbacks* callbacks, void* user) {
  // 101 Switching Protocols is the only status that switches (RFC 9110 §15.2.2): another 1xx
  // would hand the connection over while the client still waits for a final answer.
  if (!request->session || status != 101) return nullptr;
  return hand_over(request, request->session->upgrade(status, request->response_headers), callbacks, user);
}

int stream_end(tether_connection* connection) {
  if (!connection) return TETHER_ERROR;
  connection_of(connection).end_module_stream();
  return TETHER_OK;
}

int64_t connection_write(tether_connection* connection, const void* data, size_t length) {
  if (!connection || (!data && length)) return -1;
  return connection_of(connection).write_for_module(data, length);
}

void connection_close(tether_connection* connection) {
  if (connection) connection_of(connection).close_for_module();
}

// ---- timers

// Every timer modules hold, so that a second timer_stop() (a module bug) is refused instead of
// touching freed memory, and timers left running are closed at exit. One loop thread: no lock.
std::unordered_set<tether_timer*>& live_timers() {
  static std::unordered_set<tether_timer*> timers;
  return timers;
}

tether_timer* timer_start(tether_worker* worker, uint64_t timeout_ms, uint64_t repeat_ms, tether_timer_cb cb, void* user) {
  if (!cb || !worker) return nullptr;
  auto* timer = new tether_timer;
  live_timers().insert(timer);
  timer->worker = worker;
  timer->callback = cb;
  timer->user = user;
  uv_timer_init(worker->loop, &timer->handle);
  timer->handle.data = timer;
  uv_timer_start(&timer->handle, [](uv_timer_t* h) {
    auto* t = static_cast<tether_timer*>(h->data);
    t->callback(t, t->user);
  }, timeout_ms, repeat_ms);
  return timer;
}

void timer_stop(tether_timer* timer) {
  if (!live_timers().erase(timer)) {
    if (timer) LOG_WARN("timer_stop() on a timer that is not running (stopped twice?): ignored");
    return;
  }
  uv_timer_stop(&timer->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer->handle),
           [](uv_handle_t* h) { delete static_cast<tether_timer*>(h->data); });
}

// ---- blocking work

struct Work {
  uv_work_t request;
  tether_work_cb work;
  tether_after_work_cb after;
  void* user;
};

int queue_work(tether_worker* worker, tether_work_cb work, tether_after_work_cb after, void* user) {
  if (!work) return TETHER_ERROR;
  auto* w = new Work{{}, work, after, user};
  w->request.data = w;
  int status = uv_queue_work(worker->loop, &w->request,
      [](uv_work_t* r) {
        auto* item = static_cast<Work*>(r->data);
        item->work(item->user);
      },
      [](uv_work_t* r, int result) {
        auto* item = static_cast<Work*>(r->data);
        if (item->after) item->after(item->user, result == 0 ? TETHER_OK : TETHER_ERROR);
        delete item;
      });
  if (status != 0) {
    delete w;
    return TETHER_ERROR;
  }
  return TETHER_OK;
}

// ---- metrics

tether_metric metric_register(const char* name, const char* labels, const char* help, tether_metric_type type) {
  if (!name) return 0;
  return shared_metrics().register_metric(name, labels ? labels : "", help ? help : "",
                                          type == TETHER_METRIC_GAUGE ? MetricType::gauge : MetricType::counter);
}

void metric_add(tether_worker* worker, tether_metric metric, int64_t delta) {
  shared_metrics().add(worker ? worker->metrics_slot : 0, metric, delta);
}

size_t metric_count() { return shared_metrics().count(); }

int metric_read(size_t index, tether_metric_sample* sample) {
  MetricSample s;
  if (!sample || sample->size < sizeof(tether_metric_sample) || !shared_metrics().read(index, &s)) return TETHER_ERROR;
  // The registry's strings are NUL-terminated in shared memory and never change once written.
  sample->name = s.name.data();
  sample->labels = s.labels.data();
  sample->help = s.help.data();
  sample->type = s.type == MetricType::gauge ? TETHER_METRIC_GAUGE : TETHER_METRIC_COUNTER;
  sample->value = s.value;
  return TETHER_OK;
}

void* shared_zone(const char* name, size_t size) { return name ? shared_zones().zone(name, size) : nullptr; }

// ---- pub/sub (1.1)

tether_feed* feed_create(tether_worker* worker, const tether_feed_format* format) {
  if (!worker || !worker->hub || !format || format->size < offsetof(tether_feed_format, encode_notice)) return nullptr;
  Feed* feed = worker->hub->create_feed(*format);
  return feed ? handle_of(*feed) : nullptr;
}

int subscribe(tether_connection* connection, tether_feed* feed, const char* channel, size_t channel_length,
              const char* since, size_t since_length) {
  if (!connection || !feed || !channel) return TETHER_ERROR;
  Connection& c = connection_of(connection);
  std::optional<std::string_view> resume_from;
  if (since) resume_from = std::string_view(since, since_length);
  return c.hub().subscribe(c.frame_sink(), feed_of(feed), std::string_view(channel, channel_length), resume_from);
}

int connection_set_queue_limit(tether_connection* connection, uint64_t max_bytes, tether_slow_policy policy) {
  if (!connection || (policy != TETHER_SLOW_DISCONNECT && policy != TETHER_SLOW_DROP)) return TETHER_ERROR;
  connection_of(connection).set_queue_limit(max_bytes, policy);
  return TETHER_OK;
}

int publish(tether_worker* worker, const char* channel, size_t channel_length, const void* data, size_t length) {
  if (!worker || !worker->hub || !channel || (!data && length)) return TETHER_ERROR;
  PublishCheck check = worker->hub->publish(std::string_view(channel, channel_length),
                                            std::string_view(static_cast<const char*>(data), length));
  return check == PublishCheck::accepted ? TETHER_OK : TETHER_ERROR;
}

const char* channel_problem(const char* channel, size_t channel_length) {
  if (!channel) return "the channel name is empty";
  return channel_name_problem(std::string_view(channel, channel_length));
}

// ---- access control (1.4)

int request_continue(tether_request* request) {
  if (!request) return TETHER_ERROR;
  return request->owner->continue_access(request);
}

int connection_set_expiry(tether_connection* connection, uint64_t unix_ms) {
  if (!connection) return TETHER_ERROR;
  connection_of(connection).set_expiry(unix_ms);
  return TETHER_OK;
}

int connection_refresh(tether_connection* connection, const char* credentials, size_t length) {
  if (!connection || (!credentials && length)) return TETHER_ERROR;
  return connection_of(connection).refresh_credentials(std::string_view(credentials ? credentials : "", length));
}

int request_authorized(tether_request* request) {
  if (!request || !request->session) return TETHER_ERROR;
  request->session->set_vouched();
  return TETHER_OK;
}

int request_has_publish_token(const tether_request* request) {
  if (!request || !request->session || !request->route || request->route->handler != "publish") return 0;
  return carries_bearer_token(*request->session, request->owner->config().pubsub.publish_token) ? 1 : 0;
}

int request_publish_allowed(tether_request* request, const char* channel, size_t channel_length) {
  if (!request || !request->owner || (!channel && channel_length)) return TETHER_ERROR;
  return request->owner->publish_allowed(request, std::string_view(channel ? channel : "", channel_length));
}

// ---- I/O (1.4)

// Every io modules hold, as live_timers() for timers: a second io_stop() is refused, and ios
// left at exit are stopped.
std::unordered_set<tether_io*>& live_ios() {
  static std::unordered_set<tether_io*> ios;
  return ios;
}

int uv_events(int events) {
  return ((events & TETHER_IO_READ) ? UV_READABLE : 0) | ((events & TETHER_IO_WRITE) ? UV_WRITABLE : 0);
}

// A hang-up (UV_DISCONNECT) and an error (status < 0: libuv stopped watching) are both ERROR,
// after which the io is not watched (a hang-up would otherwise be reported on every turn).
void on_io(uv_poll_t* handle, int status, int events) {
  auto* io = static_cast<tether_io*>(handle->data);
  int ready = status < 0 ? TETHER_IO_ERROR
                         : ((events & UV_READABLE) ? TETHER_IO_READ : 0) | ((events & UV_WRITABLE) ? TETHER_IO_WRITE : 0) |
                               ((events & UV_DISCONNECT) ? TETHER_IO_ERROR : 0);
  if (ready & TETHER_IO_ERROR) uv_poll_stop(handle);
  io->callback(io, ready, io->user);  // may io_stop(io): the last thing here
}

int io_update(tether_io* io, int events) {
  if (!io || !live_ios().count(io) || (events & ~(TETHER_IO_READ | TETHER_IO_WRITE))) return TETHER_ERROR;
  if (events == 0) return uv_poll_stop(&io->handle) == 0 ? TETHER_OK : TETHER_ERROR;
  return uv_poll_start(&io->handle, uv_events(events) | UV_DISCONNECT, on_io) == 0 ? TETHER_OK : TETHER_ERROR;
}

void io_stop(tether_io* io) {
  if (!live_ios().erase(io)) {
    if (io) LOG_WARN("io_stop() on an io that is not watched (stopped twice?): ignored");
    return;
  }
  uv_poll_stop(&io->handle);
  uv_close(reinterpret_cast<uv_handle_t*>(&io->handle), [](uv_handle_t* h) { delete static_cast<tether_io*>(h->data); });
}

tether_io* io_start(tether_worker* worker, int fd, int events, tether_io_cb cb, void* user) {
  if (!worker || !cb || fd < 0) return nullptr;
  auto* io = new tether_io;
  io->worker = worker;
  io->callback = cb;
  io->user = user;
  if (uv_poll_init(worker->loop, &io->handle, fd) != 0) {  // not a descriptor poll can watch
    delete io;
    return nullptr;
  }
  io->handle.data = io;
  live_ios().insert(io);
  if (events != 0 && io_update(io, events) != TETHER_OK) {
    io_stop(io);
    return nullptr;
  }
  return io;
}

const tether_host kHost = {
    sizeof(tether_host),
    TETHER_MODULE_ABI_MAJOR,
    TETHER_MODULE_ABI_MINOR,
    TETHER_VERSION,
    host_log,
    config_string,
    config_integer,
    config_boolean,
    config_duration_ms,
    config_size,
    config_error,
    config_only_keys,
    config_table,
    config_key_count,
    config_key,
    worker_id,
    worker_generation,
    worker_draining,
    request_worker,
    request_info,
    request_header,
    response_header,
    respond,
    request_connection,
    connection_fd,
    connection_set_keepalive,
    connection_set_heartbeat,
    connection_heartbeat,
    stream_start,
    stream_end,
    upgrade,
    connection_write,
    connection_close,
    timer_start,
    timer_stop,
    queue_work,
    metric_register,
    metric_add,
    metric_count,
    metric_read,
    shared_zone,
    feed_create,
    PubsubHub::buffer_append,
    subscribe,
    connection_set_queue_limit,
    publish,
    channel_problem,
    worker_unready,
    request_continue,
    connection_set_expiry,
    connection_refresh,
    io_start,
    io_update,
    io_stop,
    request_authorized,
    request_has_publish_token,
    request_publish_allowed,
    status_api::take,
    status_api::release,
    status_api::generation_count,
    status_api::generation,
    status_api::reload,
    status_api::channel_count,
    status_api::channel,
};

}  // namespace

const tether_host& module_host_table() { return kHost; }
std::size_t close_module_timers(const tether_worker* worker) {
  std::vector<tether_timer*> left;
  for (tether_timer* timer : live_timers())
    if (timer->worker == worker) left.push_back(timer);
  for (tether_timer* timer : left) timer_stop(timer);
  return left.size();
}

std::size_t close_module_ios(const tether_worker* worker) {
  std::vector<tether_io*> left;
  for (tether_io* io : live_ios())
    if (io->worker == worker) left.push_back(io);
  for (tether_io* io : left) io_stop(io);
  return left.size();
}

}  // namespace tether
