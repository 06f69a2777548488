#include "worker/http/http_session.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "worker/http/http_response.h"

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

// RFC 9110/9112 conformance: each of these was answered (or routed) wrongly before.

TEST_F(HttpSessionTest, TwoHostHeadersGet400) {
  std::string out = exchange("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out;
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, AbsoluteFormTargetIsRoutedByItsPath) {
  std::string out = exchange("GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n"
                             "GET HTTPS://Example.com:8443/?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"
                             "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n"
                             "GET http://example.com/nothing HTTP/1.1\r\nHost: example.com\r\n\r\n");
  EXPECT_EQ(recorder_.statuses, (std::vector<int>{200, 200, 200, 404})) << out;
  EXPECT_EQ(recorder_.targets, (std::vector<std::string>{"/", "/?q=1", "/", "/nothing"}));
  EXPECT_EQ(session().phase(), Phase::idle);
}

TEST_F(HttpSessionTest, Http2InARequestLineGets505) {
  std::string out = exchange("GET / HTTP/2.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 505 HTTP Version Not Supported", 0), 0u) << out;
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, Http09RequestGets400AtOnce) {
  std::string out = exchange("GET /\r\n");  // an HTTP/0.9 client sends nothing more
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out;
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, Http09RequestWithHeadersGets400NotAnAnswer) {
  std::string out = exchange("GET /\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out;
}

TEST_F(HttpSessionTest, TransferEncodingOtherThanChunkedAloneGets501) {
  for (const char* coding : {"gzip, chunked", "gzip", "identity", "chunked;q=1"}) {
    session_.reset();
    std::string out = exchange(std::string("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ") + coding +
                               "\r\n\r\n0\r\n\r\n");
    EXPECT_EQ(out.rfind("HTTP/1.1 501 Not Implemented", 0), 0u) << coding << ": " << out;
    EXPECT_EQ(session().phase(), Phase::closing);
  }
}

TEST_F(HttpSessionTest, ChunkedTransferEncodingIsCaseInsensitive) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked \r\n\r\n1\r\nx\r\n0\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
}

TEST_F(HttpSessionTest, SmugglingShapesGet400) {
  for (const char* request : {
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello",
       }) {
    session_.reset();
    std::string out = exchange(request);
    EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << request << "\n" << out;
    EXPECT_EQ(session().phase(), Phase::closing);
  }
}

TEST_F(HttpSessionTest, EmptyHeaderNameGets400) {
  for (const char* request : {"GET / HTTP/1.1\r\nHost: x\r\n: value\r\n\r\n", "GET / HTTP/1.1\r\n:\r\nHost: x\r\n\r\n"}) {
    session_.reset();
    std::string out = exchange(request);
    EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << request << "\n" << out;
  }
}

TEST_F(HttpSessionTest, HeaderNameWithWhitespaceGets400) {
  std::string out = exchange("GET / HTTP/1.1\r\nHost: x\r\nX Y: z\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out;
}

TEST_F(HttpSessionTest, AnEmptyHeaderNameDoesNotReviveTheLastRequestsHeader) {
  // Header entries are reused from request to request: a nameless line must not inherit one.
  exchange("GET / HTTP/1.1\r\nHost: x\r\nX-Secret: 1\r\n\r\n");
  exchange("GET / HTTP/1.1\r\nHost: x\r\n: 2\r\n\r\n");
  EXPECT_EQ(session().header("x-secret"), nullptr);
}

TEST_F(HttpSessionTest, HeaderValuesLoseTheirTrailingWhitespace) {
  session().feed("GET / HTTP/1.1\r\nHost: x \t\r\nX-A: b c  \r\n\r\n");
  ASSERT_NE(session().header("x-a"), nullptr);
  EXPECT_EQ(*session().header("x-a"), "b c");
  EXPECT_EQ(*session().header("host"), "x");
}

TEST_F(HttpSessionTest, AFieldOnSeveralLinesReadsAsItsLinesJoinedInOrder) {
  session().feed("GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nX-A: 1\r\nconnection: Upgrade\r\n"
                 "Cookie: a=1\r\nCONNECTION: te\r\nCookie: b=2\r\n\r\n");
  for (int lookup = 0; lookup < 2; ++lookup) {  // the second lookup reads the folded line
    ASSERT_NE(session().header("Connection"), nullptr);
    EXPECT_EQ(*session().header("Connection"), "keep-alive, Upgrade, te");
    EXPECT_EQ(*session().header("cookie"), "a=1; b=2");
    EXPECT_EQ(*session().header("x-a"), "1");
  }
  EXPECT_EQ(session().header(""), nullptr);
}

TEST_F(HttpSessionTest, FoldedLinesDoNotCarryIntoTheNextRequest) {
  exchange("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\n\r\n");
  EXPECT_EQ(*session().header("x-a"), "1, 2");
  exchange("GET / HTTP/1.1\r\nHost: x\r\nX-B: 3\r\nX-A: 4\r\n\r\n");
  EXPECT_EQ(*session().header("x-a"), "4");
  EXPECT_EQ(*session().header("x-b"), "3");
}

TEST(HttpResponse, EveryRfc9110StatusHasItsReasonPhrase) {
  EXPECT_STREQ(tether::http_status_reason(426), "Upgrade Required");
  for (int status : {100, 101, 200, 201, 202, 203, 204, 205, 206, 300, 301, 302, 303, 304, 305, 307, 308, 400,
                     401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 421,
                     422, 426, 500, 501, 502, 503, 504, 505})
    EXPECT_STRNE(tether::http_status_reason(status), "Unknown") << status;
  EXPECT_STREQ(tether::http_status_reason(413), "Content Too Large");
  EXPECT_STREQ(tether::http_status_reason(422), "Unprocessable Content");
}

// Slow and endless bodies (issue 11, item 16).

TEST_F(HttpSessionTest, ChunkExtensionsPastTheirLimitGet400) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;ext=" +
                             std::string(20'000, 'a'));
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out.substr(0, 80);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, ChunkExtensionsTrickledOverManyChunksAreCountedTogether) {
  exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  std::string chunk = "1;" + std::string(100, 'e') + "\r\nx\r\n";  // 1 byte of body, 100 of extension
  std::string out;
  int chunks = 0;
  for (; chunks < 50 && out.empty(); ++chunks)
    for (char c : chunk) out += exchange(std::string_view(&c, 1));  // one byte at a time
  EXPECT_EQ(out.rfind("HTTP/1.1 400 Bad Request", 0), 0u) << out.substr(0, 80);
  EXPECT_LT(chunks, 50);
}

TEST_F(HttpSessionTest, TheBodyClockStartsWithTheBodyAndRunsOut) {
  exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na");
  ASSERT_EQ(session().phase(), Phase::body);
  EXPECT_EQ(session().phase_time_left(1'000, 500), 500u);
  exchange("b");
  EXPECT_EQ(session().phase_time_left(1'300, 500), 200u);  // reads do not restart it
  EXPECT_EQ(session().phase_time_left(1'600, 500), 0u);
  session().expire_header_timeout();
  EXPECT_EQ(session().output().rfind("HTTP/1.1 408 Request Timeout", 0), 0u);
  EXPECT_EQ(session().phase(), Phase::closing);
}

TEST_F(HttpSessionTest, EveryBodyGetsItsOwnClock) {
  exchange("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n");
  EXPECT_EQ(session().phase_time_left(1'000, 500), 500u);
  exchange("aPOST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n");  // the next request, pipelined
  ASSERT_EQ(session().phase(), Phase::body);
  EXPECT_EQ(session().phase_time_left(1'400, 500), 500u);
}

TEST_F(HttpSessionTest, EachPipelinedRequestsHeadersGetTheirOwnClock) {
  exchange(std::string(kGet) + "GET / HTTP/1.1\r\nHo");
  ASSERT_EQ(session().phase(), Phase::headers);
  EXPECT_EQ(session().phase_time_left(1'000, 500), 500u);
  exchange("st: x\r\n\r\nGET / HTTP/1.1\r\nHo");  // completes it and begins the next in one read
  ASSERT_EQ(session().phase(), Phase::headers);
  EXPECT_EQ(session().phase_time_left(1'400, 500), 500u);
}

TEST_F(HttpSessionTest, TheFirstRequestsHeadersAreTimedFromBeforeItsFirstByte) {
  EXPECT_EQ(session().phase_time_left(1'000, 500), 500u);  // the transport asks at accept
  exchange("GET / HTTP/1.1\r\nHo");
  EXPECT_EQ(session().phase_time_left(1'300, 500), 200u);
}

// Pipelined output is bounded inside one read (issue 11, item 10).

TEST_F(HttpSessionTest, PipelinedFloodIsAnsweredOnlyAsFastAsTheOutputDrains) {
  limits_.max_queued_output = 64 * 1024;
  constexpr int kRequests = 40'000;
  std::string flood;
  for (int i = 0; i < kRequests; ++i) flood += i % 2 ? "GET /n HTTP/1.1\r\nHost: x\r\n\r\n" : kGet;
  session().feed(flood);  // one call: far more than one read
  std::size_t most = 0;
  int rounds = 0;
  std::string all;
  for (;;) {
    most = std::max(most, session().output().size());
    all += session().output();
    session().output().clear();
    if (!session().input_held()) break;
    session().resume_input();
    ++rounds;
  }
  EXPECT_LE(most, limits_.max_queued_output + 256);  // the limit plus the one answer that passed it
  EXPECT_GT(rounds, 10);
  ASSERT_EQ(recorder_.statuses.size(), static_cast<std::size_t>(kRequests));
  for (int i = 0; i < kRequests; ++i) ASSERT_EQ(recorder_.statuses[i], i % 2 ? 404 : 200) << i;
  EXPECT_EQ(count(all, "HTTP/1.1 "), kRequests);
  EXPECT_EQ(session().phase(), Phase::idle);
}

TEST_F(HttpSessionTest, InputThatArrivesWhileHeldIsKeptInOrder) {
  limits_.max_queued_output = 1;  // every answer holds
  session().feed(std::string(kGet) + "GET /n HTTP/1.1\r\nHost: x\r\n\r\nGET / HT");
  EXPECT_TRUE(session().input_held());
  session().feed("TP/1.1\r\nHost: x\r\n\r\n");  // a transport that still reads
  EXPECT_EQ(recorder_.statuses, (std::vector<int>{200}));
  while (session().input_held()) {
    session().output().clear();
    session().resume_input();
  }
  EXPECT_EQ(recorder_.statuses, (std::vector<int>{200, 404, 200}));
}

TEST_F(HttpSessionTest, HeldInputIsDroppedOnceTheSessionCloses) {
  limits_.max_queued_output = 1;
  session().feed(std::string(kGet) + kGet);
  ASSERT_TRUE(session().input_held());
  session().expire_header_timeout();  // say the transport gave up on a client that does not read
  EXPECT_EQ(session().phase(), Phase::closing);
  session().resume_input();
  EXPECT_EQ(session().phase(), Phase::closing);
  EXPECT_EQ(recorder_.statuses, (std::vector<int>{200}));
}

TEST_F(HttpSessionTest, TrailerFieldsAreNotMergedIntoTheHeaders) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "1\r\nx\r\n0\r\nX-User: admin\r\nHost: y\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_EQ(session().header("x-user"), nullptr);
  ASSERT_NE(session().header("host"), nullptr);
  EXPECT_EQ(*session().header("host"), "x");
}

TEST_F(HttpSessionTest, TrailerFieldsCountTowardsTheHeaderLimit) {
  std::string out = exchange("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: " +
                             std::string(2000, 't') + "\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 431", 0), 0u) << out.substr(0, 40);
}
