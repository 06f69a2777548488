// HTTP/1.1 behaviour of the real server over real sockets.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kRoutes = R"(
[[route]]
path = "/static/*"
respond = { status = 200, body = "static\n", content_type = "text/css" }
[[route]]
path = "/teapot"
respond = { status = 418, body = "short and stout\n" }
)";
}

TEST(Http, KeepAliveServesManyRequestsOnOneConnection) {
  TetherServer server(2, kRoutes);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  for (int i = 0; i < 100; ++i) {
    auto response = client.get("/");
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "tether\n");
  }
}

TEST(Http, RoutesAnswerWithTheirConfiguredResponse) {
  TetherServer server(1, kRoutes);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto css = http_get(server.port(), "/static/site.css?v=3");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->status, 200);
  EXPECT_EQ(css->header("content-type"), "text/css");
  EXPECT_EQ(css->body, "static\n");
  auto teapot = http_get(server.port(), "/teapot");
  ASSERT_TRUE(teapot);
  EXPECT_EQ(teapot->status, 418);
  auto missing = http_get(server.port(), "/nowhere");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "404 Not Found\n");
}

TEST(Http, PipelinedRequestsAreAnsweredInOrder) {
  TetherServer server(1, kRoutes);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  std::string batch;
  const char* paths[] = {"/", "/teapot", "/nowhere", "/static/a", "/"};
  for (int round = 0; round < 20; ++round)
    for (const char* path : paths) batch += std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\n\r\n";
  ASSERT_TRUE(client.send(batch));
  const int expected[] = {200, 418, 404, 200, 200};
  for (int round = 0; round < 20; ++round)
    for (int i = 0; i < 5; ++i) {
      auto response = client.read_response();
      ASSERT_TRUE(response) << "round " << round << " request " << i;
      EXPECT_EQ(response->status, expected[i]);
    }
}

TEST(Http, Http10ConnectionClosesAfterTheResponseUnlessKeepAlive) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient plain;
  ASSERT_TRUE(plain.connect(server.port()));
  ASSERT_TRUE(plain.send("GET / HTTP/1.0\r\n\r\n"));
  auto first = plain.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_TRUE(plain.wait_closed(2s));

  HttpClient keep;
  ASSERT_TRUE(keep.connect(server.port()));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(keep.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto response = keep.read_response();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->header("connection"), "keep-alive");
  }
}

TEST(Http, ConnectionCloseIsHonoured) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"));
  auto response = client.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed(2s));
}

TEST(Http, ChunkedAndContentLengthBodiesAreRead) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"));
  auto a = client.read_response();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->status, 200);
  ASSERT_TRUE(client.send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n"));
  std::this_thread::sleep_for(50ms);  // the behaviour under test: the body arrives in two reads
  ASSERT_TRUE(client.send("2\r\nde\r\n0\r\n\r\n"));
  auto b = client.read_response();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->status, 200);
}

TEST(Http, ExpectContinueGetsAnInterimResponseBeforeTheBody) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.send("PUT / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client.read_response();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.send("data"));
  auto final_response = client.read_response();
  ASSERT_TRUE(final_response);
  EXPECT_EQ(final_response->status, 200);
}

TEST(Http, CurlGetsTheDefaultAnswer) {
  TetherServer server(2);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string output;
  int status = run_command("curl -sS --http1.1 http://127.0.0.1:" + std::to_string(server.port()) + "/ http://127.0.0.1:" +
                               std::to_string(server.port()) + "/",
                           &output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_EQ(output, "tether\ntether\n");
}

TEST(AccessLog, OneLinePerRequestWithWorkerAndGeneration) {
  TetherServer server(1, "", "access_log = \"@DIR@/access.log\"\n");
  std::string log_path = server.dir() + "/access.log";
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(http_get(server.port(), "/teapot?x=1"));
  server.stop();
  std::ifstream in(log_path);
  std::stringstream text;
  text << in.rdbuf();
  // start() probes "/" once; then our request.
  EXPECT_NE(text.str().find("\"GET / HTTP/1.1\" 200 7 worker=0 gen=1\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("\"GET /teapot?x=1 HTTP/1.1\" 404 14 worker=0 gen=1\n"), std::string::npos) << text.str();
  EXPECT_NE(text.str().find("127.0.0.1:"), std::string::npos);
}

TEST(Http, ServesOnAnIPv6Listener) {
  int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 loopback{};
  loopback.sin6_family = AF_INET6;
  loopback.sin6_addr = in6addr_loopback;
  bool has_ipv6 = probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback) == 0;
  if (probe >= 0) ::close(probe);
  if (!has_ipv6) GTEST_SKIP() << "this machine has no IPv6 loopback";
  int port6 = free_port();
  TetherServer server(1, "[[listen]]\naddress = \"[::1]:" + std::to_string(port6) + "\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string output;
  EXPECT_EQ(run_command("curl -sS -g 'http://[::1]:" + std::to_string(port6) + "/'", &output), 0) << output;
  EXPECT_EQ(output, "tether\n");
}
