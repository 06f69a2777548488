#include "worker/http_session.h"

#include <gtest/gtest.h>

using tether::HttpLimits;
using tether::HttpSession;
using tether::RequestSummary;
using tether::RouteConfig;
using tether::Router;
using Phase = tether::HttpSession::Phase;

namespace {

class Recorder : public tether::RequestObserver {
 public:
  void on_request_answered(const RequestSummary& s) override {
    statuses.push_back(s.status);
    targets.emplace_back(s.target);
  }
  std::vector<int> statuses;
  std::vector<std::string> targets;
};

class HttpSessionTest : public ::testing::Test {
 protected:
  HttpSessionTest() {
    RouteConfig root;
    root.path = "/";
    root.respond.body = "tether\n";
    routes_.push_back(root);
    limits_.max_header_size = 1024;
    limits_.max_body_size = 100;
  }

  HttpSession& session() {
    if (!session_) {
      router_ = std::make_unique<Router>(routes_);
      session_ = std::make_unique<HttpSession>(limits_, *router_, &recorder_);
    }
    return *session_;
  }

  // Feeds `input` and returns (and clears) what the session wants written.
  std::string exchange(std::string_view input) {
    session().feed(input);
    std::string out = session().output();
    session().output().clear();
    return out;
  }

  static int count(const std::string& text, const std::string& needle) {
    int n = 0;
    for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
    return n;
  }

  std::vector<RouteConfig> routes_;
  HttpLimits limits_;
  Recorder recorder_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpSession> session_;
};

constexpr const char* kGet = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

}  // namespace

TEST_F(HttpSessionTest, AnswersAKeepAliveRequestAndReturnsToIdle) {
  std::string out = exchange(kGet);
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(out.find("Content-Length: 7\r\n"), std::string::npos);
  EXPECT_EQ(out.find("Connection:"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\ntether\n"));
  EXPECT_EQ(session().phase(), Phase::idle);
  EXPECT_EQ(session().requests_answered(), 1u);
}

TEST_F(HttpSessionTest, PipelinedRequestsAreAnsweredInOrder) {
  std::string out = exchange("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(recorder_.statuses, (std::vector<int>{404, 200, 404}));
  EXPECT_EQ(recorder_.targets, (std::vector<std::string>{"/a", "/", "/b"}));
  auto first = out.find("404"), second = out.find("200"), third = out.find("404", second);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_EQ(session().phase(), Phase::idle);
}

TEST_F(HttpSessionTest, ARequestSplitIntoSingleBytesIsParsed) {
  std::string out;
  for (char c : std::string(kGet)) {
    EXPECT_NE(session().phase(), Phase::closing);
    out += exchange(std::string_view(&c, 1));
  }
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST_F(HttpSessionTest, PhaseFollowsTheRequest) {
  EXPECT_EQ(session().phase(), Phase::idle);
  exchange("GET / HT");
  EXPECT_EQ(session().phase(), Phase::headers);
  exchange("TP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab");
  EXPECT_EQ(session().phase(), Phase::body);
  std::string out = exchange("cd");
  EXPECT_EQ(session().phase(), Phase::idle);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpSessionTest, ConnectionCloseEndsTheSessionAndIgnoresTheRest) {
  std::string out = exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(count(out, "HTTP/1.1 200"), 1);
  EXPECT_NE(out.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(session().phase(), Phase::closing);
  EXPECT_EQ(exchange(kGet), "");
}

TEST_F(HttpSessionTest, Http10ClosesUnlessItAsksForKeepAlive) {
  std::string out = exchange("GET / HTTP/1.0\r\n\r\n");
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, Http10KeepAliveIsConfirmed) {
  std::string out = exchange("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  EXPECT_NE(out.find("Connection: keep-alive"), std::string::npos);
  EXPECT_EQ(session().phase(), Phase::idle);
}

TEST_F(HttpSessionTest, MalformedRequestGets400AndCloses) {
  std::string out = exchange("GET / HTTP/1.1\r\nHost x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u);
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, MissingHostInHttp11Gets400) {
  EXPECT_EQ(exchange("GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400", 0), 0u);
}

TEST_F(HttpSessionTest, OversizedHeadersGet431) {
  std::string out = exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431 Request Header Fields Too Large", 0), 0u);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, ManySmallHeadersCountTowardsTheLimit) {
  std::string request = "GET / HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 200; ++i) request += "A: b\r\n";
  EXPECT_EQ(exchange(request + "\r\n").rfind("HTTP/1.1 431", 0), 0u);
}

TEST_F(HttpSessionTest, OversizedUrlGets414) {
  EXPECT_EQ(exchange("GET /" + std::string(2000, 'a') + " HTTP/1.1\r\n").rfind("HTTP/1.1 414", 0), 0u);
}

TEST_F(HttpSessionTest, DeclaredBodyOverTheLimitGets413BeforeItIsSent) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 413 Content Too Large", 0), 0u);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, ChunkedBodyIsAcceptedWithinTheLimit) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_EQ(session().phase(), Phase::idle);
}

TEST_F(HttpSessionTest, ChunkedBodyOverTheLimitGets413) {
  std::string chunk = std::string("40\r\n") + std::string(64, 'x') + "\r\n";
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk);
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u);
}

TEST_F(HttpSessionTest, ExpectContinueGetsAnInterimResponseThenTheAnswer) {
  std::string interim = exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(interim, "HTTP/1.1 100 Continue\r\n\r\n");
  EXPECT_EQ(exchange("abc").rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpSessionTest, ExpectContinueWithTooLargeABodyGets413WithoutContinue) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 413", 0), 0u);
  EXPECT_EQ(out.find("100 Continue"), std::string::npos);
}

TEST_F(HttpSessionTest, UnknownExpectationGets417) {
  EXPECT_EQ(exchange("GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n").rfind("HTTP/1.1 417", 0), 0u);
}

TEST_F(HttpSessionTest, HeaderTimeoutMidRequestGets408) {
  exchange("GET / HTTP/1.1\r\nHo");
  session().expire_header_timeout();
  EXPECT_EQ(session().output().rfind("HTTP/1.1 408 Request Timeout", 0), 0u);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, HeaderTimeoutBeforeAnyRequestClosesSilently) {
  session().expire_header_timeout();
  EXPECT_EQ(session().output(), "");
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, DrainingAnswersTheNextRequestWithConnectionClose) {
  exchange(kGet);
  session().start_drain();
  std::string out = exchange(kGet);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, HeadGetsHeadersWithoutBody) {
  std::string out = exchange("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 7\r\n"), std::string::npos);
  EXPECT_TRUE(out.ends_with("\r\n\r\n"));
}

TEST_F(HttpSessionTest, UpgradeRequestIsAnsweredAndTheConnectionCloses) {
  std::string out = exchange("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x80");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u);
  EXPECT_NE(out.find("Connection: close"), std::string::npos);
  EXPECT_EQ(session().phase(), Phase::closing);
}

namespace {
// Answers "/stream" with a streamed body and upgrades "/up", like a module would.
class StreamingDispatcher : public tether::RequestDispatcher {
 public:
  Outcome check_access(HttpSession&, const RouteConfig*) override { return Outcome::declined; }
  Outcome run_handler(HttpSession& session, const RouteConfig& route) override {
    if (route.path == "/up") return session.upgrade(101, "Upgrade: probe\r\nConnection: Upgrade\r\n") ? Outcome::answered
                                                                                                        : Outcome::declined;
    session.start_stream(200, "text/event-stream", "");
    return Outcome::answered;
  }
  void session_closed(HttpSession&, bool) override {}
};

class StreamingSessionTest : public ::testing::Test {
 protected:
  StreamingSessionTest() {
    for (const char* path : {"/stream", "/up"}) {
      RouteConfig r;
      r.path = path;
      r.handler = "module";
      routes_.push_back(r);
    }
    router_ = std::make_unique<Router>(routes_);
    session_ = std::make_unique<HttpSession>(limits_, *router_, nullptr, &dispatcher_);
  }
  std::string take() { return std::exchange(session_->output(), std::string()); }
  std::vector<RouteConfig> routes_;
  HttpLimits limits_;
  StreamingDispatcher dispatcher_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpSession> session_;
};
}  // namespace

TEST_F(StreamingSessionTest, StreamedBodyIsChunkedAndPipelinedRequestsWaitForItsEnd) {
  session_->feed("GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
  std::string head = take();
  EXPECT_NE(head.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(session_->phase(), Phase::streaming);
  session_->append_chunk("data: 1\n\n");
  EXPECT_EQ(take(), "9\r\ndata: 1\n\n\r\n");
  session_->end_stream();  // the second request, held meanwhile, is answered now
  std::string rest = take();
  EXPECT_EQ(rest.rfind("0\r\n\r\nHTTP/1.1 200 OK", 0), 0u) << rest;
  EXPECT_EQ(session_->phase(), Phase::streaming);
}

TEST_F(StreamingSessionTest, Http10StreamEndsWithTheConnection) {
  session_->feed("GET /stream HTTP/1.0\r\n\r\n");
  std::string head = take();
  EXPECT_NE(head.find("Connection: close"), std::string::npos);
  EXPECT_EQ(head.find("chunked"), std::string::npos);
  session_->append_chunk("raw");
  EXPECT_EQ(take(), "raw");
  session_->end_stream();
  EXPECT_EQ(session_->phase(), Phase::closing);
}

TEST_F(StreamingSessionTest, UpgradeHandsOverTheBytesAfterTheRequest) {
  session_->feed("GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: probe\r\n\r\nearly bytes");
  std::string head = take();
  EXPECT_EQ(head.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("Upgrade: probe\r\n"), std::string::npos);
  EXPECT_EQ(head.find("Content-Length"), std::string::npos);
  EXPECT_EQ(session_->phase(), Phase::upgraded);
  EXPECT_EQ(session_->take_pending_input(), "early bytes");
  session_->feed("GET / HTTP/1.1\r\n\r\n");  // no longer HTTP
  EXPECT_EQ(session_->take_pending_input(), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(take(), "");
}

TEST_F(StreamingSessionTest, UpgradeWithoutAnUpgradeRequestIsRefused) {
  session_->feed("GET /up HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(take().rfind("HTTP/1.1 404", 0), 0u);
}
