// The local broker's rules without processes: ids, history limits, resume and gaps, channel
// limits, subscriber counts. Frames go into PubsubLink output buffers and are decoded back.
#include <gtest/gtest.h>

#include <cstring>
#include <list>
#include <string>
#include <vector>

#include "core/pubsub_wire.h"
#include "master/broker.h"

using namespace tether;

namespace {

// Decodes every frame queued on `link` and empties it. The frames' string views point into
// bytes kept for the rest of the test program.
std::vector<PubsubFrame> drain(PubsubLink& link) {
  static std::list<std::string> kept;
  std::vector<PubsubFrame> frames;
  const std::string& out = kept.emplace_back(std::move(link.output()));
  link.output().clear();
  std::size_t at = 0;
  while (at + 5 <= out.size()) {
    std::uint32_t length;
    std::memcpy(&length, out.data() + at, 4);
    PubsubFrame f;
    EXPECT_TRUE(decode_pubsub_frame(static_cast<PubsubType>(out[at + 4]), std::string_view(out).substr(at + 5, length), &f));
    frames.push_back(f);
    at += 5 + length;
  }
  return frames;
}

class Broker : public ::testing::Test {
 protected:
  PubsubFrame frame(PubsubType type, std::string_view channel, std::string_view data = "", std::uint64_t request = 7) {
    PubsubFrame f;
    f.type = type;
    f.channel = channel;
    f.data = data;
    f.request = request;
    return f;
  }
  MessageId publish(LocalBroker& broker, std::string_view channel, std::string_view data) {
    broker.handle(a_, frame(PubsubType::publish, channel, data), links_);
    auto frames = drain(a_);
    b_.output().clear();
    for (const auto& f : frames)
      if (f.type == PubsubType::published) return f.id;
    return {};
  }
  PubsubFrame history(LocalBroker& broker, std::string_view channel, MessageId since) {
    PubsubFrame f = frame(PubsubType::history, channel);
    f.id = since;
    broker.handle(a_, f, links_);
    return drain(a_).at(0);
  }

  PubsubConfig config_;
  PubsubLink a_{-1}, b_{-1};
  std::vector<PubsubLink*> links_{&a_, &b_};
};

}  // namespace

TEST(MessageIdText, RoundTripsAndRejectsWhatIsNotAnId) {
  MessageId id{0x2ae4fb84, 17};
  EXPECT_EQ(id.to_string(), "2ae4fb84-17");
  auto parsed = MessageId::parse("2ae4fb84-17");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->epoch, id.epoch);
  EXPECT_EQ(parsed->sequence, 17u);
  for (const char* bad : {"", "2ae4fb84", "2ae4fb84-", "2ae4fb8-1", "2ae4fb84-x", "zzzzzzzz-1", "2ae4fb84-1x"})
    EXPECT_FALSE(MessageId::parse(bad)) << bad;
}

TEST(ChannelNames, AreValidatedWithAReason) {
  EXPECT_EQ(channel_name_problem("chat.room-1:a_b@c"), nullptr);
  EXPECT_STREQ(channel_name_problem(""), "the channel name is empty");
  EXPECT_STREQ(channel_name_problem(std::string(129, 'a')), "the channel name is longer than 128 bytes");
  EXPECT_NE(channel_name_problem("a b"), nullptr);
  EXPECT_NE(channel_name_problem("a/b"), nullptr);
}

TEST(ChannelNames, AreCheckedOverTheirWholeLengthSoANulIsRefused) {
  EXPECT_STREQ(channel_name_problem(std::string_view("news\0junk", 9)),
               "the channel name may only contain letters, digits and _ - . : @");
  EXPECT_NE(channel_name_problem(std::string_view("news\0", 5)), nullptr);
  EXPECT_NE(channel_name_problem(std::string_view("\0", 1)), nullptr);
  for (int byte = 0x80; byte <= 0xFF; ++byte) EXPECT_NE(channel_name_problem(std::string(1, static_cast<char>(byte))), nullptr);
}

TEST_F(Broker, IdsGrowAcrossChannelsAndEveryWorkerGetsEveryMessage) {
  LocalBroker broker(config_);
  broker.handle(a_, frame(PubsubType::publish, "x", "one"), links_);
  auto to_a = drain(a_);
  auto to_b = drain(b_);
  ASSERT_EQ(to_a.size(), 2u);  // the reply, then the message
  EXPECT_EQ(to_a[0].type, PubsubType::published);
  EXPECT_EQ(to_a[0].id.sequence, 1u);
  EXPECT_EQ(to_a[0].id.epoch, broker.epoch());
  ASSERT_EQ(to_b.size(), 1u);
  EXPECT_EQ(to_b[0].type, PubsubType::message);
  EXPECT_EQ(to_b[0].id.sequence, 1u);
  EXPECT_EQ(publish(broker, "y", "two").sequence, 2u);
  EXPECT_EQ(publish(broker, "x", "three").sequence, 3u);
}

TEST_F(Broker, HistoryAfterAnIdIsCompleteWhileItIsKept) {
  LocalBroker broker(config_);
  std::vector<MessageId> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(publish(broker, "x", "m" + std::to_string(i)));
  publish(broker, "other", "noise");
  auto reply = history(broker, "x", ids[1]);
  EXPECT_EQ(reply.status, static_cast<std::uint32_t>(HistoryStatus::complete));
  ASSERT_EQ(reply.history.size(), 3u);
  EXPECT_EQ(reply.history[0].sequence, ids[2].sequence);
  EXPECT_EQ(reply.history[0].data, "m2");
  EXPECT_EQ(reply.history[2].data, "m4");
  EXPECT_TRUE(history(broker, "x", ids[4]).history.empty());
}

TEST_F(Broker, HistorySizeEvictsTheOldestAndResumingBeforeItIsAGap) {
  config_.history_size = 3;
  LocalBroker broker(config_);
  std::vector<MessageId> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(publish(broker, "x", "m" + std::to_string(i)));
  auto reply = history(broker, "x", ids[0]);
  EXPECT_EQ(reply.status, static_cast<std::uint32_t>(HistoryStatus::gap));
  ASSERT_EQ(reply.history.size(), 3u);
  EXPECT_EQ(reply.history[0].data, "m3");
  EXPECT_EQ(history(broker, "x", ids[2]).status, static_cast<std::uint32_t>(HistoryStatus::complete));
}

TEST_F(Broker, AnotherEpochIsAGapWithAllThatIsKept) {
  LocalBroker broker(config_);
  publish(broker, "x", "a");
  publish(broker, "x", "b");
  auto reply = history(broker, "x", MessageId{broker.epoch() ^ 1, 1});
  EXPECT_EQ(reply.status, static_cast<std::uint32_t>(HistoryStatus::gap));
  EXPECT_EQ(reply.history.size(), 2u);
}

TEST_F(Broker, HistoryMemoryIsBoundedOverAllChannels) {
  config_.history_memory = 1000;
  LocalBroker broker(config_);
  for (int i = 0; i < 50; ++i) publish(broker, "c" + std::to_string(i % 5), std::string(100, 'x'));
  EXPECT_LE(broker.history_bytes(), 1000u);
  EXPECT_GE(broker.history_bytes(), 900u);
}

TEST_F(Broker, HistoryExpiresAfterItsTtl) {
  config_.history_ttl = Milliseconds(1000);
  LocalBroker broker(config_);
  MessageId first = publish(broker, "x", "old");
  EXPECT_GT(broker.expire(unix_time_ms()), 0);
  broker.expire(unix_time_ms() + 2000);
  EXPECT_EQ(broker.history_bytes(), 0u);
  EXPECT_EQ(history(broker, "x", MessageId{first.epoch, 0}).status, static_cast<std::uint32_t>(HistoryStatus::gap));
}

TEST_F(Broker, MaxChannelsForgetsIdleChannelsAndThenRefuses) {
  config_.max_channels = 2;
  config_.history_size = 0;  // nothing kept: idle channels can be forgotten
  LocalBroker broker(config_);
  publish(broker, "a", "1");
  publish(broker, "b", "2");
  EXPECT_NE(publish(broker, "c", "3").sequence, 0u);  // a and b were forgotten
  PubsubFrame count = frame(PubsubType::subscribers, "c");
  count.count = 4;
  broker.handle(a_, count, links_);
  PubsubFrame count_d = frame(PubsubType::subscribers, "d");
  count_d.count = 1;
  broker.handle(a_, count_d, links_);
  // c and d have subscribers: a third channel is refused.
  broker.handle(a_, frame(PubsubType::publish, "e", "x"), links_);
  auto frames = drain(a_);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].status, static_cast<std::uint32_t>(PublishStatus::too_many_channels));
}

TEST_F(Broker, SubscriberCountsAreSummedOverWorkersAndForgottenWithAWorker) {
  LocalBroker broker(config_);
  PubsubFrame count = frame(PubsubType::subscribers, "x");
  count.count = 3;
  broker.handle(a_, count, links_);
  count.count = 2;
  broker.handle(b_, count, links_);
  broker.handle(a_, frame(PubsubType::info, "x"), links_);
  auto info = drain(a_);
  ASSERT_EQ(info.size(), 1u);
  EXPECT_EQ(info[0].count, 5u);
  broker.forget_link(a_);
  broker.handle(a_, frame(PubsubType::info, "x"), links_);
  EXPECT_EQ(drain(a_).at(0).count, 2u);
}
