// The publish API (POST|GET /pub/{channel}) on an HttpSession, with a FakeBroker behind the
// hub: what reaches the broker, and how each of its answers becomes an HTTP response.
#include <gtest/gtest.h>

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "fake_broker.h"
#include "worker/http/http_session.h"
#include "worker/pubsub/publish_endpoint.h"
#include "worker/pubsub/pubsub_hub.h"

using namespace tether;
using tether::test::FakeBroker;

namespace {

// As the worker routes: "publish" routes to the endpoint.
class PublishDispatcher final : public RequestDispatcher {
 public:
  explicit PublishDispatcher(PublishEndpoint& endpoint) : endpoint_(endpoint) {}
  Outcome check_access(HttpSession&, const RouteConfig*) override { return Outcome::declined; }
  Outcome run_handler(HttpSession& session, const RouteConfig& route) override { return endpoint_.handle(session, route); }
  void session_closed(HttpSession& session, bool waiting) override {
    if (waiting) endpoint_.session_closed(session);
  }

 private:
  PublishEndpoint& endpoint_;
};

class PublishEndpointTest : public ::testing::Test {
 protected:
  PublishEndpointTest() {
    uv_loop_init(&loop_);
    config_.max_message_size = 8;
    RouteConfig route;
    route.path = "/pub/";
    route.prefix = true;
    route.handler = "publish";
    routes_.push_back(route);
    router_ = std::make_unique<Router>(routes_);
  }
  ~PublishEndpointTest() override {
    session_.reset();
    endpoint_.reset();
    hub_.reset();
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  // The hub and endpoint are made on first use, so that a test can change config_ first.
  HttpSession& session() {
    if (!session_) {
      auto broker = std::make_unique<FakeBroker>();
      broker_ = broker.get();
      hub_ = std::make_unique<PubsubHub>(&loop_, std::move(broker), config_, 0, 0);
      endpoint_ = std::make_unique<PublishEndpoint>(*hub_);
      dispatcher_ = std::make_unique<PublishDispatcher>(*endpoint_);
      session_ = std::make_unique<HttpSession>(limits_, *router_, nullptr, dispatcher_.get());
    }
    return *session_;
  }
  FakeBroker& broker() {
    session();
    return *broker_;
  }
  std::string post(std::string_view target, std::string_view body, std::string_view headers = "") {
    return "POST " + std::string(target) + " HTTP/1.1\r\nHost: x\r\n" + std::string(headers) +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
  }
  // What the session has to send, taken out.
  std::string output() {
    std::string out = std::move(session().output());
    session().output().clear();
    return out;
  }

  uv_loop_t loop_{};
  PubsubConfig config_;
  HttpLimits limits_;
  std::vector<RouteConfig> routes_;
  std::unique_ptr<Router> router_;
  FakeBroker* broker_ = nullptr;  // owned by the hub
  std::unique_ptr<PubsubHub> hub_;
  std::unique_ptr<PublishEndpoint> endpoint_;
  std::unique_ptr<PublishDispatcher> dispatcher_;
  std::unique_ptr<HttpSession> session_;
};

bool starts_with(const std::string& text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

TEST_F(PublishEndpointTest, APublishIsAnsweredWithItsIdOnceTheBrokerSequencedIt) {
  session().feed(post("/pub/news", "hello"));
  ASSERT_EQ(broker().published.size(), 1u);
  EXPECT_EQ(broker().published[0].channel, "news");
  EXPECT_EQ(broker().published[0].data, "hello");
  EXPECT_EQ(output(), "");  // waits for the broker
  ASSERT_TRUE(broker().answer_publish(broker().published[0].request, PublishResult{BrokerError::none, MessageId{0xabc, 5}}));
  std::string out = output();
  EXPECT_TRUE(starts_with(out, "HTTP/1.1 200 ")) << out;
  EXPECT_TRUE(out.ends_with("{\"channel\":\"news\",\"id\":\"00000abc-5\"}\n")) << out;
}

TEST_F(PublishEndpointTest, AFullBrokerIsA503ToRetryLater) {
  session().feed(post("/pub/news", "hello"));
  ASSERT_TRUE(broker().answer_publish(broker().published.at(0).request, PublishResult{BrokerError::too_many_channels, {}}));
  std::string out = output();
  EXPECT_TRUE(starts_with(out, "HTTP/1.1 503 ")) << out;
  EXPECT_NE(out.find("Retry-After: 1\r\n"), std::string::npos) << out;
}

TEST_F(PublishEndpointTest, AnUnavailableBrokerIsA503WithAJsonReason) {
  session().feed(post("/pub/news", "hello"));
  ASSERT_TRUE(broker().answer_publish(broker().published.at(0).request, PublishResult{BrokerError::unavailable, {}}));
  std::string out = output();
  EXPECT_TRUE(starts_with(out, "HTTP/1.1 503 ")) << out;
  EXPECT_NE(out.find("application/json"), std::string::npos) << out;
  EXPECT_TRUE(out.ends_with("{\"error\":\"the broker is unavailable\"}\n")) << out;
}

TEST_F(PublishEndpointTest, AMessageOverMaxMessageSizeIs413AndNeverReachesTheBroker) {
  session().feed(post("/pub/news", "123456789"));
  EXPECT_TRUE(starts_with(output(), "HTTP/1.1 413 "));
  EXPECT_TRUE(broker().published.empty());
}

TEST_F(PublishEndpointTest, AnInvalidChannelIs400AndNeverReachesTheBroker) {
  session().feed(post("/pub/bad%20name", "x"));
  std::string out = output();
  EXPECT_TRUE(starts_with(out, "HTTP/1.1 400 ")) << out;
  EXPECT_TRUE(broker().published.empty());
  EXPECT_TRUE(broker().info_asked.empty());
}

TEST_F(PublishEndpointTest, AClientThatLeavesBeforeTheAnswerCancelsItsRequest) {
  session().feed(post("/pub/news", "hello"));
  FakeBroker& fake = broker();
  Broker::Request request = fake.published.at(0).request;
  ASSERT_NE(request, 0u);
  session_.reset();  // the connection closed
  EXPECT_EQ(fake.cancelled, std::vector<Broker::Request>{request});
  EXPECT_FALSE(fake.answer_publish(request, PublishResult{}));
}

TEST_F(PublishEndpointTest, ChannelInfoComesFromTheBroker) {
  session().feed("GET /pub/news HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(broker().info_asked, std::vector<std::string>{"news"});
  ASSERT_TRUE(broker().answer_info(1, ChannelInfo{BrokerError::none, 4, MessageId{0xabc, 9}, 3}));
  EXPECT_TRUE(output().ends_with("{\"channel\":\"news\",\"subscribers\":4,\"last_id\":\"00000abc-9\",\"history\":3}\n"));
}

TEST_F(PublishEndpointTest, ChannelInfoFromAnUnavailableBrokerIsA503) {
  session().feed("GET /pub/news HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_TRUE(broker().answer_info(1, ChannelInfo{BrokerError::unavailable, 0, {}, 0}));
  EXPECT_TRUE(starts_with(output(), "HTTP/1.1 503 "));
}

TEST_F(PublishEndpointTest, PublishingNeedsTheConfiguredBearerToken) {
  config_.publish_token = "s3cret";
  session().feed(post("/pub/news", "a"));
  EXPECT_TRUE(starts_with(output(), "HTTP/1.1 401 "));
  for (const char* wrong : {"Bearer s3cre", "Bearer s3cret2", "Bearer S3CRET", "Basic s3cret", "Bearer "}) {
    session().feed(post("/pub/news", "a", std::string("Authorization: ") + wrong + "\r\n"));
    EXPECT_TRUE(starts_with(output(), "HTTP/1.1 403 ")) << wrong;
  }
  EXPECT_TRUE(broker().published.empty());
  session().feed(post("/pub/news", "a", "Authorization: bearer s3cret\r\n"));
  EXPECT_EQ(broker().published.size(), 1u);
}
