// The Redis engine through the real binary (issue 13): two tether nodes (two masters, two
// workers each, their own loopback ports) on real redis-server processes, with WebSocket and SSE
// subscribers on both. What one machine guarantees must hold across them: every subscriber gets
// every message once and in order, with the same id on every node; a client resumes on the other
// node with exactly what it missed; reloads and a whole restart of a node lose nothing; channels
// are spread over several Redis shards, each on exactly one; a room's client messages reach
// both nodes.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <iterator>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/publisher.h"
#include "support/redis_server.h"
#include "support/resuming_subscriber.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

using Kind = ResumingSubscriber::Kind;
using Message = ResumingSubscriber::Message;
using Subscribers = std::vector<std::unique_ptr<ResumingSubscriber>>;

const std::string kServerExtra = "modules_dir = \"" + std::string(TETHER_MODULES_BUILD_DIR) +
                                 "\"\ndrain_timeout = \"300ms\"\n";

// A node's config: metrics, publish, WebSocket, SSE and chat-room routes, the Redis broker on
// `shards`. The history holds every message a test publishes, so a resume never meets its end.
std::string node_config(const std::vector<const RedisServer*>& shards) {
  std::string addresses;
  for (const RedisServer* shard : shards) addresses += (addresses.empty() ? "\"" : ", \"") + shard->address() + "\"";
  return "[modules.health]\n[modules.websocket]\n[modules.sse]\n\n"
         "[[route]]\npath = \"/metrics\"\nhandler = \"health\"\n\n"
         "[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n\n"
         "[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n\n"
         "[[route]]\npath = \"/sse/*\"\nhandler = \"sse\"\n\n"
         "[[route]]\npath = \"/room/*\"\nhandler = \"websocket\"\n[route.websocket]\nclient_messages = \"publish\"\n\n"
         "[pubsub]\nbroker = \"redis\"\nhistory_size = 1000\n\n"
         "[pubsub.redis]\naddresses = [" + addresses + "]\n";
}

// Two tether nodes on the same Redis shards.
struct TwoNodes {
  explicit TwoNodes(const std::vector<const RedisServer*>& shards)
      : a(2, node_config(shards), kServerExtra), b(2, node_config(shards), kServerExtra) {}
  bool start() { return a.start() && b.start(); }
  std::string logs() const { return "node A:\n" + a.error_log() + "node B:\n" + b.error_log(); }
  // The port of the node that takes the i-th publish: they alternate.
  int port(int i) const { return i % 2 == 0 ? a.port() : b.port(); }

  TetherServer a;
  TetherServer b;
};

std::string describe(Kind kind) { return kind == Kind::websocket ? "WebSocket" : "SSE"; }

// POSTs `data` to /pub/<channel> on a fresh connection: the id the answer carries, "" unless 200.
std::string publish_id(int port, const std::string& channel, const std::string& data) {
  auto [status, body] = publish(port, channel, data);
  return status == 200 ? Publisher::json_field(body, "id") : "";
}

// Publishes `data` and appends what the subscribers must get to *expected (a failure if the
// publish was not answered 200 with an id).
void publish_into(int port, const std::string& channel, const std::string& data, std::vector<Message>* expected) {
  std::string id = publish_id(port, channel, data);
  EXPECT_NE(id, "") << "POST /pub/" << channel << " of " << data << " on port " << port << " failed";
  if (!id.empty()) expected->push_back({id, data});
}

// Publishes prefix0..prefix<count-1> on `channel`, alternating between the nodes.
std::vector<Message> publish_alternating(const TwoNodes& nodes, const std::string& channel, const std::string& prefix,
                                         int count) {
  std::vector<Message> published;
  for (int i = 0; i < count; ++i) publish_into(nodes.port(i), channel, prefix + std::to_string(i), &published);
  return published;
}

// "" when `got` is exactly `expected`; else where they part.
std::string difference(const std::vector<Message>& got, const std::vector<Message>& expected) {
  for (std::size_t i = 0; i < std::max(got.size(), expected.size()); ++i) {
    if (i < got.size() && i < expected.size() && got[i].id == expected[i].id && got[i].data == expected[i].data) continue;
    auto received = [&](std::size_t k) {
      return got[k].id + " " + got[k].data + " (subscription " + std::to_string(got[k].subscription) + ", port " +
             std::to_string(got[k].port) + ")";
    };
    std::ostringstream text;
    text << got.size() << " messages received, " << expected.size() << " expected; the first difference at " << i
         << ": got " << (i < got.size() ? received(i) : "nothing") << ", expected "
         << (i < expected.size() ? expected[i].id + " " + expected[i].data : "nothing");
    if (i > 0) text << "; before it: " << received(i - 1);
    return text.str();
  }
  return "";
}

// Waits until every subscriber has the fence message (published after everything else), then
// checks that it holds exactly `expected` (the fence included) and was told of no gap.
void expect_exactly(const Subscribers& subscribers, const std::vector<Message>& expected,
                    std::chrono::milliseconds timeout = 10s) {
  const std::string& fence = expected.back().data;
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    const ResumingSubscriber& s = *subscribers[i];
    std::string who = describe(s.kind()) + " subscriber " + std::to_string(i) + " of " + s.channel();
    EXPECT_TRUE(s.wait_for_data(fence, timeout)) << who << " did not get " << fence;
    EXPECT_EQ(difference(s.messages(), expected), "") << who;
    EXPECT_EQ(s.gaps(), 0) << who;
  }
}

// Subscribers of `channel` on each of `ports`: one WebSocket and one SSE per port, each coming
// back on `ports` in turn from its own, resuming after `since`.
void subscribe(Subscribers* subscribers, const std::vector<int>& ports, const std::string& channel,
               const std::string& since) {
  for (std::size_t first = 0; first < ports.size(); ++first) {
    std::vector<int> rotation;
    for (std::size_t k = 0; k < ports.size(); ++k) rotation.push_back(ports[(first + k) % ports.size()]);
    for (Kind kind : {Kind::websocket, Kind::sse})
      subscribers->push_back(std::make_unique<ResumingSubscriber>(kind, rotation, channel, since));
  }
}

void expect_connected(const Subscribers& subscribers) {
  for (const auto& s : subscribers) EXPECT_TRUE(s->wait_connected()) << describe(s->kind()) << " on " << s->channel();
}

// The subscribers each worker of `node` holds (the health module's tether_subscribers).
std::vector<long> subscribers_per_worker(const TetherServer& node) {
  std::map<std::string, long> values = metrics(node.port());
  return {values["tether_subscribers{worker=\"0\"}"], values["tether_subscribers{worker=\"1\"}"]};
}

// For a failure's report: where each subscriber is connected, what each worker counts and how
// many Redis connections listen to `channel`.
std::string state_of(const TwoNodes& nodes, const RedisServer& redis, const std::string& channel,
                     const Subscribers& subscribers) {
  std::ostringstream text;
  text << "node A is port " << nodes.a.port() << ", node B port " << nodes.b.port() << "\n";
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    int port = subscribers[i]->port();
    text << describe(subscribers[i]->kind()) << " subscriber " << i << " on "
         << (port == nodes.a.port() ? "node A" : port == nodes.b.port() ? "node B" : "no node") << ", last id "
         << subscribers[i]->last_id() << "\n";
  }
  for (const TetherServer* node : {&nodes.a, &nodes.b}) {
    std::vector<long> counts = subscribers_per_worker(*node);
    text << (node == &nodes.a ? "node A" : "node B") << " workers count " << counts[0] << " and " << counts[1]
         << " subscribers\n";
  }
  text << "PUBSUB NUMSUB: " << redis.command({"PUBSUB", "NUMSUB", "tether:{" + channel + "}"}) << "\n";
  return text.str();
}

// The integer field `name` of a flat JSON object, -1 if absent.
long json_number_field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + name + "\":([0-9]+)"))) return std::stol(m[1]);
  return -1;
}

}  // namespace

TEST(RedisEngine, EverySubscriberOnBothNodesGetsEveryMessageOnceInOrderWithTheIdsThePublishesAnswered) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  // A WebSocket and an SSE subscriber on each node (without a resume id: live delivery only),
  // and more until each worker of each node has some.
  Subscribers subscribers;
  auto on_every_worker = [&] {
    for (const TetherServer* node : {&nodes.a, &nodes.b})
      for (long count : subscribers_per_worker(*node))
        if (count == 0) return false;
    return true;
  };
  for (int round = 0; round < 8 && (round < 2 || !on_every_worker()); ++round) {
    subscribe(&subscribers, {nodes.a.port(), nodes.b.port()}, "news", "");
    expect_connected(subscribers);
    auto all_counted = [&] {
      long total = 0;
      for (const TetherServer* node : {&nodes.a, &nodes.b})
        for (long count : subscribers_per_worker(*node)) total += count;
      return total == static_cast<long>(subscribers.size());
    };
    ASSERT_TRUE(wait_until(all_counted, 5s)) << "the workers do not count " << subscribers.size() << " subscribers";
  }
  ASSERT_TRUE(on_every_worker()) << "the kernel put every subscriber of a node on one worker";
  // A subscription is live once its node has subscribed in Redis, a moment after the answer:
  // warm-up messages until every subscriber has had one, then nobody may miss anything.
  int warm_ups = 0;
  auto all_live = [&] {
    publish_id(nodes.port(warm_ups), "news", "warm-up " + std::to_string(warm_ups));
    ++warm_ups;
    for (const auto& s : subscribers)
      if (s->messages().empty()) return false;
    return true;
  };
  ASSERT_TRUE(wait_until(all_live, 5s, 20ms)) << "some subscriber got none of " << warm_ups << " warm-up messages";

  std::vector<Message> published = publish_alternating(nodes, "news", "m", 200);
  publish_into(nodes.a.port(), "news", "end", &published);
  for (std::size_t i = 0; i < subscribers.size(); ++i) {
    const ResumingSubscriber& s = *subscribers[i];
    ASSERT_TRUE(s.wait_for_data("end", 10s)) << describe(s.kind()) << " subscriber " << i;
    std::vector<Message> got = s.messages();
    while (!got.empty() && got.front().data.rfind("warm-up", 0) == 0) got.erase(got.begin());
    EXPECT_EQ(difference(got, published), "") << describe(s.kind()) << " subscriber " << i << " (first on node "
                                              << (i % 4 < 2 ? "A" : "B") << ")";
    EXPECT_EQ(s.gaps(), 0);
    EXPECT_EQ(s.subscriptions(), 1) << "nothing told it to go";
  }
}

TEST(RedisEngine, ASubscriberResumingOnTheOtherNodeGetsExactlyWhatItMissed) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  std::string start = publish_id(nodes.a.port(), "feed", "start");
  ASSERT_NE(start, "");
  // A WebSocket client on node A and an SSE client on node B read the first part.
  Subscribers first;
  first.push_back(std::make_unique<ResumingSubscriber>(Kind::websocket, std::vector<int>{nodes.a.port()}, "feed", start));
  first.push_back(std::make_unique<ResumingSubscriber>(Kind::sse, std::vector<int>{nodes.b.port()}, "feed", start));
  expect_connected(first);
  std::vector<Message> seen = publish_alternating(nodes, "feed", "seen", 10);
  expect_exactly(first, seen);
  for (auto& s : first) s->stop();

  std::vector<Message> missed = publish_alternating(nodes, "feed", "missed", 10);
  // Each comes back on the other node with its last id.
  Subscribers again;
  again.push_back(std::make_unique<ResumingSubscriber>(Kind::websocket, std::vector<int>{nodes.b.port()}, "feed",
                                                       first[0]->last_id()));
  again.push_back(std::make_unique<ResumingSubscriber>(Kind::sse, std::vector<int>{nodes.a.port()}, "feed",
                                                       first[1]->last_id()));
  expect_connected(again);
  publish_into(nodes.b.port(), "feed", "after", &missed);
  expect_exactly(again, missed);
}

TEST(RedisEngine, ClientsHoppingBetweenTheNodesDuringPublishingMissAndRepeatNothing) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  std::string start = publish_id(nodes.a.port(), "hopping", "start");
  ASSERT_NE(start, "");
  Subscribers subscribers;
  for (int round = 0; round < 2; ++round) subscribe(&subscribers, {nodes.a.port(), nodes.b.port()}, "hopping", start);
  expect_connected(subscribers);
  // Each resume races the live messages of the node it lands on, which may lag behind the
  // node whose id the client holds.
  std::vector<Message> published;
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < 300; ++i) {
      publish_into(nodes.port(i), "hopping", "m" + std::to_string(i), &published);
      std::this_thread::sleep_for(3ms);  // a pace at which every client hops many times, however fast the build
    }
    done = true;
  });
  while (!done) {
    for (const auto& s : subscribers) s->hop();
    std::this_thread::sleep_for(20ms);  // the pace of the hops, not a wait for something
  }
  publisher.join();
  publish_into(nodes.b.port(), "hopping", "end", &published);
  expect_exactly(subscribers, published);
  if (HasFailure()) ADD_FAILURE() << state_of(nodes, redis, "hopping", subscribers) << nodes.logs();
  for (const auto& s : subscribers) EXPECT_GE(s->subscriptions(), 10) << describe(s->kind()) << " hopped too little";
}

TEST(RedisEngine, ReloadsOfBothNodesDuringPublishingLoseAndRepeatNothing) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  std::string start = publish_id(nodes.a.port(), "reloading", "start");
  ASSERT_NE(start, "");
  // Told to go by a drain, a subscriber comes back on the other node, then on its own again.
  Subscribers subscribers;
  subscribe(&subscribers, {nodes.a.port(), nodes.b.port()}, "reloading", start);
  subscribe(&subscribers, {nodes.a.port(), nodes.b.port()}, "reloading", start);
  expect_connected(subscribers);
  std::vector<Message> published;
  const std::vector<const TetherServer*> reload_order{&nodes.a, &nodes.b, &nodes.a, &nodes.b};
  for (int i = 0; i < 300; ++i) {
    if (i % 60 == 30 && i / 60 < 4) reload_order[i / 60]->signal(SIGHUP);
    publish_into(nodes.port(i), "reloading", "m" + std::to_string(i), &published);
    std::this_thread::sleep_for(10ms);  // a steady rate, so that the reloads fall amid the publishing
  }
  EXPECT_TRUE(nodes.a.wait_for_log("reload complete", 10s, 2)) << nodes.logs();
  EXPECT_TRUE(nodes.b.wait_for_log("reload complete", 10s, 2)) << nodes.logs();
  publish_into(nodes.b.port(), "reloading", "end", &published);
  expect_exactly(subscribers, published);
  for (const auto& s : subscribers) EXPECT_GE(s->subscriptions(), 2) << describe(s->kind()) << ": never told to go";
}

TEST(RedisEngine, ANodeStoppedAndStartedAgainResumesItsClientsFromRedisWithNoGap) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  std::string start = publish_id(nodes.b.port(), "durable", "start");
  ASSERT_NE(start, "");
  Subscribers on_a, on_b;  // each comes back to its own node only
  subscribe(&on_a, {nodes.a.port()}, "durable", start);
  subscribe(&on_b, {nodes.b.port()}, "durable", start);
  expect_connected(on_a);
  expect_connected(on_b);
  std::vector<Message> published = publish_alternating(nodes, "durable", "before", 20);
  for (const auto& s : on_a) EXPECT_TRUE(s->wait_for_data("before19", 5s));

  EXPECT_EQ(nodes.a.stop(), 0) << nodes.a.error_log();
  for (int i = 0; i < 20; ++i) publish_into(nodes.b.port(), "durable", "while-down" + std::to_string(i), &published);
  ASSERT_TRUE(nodes.a.start()) << nodes.a.error_log();
  for (const auto& s : on_a) EXPECT_TRUE(wait_until([&] { return s->subscriptions() >= 2; }, 5s)) << "did not come back";
  std::vector<Message> after = publish_alternating(nodes, "durable", "after", 20);
  published.insert(published.end(), after.begin(), after.end());
  publish_into(nodes.a.port(), "durable", "end", &published);
  expect_exactly(on_a, published);
  expect_exactly(on_b, published);
  for (const auto& s : on_b) EXPECT_EQ(s->subscriptions(), 1) << "node B's clients were never told to go";
}

TEST(RedisEngine, ChannelsAreShardedOverTwoRedisServersEachOnExactlyOneAndDeliveryHoldsOnBoth) {
  RedisServer first, second;
  ASSERT_TRUE(first.start());
  ASSERT_TRUE(second.start());
  TwoNodes nodes({&first, &second});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  constexpr int kChannels = 100;
  std::vector<std::string> first_ids;
  for (int c = 0; c < kChannels; ++c) {
    first_ids.push_back(publish_id(nodes.port(c), "ch-" + std::to_string(c), "first"));
    ASSERT_NE(first_ids.back(), "") << "ch-" << c;
  }
  // Each channel's hash and stream, on exactly one server.
  auto keys_of = [](const RedisServer& shard) {
    std::istringstream words(shard.command({"KEYS", "tether:*"}));
    return std::set<std::string>(std::istream_iterator<std::string>(words), std::istream_iterator<std::string>());
  };
  std::set<std::string> on_first = keys_of(first), on_second = keys_of(second);
  std::vector<int> channels_of[2];
  for (int c = 0; c < kChannels; ++c) {
    std::string meta = "tether:{ch-" + std::to_string(c) + "}:meta", history = "tether:{ch-" + std::to_string(c) + "}:history";
    bool in_first = on_first.count(meta) && on_first.count(history);
    bool in_second = on_second.count(meta) && on_second.count(history);
    EXPECT_NE(in_first, in_second) << "ch-" << c << " is on " << (in_first ? "both servers" : "neither server");
    EXPECT_FALSE(on_first.count(meta) && on_second.count(history)) << "ch-" << c << " is split";
    EXPECT_FALSE(on_second.count(meta) && on_first.count(history)) << "ch-" << c << " is split";
    if (in_first != in_second) channels_of[in_first ? 0 : 1].push_back(c);
  }
  EXPECT_EQ(on_first.size() + on_second.size(), 2u * kChannels) << "keys other than each channel's two";
  ASSERT_GE(channels_of[0].size(), 3u) << "the first server holds almost no channel";
  ASSERT_GE(channels_of[1].size(), 3u) << "the second server holds almost no channel";

  // Three channels of each shard, with subscribers on both nodes.
  std::vector<int> sample{channels_of[0][0], channels_of[0][1], channels_of[0][2],
                          channels_of[1][0], channels_of[1][1], channels_of[1][2]};
  std::vector<Subscribers> subscribers(sample.size());
  for (std::size_t k = 0; k < sample.size(); ++k) {
    std::string channel = "ch-" + std::to_string(sample[k]);
    subscribe(&subscribers[k], {nodes.a.port(), nodes.b.port()}, channel, first_ids[sample[k]]);
    expect_connected(subscribers[k]);
  }
  std::vector<std::vector<Message>> published(sample.size());
  for (int i = 0; i < 30; ++i)  // interleaved over the channels, alternating between the nodes
    for (std::size_t k = 0; k < sample.size(); ++k)
      publish_into(nodes.port(i + static_cast<int>(k)), "ch-" + std::to_string(sample[k]), "m" + std::to_string(i), &published[k]);
  for (std::size_t k = 0; k < sample.size(); ++k) {
    publish_into(nodes.port(static_cast<int>(k)), "ch-" + std::to_string(sample[k]), "end", &published[k]);
    expect_exactly(subscribers[k], published[k]);
  }
}

TEST(RedisEngine, ChannelInfoOnTheOtherNodeShowsTheSameLastIdAndHistory) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  std::vector<Message> published = publish_alternating(nodes, "info", "m", 7);
  ASSERT_EQ(published.size(), 7u);
  for (const TetherServer* node : {&nodes.a, &nodes.b}) {
    auto info = http_get(node->port(), "/pub/info");
    ASSERT_TRUE(info);
    EXPECT_EQ(info->status, 200);
    EXPECT_EQ(Publisher::json_field(info->body, "channel"), "info") << info->body;
    EXPECT_EQ(Publisher::json_field(info->body, "last_id"), published.back().id) << info->body;
    EXPECT_EQ(json_number_field(info->body, "history"), 7) << info->body;
  }
}

TEST(RedisEngine, WhatAClientSaysInARoomReachesTheRoomOnBothNodesWithOneIdEach) {
  RedisServer redis;
  ASSERT_TRUE(redis.start());
  TwoNodes nodes({&redis});
  ASSERT_TRUE(nodes.start()) << nodes.logs();
  std::string start = publish_id(nodes.a.port(), "lobby", "start");
  ASSERT_NE(start, "");
  Subscribers listeners;
  subscribe(&listeners, {nodes.a.port(), nodes.b.port()}, "lobby", start);
  expect_connected(listeners);
  WsClient talker;  // resuming too, so that it hears even what it said before its node subscribed
  ASSERT_EQ(talker.open(nodes.a.port(), "/room/lobby?since=" + start), 101);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(talker.send_text("hello " + std::to_string(i)));
  // The talker hears itself: once the last is back, all were published, with these ids.
  std::vector<Message> said;
  while (said.size() < 20) {
    auto m = talker.read_message();
    ASSERT_TRUE(m) << said.size() << " of 20 heard back\n" << nodes.logs();
    said.push_back({Publisher::json_field(*m, "id"), Publisher::json_field(*m, "data")});
    EXPECT_EQ(said.back().data, "hello " + std::to_string(said.size() - 1));
  }
  publish_into(nodes.b.port(), "lobby", "end", &said);
  expect_exactly(listeners, said);
}
