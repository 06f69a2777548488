// max_accept_rate: a worker lets that many new connections a second through; the requests of
// the others are answered 503 with Retry-After (1 to 3 s) and their connections closed, at once:
// never a stall. A reconnect storm (every subscriber back at the same moment) then comes back
// over a few seconds, and every subscriber resumes with nothing missed.
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
#include "support/wait_until.h"

using namespace tether::test;
using namespace std::chrono_literals;

namespace {

const std::string kServerExtra = built_modules_dir_toml();

// The history holds every message of a test, so a late resume never meets its end.
std::string limits(int rate) {
  return "\n[limits]\nmax_accept_rate = " + std::to_string(rate) + "\n\n[pubsub]\nhistory_size = 10000\n";
}

const std::string kRoutes = modules_toml({"health", "websocket"}) + route_toml("/metrics", "health") +
                            route_toml("/pub/*", "publish") + route_toml("/ws/*", "websocket");

// A metric, read once a connection is let through (a read over the rate is told 503 too).
long metric_when_admitted(int port, const std::string& name) {
  long value = -1;
  wait_until([&] {
    auto page = metrics(port);
    if (page.empty()) return false;
    value = page[name];
    return true;
  }, 5s);
  return value;
}

}  // namespace

TEST(AcceptRate, ConnectionsOverTheRateGet503WithRetryAfterAtOnceAndComeInLater) {
  TetherServer server(1, kRoutes + limits(20), kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  constexpr int kClients = 60;
  std::vector<std::unique_ptr<HttpClient>> clients;
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<HttpClient>());
    ASSERT_TRUE(clients.back()->connect(server.port()));
  }
  int served = 0, refused = 0;
  for (auto& c : clients) {
    auto answer = c->get("/");
    ASSERT_TRUE(answer) << "a connection over the rate got no answer";
    if (answer->status == 200) {
      ++served;
      continue;
    }
    EXPECT_EQ(answer->status, 503);
    std::string retry_after = answer->header("retry-after");
    EXPECT_TRUE(retry_after == "1" || retry_after == "2" || retry_after == "3") << "Retry-After: " << retry_after;
    EXPECT_EQ(answer->header("connection"), "close");
    EXPECT_TRUE(c->wait_closed(2s));
    ++refused;
  }
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  // 20 at once (less what the start's readiness checks took), plus 20 a second of refill.
  EXPECT_GE(served, 17);
  EXPECT_LE(served, 20 + 1 + static_cast<int>(took.count() * 20 / 1000)) << "in " << took.count() << " ms";
  EXPECT_EQ(served + refused, kClients);
  EXPECT_LT(took, 3s) << "the refused waited: a stall";
  std::this_thread::sleep_for(1100ms);  // the bucket fills again
  auto later = http_get(server.port(), "/");
  ASSERT_TRUE(later);
  EXPECT_EQ(later->status, 200);
  EXPECT_EQ(metric_when_admitted(server.port(), "tether_connections_over_accept_rate_total"), refused);
}

// All subscribers leave and come back at the same moment while messages are published; with
// max_accept_rate the storm is admitted over a few seconds (the rest told 503 and retrying),
// and every subscriber ends with every message once, in order, without a gap.
TEST(AcceptRate, AReconnectStormComesBackAtTheRateAndEverySubscriberResumesWithNothingMissed) {
  TetherServer server(2, kRoutes + limits(30), kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  Publisher publisher(server.port());  // one keep-alive connection, before the rate is spent
  ASSERT_NE(publisher.send("storm", "warm-up"), "");
  constexpr int kSubscribers = 120;  // twice what two buckets of 30 hold
  std::vector<std::unique_ptr<ResumingSubscriber>> subscribers;
  for (int i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(std::make_unique<ResumingSubscriber>(ResumingSubscriber::Kind::websocket,
                                                               std::vector<int>{server.port()}, "storm"));
  }
  for (const auto& s : subscribers) ASSERT_TRUE(s->wait_connected(10s)) << "a subscriber did not connect";
  ASSERT_TRUE(wait_for_subscribers(server.port(), "storm", kSubscribers, 10s));
  std::vector<std::string> published;
  auto publish_for = [&](std::chrono::milliseconds span) {
    auto end = std::chrono::steady_clock::now() + span;
    for (int i = static_cast<int>(published.size()); std::chrono::steady_clock::now() < end; ++i) {
      std::string id = publisher.send("storm", "m" + std::to_string(i));
      ASSERT_NE(id, "") << "publish " << i;
      published.push_back(id);
      std::this_thread::sleep_for(10ms);
    }
  };
  publish_for(300ms);
  long refused_before = metric_when_admitted(server.port(), "tether_connections_over_accept_rate_total");
  for (auto& s : subscribers) s->hop();  // the storm: everyone at once
  publish_for(1500ms);
  for (const auto& s : subscribers) EXPECT_TRUE(wait_until([&] { return s->subscriptions() >= 2; }, 15s)) << "not back";
  publish_for(200ms);
  EXPECT_GT(metric_when_admitted(server.port(), "tether_connections_over_accept_rate_total"), refused_before)
      << "120 at once over a rate of 2 x 30: some must have been told to come back";
  for (const auto& s : subscribers) {
    ASSERT_TRUE(s->wait_for_data("m" + std::to_string(published.size() - 1), 10s)) << "the last message did not arrive";
    s->stop();
    EXPECT_EQ(s->ids(), published);
    EXPECT_EQ(s->gaps(), 0);
  }
}
