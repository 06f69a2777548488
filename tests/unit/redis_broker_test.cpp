// The Redis broker against a real redis-server (tests/integration/support/redis_server.h):
// brokers on one libuv loop stand for nodes of a cluster, each with its own connections; the
// test drives the loop, and reads and writes Redis directly where it plays a fault.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/holding_relay.h"
#include "support/redis_server.h"
#include "core/wall_clock.h"
#include "worker/pubsub/redis_broker.h"
#include "worker/pubsub/redis_scripts.h"
#include "worker/pubsub/redis_shard.h"

#include "recording_delivery.h"

using namespace tether;
using namespace std::chrono_literals;
using tether::test::HoldingRelay;
using tether::test::RedisServer;

namespace {

using test::RecordingDelivery;

std::string line(std::string_view channel, MessageId id, std::string_view data) {
  return std::string(channel) + " " + id.to_string() + " " + std::string(data);
}

// How many times Redis ran `command` since it started (INFO commandstats).
int calls_of(const RedisServer& redis, const std::string& command) {
  std::string stats = redis.command({"INFO", "commandstats"});
  std::string key = "cmdstat_" + command + ":calls=";
  std::size_t at = stats.find(key);
  return at == std::string::npos ? 0 : std::stoi(stats.substr(at + key.size()));
}

class RedisBrokerTest : public ::testing::Test {
 protected:
  RedisBrokerTest() {
    uv_loop_init(&loop_);
    uv_timer_init(&loop_, &tick_);
  }
  ~RedisBrokerTest() override {
    nodes_.clear();
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks
    EXPECT_EQ(uv_loop_close(&loop_), 0);
  }

  struct Node {
    std::unique_ptr<RedisBroker> broker;
    RecordingDelivery delivery;
  };

  Node& add_node(std::vector<const RedisServer*> shards = {}) {
    if (shards.empty()) shards.push_back(&redis_);
    std::vector<std::string> addresses;
    for (const RedisServer* r : shards) addresses.push_back(r->address());
    return add_node_at(addresses);
  }

  // A node on Redis servers at `addresses` ("host:port"), e.g. behind a HoldingRelay.
  Node& add_node_at(const std::vector<std::string>& addresses) {
    RedisBrokerConfig config = config_;
    for (const std::string& a : addresses) config.addresses.push_back(*RedisAddress::parse(a));
    auto node = std::make_unique<Node>();
    node->broker = std::make_unique<RedisBroker>(&loop_, config);
    node->broker->set_delivery(&node->delivery);
    nodes_.push_back(std::move(node));
    return *nodes_.back();
  }

  // A publish to "news" by the publish script itself, as another node runs it (here while the
  // loop stands still): a batch of one; its answer "<epoch>:<offset>".
  std::string publish_by_script(const std::string& data, const std::string& kept = "100",
                                const std::string& ttl = "300000", const std::string& meta_ttl = "86700000") {
    return redis_.command({"EVAL", redis_script::kPublish, "2", "test:{news}:meta", "test:{news}:history", kept, ttl,
                           meta_ttl, std::to_string(unix_time_ms()), "test:{news}", data});
  }

  // Turns of the loop (woken every 5 ms) until `done`, or `timeout` (then false).
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = 5s) {
    uv_timer_start(&tick_, [](uv_timer_t*) {}, 5, 5);
    auto end = std::chrono::steady_clock::now() + timeout;
    bool held = done();
    while (!held && std::chrono::steady_clock::now() < end) {
      uv_run(&loop_, UV_RUN_ONCE);
      held = done();
    }
    uv_timer_stop(&tick_);
    return held;
  }

  PublishResult publish(Node& node, std::string_view channel, std::string_view data) {
    std::optional<PublishResult> result;
    node.broker->publish(channel, data, [&](const PublishResult& r) { result = r; });
    EXPECT_FALSE(result);  // never inside the call that asked
    EXPECT_TRUE(run_until([&] { return result.has_value(); }));
    return result.value_or(PublishResult{BrokerError::unavailable, {}});
  }

  struct History {
    HistoryResult::Status status = HistoryResult::Status::unavailable;
    std::vector<std::string> messages;
  };
  History history(Node& node, std::string_view channel, MessageId since) {
    std::optional<History> got;
    node.broker->history(channel, since, [&](const HistoryResult& r) {
      History h{r.status, {}};
      for (const BrokerMessage& m : r.messages) h.messages.push_back(line(m.channel, m.id, m.data));
      got = h;
    });
    EXPECT_TRUE(run_until([&] { return got.has_value(); }));
    return got.value_or(History{});
  }

  // Subscribes `node` to `channel` and waits until Redis counts the subscription.
  void subscribe(Node& node, const std::string& channel, int expected_subscribers = 1) {
    node.broker->set_subscribers(channel, 1);
    ASSERT_TRUE(run_until([&] {
      return redis_.command({"PUBSUB", "NUMSUB", "test:{" + channel + "}"}) ==
             "test:{" + channel + "} " + std::to_string(expected_subscribers);
    }));
  }

  // The usual cast: node a publishes, node b has a subscriber to "news" (Redis counts it).
  std::pair<Node&, Node&> publisher_and_subscriber() {
    Node& a = add_node();
    Node& b = add_node();
    subscribe(b, "news");
    return {a, b};
  }

  // Waits until `node` delivered `expected` (a line()).
  bool wait_for_line(Node& node, const std::string& expected) {
    return run_until([&] {
      const auto& m = node.delivery.messages;
      return std::find(m.begin(), m.end(), expected) != m.end();
    });
  }

  bool all_up() {
    for (auto& node : nodes_)
      if (!node->broker->up()) return false;
    return true;
  }

  RedisServer redis_{true};
  bool started_ = redis_.start();
  RedisBrokerConfig config_{{}, "test", "", "", 0, 1000ms, 1000ms, 100, 300'000ms};
  uv_loop_t loop_{};
  uv_timer_t tick_{};
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace

TEST_F(RedisBrokerTest, APublishIsAnsweredWithIncreasingOffsetsInTheChannelsEpoch) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  PublishResult first = publish(node, "news", "one"), second = publish(node, "news", "two");
  ASSERT_EQ(first.error, BrokerError::none);
  ASSERT_EQ(second.error, BrokerError::none);
  EXPECT_NE(first.id.epoch, 0u);
  EXPECT_EQ(second.id.epoch, first.id.epoch);
  EXPECT_EQ(first.id.sequence, 1u);
  EXPECT_EQ(second.id.sequence, 2u);
  EXPECT_EQ(redis_.command({"HGET", "test:{news}:meta", "top"}), "2");
  EXPECT_EQ(redis_.command({"XLEN", "test:{news}:history"}), "2");
  EXPECT_EQ(publish(node, "other", "x").id.sequence, 1u);  // offsets are per channel
}

TEST_F(RedisBrokerTest, AnotherNodeGetsEveryMessageInOrderWithTheSameIds) {
  ASSERT_TRUE(started_);
  auto [a, b] = publisher_and_subscriber();
  std::vector<std::string> published;
  for (int i = 0; i < 20; ++i) {
    std::string data = "m" + std::to_string(i);
    // Alternating nodes, several in flight at once.
    Node& from = i % 2 ? a : b;
    from.broker->publish("news", data, [&published, data](const PublishResult& r) {
      published.push_back(line("news", r.id, data));
    });
  }
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 20 && published.size() == 20; }));
  std::sort(published.begin(), published.end(), [](const std::string& x, const std::string& y) {
    return MessageId::parse(x.substr(5, x.find(' ', 5) - 5))->sequence < MessageId::parse(y.substr(5, y.find(' ', 5) - 5))->sequence;
  });
  EXPECT_EQ(b.delivery.messages, published);
  EXPECT_GE(b.delivery.batches, 1);
  EXPECT_TRUE(a.delivery.messages.empty());  // a has no subscriber: Redis sends it nothing
}

TEST_F(RedisBrokerTest, InterestChangesOfOneLoopTurnAreOneSubscribeAndOneUnsubscribe) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  int subscribes = calls_of(redis_, "subscribe"), unsubscribes = calls_of(redis_, "unsubscribe");
  for (const char* channel : {"a", "b", "c"}) node.broker->set_subscribers(channel, 1);
  node.broker->set_subscribers("a", 2);  // more subscribers: nothing to tell Redis
  ASSERT_TRUE(run_until([&] { return redis_.command({"PUBSUB", "NUMSUB", "test:{c}"}) == "test:{c} 1"; }));
  EXPECT_EQ(calls_of(redis_, "subscribe"), subscribes + 1);
  for (const char* channel : {"a", "b", "c"}) node.broker->set_subscribers(channel, 0);
  ASSERT_TRUE(run_until([&] { return redis_.command({"PUBSUB", "NUMSUB", "test:{c}"}) == "test:{c} 0"; }));
  EXPECT_EQ(calls_of(redis_, "unsubscribe"), unsubscribes + 1);
}

TEST_F(RedisBrokerTest, HistoryAfterSinceIsExactlyTheMissedMessages) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  std::vector<MessageId> ids;
  for (const char* data : {"m1", "m2", "m3", "m4"}) ids.push_back(publish(a, "news", data).id);
  Node& b = add_node();  // another node, as a client that reconnects elsewhere
  History h = history(b, "news", ids[1]);
  EXPECT_EQ(h.status, HistoryResult::Status::complete);
  EXPECT_EQ(h.messages, (std::vector<std::string>{line("news", ids[2], "m3"), line("news", ids[3], "m4")}));
  History none = history(b, "news", ids[3]);
  EXPECT_EQ(none.status, HistoryResult::Status::complete);
  EXPECT_TRUE(none.messages.empty());
}

TEST_F(RedisBrokerTest, ASinceOlderThanTheStreamHoldsIsAGap) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  std::vector<MessageId> ids;
  for (const char* data : {"m1", "m2", "m3", "m4"}) ids.push_back(publish(node, "news", data).id);
  ASSERT_EQ(redis_.command({"XTRIM", "test:{news}:history", "MAXLEN", "2"}), "2");  // m3, m4 remain
  History h = history(node, "news", ids[0]);
  EXPECT_EQ(h.status, HistoryResult::Status::gap);
  EXPECT_EQ(h.messages, (std::vector<std::string>{line("news", ids[2], "m3"), line("news", ids[3], "m4")}));
  EXPECT_EQ(history(node, "news", ids[1]).status, HistoryResult::Status::complete);  // m3 on is all there
}

TEST_F(RedisBrokerTest, AFlushedRedisStartsANewEpochAndAnOldSinceGetsAGap) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  MessageId old = publish(node, "news", "before").id;
  ASSERT_EQ(redis_.command({"FLUSHALL"}), "OK");
  MessageId fresh = publish(node, "news", "after").id;
  EXPECT_NE(fresh.epoch, old.epoch);
  EXPECT_EQ(fresh.sequence, 1u);
  History h = history(node, "news", old);
  EXPECT_EQ(h.status, HistoryResult::Status::gap);
  EXPECT_EQ(h.messages, (std::vector<std::string>{line("news", fresh, "after")}));
}

// Live subscribers, not only resuming ones, hear that messages are gone: once, then the new
// epoch's messages follow from its first.
TEST_F(RedisBrokerTest, ANewEpochTellsLiveSubscribersOfTheGapOnce) {
  ASSERT_TRUE(started_);
  auto [a, b] = publisher_and_subscriber();
  MessageId m1 = publish(a, "news", "m1").id;
  MessageId m2 = publish(a, "news", "m2").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  ASSERT_EQ(redis_.command({"FLUSHALL"}), "OK");  // as a Redis restarted without persistence
  MessageId m3 = publish(a, "news", "m3").id;
  MessageId m4 = publish(a, "news", "m4").id;
  ASSERT_NE(m3.epoch, m1.epoch);
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 5; }));
  EXPECT_EQ(b.delivery.messages, (std::vector<std::string>{line("news", m1, "m1"), line("news", m2, "m2"),
                                                           "news GAP after " + m2.to_string(), line("news", m3, "m3"),
                                                           line("news", m4, "m4")}));
}

// Killed without persistence: the resubscribed node finds the channel gone and says so at
// once, before anything new is published; what is published next comes whole.
TEST_F(RedisBrokerTest, ARedisRestartedWithoutItsDataGivesLiveSubscribersAGap) {
  RedisServer volatile_redis(false);
  ASSERT_TRUE(volatile_redis.start());
  Node& a = add_node({&volatile_redis});
  Node& b = add_node({&volatile_redis});
  b.broker->set_subscribers("news", 1);
  ASSERT_TRUE(run_until([&] { return volatile_redis.command({"PUBSUB", "NUMSUB", "test:{news}"}) == "test:{news} 1"; }));
  MessageId m1 = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  ASSERT_TRUE(volatile_redis.restart());
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  EXPECT_EQ(b.delivery.messages.back(), "news GAP after " + m1.to_string());
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  MessageId m2 = publish(a, "news", "m2").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 3; }));
  EXPECT_EQ(b.delivery.messages.back(), line("news", m2, "m2"));
  EXPECT_NE(m2.epoch, m1.epoch);
}

// A subscriber that has had no message yet still hears of the loss: the node read where the
// channel stood when it subscribed.
TEST_F(RedisBrokerTest, ARedisRestartedWithoutItsDataGivesAGapEvenBeforeTheFirstMessage) {
  RedisServer volatile_redis(false);
  ASSERT_TRUE(volatile_redis.start());
  Node& a = add_node({&volatile_redis});
  MessageId m1 = publish(a, "news", "m1").id;
  Node& b = add_node({&volatile_redis});
  b.broker->set_subscribers("news", 1);
  ASSERT_TRUE(run_until([&] { return volatile_redis.command({"PUBSUB", "NUMSUB", "test:{news}"}) == "test:{news} 1"; }));
  ASSERT_TRUE(run_until([&] { return calls_of(volatile_redis, "evalsha") + calls_of(volatile_redis, "eval") >= 2; }));
  ASSERT_TRUE(volatile_redis.restart());
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  EXPECT_EQ(b.delivery.messages.back(), "news GAP after " + m1.to_string());
}

// Expired history (a quiet channel) keeps its epoch: no false gap when it speaks again.
TEST_F(RedisBrokerTest, TheChannelsEpochOutlivesItsHistory) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  MessageId m1 = publish(node, "news", "m1").id;
  EXPECT_GT(std::stoll(redis_.command({"PTTL", "test:{news}:meta"})), 300'000);
  EXPECT_LE(std::stoll(redis_.command({"PTTL", "test:{news}:history"})), 300'000);
  ASSERT_EQ(redis_.command({"DEL", "test:{news}:history"}), "1");  // as if it expired
  MessageId m2 = publish(node, "news", "m2").id;
  EXPECT_EQ(m2.epoch, m1.epoch);
  EXPECT_EQ(m2.sequence, 2u);
}

TEST_F(RedisBrokerTest, NoHistoryKeepsNoStreamEntries) {
  ASSERT_TRUE(started_);
  config_.history_ttl = 0ms;
  Node& node = add_node();
  publish(node, "news", "m1");
  publish(node, "news", "m2");
  EXPECT_EQ(redis_.command({"XLEN", "test:{news}:history"}), "0");
  EXPECT_EQ(history(node, "news", MessageId{}).messages.size(), 0u);
}

TEST_F(RedisBrokerTest, AMessagePubSubLostIsReadFromTheStreamBeforeTheNextOne) {
  ASSERT_TRUE(started_);
  auto [a, b] = publisher_and_subscriber();
  MessageId first = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  // m2 is sequenced and stored as the script would, but never PUBLISHed: a message pub/sub lost.
  ASSERT_EQ(redis_.command({"HINCRBY", "test:{news}:meta", "top", "1"}), "2");
  ASSERT_NE(redis_.command({"XADD", "test:{news}:history", "2-0", "t", "1", "d", "m2"}).find("2-0"), std::string::npos);
  MessageId third = publish(a, "news", "m3").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 3; }));
  EXPECT_EQ(b.delivery.messages, (std::vector<std::string>{line("news", first, "m1"), line("news", {first.epoch, 2}, "m2"),
                                                           line("news", third, "m3")}));
  EXPECT_EQ(b.broker->counters().recovered, 1u);
  EXPECT_EQ(b.broker->counters().lost, 0u);
}

TEST_F(RedisBrokerTest, AResumeOnASubscribedNodeNeitherRepeatsNorMissesLiveMessages) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  Node& b = add_node();
  MessageId since = publish(a, "news", "m1").id;
  subscribe(b, "news");
  // Publishes race with the resume: whatever b delivered before the reply is in it, the rest
  // comes after it, each once.
  for (int i = 2; i <= 6; ++i) a.broker->publish("news", "m" + std::to_string(i), nullptr);
  std::optional<std::vector<std::string>> resumed;
  std::size_t delivered_before_reply = 0;
  b.broker->history("news", since, [&](const HistoryResult& r) {
    delivered_before_reply = b.delivery.messages.size();
    std::vector<std::string> got;
    for (const BrokerMessage& m : r.messages) got.push_back(line(m.channel, m.id, m.data));
    resumed = got;
  });
  auto ends_with_m6 = [](const std::vector<std::string>& v) { return !v.empty() && v.back().ends_with(" m6"); };
  ASSERT_TRUE(run_until([&] { return resumed && (ends_with_m6(*resumed) || ends_with_m6(b.delivery.messages)); }));
  std::vector<std::string> seen = *resumed;
  seen.insert(seen.end(), b.delivery.messages.begin() + static_cast<long>(delivered_before_reply), b.delivery.messages.end());
  std::vector<std::string> expected;
  for (std::uint64_t i = 2; i <= 6; ++i) expected.push_back(line("news", {since.epoch, i}, "m" + std::to_string(i)));
  EXPECT_EQ(seen, expected);
}

TEST_F(RedisBrokerTest, AfterScriptFlushPublishesStillWork) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  EXPECT_EQ(publish(node, "news", "m1").error, BrokerError::none);
  ASSERT_EQ(redis_.command({"SCRIPT", "FLUSH"}), "OK");
  PublishResult after = publish(node, "news", "m2");  // NOSCRIPT, then EVAL
  EXPECT_EQ(after.error, BrokerError::none);
  EXPECT_EQ(after.id.sequence, 2u);
  EXPECT_EQ(publish(node, "news", "m3").id.sequence, 3u);
}

TEST_F(RedisBrokerTest, WithRedisKilledAPublishIsUnavailableWithinTheCommandTimeout) {
  ASSERT_TRUE(started_);
  config_.command_timeout = 300ms;
  Node& node = add_node();
  ASSERT_EQ(publish(node, "news", "m1").error, BrokerError::none);
  redis_.kill();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(publish(node, "news", "m2").error, BrokerError::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_TRUE(run_until([&] { return !node.broker->up(); }));
}

TEST_F(RedisBrokerTest, ARedisThatStopsAnsweringFailsAPublishAtTheCommandTimeout) {
  ASSERT_TRUE(started_);
  config_.command_timeout = 300ms;
  Node& node = add_node();
  ASSERT_EQ(publish(node, "news", "m1").error, BrokerError::none);
  redis_.pause();
  auto start = std::chrono::steady_clock::now();
  std::optional<PublishResult> result;
  node.broker->publish("news", "m2", [&](const PublishResult& r) { result = r; });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }, 2s));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result->error, BrokerError::unavailable);
  EXPECT_GE(waited, 250ms);
  EXPECT_LT(waited, 700ms);
  redis_.resume();
  // The dropped connection comes back by itself, and the late reply was never taken for another.
  ASSERT_TRUE(run_until([&] { return node.broker->up(); }));
  PublishResult next = publish(node, "news", "m3");
  EXPECT_EQ(next.error, BrokerError::none);
  EXPECT_GE(next.id.sequence, 2u);
}

// A refused connect (nothing listens) is noticed at once, not at connect_timeout: the loop
// adapter hands the poll error to hiredis (redis_loop.h).
TEST_F(RedisBrokerTest, ARefusedConnectIsNoticedAtOnce) {
  int probe = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof at;
  ASSERT_EQ(::bind(probe, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::getsockname(probe, reinterpret_cast<sockaddr*>(&at), &length), 0);
  ::close(probe);  // the port is free again: a connect to it is refused
  config_.connect_timeout = 5000ms;
  config_.command_timeout = 5000ms;
  config_.addresses.push_back(*RedisAddress::parse("127.0.0.1:" + std::to_string(ntohs(at.sin_port))));
  RedisBroker broker(&loop_, config_);
  auto start = std::chrono::steady_clock::now();
  std::optional<PublishResult> result;
  broker.publish("news", "m", [&](const PublishResult& r) { result = r; });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }, 6s));
  EXPECT_EQ(result->error, BrokerError::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1000ms);
  EXPECT_NE(broker.problem().find("refused"), std::string::npos) << broker.problem();
}

// A connect that hangs (a listener whose accept queue is full drops the SYN) holds a publish no
// longer than command_timeout, however long connect_timeout is.
TEST_F(RedisBrokerTest, APublishWaitsNoLongerThanTheCommandTimeoutWhileTheConnectHangs) {
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof at;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(listener, 0), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&at), &length), 0);
  std::vector<int> fillers;  // never accepted: they fill the queue
  for (int i = 0; i < 2; ++i) {
    fillers.push_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
    ::connect(fillers.back(), reinterpret_cast<sockaddr*>(&at), sizeof at);
  }
  config_.connect_timeout = 5000ms;
  config_.command_timeout = 300ms;
  config_.addresses.push_back(*RedisAddress::parse("127.0.0.1:" + std::to_string(ntohs(at.sin_port))));
  RedisBroker broker(&loop_, config_);
  auto start = std::chrono::steady_clock::now();
  std::optional<PublishResult> result;
  broker.publish("news", "m", [&](const PublishResult& r) { result = r; });
  ASSERT_TRUE(run_until([&] { return result.has_value(); }, 3s));
  EXPECT_EQ(result->error, BrokerError::unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 800ms);
  broker.close();
  for (int fd : fillers) ::close(fd);
  ::close(listener);
}

// A subscriber connection that stays open but relays nothing is found out by the heartbeat,
// though nothing was published: the node says it is unavailable, then comes back whole.
TEST_F(RedisBrokerTest, ARedisThatStopsAnsweringIsNoticedWithoutAnyPublishAndRecovered) {
  ASSERT_TRUE(started_);
  config_.command_timeout = 300ms;
  Node& a = add_node();
  Node& b = add_node();
  subscribe(b, "news");
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  redis_.pause();
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until([&] { return !b.broker->up(); }, 5s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2000ms + 300ms + 500ms);  // a tick, the timeout, slack
  EXPECT_FALSE(b.broker->problem().empty());
  redis_.resume();
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  ASSERT_TRUE(run_until([&] { return redis_.command({"PUBSUB", "NUMSUB", "test:{news}"}) == "test:{news} 1"; }));
  MessageId m = publish(a, "news", "after").id;
  ASSERT_TRUE(run_until([&] { return !b.delivery.messages.empty(); }));
  EXPECT_EQ(b.delivery.messages.back(), line("news", m, "after"));
}

TEST_F(RedisBrokerTest, RedisBackWithItsDataTheNodeReconnectsResubscribesAndCatchesUp) {
  ASSERT_TRUE(started_);
  auto [a, b] = publisher_and_subscriber();
  MessageId first = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  ASSERT_TRUE(redis_.restart());  // appendonly: m1 and the channel's epoch survive
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  ASSERT_TRUE(run_until([&] { return redis_.command({"PUBSUB", "NUMSUB", "test:{news}"}) == "test:{news} 1"; }));
  MessageId second = publish(a, "news", "m2").id;
  EXPECT_EQ(second.epoch, first.epoch);
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  EXPECT_EQ(b.delivery.messages.back(), line("news", second, "m2"));
  EXPECT_GE(b.broker->reconnects(), 2u);
}

TEST_F(RedisBrokerTest, WhatWasPublishedWhileTheSubscriberConnectionWasDownIsRecovered) {
  ASSERT_TRUE(started_);
  Node& b = add_node();
  subscribe(b, "news");
  Node& a = add_node();
  MessageId first = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  ASSERT_EQ(redis_.command({"CLIENT", "KILL", "TYPE", "pubsub"}), "2");  // a's (its heartbeat) and b's
  // Published by the script itself from here, while the loop (and b's reconnect) stands still.
  ASSERT_TRUE(publish_by_script("m2").ends_with(":2"));
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  EXPECT_EQ(b.delivery.messages.back(), line("news", {first.epoch, 2}, "m2"));
  EXPECT_EQ(b.broker->counters().recovered, 1u);
}

TEST_F(RedisBrokerTest, ChannelsAreShardedOverTwoRedisServers) {
  ASSERT_TRUE(started_);
  RedisServer second(false);
  ASSERT_TRUE(second.start());
  Node& node = add_node({&redis_, &second});
  int on[2] = {0, 0};
  for (int i = 0; i < 100; ++i) {
    std::string channel = "room-" + std::to_string(i);
    ASSERT_EQ(publish(node, channel, "hello").error, BrokerError::none);
    std::uint32_t shard = redis_shard_of(channel, 2);
    ++on[shard];
    const RedisServer& holder = shard == 0 ? redis_ : second;
    const RedisServer& other = shard == 0 ? second : redis_;
    EXPECT_EQ(holder.command({"EXISTS", "test:{" + channel + "}:meta"}), "1") << channel;
    EXPECT_EQ(other.command({"EXISTS", "test:{" + channel + "}:meta"}), "0") << channel;
  }
  EXPECT_GT(on[0], 20);
  EXPECT_GT(on[1], 20);
}

TEST_F(RedisBrokerTest, InfoComesFromTheChannelsHashAndStream) {
  ASSERT_TRUE(started_);
  Node& node = add_node();
  MessageId last;
  for (const char* data : {"m1", "m2", "m3"}) last = publish(node, "news", data).id;
  node.broker->set_subscribers("news", 2);
  std::optional<ChannelInfo> info;
  node.broker->info("news", [&](const ChannelInfo& i) { info = i; });
  ASSERT_TRUE(run_until([&] { return info.has_value(); }));
  EXPECT_EQ(info->error, BrokerError::none);
  EXPECT_EQ(info->last.to_string(), last.to_string());
  EXPECT_EQ(info->history_length, 3u);
  EXPECT_EQ(info->subscribers, 2u);  // this worker's
  std::optional<ChannelInfo> none;
  node.broker->info("nothing", [&](const ChannelInfo& i) { none = i; });
  ASSERT_TRUE(run_until([&] { return none.has_value(); }));
  EXPECT_EQ(none->last.sequence, 0u);
}

TEST_F(RedisBrokerTest, AResumeOnANodeThatLagsBehindTheClientRepeatsNothingToIt) {
  ASSERT_TRUE(started_);
  Node& b = add_node();
  subscribe(b, "news");
  Node& a = add_node();
  MessageId first = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  // m2 and m3 are published (the client saw m3 elsewhere) before b has read them.
  for (const char* data : {"m2", "m3"})
    publish_by_script(data);
  std::optional<std::vector<std::string>> resumed;
  std::size_t delivered_before_reply = 0;
  b.broker->history("news", {first.epoch, 3}, [&](const HistoryResult& r) {
    EXPECT_EQ(r.status, HistoryResult::Status::complete);
    delivered_before_reply = b.delivery.messages.size();
    resumed.emplace();
    for (const BrokerMessage& m : r.messages) resumed->push_back(line(m.channel, m.id, m.data));
  });
  ASSERT_TRUE(run_until([&] { return resumed.has_value(); }));
  MessageId fourth = publish(a, "news", "m4").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() >= 4; }));
  // Others on b get m2 and m3 before the answer (the resuming client skips them while it
  // waits), and nothing up to m3 after it.
  EXPECT_EQ(delivered_before_reply, 3u);
  EXPECT_TRUE(resumed->empty());
  EXPECT_EQ(b.delivery.messages, (std::vector<std::string>{line("news", first, "m1"), line("news", {first.epoch, 2}, "m2"),
                                                           line("news", {first.epoch, 3}, "m3"), line("news", fourth, "m4")}));
}

// Anyone who can PUBLISH on the Redis can relay a message with any offset in the channel's
// epoch. One beyond the channel's top is a hole the stream can never fill: the node must not
// read the stream for it again and again (today every answer releases it, it is a hole again,
// and the node asks once more, one history script per round trip, until 1024 messages later).
TEST_F(RedisBrokerTest, AForgedOffsetBeyondTheTopDoesNotMakeTheNodeReadTheStreamOverAndOver) {
  ASSERT_TRUE(started_);
  auto [a, b] = publisher_and_subscriber();
  MessageId first = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  int reads = calls_of(redis_, "xrange");
  redis_.command({"PUBLISH", "test:{news}", std::to_string(first.epoch) + ":1000:1:forged"});
  run_until([] { return false; }, 300ms);  // what the node does on its own meanwhile
  EXPECT_LT(calls_of(redis_, "xrange") - reads, 10);
  MessageId second = publish(a, "news", "m2").id;
  EXPECT_TRUE(wait_for_line(b, line("news", second, "m2")));
}

// A forged first message after SUBSCRIBE fixes where the node's delivery starts: with the
// largest offset, every real message of the epoch is "already delivered" and dropped.
TEST_F(RedisBrokerTest, AForgedHugeOffsetAsTheFirstMessageDoesNotSilenceTheChannel) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  Node& b = add_node();
  MessageId first = publish(a, "news", "m1").id;
  subscribe(b, "news");
  redis_.command({"PUBLISH", "test:{news}", std::to_string(first.epoch) + ":18446744073709551615:1:forged"});
  MessageId second = publish(a, "news", "m2").id;
  EXPECT_TRUE(wait_for_line(b, line("news", second, "m2")));
}

// A forged message in another epoch makes the node believe Redis lost the channel; the next
// real message then looks like a new epoch too, and the node reads and delivers the whole
// stream again: every subscriber on it gets the history a second time.
TEST_F(RedisBrokerTest, AForgedEpochDoesNotMakeTheNodeDeliverTheHistoryAgain) {
  ASSERT_TRUE(started_);
  auto [a, b] = publisher_and_subscriber();
  MessageId first = publish(a, "news", "m1").id;
  publish(a, "news", "m2");
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  std::uint32_t other_epoch = first.epoch == UINT32_MAX ? 1 : first.epoch + 1;
  redis_.command({"PUBLISH", "test:{news}", std::to_string(other_epoch) + ":1:1:forged"});
  MessageId third = publish(a, "news", "m3").id;
  ASSERT_TRUE(wait_for_line(b, line("news", third, "m3")));
  EXPECT_EQ(std::count(b.delivery.messages.begin(), b.delivery.messages.end(), line("news", first, "m1")), 1);
}

// The first message a node gets is past the channel's position, and genuine: pub/sub lost the
// one before it. The stream's read from the position delivers that one first.
TEST_F(RedisBrokerTest, AFirstMessageAfterAHoleGetsTheHoleFromThePositionFirst) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  Node& b = add_node();
  MessageId m1 = publish(a, "news", "m1").id;
  subscribe(b, "news");
  ASSERT_TRUE(run_until([&] { return calls_of(redis_, "evalsha") + calls_of(redis_, "eval") >= 2; }));
  // m2 is sequenced and stored as the script would, but never PUBLISHed.
  ASSERT_EQ(redis_.command({"HINCRBY", "test:{news}:meta", "top", "1"}), "2");
  ASSERT_NE(redis_.command({"XADD", "test:{news}:history", "2-0", "t", "1", "d", "m2"}).find("2-0"), std::string::npos);
  MessageId m3 = publish(a, "news", "m3").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  EXPECT_EQ(b.delivery.messages, (std::vector<std::string>{line("news", {m1.epoch, 2}, "m2"), line("news", m3, "m3")}));
}

// A relayed message larger than [pubsub] max_message_size never came from a publish here.
TEST_F(RedisBrokerTest, ARelayedMessageOverMaxMessageSizeIsRefused) {
  ASSERT_TRUE(started_);
  config_.max_message_size = 8;
  Node& a = add_node();
  Node& b = add_node();
  subscribe(b, "news");
  MessageId m1 = publish(a, "news", "small").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  redis_.command({"PUBLISH", "test:{news}", std::to_string(m1.epoch) + ":2:1:" + std::string(9, 'x')});
  MessageId m2 = publish(a, "news", "next").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  EXPECT_EQ(b.delivery.messages.back(), line("news", m2, "next"));
  EXPECT_EQ(b.broker->counters().refused, 1u);
}

// No history kept: what pub/sub lost while the subscriber connection was down is in no stream.
// It is said once (GAP), and delivery goes on, rather than the hole being read again and again.
TEST_F(RedisBrokerTest, WithoutHistoryALossDuringAReconnectIsAGapAndDeliveryGoesOn) {
  ASSERT_TRUE(started_);
  config_.history_ttl = 0ms;
  Node& b = add_node();
  subscribe(b, "news");
  Node& a = add_node();
  MessageId first = publish(a, "news", "m1").id;
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 1; }));
  ASSERT_EQ(redis_.command({"CLIENT", "KILL", "TYPE", "pubsub"}), "2");
  publish_by_script("m2", "0", "86400000", "86400000");
  ASSERT_TRUE(run_until([&] { return all_up() && redis_.command({"PUBSUB", "NUMSUB", "test:{news}"}) == "test:{news} 1"; }));
  ASSERT_TRUE(run_until([&] { return b.delivery.messages.size() == 2; }));
  EXPECT_EQ(b.delivery.messages.back(), "news GAP after " + first.to_string());
  int reads = calls_of(redis_, "xrange");
  MessageId third = publish(a, "news", "m3").id;
  EXPECT_TRUE(wait_for_line(b, line("news", third, "m3")));
  EXPECT_LT(calls_of(redis_, "xrange") - reads, 10);
}

// A connect that fails inside the call (a missing unix socket) reports at once: every shard's
// connections must exist by then.
TEST_F(RedisBrokerTest, AFirstShardThatFailsAtOnceIsReportedNotACrash) {
  ASSERT_TRUE(started_);
  RedisBrokerConfig config = config_;
  config.addresses.push_back(*RedisAddress::parse("unix:/nonexistent/redis.sock"));
  config.addresses.push_back(*RedisAddress::parse(redis_.address()));
  RedisBroker broker(&loop_, config);
  EXPECT_FALSE(broker.up());
  EXPECT_NE(broker.problem().find("unix:/nonexistent/redis.sock"), std::string::npos) << broker.problem();
  broker.close();
}

// A resume on a worker that has delivered nothing of the channel yet must not skip what its
// live subscribers are owed since they subscribed (the position), however late `since` is.
TEST_F(RedisBrokerTest, AResumeOnANewlyFollowedChannelKeepsWhatALiveSubscriberIsOwed) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  Node& b = add_node();
  MessageId last;
  for (int i = 1; i <= 7; ++i) last = publish(a, "news", "m" + std::to_string(i)).id;
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  int scripts = calls_of(redis_, "evalsha") + calls_of(redis_, "eval");
  b.broker->set_subscribers("news", 1);  // a live subscriber
  ASSERT_TRUE(run_until([&] { return calls_of(redis_, "evalsha") + calls_of(redis_, "eval") > scripts; }));
  for (int i = 8; i <= 10; ++i)
    publish_by_script("m" + std::to_string(i));
  std::optional<HistoryResult::Status> status;  // another client, who saw m10 on another node
  b.broker->history("news", MessageId{last.epoch, 10}, [&](const HistoryResult& r) { status = r.status; });
  ASSERT_TRUE(run_until([&] { return status.has_value() && b.delivery.messages.size() >= 3; }));
  EXPECT_EQ(*status, HistoryResult::Status::complete);
  EXPECT_EQ(b.delivery.messages, (std::vector<std::string>{line("news", {last.epoch, 8}, "m8"),
                                                           line("news", {last.epoch, 9}, "m9"),
                                                           line("news", {last.epoch, 10}, "m10")}));
}

// A resume on a worker that newly follows the channel: its read may run in Redis before the
// SUBSCRIBE takes effect, and what is published between the two never comes through pub/sub.
// The position read after the SUBSCRIBE shows it, and the stream fills it in, even when the
// resume's answer (which places the channel) is handled first. The relay makes Redis see that
// order: the subscriber connection's SUBSCRIBE and the command connection's answers are held.
TEST_F(RedisBrokerTest, WhatIsPublishedBetweenAResumesReadAndTheSubscribeIsReadFromTheStream) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  MessageId last;
  for (int i = 1; i <= 7; ++i) last = publish(a, "news", "m" + std::to_string(i)).id;
  HoldingRelay relay(redis_.port());
  config_.command_timeout = 5s;  // the held answers come late, not never
  Node& b = add_node_at({relay.address()});
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  relay.hold(HoldingRelay::Kind::subscriber, HoldingRelay::Way::to_redis, true);
  relay.hold(HoldingRelay::Kind::commands, HoldingRelay::Way::to_client, true);
  auto scripts_run = [&] { return calls_of(redis_, "evalsha") + calls_of(redis_, "eval"); };
  int scripts = scripts_run();
  std::optional<HistoryResult::Status> status;
  b.broker->set_subscribers("news", 1);  // the resuming subscriber
  b.broker->history("news", last, [&](const HistoryResult& r) { status = r.status; });
  ASSERT_TRUE(run_until([&] { return scripts_run() > scripts; })) << "the resume's read did not run";
  for (int i = 8; i <= 10; ++i) publish_by_script("m" + std::to_string(i));  // before the SUBSCRIBE (3 EVALs)
  relay.hold(HoldingRelay::Kind::subscriber, HoldingRelay::Way::to_redis, false);
  ASSERT_TRUE(run_until([&] { return scripts_run() > scripts + 1 + 3; })) << "no position read after the SUBSCRIBE";
  EXPECT_FALSE(status) << "the resume was answered while its answer was held";
  relay.hold(HoldingRelay::Kind::commands, HoldingRelay::Way::to_client, false);  // the resume's answer, then the position
  ASSERT_TRUE(run_until([&] { return status.has_value() && b.delivery.messages.size() >= 3; }))
      << b.delivery.messages.size() << " of m8..m10 delivered";
  EXPECT_EQ(*status, HistoryResult::Status::complete);
  EXPECT_EQ(b.delivery.messages, (std::vector<std::string>{line("news", {last.epoch, 8}, "m8"),
                                                           line("news", {last.epoch, 9}, "m9"),
                                                           line("news", {last.epoch, 10}, "m10")}));
}

// The position read fails (here: the hash is briefly not a hash): no first message is taken on
// its word meanwhile, so a forged huge offset cannot silence the channel or wrap an offset.
TEST_F(RedisBrokerTest, WithoutAPositionAForgedHugeFirstOffsetDoesNotSilenceTheChannel) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  Node& b = add_node();
  MessageId first = publish(a, "news", "m1").id;
  redis_.command({"RENAME", "test:{news}:meta", "saved"});
  redis_.command({"SET", "test:{news}:meta", "x"});
  int scripts = calls_of(redis_, "evalsha") + calls_of(redis_, "eval");
  subscribe(b, "news");
  ASSERT_TRUE(run_until([&] { return calls_of(redis_, "evalsha") + calls_of(redis_, "eval") > scripts; }));
  run_until([] { return false; }, 100ms);
  redis_.command({"DEL", "test:{news}:meta"});
  redis_.command({"RENAME", "saved", "test:{news}:meta"});
  redis_.command({"PUBLISH", "test:{news}", std::to_string(first.epoch) + ":18446744073709551615:1:forged"});
  run_until([] { return false; }, 100ms);
  int reads = calls_of(redis_, "xrange");
  MessageId second = publish(a, "news", "m2").id;
  EXPECT_TRUE(wait_for_line(b, line("news", second, "m2")));
  EXPECT_EQ(std::count(b.delivery.messages.begin(), b.delivery.messages.end(),
                       line("news", {first.epoch, UINT64_MAX}, "forged")), 0);
  EXPECT_LT(calls_of(redis_, "xrange") - reads, 10);
}

// The publishes of one loop turn go to Redis as one script, and each gets its own answer.
TEST_F(RedisBrokerTest, ATurnsPublishesGoToRedisAsOneScript) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  publish(a, "warm", "up");  // the script is loaded: EVALSHA from here
  int scripts = calls_of(redis_, "evalsha");
  std::vector<std::optional<PublishResult>> results(20);
  for (int i = 0; i < 20; ++i)
    a.broker->publish(i % 2 ? "odd" : "even", "m" + std::to_string(i), [&results, i](const PublishResult& r) { results[i] = r; });
  ASSERT_TRUE(run_until([&] { return std::all_of(results.begin(), results.end(), [](auto& r) { return r.has_value(); }); }));
  EXPECT_EQ(calls_of(redis_, "evalsha"), scripts + 1);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(results[i]->error, BrokerError::none) << i;
    EXPECT_EQ(results[i]->id.sequence, static_cast<std::uint64_t>(i / 2 + 1)) << i;  // in order per channel
  }
  EXPECT_EQ(redis_.command({"XLEN", "test:{odd}:history"}), "10");
}

// A message whose keys hold something else (here a string for the hash) fails alone: the others
// of its batch are published and answered.
TEST_F(RedisBrokerTest, AMessageThatFailsInABatchFailsAlone) {
  ASSERT_TRUE(started_);
  Node& a = add_node();
  ASSERT_TRUE(run_until([&] { return all_up(); }));
  redis_.command({"SET", "test:{broken}:meta", "not a hash"});
  std::optional<PublishResult> good, bad, after;
  a.broker->publish("news", "before", [&](const PublishResult& r) { good = r; });
  a.broker->publish("broken", "x", [&](const PublishResult& r) { bad = r; });
  a.broker->publish("news", "after", [&](const PublishResult& r) { after = r; });
  ASSERT_TRUE(run_until([&] { return good && bad && after; }));
  EXPECT_EQ(good->error, BrokerError::none);
  EXPECT_EQ(bad->error, BrokerError::unavailable);
  EXPECT_EQ(after->error, BrokerError::none);
  EXPECT_EQ(after->id.sequence, good->id.sequence + 1);
  EXPECT_EQ(redis_.command({"XLEN", "test:{news}:history"}), "2");
}
