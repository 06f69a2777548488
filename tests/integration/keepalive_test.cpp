// The keepalive module: socket options per listener, HTTP keep-alive and heartbeat per route.
#include <gtest/gtest.h>

#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kTestModules = TETHER_TEST_MODULES_DIR;
const std::string kBuiltinModules = TETHER_MODULES_BUILD_DIR;

std::string config_with(int tuned_port, const std::string& keepalive_settings) {
  return "[[listen]]\naddress = \"127.0.0.1:" + std::to_string(tuned_port) + "\"\n" +
         "[modules.probe]\npath = \"" + kTestModules + "/probe_v1.so\"\n" +
         "[modules.keepalive]\npath = \"" + kBuiltinModules + "/keepalive.so\"\n" + keepalive_settings +
         "[modules.keepalive.listen.\"127.0.0.1:" + std::to_string(tuned_port) + "\"]\n"
         "tcp_keepalive = true\ntcp_keepalive_idle = \"60s\"\ntcp_keepalive_interval = \"10s\"\n"
         "tcp_keepalive_count = 6\ntcp_user_timeout = \"30s\"\n"
         "[[route]]\npath = \"/sockopts\"\nhandler = \"probe\"\n[route.probe]\naction = \"sockopts\"\n"
         "[[route]]\npath = \"/fast-heartbeat\"\nhandler = \"probe\"\n[route.probe]\naction = \"sockopts\"\n"
         "[route.keepalive]\nheartbeat_interval = \"15s\"\n"
         "[[route]]\npath = \"/three\"\nrespond = { status = 200, body = \"3\" }\n[route.keepalive]\nmax_requests = 3\n"
         "[[route]]\npath = \"/brief\"\nrespond = { status = 200, body = \"b\" }\n[route.keepalive]\nidle_timeout = \"300ms\"\n";
}
}  // namespace

TEST(Keepalive, ListenerSettingsAreVisibleOnTheSocket) {
  int tuned = free_port();
  TetherServer server(2, config_with(tuned, ""));
  ASSERT_TRUE(server.start()) << server.error_log();
  auto plain = http_get(server.port(), "/sockopts");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->body.substr(0, 23), "nodelay=1 keepalive=0 i") << plain->body;
  EXPECT_NE(plain->body.find("heartbeat=30000/60000"), std::string::npos) << plain->body;
  HttpClient client;
  ASSERT_TRUE(client.connect(tuned));
  auto tuned_answer = client.get("/sockopts");
  ASSERT_TRUE(tuned_answer);
  EXPECT_EQ(tuned_answer->body,
            "nodelay=1 keepalive=1 idle=60 interval=10 count=6 user_timeout=30000 heartbeat=30000/60000\n");
  // And as the kernel reports it: the server's end of the connection runs a keepalive timer.
  std::string ss;
  ASSERT_EQ(run_command("ss -tnoH state established '( sport = :" + std::to_string(tuned) + " )'", &ss), 0) << ss;
  EXPECT_NE(ss.find("timer:(keepalive"), std::string::npos) << ss;
}

TEST(Keepalive, RouteSettingsChangeTheHeartbeatOfTheConnection) {
  TetherServer server(1, config_with(free_port(), "heartbeat_timeout = \"45s\"\n"));
  ASSERT_TRUE(server.start()) << server.error_log();
  auto answer = http_get(server.port(), "/fast-heartbeat");
  ASSERT_TRUE(answer);
  EXPECT_NE(answer->body.find("heartbeat=15000/45000"), std::string::npos) << answer->body;
}

TEST(Keepalive, MaxRequestsClosesTheConnectionAfterTheLastAnswer) {
  TetherServer server(1, config_with(free_port(), ""));
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  for (int i = 1; i <= 3; ++i) {
    auto response = client.get("/three");
    ASSERT_TRUE(response) << "request " << i;
    EXPECT_EQ(response->header("connection"), i == 3 ? "close" : "") << "request " << i;
  }
  EXPECT_TRUE(client.wait_closed(2s));
}

TEST(Keepalive, RouteIdleTimeoutOverridesTheGlobalOne) {
  TetherServer server(1, config_with(free_port(), "") + "[limits]\nkeepalive_timeout = \"60s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.get("/brief"));
  auto idle_since = std::chrono::steady_clock::now();
  EXPECT_TRUE(client.wait_closed(3s));
  auto idle = std::chrono::steady_clock::now() - idle_since;
  EXPECT_GE(idle, 250ms);
  EXPECT_LT(idle, 2s);
}

TEST(Keepalive, BadSettingsAreReportedWithLineAndColumn) {
  TetherServer server(1, config_with(free_port(), "tcp_keepalive_count = 500\nheartbeat_interval = 30\n"));
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find(":23: \"tcp_keepalive_count\": must be between 1 and 127 in [modules.keepalive]"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find("\"heartbeat_interval\" must be a duration"), std::string::npos) << output;
}

TEST(Keepalive, OverridesOfAWildcardListenerApplyToItsConnections) {
  int port = free_port();
  TetherServer server(1, "[[listen]]\naddress = \"0.0.0.0:" + std::to_string(port) + "\"\n"
                         "[modules.probe]\npath = \"" + kTestModules + "/probe_v1.so\"\n"
                         "[modules.keepalive]\npath = \"" + kBuiltinModules + "/keepalive.so\"\n"
                         "[modules.keepalive.listen.\"0.0.0.0:" + std::to_string(port) + "\"]\ntcp_keepalive = true\n"
                         "[[route]]\npath = \"/sockopts\"\nhandler = \"probe\"\n[route.probe]\naction = \"sockopts\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;  // reaches the wildcard listener through 127.0.0.1
  ASSERT_TRUE(client.connect(port));
  auto answer = client.get("/sockopts");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->body.substr(0, 21), "nodelay=1 keepalive=1") << answer->body;
}
