// The websocket module against a fake host that behaves as badly as the ABI ever allowed: a
// failed write closes the connection and runs on_close (freeing the module's state) inside
// connection_write, and connection_close runs on_close before it returns. Whatever the host,
// the module must stop at the first write that reports the connection closing, parse nothing
// after its close, and never touch its freed state (ASan checks the last part).
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <tether/module.h>

extern "C" const tether_module* tether_module_entry(void);

namespace {

// ---- the fake host

struct FakeConnection {
  const tether_stream_callbacks* callbacks = nullptr;
  void* user = nullptr;
  bool closed = false;
  bool fail_writes = false;    // the next write fails (the client reset) and closes at once
  bool close_at_once = false;  // connection_close runs on_close before it returns
  int writes = 0;              // attempted
  int on_close_calls = 0;
  std::vector<std::string> frames;  // written
};

FakeConnection* current = nullptr;

tether_connection* handle(FakeConnection* c) { return reinterpret_cast<tether_connection*>(c); }
FakeConnection* fake(tether_connection* c) { return reinterpret_cast<FakeConnection*>(c); }

void close_now(FakeConnection* c) {
  if (c->closed) return;
  c->closed = true;
  ++c->on_close_calls;
  c->callbacks->on_close(handle(c), c->user);
}

int64_t connection_write(tether_connection* connection, const void* data, size_t length) {
  FakeConnection* c = fake(connection);
  ++c->writes;
  if (c->closed) return -1;
  if (c->fail_writes) {
    close_now(c);
    return -1;
  }
  c->frames.emplace_back(static_cast<const char*>(data), length);
  return 0;
}

void connection_close(tether_connection* connection) {
  if (fake(connection)->close_at_once) close_now(fake(connection));
}

int config_string(tether_config*, const char* key, const char** value) {
  if (std::strcmp(key, "client_messages") != 0) return TETHER_DECLINED;
  *value = "echo";
  return TETHER_OK;
}
int config_size(tether_config*, const char*, uint64_t*) { return TETHER_DECLINED; }
void config_error(tether_config*, const char*, const char*) {}
int config_only_keys(tether_config*, const char* const*, size_t) { return TETHER_OK; }

int request_info(const tether_request*, tether_request_info* info) {
  static const char target[] = "/echo/room";
  info->method = "GET", info->method_length = 3;
  info->target = info->path = target, info->target_length = info->path_length = sizeof target - 1;
  info->query = "", info->query_length = 0;
  info->route = "/echo/", info->route_length = 6;
  info->http_major = 1, info->http_minor = 1;
  return TETHER_OK;
}

const char* request_header(const tether_request*, const char* name, size_t* length) {
  const char* value = nullptr;
  if (std::strcmp(name, "upgrade") == 0) value = "websocket";
  else if (std::strcmp(name, "connection") == 0) value = "Upgrade";
  else if (std::strcmp(name, "sec-websocket-version") == 0) value = "13";
  else if (std::strcmp(name, "sec-websocket-key") == 0) value = "dGhlIHNhbXBsZSBub25jZQ==";
  if (value) *length = std::strlen(value);
  return value;
}

int response_header(tether_request*, const char*, const char*) { return TETHER_OK; }
int respond(tether_request*, int, const char*, const void*, size_t) { return TETHER_OK; }

tether_connection* upgrade(tether_request*, int, const tether_stream_callbacks* callbacks, void* user) {
  current->callbacks = callbacks;
  current->user = user;
  return handle(current);
}

int connection_heartbeat(const tether_connection*, uint64_t* interval, uint64_t* timeout) {
  *interval = 0;
  if (timeout) *timeout = 0;
  return TETHER_OK;
}
int connection_set_queue_limit(tether_connection*, uint64_t, tether_slow_policy) { return TETHER_OK; }
int subscribe(tether_connection*, tether_feed*, const char*, size_t, const char*, size_t) { return TETHER_OK; }
const char* channel_problem(const char*, size_t length) { return length ? nullptr : "empty"; }

int timer_token, feed_token;
tether_timer* timer_start(tether_worker*, uint64_t, uint64_t, tether_timer_cb, void*) {
  return reinterpret_cast<tether_timer*>(&timer_token);
}
void timer_stop(tether_timer*) {}
tether_feed* feed_create(tether_worker*, const tether_feed_format*) { return reinterpret_cast<tether_feed*>(&feed_token); }
tether_metric metric_register(const char*, const char*, const char*, tether_metric_type) { return 1; }
void metric_add(tether_worker*, tether_metric, int64_t) {}

tether_host make_host() {
  tether_host h{};
  h.size = sizeof h;
  h.abi_major = TETHER_MODULE_ABI_MAJOR;
  h.abi_minor = TETHER_MODULE_ABI_MINOR;
  h.config_string = config_string;
  h.config_size = config_size;
  h.config_error = config_error;
  h.config_only_keys = config_only_keys;
  h.request_info = request_info;
  h.request_header = request_header;
  h.response_header = response_header;
  h.respond = respond;
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
  return h;
}

const tether_host kHost = make_host();

// ---- client frames

std::string frame(std::uint8_t opcode, const std::string& payload, bool masked = true) {
  std::string out(1, static_cast<char>(0x80 | opcode));
  out += static_cast<char>((masked ? 0x80 : 0) | payload.size());  // payloads here stay under 126 bytes
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  if (masked) out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out += masked ? static_cast<char>(payload[i] ^ mask[i % 4]) : payload[i];
  return out;
}

std::string repeat(const std::string& piece, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += piece;
  return out;
}

class WebSocketModule : public ::testing::Test {
 protected:
  void SetUp() override {
    module_ = tether_module_entry();
    ASSERT_EQ(module_->create_route_config(&kHost, nullptr, nullptr, &route_), TETHER_OK);
    ASSERT_EQ(module_->worker_init(&kHost, reinterpret_cast<tether_worker*>(&worker_token_), nullptr), TETHER_OK);
    current = &connection_;
    ASSERT_EQ(module_->content(reinterpret_cast<tether_request*>(&request_token_), nullptr, route_), TETHER_OK);
    ASSERT_NE(connection_.callbacks, nullptr);
  }
  void TearDown() override {
    close_now(&connection_);  // the host's end of every connection; once
    EXPECT_EQ(connection_.on_close_calls, 1);
    module_->worker_exit(reinterpret_cast<tether_worker*>(&worker_token_), nullptr);
    module_->destroy_route_config(route_);
  }
  void read(const std::string& bytes) {
    connection_.callbacks->on_read(handle(&connection_), bytes.data(), bytes.size(), connection_.user);
  }

  const tether_module* module_ = nullptr;
  void* route_ = nullptr;
  int worker_token_ = 0, request_token_ = 0;
  FakeConnection connection_;
};

}  // namespace

TEST_F(WebSocketModule, AFailedPongStopsParsingTheRestOfTheInput) {
  connection_.fail_writes = true;
  read(repeat(frame(0x9, "ping"), 10));
  EXPECT_EQ(connection_.writes, 1);
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(WebSocketModule, AFailedEchoStopsParsingTheRestOfTheInput) {
  connection_.fail_writes = true;
  read(repeat(frame(0x1, "hello"), 10));
  EXPECT_EQ(connection_.writes, 1);
}

TEST_F(WebSocketModule, AFailedCloseAnswerIsTheLastThingDone) {
  connection_.fail_writes = true;
  read(frame(0x8, "\x03\xe8") + frame(0x9, "late"));
  EXPECT_EQ(connection_.writes, 1);
}

TEST_F(WebSocketModule, AClientCloseEndsParsingEvenWhenTheCloseIsImmediate) {
  connection_.close_at_once = true;
  read(frame(0x9, "first") + frame(0x8, "\x03\xe8") + frame(0x9, "late") + frame(0x1, "late"));
  ASSERT_EQ(connection_.frames.size(), 2u);  // the pong, then the close answer
  EXPECT_EQ(static_cast<std::uint8_t>(connection_.frames[0][0]), 0x8A);
  EXPECT_EQ(static_cast<std::uint8_t>(connection_.frames[1][0]), 0x88);
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(WebSocketModule, AProtocolErrorEndsParsingEvenWhenTheCloseIsImmediate) {
  connection_.close_at_once = true;
  read(frame(0x1, "unmasked", false) + frame(0x9, "late"));
  ASSERT_EQ(connection_.frames.size(), 1u);
  EXPECT_EQ(static_cast<std::uint8_t>(connection_.frames[0][0]), 0x88);
  EXPECT_EQ(connection_.frames[0].substr(2, 2), "\x03\xea");  // 1002
}

TEST_F(WebSocketModule, AFailedProtocolErrorCloseIsTheLastThingDone) {
  connection_.fail_writes = true;
  read(frame(0x1, "\xff") + frame(0x9, "late"));
  EXPECT_EQ(connection_.writes, 1);
}

TEST_F(WebSocketModule, NothingIsReadAfterTheModuleClosed) {
  read(frame(0x8, ""));
  ASSERT_EQ(connection_.frames.size(), 1u);
  read(frame(0x9, "after"));
  EXPECT_EQ(connection_.frames.size(), 1u);
}
