// Every limit has a defined answer: 400, 408, 413, 414, 431, the keep-alive timeout,
// max_connections.
#include <gtest/gtest.h>

#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kTightLimits = R"(
[limits]
header_timeout = "1s"
keepalive_timeout = "1s"
max_header_size = "1KiB"
max_body_size = "100B"
)";

// Sends `request` on a fresh connection; expects `status`, then the connection to close.
void expect_rejected(int port, const std::string& request, int status) {
  HttpClient client;
  ASSERT_TRUE(client.connect(port));
  ASSERT_TRUE(client.send(request));
  auto response = client.read_response();
  ASSERT_TRUE(response) << "no answer to " << request.substr(0, 60);
  EXPECT_EQ(response->status, status);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed(3s));
}
}  // namespace

TEST(Limits, MalformedRequestGets400ThenClose) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  expect_rejected(server.port(), "GET / HTTP/1.1\r\nHost x\r\n\r\n", 400);
  expect_rejected(server.port(), "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", 400);
  expect_rejected(server.port(), "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\nHost: t\r\n\r\nab", 400);
}

TEST(Limits, OversizedHeadersGet431) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  expect_rejected(server.port(), "GET / HTTP/1.1\r\nHost: t\r\nCookie: " + std::string(4000, 'c') + "\r\n\r\n", 431);
}

TEST(Limits, OversizedUrlGets414) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  expect_rejected(server.port(), "GET /" + std::string(2000, 'u') + " HTTP/1.1\r\nHost: t\r\n\r\n", 414);
}

TEST(Limits, OversizedBodyGets413) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  expect_rejected(server.port(), "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", 413);
  expect_rejected(server.port(),
                  "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + std::string(100, 'x') +
                      "\r\n1\r\nx\r\n0\r\n\r\n",
                  413);
}

TEST(Limits, SlowlorisIsCutOffAfterHeaderTimeout) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  auto start = std::chrono::steady_clock::now();
  std::string trickle = "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
  std::optional<HttpResponse> response;
  for (char c : trickle) {  // the behaviour under test: one byte every 100 ms, always active, never finished
    if (!client.send(std::string(1, c))) break;
    std::this_thread::sleep_for(100ms);
    if (std::chrono::steady_clock::now() - start > 1500ms) break;
  }
  response = client.read_response(3s);
  auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_TRUE(client.wait_closed(3s));
  EXPECT_GE(elapsed, 900ms);
  EXPECT_LT(elapsed, 3s);
}

TEST(Limits, SilentConnectionIsClosedAfterHeaderTimeout) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  std::string leftover;
  EXPECT_TRUE(client.wait_closed(3s, &leftover));
  EXPECT_EQ(leftover, "");  // nothing was asked, so nothing is answered
}

TEST(Limits, IdleKeepAliveConnectionIsClosedAfterKeepaliveTimeout) {
  TetherServer server(1, kTightLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.get("/"));
  auto idle_since = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.wait_closed(4s));
  EXPECT_GE(std::chrono::steady_clock::now() - idle_since, 900ms);
}

TEST(Limits, AtMaxConnectionsTheWorkerStopsAcceptingUntilOneCloses) {
  TetherServer server(1, "[limits]\nmax_connections = 2\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  // start() used and closed one connection; wait until the worker has seen it close.
  ASSERT_TRUE(wait_until([&] { return accepted_connections(server.port()) == 0; }, 3s))
      << "the worker still holds the connection start() closed";
  HttpClient a, b, c;
  ASSERT_TRUE(a.connect(server.port()));
  ASSERT_TRUE(a.get("/"));
  ASSERT_TRUE(b.connect(server.port()));
  ASSERT_TRUE(b.get("/"));
  ASSERT_TRUE(c.connect(server.port()));  // the kernel completes the handshake into the backlog
  ASSERT_TRUE(c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_FALSE(c.read_response(500ms)) << "a third connection was served past max_connections";
  EXPECT_TRUE(server.wait_for_log("max_connections (2) reached", 2s));
  a.close();
  auto response = c.read_response(3s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST(Limits, RunningOutOfDescriptorsPausesAcceptingInsteadOfSpinning) {
  TetherServer server(1);
  server.set_fd_limit(48);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 80; ++i) {
    auto client = std::make_unique<HttpClient>();
    ASSERT_TRUE(client->connect(server.port()));  // completes in the kernel's backlog
    clients.push_back(std::move(client));
  }
  EXPECT_TRUE(server.wait_for_log("accept() failed: Too many open files; pausing accepts for 500ms", 3s))
      << server.error_log();
  // Pausing, not spinning: a handful of log lines per second, not thousands. The second is the
  // behaviour under test, the window over which the lines are counted.
  std::this_thread::sleep_for(1s);
  EXPECT_LE(count_occurrences(server.error_log(), "pausing accepts"), 6);
  clients.clear();
  // Once descriptors are free again, the worker serves.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  std::optional<HttpResponse> response;
  while (!response && std::chrono::steady_clock::now() < deadline) response = http_get(server.port(), "/");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

// keepalive_timeout = 0 is nginx's "no keep-alive": each answer says so and closes.
TEST(Limits, AZeroKeepaliveTimeoutAnswersEachRequestWithConnectionCloseAndCloses) {
  TetherServer server(1, "[limits]\nkeepalive_timeout = \"0s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  for (int i = 0; i < 3; ++i) {
    HttpClient client;
    ASSERT_TRUE(client.connect(server.port()));
    // Two pipelined requests: only the first is answered, the connection closes after it.
    ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n"));
    auto response = client.read_response();
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, "tether\n");
    EXPECT_EQ(response->header("connection"), "close") << "request " << i;
    std::string leftover;
    EXPECT_TRUE(client.wait_closed(2s, &leftover)) << "request " << i;
    EXPECT_EQ(leftover, "") << "request " << i;
  }
}

// max_header_size bounds what one request's head holds, and what it leaves behind for the next
// request is small: a client that sends k short lines and then one long one, k growing by one each
// request, must not make its connection keep a long value per header slot it ever used.
TEST(Limits, AKeepAliveConnectionKeepsNoLongHeaderValuePerSlotItEverUsed) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto workers = server.worker_pids();
  ASSERT_EQ(workers.size(), 1u);
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.get("/"));  // the connection and its first buffers
  std::size_t rss_before = resident_kib(workers[0]);
  const std::string long_line = "X-Long: " + std::string(8000, 'v') + "\r\n";
  std::string short_lines;
  for (int k = 0; k < 1000; ++k) {
    ASSERT_TRUE(client.send("GET / HTTP/1.1\r\nHost: x\r\n" + short_lines + long_line + "\r\n")) << k;
    auto response = client.read_response();
    ASSERT_TRUE(response) << "request " << k;
    ASSERT_EQ(response->status, 200) << "request " << k;
    short_lines += "A: b\r\n";
  }
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine says nothing about what we keep
  // Kept per slot, it would be 1000 x 8000 B.
  EXPECT_LT(resident_kib(workers[0]), rss_before + 3 * 1024) << "worker RSS grew from " << rss_before << " KiB";
#else
  (void)rss_before;
#endif
}
