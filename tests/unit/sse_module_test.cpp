// The sse module against a fake host that behaves as badly as the ABI ever allowed (see
// fake_module_host.h): whatever the host, a failed write is the last thing the module does with
// a client, a client is forgotten exactly once, and the heartbeat wheel never walks a freed one.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include "fake_module_host.h"
#include "modules/common/heartbeat_wheel.h"

// sse.c is compiled into the unit tests with its entry renamed (websocket.c has the real one).
extern "C" const tether_module* sse_module_entry(void);

using namespace tether::test;

namespace {

// "retry: <ms>\n\n" with <ms> in [low, high]: the hints are drawn at random in a range.
bool retry_between(const std::string& text, unsigned long low, unsigned long high) {
  if (text.rfind("retry: ", 0) != 0 || text.size() < 10 || text.substr(text.size() - 2) != "\n\n") return false;
  std::string digits = text.substr(7, text.size() - 9);
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  unsigned long ms = std::stoul(digits);
  return ms >= low && ms <= high;
}

class SseModule : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_.target = "/sse/feed";
    fake_.route_length = 5;
    fake_.heartbeat_interval_ms = 1;
    host_ = fake_host(&fake_);
    module_ = sse_module_entry();
    ASSERT_EQ(module_->worker_init(host_, fake_.worker(), nullptr), TETHER_OK);
    ASSERT_EQ(module_->content(fake_.request(), nullptr, nullptr), TETHER_OK);
    ASSERT_NE(connection_.callbacks, nullptr);
    ASSERT_EQ(connection_.written.size(), 1u);
    EXPECT_TRUE(retry_between(connection_.written[0], 2000, 3000)) << connection_.written[0];
  }
  void TearDown() override {
    fake_.close_now();  // the host's end of a connection that is still open
    EXPECT_LE(connection_.on_close_calls, 1);
    module_->worker_exit(fake_.worker(), nullptr);
  }

  FakeHost fake_;
  FakeConnection& connection_ = fake_.connection;
  const tether_host* host_ = nullptr;
  const tether_module* module_ = nullptr;
};

}  // namespace

TEST_F(SseModule, AGoodbyeThatCannotBeWrittenLeavesTheForgettingToOnClose) {
  connection_.fail_writes = true;
  connection_.callbacks->on_shutdown(fake_.handle(), connection_.user);
  EXPECT_EQ(connection_.on_close_calls, 1);
  EXPECT_FALSE(connection_.ended);
}

TEST_F(SseModule, AGoodbyeEndsTheStreamAndForgetsTheClientItself) {
  connection_.callbacks->on_shutdown(fake_.handle(), connection_.user);
  ASSERT_EQ(connection_.written.size(), 2u);
  EXPECT_TRUE(retry_between(connection_.written[1], 250, 1250)) << connection_.written[1];
  EXPECT_TRUE(connection_.ended);
  EXPECT_EQ(connection_.on_close_calls, 0);
}

TEST_F(SseModule, AHeartbeatThatCannotBeWrittenDoesNotWalkTheFreedClient) {
  ASSERT_NE(fake_.timer, nullptr);
  // This sleep is the behaviour under test, not a wait for something done elsewhere: the
  // heartbeat is due once the module's monotonic clock has passed the interval (1 ms) since the
  // stream began, rounded up to the wheel's tick, and sleep_for waits at least two ticks of that
  // clock (steady_clock).
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * HEARTBEAT_TICK_MS));
  connection_.fail_writes = true;
  fake_.timer(nullptr, fake_.timer_user);
  EXPECT_EQ(connection_.writes, 2);  // the retry hint, then the heartbeat that failed
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(SseModule, AnOverflowGoodbyeThatCannotBeWrittenIsTheLastThingDone) {
  connection_.fail_writes = true;
  connection_.close_at_once = true;
  connection_.callbacks->on_overflow(fake_.handle(), connection_.user);
  EXPECT_EQ(connection_.on_close_calls, 1);
}

TEST_F(SseModule, AnExpiryEndsTheStreamWithAnExpiredEventAndForgetsTheClientItself) {
  ASSERT_NE(connection_.callbacks->on_expired, nullptr);
  connection_.callbacks->on_expired(fake_.handle(), connection_.user);
  ASSERT_EQ(connection_.written.size(), 2u);
  EXPECT_EQ(connection_.written[1], "event: expired\ndata: {\"reason\":\"token expired\"}\n\n");
  EXPECT_TRUE(connection_.ended);
  EXPECT_EQ(connection_.on_close_calls, 0);
}

TEST_F(SseModule, AnExpiryGoodbyeThatCannotBeWrittenLeavesTheForgettingToOnClose) {
  connection_.fail_writes = true;
  connection_.callbacks->on_expired(fake_.handle(), connection_.user);
  EXPECT_EQ(connection_.on_close_calls, 1);
  EXPECT_FALSE(connection_.ended);
}
