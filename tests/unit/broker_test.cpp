// The local broker's rules without processes: ids, history limits, resume and gaps, channel
// limits, subscriber counts. Frames go into PubsubLink output buffers and are decoded back.
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <list>
#include <string>
#include <vector>

#include "core/pubsub_wire.h"
#include "master/broker.h"
#include "support/wait_until.h"

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

// Message times are wall-clock: a clock set back an hour makes a message look newer, not so
// old that it expires.
TEST_F(Broker, AWallClockSetBackExpiresNothing) {
  config_.history_ttl = Milliseconds(60'000);
  LocalBroker broker(config_);
  MessageId first = publish(broker, "x", "kept");
  EXPECT_GT(broker.expire(unix_time_ms() - 3'600'000), 0);
  auto reply = history(broker, "x", MessageId{first.epoch, 0});
  EXPECT_EQ(reply.status, static_cast<std::uint32_t>(HistoryStatus::complete));
  ASSERT_EQ(reply.history.size(), 1u);
  EXPECT_EQ(reply.history[0].data, "kept");
}

// history_ttl = 0: every message expires as it is published, as with history_size = 0.
TEST_F(Broker, AZeroHistoryTtlKeepsNothingAndResumingIsAGap) {
  config_.history_ttl = Milliseconds(0);
  LocalBroker broker(config_);
  MessageId first = publish(broker, "x", "a");
  MessageId second = publish(broker, "x", "b");
  EXPECT_EQ(second.sequence, first.sequence + 1);
  EXPECT_EQ(broker.history_bytes(), 0u);
  EXPECT_EQ(broker.expire(unix_time_ms()), -1);  // nothing left to expire: no timer
  auto reply = history(broker, "x", first);
  EXPECT_EQ(reply.status, static_cast<std::uint32_t>(HistoryStatus::gap));
  EXPECT_TRUE(reply.history.empty());
  EXPECT_EQ(history(broker, "x", second).status, static_cast<std::uint32_t>(HistoryStatus::complete));
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
  publish(broker, "d", "4");
  // c and d hold messages and have subscribers: a third channel is refused.
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

namespace {

std::string publish_frame(std::string_view channel, std::string_view data) {
  std::string out;
  pubsub_frame::publish(out, 1, channel, data);
  return out;
}

}  // namespace

TEST(PubsubWire, AFrameLongerThanTheLimitIsRefusedFromItsHeaderAlone) {
  std::string header = publish_frame("x", std::string(1000, 'a')).substr(0, 5);
  PubsubFrameSpan span = next_pubsub_frame(header, 100);
  EXPECT_EQ(span.result, PubsubFrameSpan::Result::too_long);
  EXPECT_GT(span.length, 100u);
  EXPECT_EQ(next_pubsub_frame(header, 2000).result, PubsubFrameSpan::Result::need_more);
}

TEST(PubsubWire, ATruncatedFrameWaitsForTheRest) {
  std::string frame = publish_frame("news", "hello");
  for (std::size_t n = 0; n < frame.size(); ++n)
    EXPECT_EQ(next_pubsub_frame(std::string_view(frame).substr(0, n), 1000).result, PubsubFrameSpan::Result::need_more) << n;
  std::string followed = frame + "next";
  PubsubFrameSpan span = next_pubsub_frame(followed, 1000);
  ASSERT_EQ(span.result, PubsubFrameSpan::Result::frame);
  EXPECT_EQ(span.size, frame.size());
  PubsubFrame decoded;
  ASSERT_TRUE(decode_pubsub_frame(span.type, span.body, &decoded));
  EXPECT_EQ(decoded.channel, "news");
  EXPECT_EQ(decoded.data, "hello");
}

TEST(PubsubWire, GarbageBodiesAreMalformed) {
  std::string body = publish_frame("news", "hello").substr(5);
  PubsubFrame f;
  for (std::size_t n = 0; n < body.size(); ++n)
    EXPECT_FALSE(decode_pubsub_frame(PubsubType::publish, std::string_view(body).substr(0, n), &f)) << n;
  EXPECT_FALSE(decode_pubsub_frame(PubsubType::publish, body + "x", &f));  // trailing bytes
  EXPECT_FALSE(decode_pubsub_frame(static_cast<PubsubType>(99), body, &f));
  std::string lying = body;
  std::uint32_t huge = 0xfffffff0;
  std::memcpy(lying.data() + 8, &huge, sizeof huge);  // the channel's length
  EXPECT_FALSE(decode_pubsub_frame(PubsubType::publish, lying, &f));
  std::string reply;
  std::size_t begin = pubsub_frame::history_reply_begin(reply, 1, HistoryStatus::complete, 1, 1000000);
  pubsub_frame::history_reply_end(reply, begin);  // claims a million entries, holds none
  EXPECT_FALSE(decode_pubsub_frame(PubsubType::history_reply, std::string_view(reply).substr(5), &f));
}

TEST(PubsubWire, AHistoryReplyLongerThanAFrameIsTakenBackOut) {
  std::string out = "kept";
  std::size_t begin = pubsub_frame::history_reply_begin(out, 1, HistoryStatus::complete, 1, 2);
  pubsub_frame::history_reply_entry(out, StoredMessage{1, 0, std::string(600, 'a')});
  pubsub_frame::history_reply_entry(out, StoredMessage{2, 0, std::string(600, 'b')});
  EXPECT_FALSE(pubsub_frame::history_reply_end(out, begin, 1000));
  EXPECT_EQ(out, "kept");
}

TEST(PubsubWire, AWorkersFrameLimitFitsItsLargestPublish) {
  std::string frame = publish_frame(std::string(kMaxChannelName, 'c'), std::string(4096, 'd'));
  EXPECT_EQ(next_pubsub_frame(frame, max_worker_frame(4096)).result, PubsubFrameSpan::Result::frame);
  frame = publish_frame("c", std::string(4096 + kMaxChannelName + 1, 'd'));
  EXPECT_EQ(next_pubsub_frame(frame, max_worker_frame(4096)).result, PubsubFrameSpan::Result::too_long);
}

// Every frame a worker sends, at the longest channel name and the smallest max_message_size
// ([pubsub] allows 1 byte): a history request is then longer than the largest publish.
TEST(PubsubWire, AWorkersFrameLimitFitsEveryFrameAWorkerSendsAtTheLongestChannelName) {
  const std::string channel(kMaxChannelName, 'c');
  ASSERT_EQ(channel_name_problem(channel), nullptr);
  for (std::uint64_t max_message_size : {1u, 7u, 8u, 4096u}) {
    std::vector<std::string> frames(4);
    pubsub_frame::publish(frames[0], UINT64_MAX, channel, std::string(max_message_size, 'd'));
    pubsub_frame::history(frames[1], UINT64_MAX, channel, MessageId{UINT32_MAX, UINT64_MAX});
    pubsub_frame::subscribers(frames[2], channel, UINT64_MAX);
    pubsub_frame::info(frames[3], UINT64_MAX, channel);
    for (const std::string& frame : frames) {
      PubsubFrameSpan span = next_pubsub_frame(frame, max_worker_frame(max_message_size));
      EXPECT_EQ(span.result, PubsubFrameSpan::Result::frame)
          << "type " << int(frame[4]) << ", max_message_size " << max_message_size << ": " << frame.size() - 5
          << " bytes, limit " << max_worker_frame(max_message_size);
    }
  }
}

namespace {

struct LinkPair {
  LinkPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0); }
  ~LinkPair() {
    ::close(fds[0]);
    ::close(fds[1]);
  }
  void send_all(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fds[1], bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }
  int fds[2] = {-1, -1};
};

const char* accept_frame(const PubsubFrame&) { return nullptr; }

}  // namespace

TEST(PubsubLinkHardening, AnOversizedFrameBreaksTheLinkBeforeItIsBuffered) {
  LinkPair pair;
  PubsubLink link(pair.fds[0], max_worker_frame(1024));
  std::string frame = publish_frame("x", std::string(1024, 'a'));
  pair.send_all(frame);
  int handled = 0;
  auto count = [&](const PubsubFrame&) -> const char* {
    ++handled;
    return nullptr;
  };
  EXPECT_EQ(link.read(count), PubsubLink::ReadResult::open);
  EXPECT_EQ(handled, 1);
  std::string header(5, '\0');
  std::uint32_t length = 1u << 30;  // a gigabyte announced, five bytes sent
  std::memcpy(header.data(), &length, sizeof length);
  header[4] = static_cast<char>(PubsubType::publish);
  pair.send_all(header);
  EXPECT_EQ(link.read(count), PubsubLink::ReadResult::broken);
  EXPECT_NE(link.problem().find("1073741824 bytes"), std::string::npos) << link.problem();
}

TEST(PubsubLinkHardening, AMalformedOrRefusedFrameBreaksTheLink) {
  {
    LinkPair pair;
    PubsubLink link(pair.fds[0]);
    std::string frame = publish_frame("x", "data");
    frame[4] = static_cast<char>(77);
    pair.send_all(frame);
    EXPECT_EQ(link.read(accept_frame), PubsubLink::ReadResult::broken);
    EXPECT_NE(link.problem().find("malformed"), std::string::npos) << link.problem();
  }
  LinkPair pair;
  PubsubLink link(pair.fds[0]);
  pair.send_all(publish_frame("x", "data"));
  EXPECT_EQ(link.read([](const PubsubFrame&) { return "is refused"; }), PubsubLink::ReadResult::broken);
  EXPECT_NE(link.problem().find("is refused"), std::string::npos) << link.problem();
}

TEST(PubsubLinkHardening, OneReadTakesABoundedNumberOfBytes) {
  LinkPair pair;
  PubsubLink link(pair.fds[0]);
  std::string frame = publish_frame("x", std::string(1000, 'a'));
  constexpr std::size_t kFrames = 4 * PubsubLink::kReadBudget / 1000;
  std::string all;
  for (std::size_t i = 0; i < kFrames; ++i) all += frame;
  std::atomic<bool> written{false};
  std::thread writer([&] {
    pair.send_all(all);
    ::shutdown(pair.fds[1], SHUT_WR);
    written = true;
  });
  std::size_t handled = 0, most_in_one_read = 0;
  auto count = [&](const PubsubFrame&) -> const char* {
    ++handled;
    return nullptr;
  };
  // The writer has filled the socket (it is blocked, or near it: a Unix socket stops polling
  // writable at a quarter of its buffer) or has written everything.
  auto filled = [&] {
    pollfd p{pair.fds[1], POLLOUT, 0};
    return written || (::poll(&p, 1, 0) >= 0 && !(p.revents & POLLOUT));
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  PubsubLink::ReadResult result = PubsubLink::ReadResult::open;
  while (result == PubsubLink::ReadResult::open && std::chrono::steady_clock::now() < deadline) {
    std::size_t before = handled;
    // Each read starts with as much waiting as the writer can give it. Not filled within the
    // second: read what there is (only the deadline above fails the test).
    tether::test::wait_until(filled, std::chrono::seconds(1), std::chrono::milliseconds(1));
    result = link.read(count);
    most_in_one_read = std::max(most_in_one_read, handled - before);
  }
  if (result == PubsubLink::ReadResult::open) ::shutdown(pair.fds[0], SHUT_RDWR);  // unblocks the writer
  writer.join();
  ASSERT_EQ(result, PubsubLink::ReadResult::closed) << "the link did not read the writer's end within 30 s";
  EXPECT_EQ(handled, kFrames);
  EXPECT_LE(most_in_one_read * frame.size(), PubsubLink::kReadBudget + frame.size());
}

TEST(PubsubLinkHardening, APeerThatDoesNotReadItsRepliesIsNotHeardUntilItDoes) {
  LinkPair pair;
  PubsubLink link(pair.fds[0], kMaxFrameBody, 4096);
  for (int i = 0; i < 10; ++i) pair.send_all(publish_frame("x", "ask"));
  int handled = 0;
  auto answer_big = [&](const PubsubFrame&) -> const char* {
    ++handled;
    link.output().append(3000, 'r');  // a large reply, as to a history request
    return nullptr;
  };
  EXPECT_EQ(link.read(answer_big), PubsubLink::ReadResult::open);
  EXPECT_EQ(handled, 2);  // paused once 4096 bytes wait for the peer
  EXPECT_FALSE(link.wants_read());
  EXPECT_TRUE(link.has_buffered_frame());
  EXPECT_EQ(link.read(answer_big), PubsubLink::ReadResult::open);
  EXPECT_EQ(handled, 2);
  link.output().clear();  // the peer read its replies
  EXPECT_EQ(link.read(answer_big), PubsubLink::ReadResult::open);
  EXPECT_EQ(handled, 4);
  link.output().clear();
  for (int i = 0; i < 20 && handled < 10; ++i) {
    link.read(answer_big);
    link.output().clear();
  }
  EXPECT_EQ(handled, 10);
}

TEST_F(Broker, FramesNamingInvalidChannelsOrSentOnlyByTheMasterBreakTheProtocol) {
  LocalBroker broker(config_);
  for (const std::string& bad : {std::string(), std::string("a b"), std::string(129, 'a'), std::string("x\0y", 3)}) {
    EXPECT_NE(broker.handle(a_, frame(PubsubType::publish, bad, "x"), links_), nullptr) << bad;
    EXPECT_NE(broker.handle(a_, frame(PubsubType::subscribers, bad), links_), nullptr) << bad;
    EXPECT_NE(broker.handle(a_, frame(PubsubType::history, bad), links_), nullptr) << bad;
    EXPECT_NE(broker.handle(a_, frame(PubsubType::info, bad), links_), nullptr) << bad;
  }
  EXPECT_NE(broker.handle(a_, frame(PubsubType::message, "x", "y"), links_), nullptr);
  EXPECT_NE(broker.handle(a_, frame(PubsubType::history_reply, "x"), links_), nullptr);
  EXPECT_EQ(broker.channel_count(), 0u);
  EXPECT_TRUE(a_.output().empty());
  EXPECT_EQ(broker.handle(a_, frame(PubsubType::publish, "ok", "x"), links_), nullptr);
}

TEST_F(Broker, EmptyMessagesCountAgainstHistoryMemory) {
  config_.history_memory = 64 * 1024;
  config_.history_size = 1'000'000;
  LocalBroker broker(config_);
  MessageId first = publish(broker, "x", "");
  for (int i = 0; i < 10'000; ++i) publish(broker, "x", "");
  EXPECT_LE(broker.history_bytes(), config_.history_memory);
  EXPECT_GE(broker.history_bytes(), config_.history_memory / 2);
  auto reply = history(broker, "x", first);
  EXPECT_EQ(reply.status, static_cast<std::uint32_t>(HistoryStatus::gap));
  EXPECT_LT(reply.history.size(), 2000u);
}

TEST_F(Broker, AChannelsNameCountsWhileItHoldsHistory) {
  config_.history_ttl = Milliseconds(1000);
  LocalBroker broker(config_);
  std::string name(100, 'n');
  publish(broker, name, "1");
  std::uint64_t one = broker.history_bytes();
  EXPECT_GE(one, name.size() + 1 + LocalBroker::kEntryOverhead);
  publish(broker, name, "2");
  EXPECT_EQ(broker.history_bytes(), one + 1 + LocalBroker::kEntryOverhead);  // the name once
  broker.expire(unix_time_ms() + 2000);
  EXPECT_EQ(broker.history_bytes(), 0u);
}

TEST_F(Broker, SubscribersNeverTakeRoomFromPublishing) {
  config_.max_channels = 4;
  LocalBroker broker(config_);
  for (int i = 0; i < 100; ++i) {
    std::string name = "sub" + std::to_string(i);
    PubsubFrame count = frame(PubsubType::subscribers, name);
    count.count = 1;
    EXPECT_EQ(broker.handle(i % 2 ? a_ : b_, count, links_), nullptr);
  }
  EXPECT_LE(broker.channel_count(), 4u);  // subscriber-only channels are bounded too
  for (int i = 0; i < 4; ++i) EXPECT_NE(publish(broker, "new" + std::to_string(i), "x").sequence, 0u) << i;
  EXPECT_EQ(broker.message_channel_count(), 4u);
  // A subscribed channel that gets a message becomes one that holds messages, within the limit.
  broker.handle(a_, frame(PubsubType::publish, "sub0", "x"), links_);
  auto frames = drain(a_);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames[0].status, static_cast<std::uint32_t>(PublishStatus::too_many_channels));
}

TEST_F(Broker, ASubscriberOnlyChannelIsForgottenWithItsLastSubscriber) {
  LocalBroker broker(config_);
  PubsubFrame count = frame(PubsubType::subscribers, "x");
  count.count = 3;
  broker.handle(a_, count, links_);
  broker.handle(b_, count, links_);
  PubsubFrame other = frame(PubsubType::subscribers, "y");
  other.count = 1;
  broker.handle(a_, other, links_);
  EXPECT_EQ(broker.channel_count(), 2u);
  broker.forget_link(a_);  // its worker is gone: y has no subscriber left
  EXPECT_EQ(broker.channel_count(), 1u);
  count.count = 0;
  broker.handle(b_, count, links_);
  EXPECT_EQ(broker.channel_count(), 0u);
  broker.handle(a_, frame(PubsubType::info, "x"), links_);
  EXPECT_EQ(drain(a_).at(0).count, 0u);
}

TEST_F(Broker, SubscriberCountsThatWouldWrapSaturate) {
  LocalBroker broker(config_);
  PubsubFrame count = frame(PubsubType::subscribers, "x");
  count.count = UINT64_MAX;
  broker.handle(a_, count, links_);
  count.count = 2;
  broker.handle(b_, count, links_);
  broker.handle(a_, frame(PubsubType::info, "x"), links_);
  EXPECT_EQ(drain(a_).at(0).count, UINT64_MAX);
}
