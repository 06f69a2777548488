// HTTP as a hostile client sends it (issue 11, items 10, 16, 17): RFC 9110/9112 answers for
// malformed or unsupported requests, slow bodies cut off by body_timeout, and a pipelining flood
// answered in order without the server answering faster than the client reads.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kBinary = TETHER_BINARY;

const std::string kConfig = R"(
[limits]
header_timeout = "1s"
body_timeout = "2s"
max_body_size = "64KiB"
[[route]]
path = "/teapot"
respond = { status = 418, body = "short and stout\n" }
[modules.probe]
path = ")" + std::string(TETHER_TEST_MODULES_DIR) + R"(/probe_v1.so"
[[route]]
path = "/echo"
handler = "probe"
[route.probe]
action = "echo"
)";

class HttpHardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<TetherServer>(1, kConfig);
    ASSERT_TRUE(server_->start()) << server_->error_log();
  }
  static void TearDownTestSuite() { server_.reset(); }

  // Sends `request` on a fresh connection; expects `status` and then the connection to close.
  static void expect_rejected(const std::string& request, int status) {
    HttpClient client;
    ASSERT_TRUE(client.connect(server_->port()));
    ASSERT_TRUE(client.send(request));
    auto response = client.read_response(3s);
    ASSERT_TRUE(response) << "no answer to " << request.substr(0, 60);
    EXPECT_EQ(response->status, status) << request.substr(0, 60);
    EXPECT_EQ(response->header("connection"), "close");
    EXPECT_TRUE(client.wait_closed(3s));
  }

  static std::unique_ptr<TetherServer> server_;
};
std::unique_ptr<TetherServer> HttpHardening::server_;
}  // namespace

TEST_F(HttpHardening, TwoHostHeadersGet400) {
  expect_rejected("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n", 400);
}

TEST_F(HttpHardening, AbsoluteFormTargetIsRoutedByItsPath) {
  HttpClient client;
  ASSERT_TRUE(client.connect(server_->port()));
  ASSERT_TRUE(client.send("GET http://tether.example/teapot?x=1 HTTP/1.1\r\nHost: tether.example\r\n\r\n"));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 418);
  EXPECT_EQ(response->body, "short and stout\n");
}

TEST_F(HttpHardening, Http2InTheRequestLineGets505) {
  expect_rejected("GET / HTTP/2.0\r\nHost: t\r\n\r\n", 505);
}

TEST_F(HttpHardening, Http09RequestGets400NotAnHttp11Answer) {
  expect_rejected("GET /\r\n", 400);  // an HTTP/0.9 client sends nothing more
  expect_rejected("GET /\r\n\r\n", 400);
}

TEST_F(HttpHardening, TransferEncodingOtherThanChunkedAloneGets501) {
  expect_rejected("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
  expect_rejected("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
}

TEST_F(HttpHardening, EmptyHeaderNameGets400) {
  expect_rejected("GET / HTTP/1.1\r\nHost: t\r\n: value\r\n\r\n", 400);
  expect_rejected("GET / HTTP/1.1\r\nHost: t\r\nX Y: z\r\n\r\n", 400);
}

TEST_F(HttpHardening, UpgradeRequiredSaysSoInTheStatusLine) {
  HttpClient client;
  ASSERT_TRUE(client.connect(server_->port()));
  ASSERT_TRUE(client.send("GET /echo HTTP/1.1\r\nHost: t\r\n\r\n"));  // the probe answers 426
  EXPECT_EQ(client.read_bytes(31), "HTTP/1.1 426 Upgrade Required\r\n");
}

TEST_F(HttpHardening, SmugglingShapesStillGet400) {
  expect_rejected("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
  expect_rejected("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
  expect_rejected("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400);
  expect_rejected("POST / HTTP/1.1\r\nHost: t\r\nContent-Length : 5\r\n\r\nhello", 400);
}

TEST_F(HttpHardening, AHugeChunkExtensionGets400) {
  HttpClient client;
  ASSERT_TRUE(client.connect(server_->port()));
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;x="));
  std::string piece(64 * 1024, 'a');
  for (int i = 0; i < 16; ++i)  // 1 MiB of one extension, never finished
    if (!client.send(piece)) break;
  auto response = client.read_response(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_TRUE(client.wait_closed(3s));
}

namespace {
// Sends `head`, then `trickle` one byte every 100 ms; returns the answer and how long it took.
std::pair<std::optional<HttpResponse>, std::chrono::milliseconds> trickle(int port, const std::string& head,
                                                                          const std::string& trickle) {
  HttpClient client;
  if (!client.connect(port) || !client.send(head)) return {std::nullopt, 0ms};
  auto start = std::chrono::steady_clock::now();
  std::optional<HttpResponse> response;
  for (char c : trickle) {  // always active (header_timeout is 1 s), never finished
    if (!client.send(std::string(1, c))) break;
    if ((response = client.read_response(100ms))) break;
    if (std::chrono::steady_clock::now() - start > 4s) break;
  }
  if (!response) response = client.read_response(2s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  if (response) EXPECT_TRUE(client.wait_closed(3s));
  return {response, took};
}
}  // namespace

TEST_F(HttpHardening, ABodyTrickledPastBodyTimeoutGets408) {
  auto [response, took] = trickle(server_->port(), "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n",
                                  std::string(1000, 'b'));
  ASSERT_TRUE(response) << "still reading after " << took.count() << " ms";
  EXPECT_EQ(response->status, 408);
  EXPECT_GE(took, 1800ms);
  EXPECT_LT(took, 3500ms);
}

TEST_F(HttpHardening, AChunkExtensionTrickledPastBodyTimeoutGets408) {
  auto [response, took] = trickle(server_->port(), "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;",
                                  std::string(1000, 'e'));
  ASSERT_TRUE(response) << "still reading after " << took.count() << " ms";
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(took, 3500ms);
}

TEST_F(HttpHardening, ABodyThatStallsStillGets408AfterHeaderTimeout) {
  HttpClient client;
  ASSERT_TRUE(client.connect(server_->port()));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab"));
  auto response = client.read_response(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1800ms);  // header_timeout of silence, not body_timeout
}

TEST_F(HttpHardening, EachPipelinedRequestGetsItsOwnHeaderTimeout) {
  HttpClient client;
  ASSERT_TRUE(client.connect(server_->port()));
  // Each read completes one request and begins the next; no request takes 1 s, the three do.
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHo"));
  // The pauses are the behaviour under test: together they pass the 1 s header_timeout.
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(client.send("st: t\r\n\r\nGET / HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(600ms);
  ASSERT_TRUE(client.send("st: t\r\n\r\n"));
  for (int i = 0; i < 3; ++i) {
    auto response = client.read_response(2s);
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_EQ(response->status, 200) << "request " << i;
  }
}

TEST(HttpHardeningFlood, FortyThousandPipelinedRequestsAreAnsweredInOrder) {
  // The default timeouts: the answers outgrow the kernel's buffers, which this client drains
  // more slowly than header_timeout = "1s" allows a stalled write.
  TetherServer server(1, "[[route]]\npath = \"/teapot\"\nrespond = { status = 418, body = \"short and stout\\n\" }\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  constexpr int kRequests = 40'000;
  std::string flood;
  for (int i = 0; i < kRequests; ++i) flood += i % 2 ? "GET /teapot HTTP/1.1\r\nHost: t\r\n\r\n" : "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  // The answers outgrow every socket buffer: send from a thread while this one reads.
  std::thread sender([&] { client.send(flood); });
  int answered = 0;
  for (; answered < kRequests; ++answered) {
    auto response = client.read_response(10s);
    if (!response) break;
    if (response->status != (answered % 2 ? 418 : 200)) {
      ADD_FAILURE() << "answer " << answered << " is " << response->status;
      break;
    }
  }
  shutdown(client.fd(), SHUT_RDWR);  // unblocks the sender if we stopped early
  sender.join();
  EXPECT_EQ(answered, kRequests);
}

TEST(HttpHardeningConfig, BodyTimeoutOfZeroIsRefusedByTheCheck) {
  TetherServer server(1, "[limits]\nbody_timeout = \"0s\"\n");
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("\"body_timeout\" must be between 100ms and 1d"), std::string::npos) << output;
}

TEST(HttpHardeningPublish, OnlyTheExactBearerTokenPublishes) {
  // Compared in constant time now; every near miss must still be refused.
  TetherServer server(1, "[pubsub]\npublish_token = \"s3cret-token\"\n[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  auto publish = [&](const std::string& authorization) {
    HttpClient c;
    if (!c.connect(server.port())) return 0;
    c.send("POST /pub/news HTTP/1.1\r\nHost: x\r\n" + authorization + "Content-Length: 1\r\n\r\nx");
    auto r = c.read_response();
    return r ? r->status : 0;
  };
  EXPECT_EQ(publish(""), 401);
  for (const char* wrong : {"s3cret-toke", "s3cret-tokenn", "s3cret-tokeN", "S3cret-token", "", " s3cret-token", "x"})
    EXPECT_EQ(publish(std::string("Authorization: Bearer ") + wrong + "\r\n"), 403) << wrong;
  EXPECT_EQ(publish("Authorization: Basic s3cret-token\r\n"), 403);
  EXPECT_EQ(publish("Authorization: Bearer s3cret-token\r\n"), 200);
  EXPECT_EQ(publish("Authorization: bearer s3cret-token\r\n"), 200);  // the scheme is case-insensitive
}
