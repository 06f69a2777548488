// The hub between a FakeBroker (in place of the master's link) and RecordingSinks (in place of
// connections): what reaches the broker when something is published or subscribed, and what the
// hub queues and flushes on its subscribers when the broker delivers, answers a resume, or a
// subscriber overflows.
#include <gtest/gtest.h>

#include <uv.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "fake_broker.h"
#include "recording_sink.h"
#include "worker/pubsub/pubsub_hub.h"

using namespace tether;
using tether::test::FakeBroker;
using tether::test::RecordingSink;

namespace {

// A feed's wire format as a module would give it: "<tag> <id> <data>" per message, and
// "<tag> GAP <channel> <since>" or "<tag> DROPPED <count>" per notice; it counts its calls.
struct TestFormat {
  std::string tag;
  int messages_encoded = 0;
  int notices_encoded = 0;

  static int encode_message(void* user, const tether_message* m, tether_buffer* out) {
    auto& format = *static_cast<TestFormat*>(user);
    ++format.messages_encoded;
    std::string text = format.tag + " " + std::string(m->id, m->id_length) + " " + std::string(static_cast<const char*>(m->data), m->data_length);
    PubsubHub::buffer_append(out, text.data(), text.size());
    return TETHER_OK;
  }
  static int encode_notice(void* user, const tether_notice* n, tether_buffer* out) {
    auto& format = *static_cast<TestFormat*>(user);
    ++format.notices_encoded;
    std::string text = format.tag;
    if (n->kind == TETHER_NOTICE_GAP)
      text += " GAP " + std::string(n->channel, n->channel_length) + " " + std::string(n->since, n->since_length);
    else
      text += " DROPPED " + std::to_string(n->count);
    PubsubHub::buffer_append(out, text.data(), text.size());
    return TETHER_OK;
  }
  tether_feed_format format(bool with_notices = true) {
    tether_feed_format f{};
    f.size = sizeof f;
    f.encode_message = encode_message;
    f.encode_notice = with_notices ? encode_notice : nullptr;
    f.user = this;
    return f;
  }
};

// "<tag> <id> <data>", as TestFormat encodes a message.
std::string frame_text(const std::string& tag, MessageId id, const std::string& data) {
  return tag + " " + id.to_string() + " " + data;
}

using Counts = std::vector<std::pair<std::string, std::uint64_t>>;

class PubsubHubTest : public ::testing::Test {
 protected:
  PubsubHubTest() {
    uv_loop_init(&loop_);
    config_.max_message_size = 16;
    auto broker = std::make_unique<FakeBroker>();
    broker_ = broker.get();
    hub_ = std::make_unique<PubsubHub>(&loop_, std::move(broker), config_, 0, 0);
    feed_ = hub_->create_feed(format_.format());
  }
  ~PubsubHubTest() override {
    hub_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // the flush timer's close callback
    uv_loop_close(&loop_);
  }

  uv_loop_t loop_{};
  PubsubConfig config_;
  FakeBroker* broker_ = nullptr;  // owned by the hub
  std::unique_ptr<PubsubHub> hub_;
  TestFormat format_{"A"};
  Feed* feed_ = nullptr;  // format_'s
};

}  // namespace

TEST_F(PubsubHubTest, AModulesPublishGoesToTheBrokerWithoutAskingForAReply) {
  EXPECT_EQ(hub_->publish("news", "hello"), PublishCheck::accepted);
  ASSERT_EQ(broker_->published.size(), 1u);
  EXPECT_EQ(broker_->published[0].channel, "news");
  EXPECT_EQ(broker_->published[0].data, "hello");
  EXPECT_EQ(broker_->published[0].request, 0u);
}

TEST_F(PubsubHubTest, APublishToAnInvalidChannelNeverReachesTheBroker) {
  EXPECT_EQ(hub_->publish("", "x"), PublishCheck::invalid_channel);
  EXPECT_EQ(hub_->publish("no spaces", "x"), PublishCheck::invalid_channel);
  EXPECT_EQ(hub_->publish(std::string(kMaxChannelName + 1, 'a'), "x"), PublishCheck::invalid_channel);
  EXPECT_TRUE(broker_->published.empty());
}

TEST_F(PubsubHubTest, ARefusedChannelNameComesWithTheReasonForThePublisher) {
  EXPECT_STREQ(hub_->publish("", "x").problem, "the channel name is empty");
  EXPECT_STREQ(hub_->publish("no spaces", "x").problem, channel_name_problem("no spaces"));
  EXPECT_EQ(hub_->publish("news", "x").problem, nullptr);
}

TEST_F(PubsubHubTest, AMessageOverMaxMessageSizeNeverReachesTheBroker) {
  EXPECT_EQ(hub_->publish("news", std::string(17, 'x')), PublishCheck::too_large);
  EXPECT_TRUE(broker_->published.empty());
  EXPECT_EQ(hub_->publish("news", std::string(16, 'x')), PublishCheck::accepted);
  EXPECT_EQ(broker_->published.size(), 1u);
}

TEST_F(PubsubHubTest, APublisherWaitingForItsIdGetsTheBrokersAnswer) {
  Broker::Request request = 0;
  std::optional<PublishResult> answer;
  ASSERT_EQ(hub_->publish("news", "hello", [&](const PublishResult& r) { answer = r; }, &request), PublishCheck::accepted);
  ASSERT_NE(request, 0u);
  EXPECT_EQ(broker_->published.at(0).request, request);
  EXPECT_FALSE(answer);  // nothing before the broker answers
  ASSERT_TRUE(broker_->answer_publish(request, PublishResult{BrokerError::none, MessageId{7, 42}}));
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->error, BrokerError::none);
  EXPECT_EQ(answer->id.sequence, 42u);
}

TEST_F(PubsubHubTest, ARefusedPublishAsksTheBrokerForNoAnswer) {
  Broker::Request request = 99;
  bool answered = false;
  EXPECT_EQ(hub_->publish("news", std::string(17, 'x'), [&](const PublishResult&) { answered = true; }, &request),
            PublishCheck::too_large);
  EXPECT_EQ(request, 99u);  // untouched: there is nothing to cancel
  EXPECT_FALSE(answered);
  EXPECT_TRUE(broker_->published.empty());
}

TEST_F(PubsubHubTest, ClosingTheHubClosesItsBroker) {
  ASSERT_NE(broker_->delivery(), nullptr);  // the hub takes what the broker relays
  hub_->close();
  EXPECT_TRUE(broker_->closed);
}

// --- Subscribers ---

TEST_F(PubsubHubTest, TheBrokerHearsTheSubscriberCountFromTheFirstSubscriberToAfterTheLast) {
  RecordingSink a, b, c;
  for (RecordingSink* sink : {&a, &b, &c}) ASSERT_EQ(hub_->subscribe(sink, *feed_, "news", std::nullopt), TETHER_OK);
  EXPECT_EQ(hub_->subscribe(&b, *feed_, "news", std::nullopt), TETHER_OK);  // already subscribed: not counted twice
  EXPECT_EQ(broker_->subscriber_counts, (Counts{{"news", 1}, {"news", 2}, {"news", 3}}));
  hub_->stream_closed(b);
  hub_->stream_closed(a);
  hub_->stream_closed(c);
  EXPECT_EQ(broker_->subscriber_counts,
            (Counts{{"news", 1}, {"news", 2}, {"news", 3}, {"news", 2}, {"news", 1}, {"news", 0}}));
}

TEST_F(PubsubHubTest, ASinkThatLeavesEndsItsInterestInEveryChannelItSubscribedTo) {
  RecordingSink sink;
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "sport", std::nullopt), TETHER_OK);
  hub_->stream_closed(sink);
  Counts last(broker_->subscriber_counts.end() - 2, broker_->subscriber_counts.end());
  std::sort(last.begin(), last.end());
  EXPECT_EQ(last, (Counts{{"news", 0}, {"sport", 0}}));
  broker_->deliver("news", MessageId{1, 1}, "late");
  EXPECT_EQ(sink.offered, 0u);  // forgotten: nothing is queued on it any more
}

TEST_F(PubsubHubTest, ASubscriptionIsRefusedForAnInvalidChannelASinkTakingNoFramesOrOneOverMaxSubscriptions) {
  RecordingSink sink;
  EXPECT_EQ(hub_->subscribe(&sink, *feed_, "no spaces", std::nullopt), TETHER_ERROR);
  EXPECT_EQ(hub_->subscribe(nullptr, *feed_, "news", std::nullopt), TETHER_ERROR);
  for (std::uint64_t i = 0; i < config_.max_subscriptions; ++i)
    ASSERT_EQ(hub_->subscribe(&sink, *feed_, "c" + std::to_string(i), std::nullopt), TETHER_OK);
  EXPECT_EQ(hub_->subscribe(&sink, *feed_, "one-more", std::nullopt), TETHER_ERROR);
  EXPECT_EQ(broker_->subscriber_counts.size(), config_.max_subscriptions);

  RecordingSink closed;
  closed.room = 0;
  closed.queue_frame(FrameRef::copy_of("x"));  // overflows: takes no frames any more
  EXPECT_EQ(hub_->subscribe(&closed, *feed_, "news", std::nullopt), TETHER_ERROR);
  hub_->stream_closed(sink);
}

// --- Delivery ---

TEST_F(PubsubHubTest, AMessageIsEncodedOncePerFeedAndTheSameFrameIsQueuedOnEverySubscriberOfThatFeed) {
  TestFormat other{"B"};
  Feed* feed_b = hub_->create_feed(other.format());
  RecordingSink a1, a2, b1;
  ASSERT_EQ(hub_->subscribe(&a1, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&a2, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&b1, *feed_b, "news", std::nullopt), TETHER_OK);

  broker_->deliver("news", MessageId{1, 1}, "hello");
  EXPECT_EQ(format_.messages_encoded, 1);
  EXPECT_EQ(other.messages_encoded, 1);
  ASSERT_EQ(a1.frames.size(), 1u);
  ASSERT_EQ(a2.frames.size(), 1u);
  EXPECT_EQ(a1.frames[0].data(), a2.frames[0].data());  // one frame, not two equal copies
  EXPECT_EQ(a1.texts(), std::vector<std::string>{frame_text("A", MessageId{1, 1}, "hello")});
  EXPECT_EQ(b1.texts(), std::vector<std::string>{frame_text("B", MessageId{1, 1}, "hello")});
  for (RecordingSink* sink : {&a1, &a2, &b1}) hub_->stream_closed(*sink);
}

TEST_F(PubsubHubTest, ChunkedSinksShareOneChunkOfTheMessageAndOthersTheBareFrame) {
  RecordingSink plain, chunked1(true), chunked2(true);
  for (RecordingSink* sink : {&plain, &chunked1, &chunked2})
    ASSERT_EQ(hub_->subscribe(sink, *feed_, "news", std::nullopt), TETHER_OK);
  broker_->deliver("news", MessageId{1, 1}, "hi");
  std::string bare = frame_text("A", MessageId{1, 1}, "hi");
  EXPECT_EQ(format_.messages_encoded, 1);
  EXPECT_EQ(plain.texts(), std::vector<std::string>{bare});
  EXPECT_EQ(chunked1.texts(), std::vector<std::string>{std::string(chunk_frame(bare).view())});
  ASSERT_EQ(chunked2.frames.size(), 1u);
  EXPECT_EQ(chunked1.frames[0].data(), chunked2.frames[0].data());
  for (RecordingSink* sink : {&plain, &chunked1, &chunked2}) hub_->stream_closed(*sink);
}

TEST_F(PubsubHubTest, AMessageForAChannelWithoutSubscribersHereIsNotEncoded) {
  RecordingSink sink;
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::nullopt), TETHER_OK);
  broker_->deliver("sport", MessageId{1, 1}, "goal");
  EXPECT_EQ(format_.messages_encoded, 0);
  EXPECT_EQ(sink.offered, 0u);
  hub_->stream_closed(sink);
}

TEST_F(PubsubHubTest, ASinkIsFlushedOncePerBatchNotOncePerMessageOrChannel) {
  RecordingSink sink;
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "sport", std::nullopt), TETHER_OK);
  broker_->deliver("news", MessageId{1, 1}, "one");
  broker_->deliver("sport", MessageId{1, 2}, "two");
  broker_->deliver("news", MessageId{1, 3}, "three");
  EXPECT_EQ(sink.flushes, 0u);  // not before the batch ends
  EXPECT_EQ(sink.frames.size(), 3u);
  broker_->end_batch();
  EXPECT_EQ(sink.flushes, 1u);
  broker_->end_batch();  // nothing new: no flush
  EXPECT_EQ(sink.flushes, 1u);
  broker_->deliver("news", MessageId{1, 4}, "four");
  broker_->end_batch();
  EXPECT_EQ(sink.flushes, 2u);
  hub_->stream_closed(sink);
}

TEST_F(PubsubHubTest, ASinkThatLeavesBeforeItsBatchEndsIsNotFlushed) {
  RecordingSink leaving, staying;
  ASSERT_EQ(hub_->subscribe(&leaving, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&staying, *feed_, "news", std::nullopt), TETHER_OK);
  broker_->deliver("news", MessageId{1, 1}, "one");
  hub_->stream_closed(leaving);
  broker_->end_batch();
  EXPECT_EQ(leaving.flushes, 0u);
  EXPECT_EQ(staying.flushes, 1u);
  hub_->stream_closed(staying);
}

// --- Overflow ---

TEST_F(PubsubHubTest, ASinkThatOverflowsInADeliveryIsNotFlushedAndTheOthersStillGetTheMessage) {
  RecordingSink full, before, after;
  full.room = 0;
  full.on_overflow = [this](RecordingSink& s) { hub_->stream_closed(s); };  // the disconnect policy
  // A channel's newest subscriber comes first: `full` overflows between the other two.
  ASSERT_EQ(hub_->subscribe(&after, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&full, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&before, *feed_, "news", std::nullopt), TETHER_OK);
  broker_->deliver("news", MessageId{1, 1}, "one");
  broker_->end_batch();
  EXPECT_EQ(full.offered, 1u);
  EXPECT_EQ(full.flushes, 0u);
  EXPECT_EQ(before.frames.size(), 1u);
  EXPECT_EQ(after.frames.size(), 1u);
  EXPECT_EQ(before.flushes, 1u);
  EXPECT_EQ(after.flushes, 1u);
  EXPECT_EQ(broker_->subscriber_counts.back(), (std::pair<std::string, std::uint64_t>{"news", 2}));
  broker_->deliver("news", MessageId{1, 2}, "two");
  EXPECT_EQ(full.offered, 1u);  // it left
  hub_->stream_closed(before);
  hub_->stream_closed(after);
}

TEST_F(PubsubHubTest, TheOnlySubscriberOfAChannelOverflowingEndsTheChannelsInterest) {
  RecordingSink full;
  full.room = 0;
  full.on_overflow = [this](RecordingSink& s) { hub_->stream_closed(s); };
  ASSERT_EQ(hub_->subscribe(&full, *feed_, "news", std::nullopt), TETHER_OK);
  broker_->deliver("news", MessageId{1, 1}, "one");  // the channel goes away inside its own delivery
  broker_->end_batch();
  EXPECT_EQ(full.flushes, 0u);
  EXPECT_EQ(broker_->subscriber_counts, (Counts{{"news", 1}, {"news", 0}}));
}

TEST_F(PubsubHubTest, ASinkThatRefusesAFrameOfItsHistoryIsOfferedNoMoreOfItAndNotFlushed) {
  for (bool ends_its_stream : {false, true}) {
    SCOPED_TRACE(ends_its_stream ? "the sink ends its stream" : "the sink only refuses");
    RecordingSink sink;
    sink.room = 1;
    if (ends_its_stream) sink.on_overflow = [this](RecordingSink& s) { hub_->stream_closed(s); };
    ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::string_view(MessageId{1, 1}.to_string())), TETHER_OK);
    const BrokerMessage history[] = {{"news", MessageId{1, 2}, 0, "two"},
                                     {"news", MessageId{1, 3}, 0, "three"},
                                     {"news", MessageId{1, 4}, 0, "four"}};
    ASSERT_TRUE(broker_->answer_history(broker_->history_asked.back().request,
                                        HistoryResult{HistoryResult::Status::complete, history}));
    broker_->end_batch();
    EXPECT_EQ(sink.offered, 2u);  // one taken, one refused, then no more
    EXPECT_EQ(sink.frames.size(), 1u);
    EXPECT_EQ(sink.flushes, 0u);
    hub_->stream_closed(sink);
  }
}

TEST_F(PubsubHubTest, TheDroppedNoticeIsEncodedWithTheSinksFeedAndFramedForIt) {
  RecordingSink plain, chunked(true), unsubscribed;
  ASSERT_EQ(hub_->subscribe(&plain, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&chunked, *feed_, "news", std::nullopt), TETHER_OK);
  EXPECT_EQ(hub_->dropped_notice(plain, 5).view(), "A DROPPED 5");
  EXPECT_EQ(hub_->dropped_notice(chunked, 7).view(), chunk_frame("A DROPPED 7").view());
  EXPECT_FALSE(hub_->dropped_notice(unsubscribed, 5));  // no feed to say it in

  TestFormat quiet{"Q"};
  Feed* no_notices = hub_->create_feed(quiet.format(false));
  RecordingSink on_quiet;
  ASSERT_EQ(hub_->subscribe(&on_quiet, *no_notices, "news", std::nullopt), TETHER_OK);
  EXPECT_FALSE(hub_->dropped_notice(on_quiet, 5));
  for (RecordingSink* sink : {&plain, &chunked, &on_quiet}) hub_->stream_closed(*sink);
}

// --- Resume ---

TEST_F(PubsubHubTest, AResumingSubscriberGetsTheHistoryBeforeLaterLiveMessagesAndNoneTwice) {
  RecordingSink live, resuming;
  ASSERT_EQ(hub_->subscribe(&live, *feed_, "news", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&resuming, *feed_, "news", std::string_view(MessageId{1, 5}.to_string())), TETHER_OK);
  ASSERT_EQ(broker_->history_asked.size(), 1u);  // only the one with `since` asks
  EXPECT_EQ(broker_->history_asked[0].channel, "news");
  EXPECT_EQ(broker_->history_asked[0].since.epoch, 1u);
  EXPECT_EQ(broker_->history_asked[0].since.sequence, 5u);

  // Sequenced before the broker answered: the answer holds it too.
  broker_->deliver("news", MessageId{1, 7}, "seven");
  broker_->end_batch();
  EXPECT_EQ(resuming.offered, 0u);
  EXPECT_EQ(live.frames.size(), 1u);

  const BrokerMessage history[] = {{"news", MessageId{1, 6}, 0, "six"}, {"news", MessageId{1, 7}, 0, "seven"}};
  ASSERT_TRUE(broker_->answer_history(broker_->history_asked[0].request,
                                      HistoryResult{HistoryResult::Status::complete, history}));
  broker_->deliver("news", MessageId{1, 8}, "eight");
  broker_->end_batch();
  EXPECT_EQ(resuming.texts(), (std::vector<std::string>{frame_text("A", MessageId{1, 6}, "six"),
                                                        frame_text("A", MessageId{1, 7}, "seven"),
                                                        frame_text("A", MessageId{1, 8}, "eight")}));
  EXPECT_EQ(resuming.flushes, 1u);  // the history and the live message in one write
  EXPECT_EQ(live.texts(), (std::vector<std::string>{frame_text("A", MessageId{1, 7}, "seven"),
                                                    frame_text("A", MessageId{1, 8}, "eight")}));
  hub_->stream_closed(live);
  hub_->stream_closed(resuming);
}

TEST_F(PubsubHubTest, ALostPartOfTheHistoryOrABrokerThatCannotSayGivesAGapNoticeFirst) {
  for (auto status : {HistoryResult::Status::gap, HistoryResult::Status::unavailable}) {
    SCOPED_TRACE(status == HistoryResult::Status::gap ? "gap" : "unavailable");
    RecordingSink sink;
    std::string since = MessageId{1, 5}.to_string();
    ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::string_view(since)), TETHER_OK);
    const BrokerMessage history[] = {{"news", MessageId{1, 9}, 0, "nine"}};
    std::span<const BrokerMessage> held;
    if (status == HistoryResult::Status::gap) held = history;  // `unavailable` holds no messages
    ASSERT_TRUE(broker_->answer_history(broker_->history_asked.back().request, HistoryResult{status, held}));
    broker_->end_batch();
    std::vector<std::string> expected{"A GAP news " + since};
    if (status == HistoryResult::Status::gap) expected.push_back(frame_text("A", MessageId{1, 9}, "nine"));
    EXPECT_EQ(sink.texts(), expected);
    EXPECT_EQ(sink.flushes, 1u);
    hub_->stream_closed(sink);
  }
}

// A broker that finds live messages lost (Redis lost the channel) tells the live subscribers;
// one still waiting for its history learns it from its own reply instead.
TEST_F(PubsubHubTest, ALossTheBrokerFindsGivesLiveSubscribersAGapNotice) {
  RecordingSink live, resuming;
  ASSERT_EQ(hub_->subscribe(&live, *feed_, "news", std::nullopt), TETHER_OK);
  std::string since = MessageId{1, 2}.to_string();
  ASSERT_EQ(hub_->subscribe(&resuming, *feed_, "news", std::string_view(since)), TETHER_OK);
  broker_->delivery()->gap("news", MessageId{1, 7});
  broker_->delivery()->gap("sport", MessageId{1, 1});  // no subscriber here: nothing
  broker_->deliver("news", MessageId{2, 1}, "fresh");
  broker_->end_batch();
  EXPECT_EQ(live.texts(), (std::vector<std::string>{"A GAP news " + MessageId{1, 7}.to_string(),
                                                     frame_text("A", MessageId{2, 1}, "fresh")}));
  EXPECT_EQ(live.flushes, 1u);
  EXPECT_TRUE(resuming.texts().empty());
  hub_->stream_closed(live);
  hub_->stream_closed(resuming);
}

// As a message: one encoding per feed, the same frame on every subscriber of it.
TEST_F(PubsubHubTest, ALiveGapNoticeIsEncodedOncePerFeedForAllItsSubscribers) {
  RecordingSink a1, a2, a3;
  for (RecordingSink* sink : {&a1, &a2, &a3}) ASSERT_EQ(hub_->subscribe(sink, *feed_, "news", std::nullopt), TETHER_OK);
  broker_->delivery()->gap("news", MessageId{1, 7});
  EXPECT_EQ(format_.notices_encoded, 1);
  ASSERT_EQ(a1.frames.size(), 1u);
  ASSERT_EQ(a3.frames.size(), 1u);
  EXPECT_EQ(a1.frames[0].data(), a3.frames[0].data());
  EXPECT_EQ(a2.texts(), (std::vector<std::string>{"A GAP news " + MessageId{1, 7}.to_string()}));
  for (RecordingSink* sink : {&a1, &a2, &a3}) hub_->stream_closed(*sink);
}

TEST_F(PubsubHubTest, AResumeFromAnUnreadableIdAsksTheBrokerForTheHistoryFromNothing) {
  RecordingSink sink;
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::string_view("not-an-id")), TETHER_OK);
  ASSERT_EQ(broker_->history_asked.size(), 1u);
  EXPECT_EQ(broker_->history_asked[0].since.epoch, 0u);
  EXPECT_EQ(broker_->history_asked[0].since.sequence, 0u);
  hub_->stream_closed(sink);
}

TEST_F(PubsubHubTest, ASubscriberThatLeavesBeforeItsHistoryArrivesHasItsRequestCancelled) {
  RecordingSink sink;
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::string_view(MessageId{1, 5}.to_string())), TETHER_OK);
  ASSERT_EQ(broker_->history_asked.size(), 1u);
  Broker::Request request = broker_->history_asked[0].request;
  ASSERT_TRUE(broker_->history_pending(request));
  hub_->stream_closed(sink);
  EXPECT_EQ(broker_->cancelled, std::vector<Broker::Request>{request});
  EXPECT_FALSE(broker_->history_pending(request));
}

TEST_F(PubsubHubTest, ASubscriberThatGotItsHistoryCancelsNothingWhenItLeaves) {
  RecordingSink sink;
  ASSERT_EQ(hub_->subscribe(&sink, *feed_, "news", std::string_view(MessageId{1, 5}.to_string())), TETHER_OK);
  ASSERT_TRUE(broker_->answer_history(broker_->history_asked[0].request, HistoryResult{}));
  hub_->stream_closed(sink);
  EXPECT_TRUE(broker_->cancelled.empty());
}

// --- The busiest channels, for the status page ---

TEST_F(PubsubHubTest, TheBusiestChannelsComeMostSubscribersFirstWithTheMessagesDeliveredToThem) {
  RecordingSink a, b, c;
  for (RecordingSink* sink : {&a, &b, &c}) ASSERT_EQ(hub_->subscribe(sink, *feed_, "hot", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&a, *feed_, "warm", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&b, *feed_, "warm", std::nullopt), TETHER_OK);
  ASSERT_EQ(hub_->subscribe(&c, *feed_, "cold", std::nullopt), TETHER_OK);
  broker_->deliver("cold", MessageId{1, 1}, "x");
  broker_->deliver("cold", MessageId{1, 2}, "y");
  broker_->deliver("hot", MessageId{1, 1}, "z");
  broker_->end_batch();
  EXPECT_EQ(hub_->busiest_channels(10),
            (std::vector<ChannelLoad>{{"hot", 3, 1}, {"warm", 2, 0}, {"cold", 1, 2}}));
  EXPECT_EQ(hub_->busiest_channels(2), (std::vector<ChannelLoad>{{"hot", 3, 1}, {"warm", 2, 0}}));
  EXPECT_TRUE(hub_->busiest_channels(0).empty());
  // A channel's count starts again once it has had no subscriber.
  hub_->stream_closed(c);
  ASSERT_EQ(hub_->subscribe(&c, *feed_, "cold", std::nullopt), TETHER_OK);
  EXPECT_EQ(hub_->busiest_channels(10).back(), (ChannelLoad{"cold", 1, 0}));
  for (RecordingSink* sink : {&a, &b, &c}) hub_->stream_closed(*sink);  // the sinks own their subscriptions
}
