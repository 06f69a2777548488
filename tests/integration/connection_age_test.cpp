// max_connection_age: a long-lived connection past its route's age gets the goodbye a drain
// gives (WebSocket 1001, an SSE retry hint and the end of the stream) at a random moment between
// 90 % and 100 % of the age, and its client resumes with nothing missed. Other routes' and plain
// HTTP connections are not touched.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/config_toml.h"
#include "support/http_client.h"
#include "support/publisher.h"
#include "support/resuming_subscriber.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;
using namespace std::chrono_literals;

namespace {

const std::string kServerExtra = built_modules_dir_toml();

// /ws/* and /sse/* live at most a second; /long/* (WebSocket) as long as it likes.
const std::string kAgedRoutes = modules_toml({"health", "websocket", "sse"}) + route_toml("/metrics", "health") +
                                route_toml("/pub/*", "publish") +
                                route_toml("/ws/*", "websocket", "max_connection_age = \"1s\"\n") +
                                route_toml("/sse/*", "sse", "max_connection_age = \"1s\"\n") +
                                route_toml("/long/*", "websocket");

}  // namespace

TEST(ConnectionAge, AWebSocketPastItsAgeGetsAGoodbyeBetweenNinetyAndAHundredPercentOfIt) {
  TetherServer server(1, kAgedRoutes, kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<WsClient>> aged;
  std::vector<std::chrono::steady_clock::time_point> opened;
  for (int i = 0; i < kClients; ++i) {
    aged.push_back(std::make_unique<WsClient>());
    opened.push_back(std::chrono::steady_clock::now());
    ASSERT_EQ(aged.back()->open(server.port(), "/ws/age"), 101);
  }
  WsClient unaged;
  ASSERT_EQ(unaged.open(server.port(), "/long/age"), 101);
  for (int i = 0; i < kClients; ++i) {
    EXPECT_EQ(aged[i]->read_close(3s), 1001) << "client " << i;
    auto lived = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - opened[i]);
    EXPECT_GE(lived.count(), 880) << "client " << i << " ended before 90 % of its age";
    EXPECT_LE(lived.count(), 1600) << "client " << i << " lived well past its age";
  }
  // A connection of a route without an age is still there, and answers.
  ASSERT_TRUE(unaged.send_raw(ws_frame(0x9, "still here?")));
  std::optional<WsFrame> pong = unaged.read_frame(2s);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xA);
}

// Clients that come back with their last id each time their connection ages miss nothing, over
// WebSocket and SSE, while messages are published all along.
TEST(ConnectionAge, ClientsThatResumeAfterEachGoodbyeMissNothing) {
  TetherServer server(2, kAgedRoutes, kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<std::unique_ptr<ResumingSubscriber>> subscribers;
  for (int i = 0; i < 3; ++i) {
    subscribers.push_back(std::make_unique<ResumingSubscriber>(ResumingSubscriber::Kind::websocket,
                                                               std::vector<int>{server.port()}, "aging"));
    subscribers.push_back(
        std::make_unique<ResumingSubscriber>(ResumingSubscriber::Kind::sse, std::vector<int>{server.port()}, "aging"));
  }
  for (const auto& s : subscribers) ASSERT_TRUE(s->wait_connected()) << "a subscriber did not connect";
  ASSERT_TRUE(wait_for_subscribers(server.port(), "aging", static_cast<long>(subscribers.size())));
  Publisher publisher(server.port());
  std::vector<std::string> published;
  auto end = std::chrono::steady_clock::now() + 2800ms;
  for (int i = 0; std::chrono::steady_clock::now() < end; ++i) {
    std::string id = publisher.send("aging", "m" + std::to_string(i));
    ASSERT_NE(id, "") << "publish " << i;
    published.push_back(id);
    std::this_thread::sleep_for(20ms);
  }
  for (const auto& s : subscribers) {
    ASSERT_TRUE(s->wait_for_data("m" + std::to_string(published.size() - 1), 5s)) << "the last message did not arrive";
    s->stop();
    EXPECT_EQ(s->ids(), published) << (s->kind() == ResumingSubscriber::Kind::websocket ? "WebSocket" : "SSE");
    EXPECT_EQ(s->gaps(), 0);
    EXPECT_GE(s->subscriptions(), 3) << "2.8 s of 1 s connections: at least two goodbyes";
  }
}
