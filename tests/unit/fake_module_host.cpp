#include "fake_module_host.h"

#include <cstring>

namespace tether::test {

namespace {

FakeHost* current = nullptr;

FakeConnection& connection_of(tether_connection* c) { return *reinterpret_cast<FakeConnection*>(c); }

int64_t connection_write(tether_connection* connection, const void* data, size_t length) {
  FakeConnection& c = connection_of(connection);
  ++c.writes;
  if (c.closed || c.ended) return -1;
  if (c.fail_writes) {
    current->close_now();
    return -1;
  }
  c.written.emplace_back(static_cast<const char*>(data), length);
  return 0;
}

void connection_close(tether_connection* connection) {
  if (connection_of(connection).close_at_once) current->close_now();
}

int stream_end(tether_connection* connection) {
  connection_of(connection).ended = true;
  return TETHER_OK;
}

int config_string(tether_config*, const char* key, const char** value) {
  auto it = current->settings.find(key);
  if (it == current->settings.end()) return TETHER_DECLINED;
  *value = it->second.c_str();
  return TETHER_OK;
}
int config_integer(tether_config*, const char*, int64_t*) { return TETHER_DECLINED; }
int config_size(tether_config*, const char*, uint64_t*) { return TETHER_DECLINED; }
int config_duration_ms(tether_config*, const char*, uint64_t*) { return TETHER_DECLINED; }
void config_error(tether_config*, const char*, const char*) {}
int config_only_keys(tether_config*, const char* const*, size_t) { return TETHER_OK; }

int request_info(const tether_request*, tether_request_info* info) {
  const std::string& target = current->target;
  std::size_t question = target.find('?');
  std::size_t path_length = question == std::string::npos ? target.size() : question;
  info->method = "GET", info->method_length = 3;
  info->target = target.data(), info->target_length = target.size();
  info->path = target.data(), info->path_length = path_length;
  info->query = question == std::string::npos ? "" : target.data() + question + 1;
  info->query_length = question == std::string::npos ? 0 : target.size() - question - 1;
  info->route = target.data(), info->route_length = current->route_length;
  info->http_major = 1, info->http_minor = 1;
  return TETHER_OK;
}

const char* request_header(const tether_request*, const char* name, size_t* length) {
  auto it = current->headers.find(name);
  if (it == current->headers.end()) return nullptr;
  *length = it->second.size();
  return it->second.data();
}

int response_header(tether_request*, const char*, const char*) { return TETHER_OK; }
int respond(tether_request*, int, const char*, const void*, size_t) { return TETHER_OK; }

tether_connection* take_over(const tether_stream_callbacks* callbacks, void* user) {
  current->connection.callbacks = callbacks;
  current->connection.user = user;
  return current->handle();
}
tether_connection* upgrade(tether_request*, int, const tether_stream_callbacks* callbacks, void* user) {
  return take_over(callbacks, user);
}
tether_connection* stream_start(tether_request*, int, const char*, const tether_stream_callbacks* callbacks, void* user) {
  return take_over(callbacks, user);
}

int connection_heartbeat(const tether_connection*, uint64_t* interval, uint64_t* timeout) {
  *interval = current->heartbeat_interval_ms;
  if (timeout) *timeout = current->heartbeat_timeout_ms;
  return TETHER_OK;
}
int connection_set_queue_limit(tether_connection*, uint64_t, tether_slow_policy) { return TETHER_OK; }
int subscribe(tether_connection*, tether_feed*, const char*, size_t, const char*, size_t) { return TETHER_OK; }
const char* channel_problem(const char*, size_t length) { return length ? nullptr : "empty"; }

int connection_refresh(tether_connection*, const char* credentials, size_t length) {
  current->refreshes.emplace_back(credentials, length);
  return current->refresh_answer;
}

int token;
tether_timer* timer_start(tether_worker*, uint64_t, uint64_t, tether_timer_cb cb, void* user) {
  current->timer = cb;
  current->timer_user = user;
  return reinterpret_cast<tether_timer*>(&token);
}
void timer_stop(tether_timer*) {}
tether_feed* feed_create(tether_worker*, const tether_feed_format*) { return reinterpret_cast<tether_feed*>(&token); }
tether_metric metric_register(const char*, const char*, const char*, tether_metric_type) { return 1; }
void metric_add(tether_worker*, tether_metric, int64_t) {}

tether_host make_host() {
  tether_host h{};
  h.size = sizeof h;
  h.abi_major = TETHER_MODULE_ABI_MAJOR;
  h.abi_minor = TETHER_MODULE_ABI_MINOR;
  h.config_string = config_string;
  h.config_integer = config_integer;
  h.config_size = config_size;
  h.config_duration_ms = config_duration_ms;
  h.config_error = config_error;
  h.config_only_keys = config_only_keys;
  h.request_info = request_info;
  h.request_header = request_header;
  h.response_header = response_header;
  h.respond = respond;
  h.stream_start = stream_start;
  h.stream_end = stream_end;
  h.upgrade = upgrade;
  h.connection_write = connection_write;
  h.connection_close = connection_close;
  h.connection_heartbeat = connection_heartbeat;
  h.connection_set_queue_limit = connection_set_queue_limit;
  h.subscribe = subscribe;
  h.channel_problem = channel_problem;
  h.timer_start = timer_start;
  h.timer_stop = timer_stop;
  h.feed_create = feed_create;
  h.metric_register = metric_register;
  h.metric_add = metric_add;
  h.connection_refresh = connection_refresh;
  return h;
}

const tether_host kHost = make_host();

}  // namespace

void FakeHost::close_now() {
  if (connection.closed || connection.ended || !connection.callbacks) return;
  connection.closed = true;
  ++connection.on_close_calls;
  connection.callbacks->on_close(handle(), connection.user);
}

const tether_host* fake_host(FakeHost* fake) {
  current = fake;
  return &kHost;
}

const tether_host* fake_host_of_abi(FakeHost* fake, std::uint16_t abi_minor) {
  static tether_host older;
  current = fake;
  older = kHost;
  older.abi_minor = abi_minor;
  return &older;
}

}  // namespace tether::test
