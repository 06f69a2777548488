// The ratelimit module: limits hold across all workers, per client address.
#include <gtest/gtest.h>

#include <csignal>

#include <fstream>
#include <map>
#include <memory>
#include <thread>
#include <sstream>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kBuiltinModules = TETHER_MODULES_BUILD_DIR;

const std::string kLimits = "[modules.ratelimit]\npath = \"" + kBuiltinModules + "/ratelimit.so\"\n"
                            "max_connections_per_address = 3\n"
                            "[[route]]\npath = \"/limited\"\nrespond = { status = 200, body = \"ok\" }\n"
                            "[route.ratelimit]\nrate = \"1/m\"\nburst = 10\n"
                            "[[route]]\npath = \"/by-key\"\nrespond = { status = 200, body = \"ok\" }\n"
                            "[route.ratelimit]\nrate = \"1/m\"\nburst = 2\nkey = \"header:X-Api-Key\"\n";

// Sends `count` requests from `source`, each on a new connection (so that they spread over the
// workers), and counts the answers by status.
std::map<int, int> burst(int port, const char* source, const std::string& path, int count,
                         const std::string& headers = "") {
  std::map<int, int> statuses;
  for (int i = 0; i < count; ++i) {
    HttpClient client;
    if (!client.connect(port, "127.0.0.1", source)) {
      statuses[-1]++;
      continue;
    }
    client.send("GET " + path + " HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n");
    auto response = client.read_response();
    statuses[response ? response->status : -1]++;
    if (response && response->status == 429) EXPECT_EQ(response->header("retry-after"), "60");
  }
  return statuses;
}
}  // namespace

TEST(Ratelimit, ABurstSpreadOverAllWorkersGetsExactlyTheBurst) {
  TetherServer server(2, kLimits, "access_log = \"@DIR@/access.log\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  auto from_a = burst(server.port(), "127.0.0.2", "/limited", 30);
  EXPECT_EQ(from_a[200], 10);
  EXPECT_EQ(from_a[429], 20);
  // Another address has its own bucket.
  auto from_b = burst(server.port(), "127.0.0.3", "/limited", 12);
  EXPECT_EQ(from_b[200], 10);
  EXPECT_EQ(from_b[429], 2);
  // The burst was served by both workers, so the limit held across them.
  server.stop();
  std::ifstream in(server.dir() + "/access.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_NE(log.str().find("\"GET /limited HTTP/1.1\" 429 22 worker=0"), std::string::npos);
  EXPECT_NE(log.str().find("\"GET /limited HTTP/1.1\" 429 22 worker=1"), std::string::npos);
}

// Every generation counts in the one table: a reload keeps what a client has used, and a reload
// that would need a table of other dimensions is refused (the old generation keeps its limits).
TEST(Ratelimit, AReloadKeepsTheBucketsAndOneThatResizesTheTableIsRefused) {
  TetherServer server(2, kLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(burst(server.port(), "127.0.0.5", "/limited", 10)[200], 10);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 10s)) << server.error_log();
  EXPECT_EQ(burst(server.port(), "127.0.0.5", "/limited", 3)[429], 3) << "the new generation forgot the bucket";
  for (const std::string& change : {std::string("max_connections_per_address = 3\nmax_keys = 128\n"),
                                    std::string("max_connections_per_address = 0\n")}) {
    SCOPED_TRACE(change);
    const std::string counted = "max_connections_per_address = 3\n";
    std::string config = server.default_config();
    config.replace(config.find(counted), counted.size(), change);
    server.write_config(config);
    int failures = count_occurrences(server.error_log(), "reload failed");
    server.signal(SIGHUP);
    ASSERT_TRUE(wait_until([&] { return count_occurrences(server.error_log(), "reload failed") > failures; }, 10s))
        << server.error_log();
    EXPECT_NE(server.error_log().find("changing either needs a restart"), std::string::npos) << server.error_log();
    EXPECT_EQ(burst(server.port(), "127.0.0.5", "/limited", 2)[429], 2);
    EXPECT_EQ(burst(server.port(), "127.0.0.6", "/limited", 2)[200], 2);
  }
  EXPECT_EQ(server.error_log().find("reload complete: generation 3"), std::string::npos) << server.error_log();
}

// A table that did not fit in shared memory fixes nothing: a reload asking for a smaller one works.
TEST(Ratelimit, AReloadRefusedForWantOfSharedMemoryLeavesRoomForASmallerTable) {
  TetherServer server(1, "", "shared_memory = \"1MiB\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  const std::string module = "[modules.ratelimit]\npath = \"" + kBuiltinModules + "/ratelimit.so\"\n";
  server.write_config(server.default_config() + module + "max_keys = 16777216\n");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload failed", 10s)) << server.error_log();
  EXPECT_NE(server.error_log().find("no shared memory"), std::string::npos) << server.error_log();
  server.write_config(server.default_config() + module + "max_keys = 1024\n");
  server.signal(SIGHUP);
  EXPECT_TRUE(server.wait_for_log("reload complete", 10s)) << server.error_log();
}

TEST(Ratelimit, AHeaderCanBeTheKey) {
  TetherServer server(2, kLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto alice = burst(server.port(), "127.0.0.4", "/by-key", 5, "X-Api-Key: alice\r\n");
  EXPECT_EQ(alice[200], 2);
  auto bob = burst(server.port(), "127.0.0.4", "/by-key", 5, "X-Api-Key: bob\r\n");
  EXPECT_EQ(bob[200], 2);  // same address, other key: its own bucket
}

TEST(Ratelimit, ConnectionLimitPerAddressHoldsAcrossWorkers) {
  TetherServer server(2, kLimits);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(std::make_unique<HttpClient>());
    ASSERT_TRUE(clients.back()->connect(server.port(), "127.0.0.1", "127.0.0.5"));
  }
  bool all_accepted = wait_until([&] {  // every connection accepted by one worker or the other
    for (auto& client : clients)
      if (!connection_accepted(client->fd())) return false;
    return true;
  }, 3s);
  ASSERT_TRUE(all_accepted) << "not every connection was accepted";
  std::map<int, int> statuses;
  for (auto& client : clients) {
    auto response = client->get("/");
    statuses[response ? response->status : -1]++;
    if (response && response->status == 503) {
      EXPECT_EQ(response->header("connection"), "close");
      EXPECT_TRUE(client->wait_closed(2s));
    }
  }
  EXPECT_EQ(statuses[200], 3);
  EXPECT_EQ(statuses[503], 2);
  // Another address is not affected, and closing connections frees the count.
  auto other = http_get(server.port(), "/");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 200);
  clients.clear();
  ASSERT_TRUE(wait_until([&] { return accepted_connections(server.port()) == 0; }, 3s))
      << "the workers did not close the connections";
  HttpClient again;
  ASSERT_TRUE(again.connect(server.port(), "127.0.0.1", "127.0.0.5"));
  auto freed = again.get("/");
  ASSERT_TRUE(freed);
  EXPECT_EQ(freed->status, 200);
}

// SO_REUSEPORT spreads one address's connections over every worker: more workers than the
// limiter once kept per address (8) must not multiply the limit.
TEST(Ratelimit, ConnectionLimitPerAddressHoldsOverTenWorkers) {
  TetherServer server(10, "[modules.ratelimit]\npath = \"" + kBuiltinModules + "/ratelimit.so\"\n"
                          "max_connections_per_address = 60\n", "access_log = \"@DIR@/access.log\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<std::unique_ptr<HttpClient>> clients;
  std::map<int, int> statuses;
  for (int i = 0; i < 80; ++i) {  // one at a time, each answered (so counted) before the next
    clients.push_back(std::make_unique<HttpClient>());
    ASSERT_TRUE(clients.back()->connect(server.port(), "127.0.0.1", "127.0.0.11"));
    auto response = clients.back()->get("/");
    statuses[response ? response->status : -1]++;
  }
  EXPECT_EQ(statuses[200], 60);
  EXPECT_EQ(statuses[503], 20);
  // The connections were spread over more workers than 8, or this test could not fail.
  server.stop();
  std::ifstream in(server.dir() + "/access.log");
  std::stringstream log;
  log << in.rdbuf();
  int workers = 0;
  for (int w = 0; w < 10; ++w) workers += log.str().find(" worker=" + std::to_string(w) + " ") != std::string::npos;
  EXPECT_GE(workers, 9) << log.str();
}

TEST(Ratelimit, BadSettingsAreReported) {
  TetherServer server(1, "[modules.ratelimit]\npath = \"" + kBuiltinModules + "/ratelimit.so\"\n"
                         "[[route]]\npath = \"/x\"\nrespond = { status = 200 }\n[route.ratelimit]\nrate = \"ten\"\n");
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find(":8: \"rate\": needs a rate such as \"10/s\""), std::string::npos) << output;
}
