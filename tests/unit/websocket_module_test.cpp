// The websocket module against a fake host that behaves as badly as the ABI ever allowed (see
// fake_module_host.h). Whatever the host, the module must stop at the first write that reports
// the connection closing, parse nothing after its close, and never touch its freed state (ASan
// checks the last part).
#include <gtest/gtest.h>
#include <zlib.h>

#include <chrono>
#include <string>
#include <thread>

#include "fake_module_host.h"
#include "modules/common/heartbeat_wheel.h"

extern "C" const tether_module* tether_module_entry(void);

using namespace tether::test;

namespace {

// ---- client frames

std::string frame(std::uint8_t opcode, const std::string& payload, bool masked = true, bool fin = true) {
  std::string out(1, static_cast<char>((fin ? 0x80 : 0) | opcode));
  if (payload.size() < 126) {
    out += static_cast<char>((masked ? 0x80 : 0) | payload.size());
  } else {  // payloads here stay under 64 KiB
    out += static_cast<char>((masked ? 0x80 : 0) | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xff);
  }
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
  void SetUp() override { open(); }
  void open() {
    fake_.target = "/echo/room";
    fake_.route_length = 6;
    fake_.headers = {{"upgrade", "websocket"},
                     {"connection", "Upgrade"},
                     {"sec-websocket-version", "13"},
                     {"sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="}};
    fake_.headers.insert(extra_headers_.begin(), extra_headers_.end());
    fake_.settings = {{"client_messages", "echo"}};
    host_ = fake_host(&fake_);
    module_ = tether_module_entry();
    ASSERT_EQ(module_->create_route_config(host_, nullptr, nullptr, &route_), TETHER_OK);
    ASSERT_EQ(module_->worker_init(host_, fake_.worker(), nullptr), TETHER_OK);
    ASSERT_EQ(module_->content(fake_.request(), nullptr, route_), TETHER_OK);
    ASSERT_NE(connection_.callbacks, nullptr);
  }
  void TearDown() override {
    fake_.close_now();  // the host's end of every connection; once
    EXPECT_EQ(connection_.on_close_calls, 1);
    module_->worker_exit(fake_.worker(), nullptr);
    module_->destroy_route_config(route_);
  }
  void read(const std::string& bytes) {
    connection_.callbacks->on_read(fake_.handle(), bytes.data(), bytes.size(), connection_.user);
  }

  std::map<std::string, std::string> extra_headers_;
  FakeHost fake_;
  FakeConnection& connection_ = fake_.connection;
  const tether_host* host_ = nullptr;
  const tether_module* module_ = nullptr;
  void* route_ = nullptr;
};

// The same module with a heartbeat on the connection: `interval` and `timeout` in ms.
class WebSocketHeartbeat : public WebSocketModule {
 protected:
  void SetUp() override {}
  void open_with_heartbeat(uint64_t interval, uint64_t timeout) {
    fake_.heartbeat_interval_ms = interval;
    fake_.heartbeat_timeout_ms = timeout;
    open();
  }
  // This sleep is the behaviour under test, not a wait for something done elsewhere: a heartbeat
  // of 1 ms is due after 1 ms of the module's monotonic clock rounded up to the wheel's tick, and
  // sleep_for waits at least two ticks of that clock (steady_clock).
  void let_the_heartbeat_come_due() { std::this_thread::sleep_for(std::chrono::milliseconds(2 * HEARTBEAT_TICK_MS)); }
};

}  // namespace

TEST_F(WebSocketModule, NoTimerRunsWhileNoConnectionHasAHeartbeat) {
  EXPECT_EQ(fake_.timer, nullptr);  // neither worker_init nor the upgrade of a connection without one
}

TEST_F(WebSocketHeartbeat, AQuietClientIsPinged) {
  open_with_heartbeat(1, 0);
  ASSERT_NE(fake_.timer, nullptr);
  let_the_heartbeat_come_due();
  fake_.timer(nullptr, fake_.timer_user);
  ASSERT_EQ(connection_.written.size(), 1u);
  EXPECT_EQ(connection_.written[0], std::string("\x89\x00", 2));
}

TEST_F(WebSocketHeartbeat, APingThatCannotBeWrittenDoesNotTouchTheFreedConnection) {
  open_with_heartbeat(1, 0);
  let_the_heartbeat_come_due();
  connection_.fail_writes = true;
  fake_.timer(nullptr, fake_.timer_user);  // ASan: on_close freed the connection inside the write
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(WebSocketHeartbeat, AClientSilentForTheTimeoutIsClosedWith1001) {
  open_with_heartbeat(0, 1);
  let_the_heartbeat_come_due();
  connection_.close_at_once = true;
  fake_.timer(nullptr, fake_.timer_user);
  ASSERT_FALSE(connection_.written.empty());
  EXPECT_EQ(connection_.written.back().substr(0, 4), std::string("\x88\x0e\x03\xe9", 4));  // close, 1001
  EXPECT_EQ(connection_.on_close_calls, 1);
}

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
  ASSERT_EQ(connection_.written.size(), 2u);  // the pong, then the close answer
  EXPECT_EQ(static_cast<std::uint8_t>(connection_.written[0][0]), 0x8A);
  EXPECT_EQ(static_cast<std::uint8_t>(connection_.written[1][0]), 0x88);
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(WebSocketModule, AProtocolErrorEndsParsingEvenWhenTheCloseIsImmediate) {
  connection_.close_at_once = true;
  read(frame(0x1, "unmasked", false) + frame(0x9, "late"));
  ASSERT_EQ(connection_.written.size(), 1u);
  EXPECT_EQ(static_cast<std::uint8_t>(connection_.written[0][0]), 0x88);
  EXPECT_EQ(connection_.written[0].substr(2, 2), "\x03\xea");  // 1002
}

TEST_F(WebSocketModule, AFailedProtocolErrorCloseIsTheLastThingDone) {
  connection_.fail_writes = true;
  read(frame(0x1, "\xff") + frame(0x9, "late"));
  EXPECT_EQ(connection_.writes, 1);
}

TEST_F(WebSocketModule, NothingIsReadAfterTheModuleClosed) {
  read(frame(0x8, ""));
  ASSERT_EQ(connection_.written.size(), 1u);
  read(frame(0x9, "after"));
  EXPECT_EQ(connection_.written.size(), 1u);
}

// ---- refresh messages (ABI 1.4)

namespace {
const std::string kRefresh = "{\"type\":\"refresh\",\"token\":\"t0k3n\"}";
std::string server_text(const std::string& payload) { return std::string("\x81") + static_cast<char>(payload.size()) + payload; }
}  // namespace

TEST_F(WebSocketModule, ARefreshMessageGoesToTheHostAndIsAnsweredNotEchoed) {
  read(frame(0x1, kRefresh));
  ASSERT_EQ(fake_.refreshes.size(), 1u);
  EXPECT_EQ(fake_.refreshes[0], "t0k3n");
  ASSERT_EQ(connection_.written.size(), 1u);
  EXPECT_EQ(connection_.written[0], server_text("{\"event\":\"refreshed\"}"));
}

TEST_F(WebSocketModule, ARefusedRefreshIsAnsweredRefreshFailed) {
  fake_.refresh_answer = TETHER_ERROR;
  read(frame(0x1, kRefresh));
  fake_.refresh_answer = TETHER_DECLINED;  // no module handles refresh: the same answer
  read(frame(0x1, kRefresh));
  ASSERT_EQ(connection_.written.size(), 2u);
  EXPECT_EQ(connection_.written[0], server_text("{\"event\":\"refresh_failed\"}"));
  EXPECT_EQ(connection_.written[1], connection_.written[0]);
}

TEST_F(WebSocketModule, ARefreshMessageInFragmentsIsStillOne) {
  read(frame(0x1, kRefresh.substr(0, 10), true, false) + frame(0x0, kRefresh.substr(10)));
  ASSERT_EQ(fake_.refreshes.size(), 1u);
  EXPECT_EQ(fake_.refreshes[0], "t0k3n");
}

// A message is a refresh message only whole: one that passed the bound on the way is echoed,
// even if what follows the bound looks like one.
TEST_F(WebSocketModule, AMessageOverTheRefreshBoundIsAnOrdinaryMessage) {
  std::string padding(9000, ' ');
  read(frame(0x1, padding, true, false) + frame(0x0, kRefresh));
  read(frame(0x1, padding + kRefresh));
  EXPECT_TRUE(fake_.refreshes.empty());
  ASSERT_EQ(connection_.written.size(), 2u);  // both echoed
  EXPECT_EQ(connection_.written[0].size(), 4 + padding.size() + kRefresh.size());
}

TEST_F(WebSocketModule, AHostOlderThanAbi14GetsRefreshMessagesEchoedLikeAnyOther) {
  ASSERT_EQ(module_->worker_init(fake_host_of_abi(&fake_, 3), fake_.worker(), nullptr), TETHER_OK);
  read(frame(0x1, kRefresh));
  EXPECT_TRUE(fake_.refreshes.empty());
  ASSERT_EQ(connection_.written.size(), 1u);
  EXPECT_EQ(connection_.written[0].substr(2), kRefresh);
}

TEST_F(WebSocketModule, AnExpiryClosesWith4001TokenExpired) {
  ASSERT_NE(connection_.callbacks->on_expired, nullptr);
  connection_.callbacks->on_expired(fake_.handle(), connection_.user);
  ASSERT_EQ(connection_.written.size(), 1u);
  EXPECT_EQ(connection_.written[0], std::string("\x88\x0f\x0f\xa1", 4) + "token expired");
  read(frame(0x1, kRefresh));  // too late: the module closed
  EXPECT_EQ(connection_.written.size(), 1u);
  EXPECT_TRUE(fake_.refreshes.empty());
}

// ---- permessage-deflate: compressed client messages

namespace {

// A client's compressed payload: raw deflate, sync flush, the 00 00 ff ff removed.
std::string compressed(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out(data.size() + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out - 4);
  deflateEnd(&z);
  return out;
}

class WebSocketModuleDeflate : public WebSocketModule {
 protected:
  WebSocketModuleDeflate() { extra_headers_ = {{"sec-websocket-extensions", "permessage-deflate; client_no_context_takeover"}}; }
};

}  // namespace

TEST_F(WebSocketModuleDeflate, ACompressedMessageIsInflatedAndEchoed) {
  std::string text = repeat("hello, deflate ", 20);
  read(frame(0x41, compressed(text)) + frame(0x41, compressed(text)));  // RSV1 + text
  ASSERT_EQ(connection_.written.size(), 2u);
  EXPECT_EQ(connection_.written[1].substr(4), text);  // 0x81, 126, two length bytes
}

TEST_F(WebSocketModuleDeflate, ACompressedRefreshMessageStillGoesToTheHost) {
  read(frame(0x41, compressed(kRefresh)));
  ASSERT_EQ(fake_.refreshes.size(), 1u);
  EXPECT_EQ(fake_.refreshes[0], "t0k3n");
}

TEST_F(WebSocketModuleDeflate, AFailedEchoOfACompressedMessageStopsParsingTheRestOfTheInput) {
  connection_.fail_writes = true;
  read(repeat(frame(0x41, compressed("hello")), 10));
  EXPECT_EQ(connection_.writes, 1);
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(WebSocketModuleDeflate, ATooBigInflatedMessageEndsParsingEvenWhenTheCloseIsImmediate) {
  connection_.close_at_once = true;
  // 64 KiB is the default max_message_size: 100 KiB of zeros, in one small frame, is over it.
  read(frame(0x42, compressed(std::string(100 * 1024, '\0'))) + frame(0x9, "late"));
  ASSERT_EQ(connection_.written.size(), 1u);
  EXPECT_EQ(connection_.written[0].substr(0, 4), "\x88\x1f\x03\xf1");  // close 1009
  EXPECT_EQ(connection_.on_close_calls, 1);
}
