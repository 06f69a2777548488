// The worker's end of the link to the master's broker, against the real LocalBroker on the
// master's end of a socketpair: requests become frames, the master's frames become the
// Broker interface's results and deliveries.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "master/broker.h"
#include "worker/pubsub/master_link_broker.h"

#include "recording_delivery.h"

using namespace tether;

namespace {

using test::RecordingDelivery;

class MasterLinkBrokerTest : public ::testing::Test {
 protected:
  MasterLinkBrokerTest() {
    uv_loop_init(&loop_);
    int pair[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair), 0);
    master_end_ = std::make_unique<PubsubLink>(pair[1]);
    broker_ = std::make_unique<MasterLinkBroker>(&loop_, pair[0]);
    broker_->set_delivery(&delivery_);
  }
  ~MasterLinkBrokerTest() override {
    broker_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);  // close callbacks
    uv_loop_close(&loop_);
    ::close(master_end_->fd());
  }

  // Turns of the worker's loop and of the master, until `done` (or a bound: the test fails).
  bool run_until(const std::function<bool()>& done) {
    std::vector<PubsubLink*> links{master_end_.get()};
    for (int turn = 0; turn < 1000; ++turn) {
      if (done()) return true;
      uv_run(&loop_, UV_RUN_NOWAIT);
      master_end_->read([&](const PubsubFrame& f) { return local_.handle(*master_end_, f, links); });
      if (master_end_->wants_write()) master_end_->write();
      uv_run(&loop_, UV_RUN_NOWAIT);
    }
    return done();
  }

  PubsubConfig config_;
  LocalBroker local_{config_};
  uv_loop_t loop_{};
  std::unique_ptr<PubsubLink> master_end_;
  RecordingDelivery delivery_;
  std::unique_ptr<MasterLinkBroker> broker_;
};

}  // namespace

TEST_F(MasterLinkBrokerTest, APublishIsAnsweredWithTheIdTheMasterGaveAndRelayedToTheWorker) {
  std::optional<PublishResult> answer;
  Broker::Request request = broker_->publish("news", "hello", [&](const PublishResult& r) { answer = r; });
  EXPECT_NE(request, 0u);
  EXPECT_FALSE(answer);  // never inside the call that asked
  ASSERT_TRUE(run_until([&] { return answer && !delivery_.messages.empty(); }));
  EXPECT_EQ(answer->error, BrokerError::none);
  EXPECT_EQ(answer->id.epoch, local_.epoch());
  EXPECT_EQ(answer->id.sequence, 1u);
  EXPECT_EQ(delivery_.messages, (std::vector<std::string>{"news " + answer->id.to_string() + " hello"}));
  EXPECT_GE(delivery_.batches, 1);
}

TEST_F(MasterLinkBrokerTest, APublishThatAsksNoAnswerIsStillRelayed) {
  EXPECT_EQ(broker_->publish("news", "quiet", nullptr), 0u);
  ASSERT_TRUE(run_until([&] { return !delivery_.messages.empty(); }));
  EXPECT_EQ(delivery_.messages.at(0), "news " + (MessageId{local_.epoch(), 1}).to_string() + " quiet");
}

TEST_F(MasterLinkBrokerTest, AFullBrokerRefusesAPublishToANewChannel) {
  config_.max_channels = 1;
  local_.configure(config_);
  std::optional<PublishResult> first, second;
  broker_->publish("one", "a", [&](const PublishResult& r) { first = r; });
  broker_->publish("two", "b", [&](const PublishResult& r) { second = r; });
  ASSERT_TRUE(run_until([&] { return first && second; }));
  EXPECT_EQ(first->error, BrokerError::none);
  EXPECT_EQ(second->error, BrokerError::too_many_channels);
}

TEST_F(MasterLinkBrokerTest, HistoryHoldsWhatCameAfterSinceWithFullIds) {
  for (const char* data : {"m1", "m2", "m3"}) broker_->publish("news", data, nullptr);
  ASSERT_TRUE(run_until([&] { return delivery_.messages.size() == 3; }));
  std::vector<std::string> got;
  std::optional<HistoryResult::Status> status;
  broker_->history("news", MessageId{local_.epoch(), 1}, [&](const HistoryResult& r) {
    status = r.status;
    for (const BrokerMessage& m : r.messages)
      got.push_back(std::string(m.channel) + " " + m.id.to_string() + " " + std::string(m.data));
  });
  ASSERT_TRUE(run_until([&] { return status.has_value(); }));
  EXPECT_EQ(*status, HistoryResult::Status::complete);
  EXPECT_EQ(got, (std::vector<std::string>{"news " + MessageId{local_.epoch(), 2}.to_string() + " m2",
                                           "news " + MessageId{local_.epoch(), 3}.to_string() + " m3"}));
}

TEST_F(MasterLinkBrokerTest, AResumeFromAnotherEpochIsAGap) {
  std::optional<HistoryResult::Status> status;
  broker_->history("news", MessageId{local_.epoch() + 1, 5}, [&](const HistoryResult& r) { status = r.status; });
  ASSERT_TRUE(run_until([&] { return status.has_value(); }));
  EXPECT_EQ(*status, HistoryResult::Status::gap);
}

TEST_F(MasterLinkBrokerTest, ACancelledRequestIsNeverAnswered) {
  bool cancelled_answered = false;
  bool later_answered = false;
  Broker::Request request =
      broker_->history("news", MessageId{local_.epoch(), 0}, [&](const HistoryResult&) { cancelled_answered = true; });
  broker_->cancel(request);
  // The master answers requests in order: once the later one is answered, the cancelled one was.
  broker_->info("news", [&](const ChannelInfo&) { later_answered = true; });
  ASSERT_TRUE(run_until([&] { return later_answered; }));
  EXPECT_FALSE(cancelled_answered);
}

TEST_F(MasterLinkBrokerTest, SubscriberCountsAndHistoryShowInChannelInfo) {
  broker_->set_subscribers("news", 3);
  broker_->publish("news", "m1", nullptr);
  std::optional<ChannelInfo> info;
  broker_->info("news", [&](const ChannelInfo& r) { info = r; });
  ASSERT_TRUE(run_until([&] { return info.has_value(); }));
  EXPECT_EQ(info->error, BrokerError::none);
  EXPECT_EQ(info->subscribers, 3u);
  EXPECT_EQ(info->last.sequence, 1u);
  EXPECT_EQ(info->history_length, 1u);

  broker_->set_subscribers("news", 0);  // the last subscriber on this worker left
  info.reset();
  broker_->info("news", [&](const ChannelInfo& r) { info = r; });
  ASSERT_TRUE(run_until([&] { return info.has_value(); }));
  EXPECT_EQ(info->subscribers, 0u);
}

TEST_F(MasterLinkBrokerTest, AClosedBrokerTakesNoMoreRequests) {
  broker_->close();
  EXPECT_EQ(broker_->publish("news", "late", [](const PublishResult&) {}), 0u);
  EXPECT_EQ(broker_->info("news", [](const ChannelInfo&) {}), 0u);
  EXPECT_EQ(broker_->history("news", MessageId{}, [](const HistoryResult&) {}), 0u);
}
