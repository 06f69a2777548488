// The hub's broker side, with a FakeBroker in place of the master's link: what reaches the
// broker when something is published, and what the hub does with the broker's deliveries.
// (Subscribing, resuming and overflow need a Connection: see the integration tests.)
#include <gtest/gtest.h>

#include <uv.h>

#include <memory>
#include <optional>
#include <string>

#include "fake_broker.h"
#include "worker/pubsub/pubsub_hub.h"

using namespace tether;
using tether::test::FakeBroker;

namespace {

class PubsubHubTest : public ::testing::Test {
 protected:
  PubsubHubTest() {
    uv_loop_init(&loop_);
    config_.max_message_size = 16;
    auto broker = std::make_unique<FakeBroker>();
    broker_ = broker.get();
    hub_ = std::make_unique<PubsubHub>(&loop_, std::move(broker), config_, 0, 0);
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
