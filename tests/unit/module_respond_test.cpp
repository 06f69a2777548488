// What a module may put in an answer through respond(), response_header() and stream_start():
// nothing that ends the head early, frames the body differently from the server, or sends an
// interim status as the answer.
#include <gtest/gtest.h>
#include <tether/module.h>

#include <memory>
#include <string>
#include <vector>

#include "worker/http/http_session.h"
#include "worker/host/module_api.h"

using tether::HttpLimits;
using tether::HttpSession;
using tether::RouteConfig;
using tether::Router;

namespace {

// A module route whose handler answers later, so that each test answers through the ABI.
class DeferringDispatcher : public tether::RequestDispatcher {
 public:
  Outcome check_access(HttpSession&, const RouteConfig*) override { return Outcome::declined; }
  Outcome run_handler(HttpSession&, const RouteConfig&) override { return Outcome::deferred; }
  void session_closed(HttpSession&, bool) override {}
};

class ModuleRespond : public ::testing::Test {
 protected:
  ModuleRespond() : host_(tether::module_host_table()) {
    RouteConfig route;
    route.path = "/m";
    route.handler = "module";
    routes_.push_back(route);
    router_ = std::make_unique<Router>(routes_);
    session_ = std::make_unique<HttpSession>(limits_, *router_, nullptr, &dispatcher_);
    session_->feed("GET /m HTTP/1.1\r\nHost: x\r\n\r\n");
    request_.session = session_.get();
    request_.route = &routes_[0];
  }

  const tether_host& host_;
  std::vector<RouteConfig> routes_;
  HttpLimits limits_;
  DeferringDispatcher dispatcher_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpSession> session_;
  tether_request request_;
};

}  // namespace

TEST_F(ModuleRespond, AnInterimStatusIsRefusedAndTheRequestStaysOpen) {
  ASSERT_EQ(session_->phase(), HttpSession::Phase::waiting);
  for (int status : {100, 101, 103, 199, 99, 600, 1000})
    EXPECT_EQ(host_.respond(&request_, status, "text/plain", "x", 1), TETHER_ERROR) << status;
  EXPECT_EQ(session_->output(), "");
  EXPECT_EQ(session_->phase(), HttpSession::Phase::waiting);
  EXPECT_EQ(host_.respond(&request_, 200, "text/plain", "ok", 2), TETHER_OK);
  EXPECT_EQ(session_->output().rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
}

TEST_F(ModuleRespond, AnUpgradeIsOnly101AndAnyOtherStatusLeavesTheRequestOpen) {
  static const tether_stream_callbacks callbacks = {sizeof(tether_stream_callbacks), nullptr, nullptr, nullptr,
                                                    nullptr, nullptr, nullptr};
  for (int status : {100, 102, 103, 199, 200, 426})
    EXPECT_EQ(host_.upgrade(&request_, status, &callbacks, nullptr), nullptr) << status;
  EXPECT_EQ(session_->output(), "");
  EXPECT_EQ(session_->phase(), HttpSession::Phase::waiting);
  EXPECT_EQ(host_.respond(&request_, 426, "text/plain", "no", 2), TETHER_OK);
}

TEST_F(ModuleRespond, AContentTypeWithALineBreakIsRefused) {
  for (const char* type : {"text/plain\r\nSet-Cookie: a=b", "text/plain\n", "text/plain\r", "text/\x01plain"})
    EXPECT_EQ(host_.respond(&request_, 200, type, "x", 1), TETHER_ERROR) << type;
  EXPECT_EQ(session_->output(), "");
  EXPECT_EQ(host_.respond(&request_, 200, "text/plain; charset=utf-8", "x", 1), TETHER_OK);
}

TEST_F(ModuleRespond, AStreamWithALineBreakInItsContentTypeIsRefused) {
  static const tether_stream_callbacks callbacks = {sizeof(tether_stream_callbacks), nullptr, nullptr, nullptr};
  EXPECT_EQ(host_.stream_start(&request_, 200, "text/event-stream\r\nX-Injected: 1", &callbacks, nullptr), nullptr);
  EXPECT_EQ(host_.stream_start(&request_, 600, "text/event-stream", &callbacks, nullptr), nullptr);
  EXPECT_EQ(session_->output(), "");
  EXPECT_EQ(session_->phase(), HttpSession::Phase::waiting);
}

TEST_F(ModuleRespond, FramingHeadersAreTheServersOwn) {
  for (const char* name : {"Content-Length", "content-length", "Transfer-Encoding", "TRANSFER-ENCODING"})
    EXPECT_EQ(host_.response_header(&request_, name, "5"), TETHER_ERROR) << name;
  EXPECT_EQ(request_.response_headers, "");
}

TEST_F(ModuleRespond, HeaderNamesMustBeTokensAndValuesSingleLines) {
  for (const char* name : {"", "X Y", "X:Y", "X\r\nY", "X(Y)", "X\"Y", "\xc3\x84", "X/Y"})
    EXPECT_EQ(host_.response_header(&request_, name, "v"), TETHER_ERROR) << name;
  for (const char* value : {"a\r\nX-Injected: 1", "a\n", "a\r", "a\x01", "a\x7f"})
    EXPECT_EQ(host_.response_header(&request_, "X-Ok", value), TETHER_ERROR) << value;
  EXPECT_EQ(request_.response_headers, "");
  EXPECT_EQ(host_.response_header(&request_, "X-Ok_1.2~!#$%&'*+^`|", "a\tb c \xc3\xa9"), TETHER_OK);
  EXPECT_EQ(request_.response_headers, "X-Ok_1.2~!#$%&'*+^`|: a\tb c \xc3\xa9\r\n");
}
