// The Redis broker through the real binary when Redis fails: a redis-server killed (SIGKILL)
// and restarted while tether serves. Publishes in the outage are refused with 503 within
// command_timeout, subscribers stay connected, /readyz and tether_broker_up follow Redis, and
// afterwards every subscriber has every acknowledged message once, in order (Redis with an
// append-only file), or a gap notice (Redis without persistence lost the channel).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/config_toml.h"
#include "support/http_client.h"
#include "support/publisher.h"
#include "support/redis_server.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;
using namespace std::chrono_literals;

namespace {

const std::string kModulesDir = built_modules_dir_toml();
constexpr auto kCommandTimeout = 500ms;

std::string redis_config(const RedisServer& redis) {
  return modules_toml({"health", "websocket"}) + route_toml("/metrics", "health") + route_toml("/readyz", "health") +
         route_toml("/pub/*", "publish") + route_toml("/ws/*", "websocket") + R"(
[pubsub]
broker = "redis"
history_size = 1000

[pubsub.redis]
addresses = [")" + redis.address() + R"("]
prefix = "faults"
connect_timeout = "300ms"
command_timeout = "500ms"
)";
}

int readyz(int port, std::string* body = nullptr) {
  auto r = http_get(port, "/readyz");
  if (body) *body = r ? r->body : "";
  return r ? r->status : 0;
}

long broker_up(int port) {
  auto m = metrics(port);
  auto it = m.find("tether_broker_up");
  return it == m.end() ? -1 : it->second;
}

// One publish attempt as the publisher saw it.
struct Attempt {
  std::string data;
  int status = 0;
  std::string id;  // status 200
  std::chrono::milliseconds took{0};
};

// Publishes "m0", "m1", ... on fresh connections until stopped, recording each answer.
class BackgroundPublisher {
 public:
  BackgroundPublisher(int port, std::string channel) : thread_([this, port, channel] {
      for (int i = 0; !stop_; ++i) {
        Attempt a{"m" + std::to_string(i)};
        auto start = std::chrono::steady_clock::now();
        auto [status, body] = publish(port, channel, a.data);
        a.took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
        a.status = status;
        if (status == 200) a.id = Publisher::json_field(body, "id");
        attempts_.push_back(a);
        std::this_thread::sleep_for(5ms);  // a steady publisher, not a flood
      }
    }) {}
  ~BackgroundPublisher() { finish(); }
  // Stops and returns every attempt, in order.
  const std::vector<Attempt>& finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return attempts_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<Attempt> attempts_;
  std::thread thread_;
};

// What one subscriber received until `expected_last` (or a timeout): message data in order, and
// the gap notices among them as "GAP".
std::vector<std::string> read_until(WsClient& client, const std::string& expected_last, std::chrono::milliseconds timeout) {
  std::vector<std::string> got;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto m = client.read_message(200ms);
    if (!m) continue;
    if (m->find("\"event\":\"gap\"") != std::string::npos) {
      got.push_back("GAP");
      continue;
    }
    got.push_back(Publisher::json_field(*m, "data"));
    if (got.back() == expected_last) break;
  }
  return got;
}

// Opens `n` WebSocket subscribers on /ws/<channel> and waits until each worker that holds some
// of them has subscribed in Redis.
std::vector<std::unique_ptr<WsClient>> subscribe(int port, const RedisServer& redis, const std::string& channel, int n) {
  std::vector<std::unique_ptr<WsClient>> subscribers;
  for (int i = 0; i < n; ++i) {
    subscribers.push_back(std::make_unique<WsClient>());
    EXPECT_EQ(subscribers.back()->open(port, "/ws/" + channel), 101);
  }
  EXPECT_TRUE(wait_until([&] {
    auto m = metrics(port);
    long w0 = m["tether_subscribers{worker=\"0\"}"], w1 = m["tether_subscribers{worker=\"1\"}"];
    std::string workers = std::to_string((w0 > 0) + (w1 > 0));
    return w0 + w1 == n && redis.command({"PUBSUB", "NUMSUB", "faults:{" + channel + "}"}) == "faults:{" + channel + "} " + workers;
  }, 5s));
  return subscribers;
}

}  // namespace

TEST(RedisFaults, WhileRedisIsDownPublishesAre503WithinTheCommandTimeoutAndReadinessFollows) {
  RedisServer redis(true);
  ASSERT_TRUE(redis.start());
  TetherServer server(2, redis_config(redis), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(wait_until([&] { return readyz(server.port()) == 200 && broker_up(server.port()) == 1; }, 5s));
  redis.kill();
  std::string why;
  ASSERT_TRUE(wait_until([&] { return readyz(server.port(), &why) == 503; }, 5s));
  EXPECT_NE(why.find("redis " + redis.address()), std::string::npos) << why;
  EXPECT_EQ(broker_up(server.port()), 0);
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    auto [status, body] = publish(server.port(), "news", "lost");
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(status, 503) << body;
    EXPECT_NE(body.find("\"error\""), std::string::npos) << body;
    EXPECT_LE(took, kCommandTimeout + 300ms);
  }
  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(wait_until([&] { return readyz(server.port()) == 200 && broker_up(server.port()) == 1; }, 10s));
  EXPECT_EQ(publish(server.port(), "news", "back").first, 200);
  // One line per change of availability and worker, not one per reconnect attempt.
  EXPECT_EQ(count_occurrences(server.error_log(), "redis broker: unavailable"), 2) << server.error_log();
  auto m = metrics(server.port());
  EXPECT_GE(m["tether_broker_errors_total"], 5);
  EXPECT_GE(m["tether_broker_reconnects_total"], 2);
}

TEST(RedisFaults, WithAnAppendOnlyFileEverySubscriberEndsWithEveryAcknowledgedMessageOnceInOrder) {
  RedisServer redis(true);
  ASSERT_TRUE(redis.start());
  TetherServer server(2, redis_config(redis), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(wait_until([&] { return readyz(server.port()) == 200; }, 5s));
  auto subscribers = subscribe(server.port(), redis, "news", 6);

  BackgroundPublisher publisher(server.port(), "news");
  std::this_thread::sleep_for(300ms);  // publishing runs before, during and after the outage
  redis.kill();
  std::this_thread::sleep_for(700ms);
  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(wait_until([&] { return readyz(server.port()) == 200; }, 10s));
  std::this_thread::sleep_for(300ms);
  const std::vector<Attempt>& attempts = publisher.finish();

  std::vector<std::string> acknowledged;
  std::set<std::string> attempted;
  int refused = 0;
  for (const Attempt& a : attempts) {
    attempted.insert(a.data);
    if (a.status == 200) acknowledged.push_back(a.data);
    else {
      ++refused;
      EXPECT_EQ(a.status, 503) << a.data;
      EXPECT_LE(a.took, kCommandTimeout + 300ms) << a.data;
    }
  }
  ASSERT_GT(refused, 0);  // the outage was seen
  ASSERT_GT(acknowledged.size(), 20u);
  for (auto& s : subscribers) {
    std::vector<std::string> got = read_until(*s, acknowledged.back(), 10s);
    // Every acknowledged message, once, in publish order. A refused one may be there too (Redis
    // ran the script and died before answering), never twice, never out of order.
    std::size_t next = 0;
    std::set<std::string> seen;
    for (const std::string& data : got) {
      EXPECT_NE(data, "GAP");
      EXPECT_TRUE(seen.insert(data).second) << data << " twice";
      EXPECT_TRUE(attempted.count(data)) << data;
      if (next < acknowledged.size() && data == acknowledged[next]) ++next;
    }
    EXPECT_EQ(next, acknowledged.size()) << "missing " << (next < acknowledged.size() ? acknowledged[next] : "");
  }
}

TEST(RedisFaults, ARedisRestartedWithoutPersistenceGivesSubscribersAGapThenNewMessages) {
  RedisServer redis(false);
  ASSERT_TRUE(redis.start());
  TetherServer server(2, redis_config(redis), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(wait_until([&] { return readyz(server.port()) == 200; }, 5s));
  auto subscribers = subscribe(server.port(), redis, "news", 4);
  Publisher publisher(server.port());
  std::string before = publisher.send("news", "before");
  ASSERT_FALSE(before.empty());
  for (auto& s : subscribers) ASSERT_EQ(read_until(*s, "before", 5s), std::vector<std::string>{"before"});
  ASSERT_TRUE(redis.restart());  // every key is gone
  ASSERT_TRUE(wait_until([&] { return readyz(server.port()) == 200; }, 10s));
  std::string after;
  ASSERT_TRUE(wait_until([&] { return !(after = publish(server.port(), "news", "after").second).empty() &&
                                      after.find("\"id\"") != std::string::npos; }, 5s));
  EXPECT_NE(Publisher::json_field(after, "id").substr(0, 8), before.substr(0, 8));  // a new epoch
  for (auto& s : subscribers) {
    EXPECT_EQ(read_until(*s, "after", 5s), (std::vector<std::string>{"GAP", "after"}));
  }
}
