// The auth module through the real binary: tokens made by an independent library (PyJWT, by
// tests/integration/scripts/jwt_mint.py) for each algorithm family, refusals with their status
// and challenge, channel and publish claims, the per-user connection limit over two workers, the
// config checker, and a reload that rotates the key.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "support/http_client.h"
#include "support/publisher.h"
#include "support/sse_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"
#include "../unit/auth_backend.h"

using namespace tether::test;

namespace {

const std::string kModulesDir = std::string("modules_dir = \"") + TETHER_MODULES_BUILD_DIR + "\"\n";
const std::string kMint = std::string("/usr/bin/python3 ") + TETHER_SOURCE_DIR + "/tests/integration/scripts/jwt_mint.py";

// Routes: /ws/* and /sse/* need a token, /pub/* too; /open/* (a websocket route without
// [route.auth]) does not; /metrics answers the health module's page.
std::string auth_config(const std::string& module_settings) {
  return "[modules.auth]\n" + module_settings + R"(
[modules.health]
[modules.websocket]
[modules.sse]

[[route]]
path = "/metrics"
handler = "health"

[[route]]
path = "/pub/*"
handler = "publish"
[route.auth]
require = "token"

[[route]]
path = "/ws/*"
handler = "websocket"
[route.auth]
require = "token"

[[route]]
path = "/sse/*"
handler = "sse"
[route.auth]
require = "token"

[[route]]
path = "/open/*"
handler = "websocket"

[[route]]
path = "/room/*"
handler = "websocket"
[route.websocket]
client_messages = "publish"
[route.auth]
require = "token"
)";
}

class AuthTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char dir[] = "/tmp/tether-auth-keys-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    keys_ = dir;
    std::string output;
    ASSERT_EQ(run_command(kMint + " keys " + keys_, &output), 0) << output;
    secret_ = read_file(keys_ + "/hmac.secret");
  }
  static void TearDownTestSuite() {
    std::string output;
    run_command("rm -rf " + keys_, &output);
  }

  // Tokens by name, each (name, alg, claims JSON) made by PyJWT.
  static std::map<std::string, std::string> mint(const std::vector<std::tuple<std::string, std::string, std::string>>& specs) {
    std::string input;
    for (const auto& [name, alg, claims] : specs) input += name + "\t" + alg + "\t" + claims + "\n";
    std::string path = keys_ + "/specs.tsv", output;
    std::FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(input.c_str(), f);
    std::fclose(f);
    EXPECT_EQ(run_command(kMint + " tokens " + keys_ + " < " + path, &output), 0) << output;
    std::map<std::string, std::string> tokens;
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);)
      if (auto tab = line.find('\t'); tab != std::string::npos) tokens[line.substr(0, tab)] = line.substr(tab + 1);
    EXPECT_EQ(tokens.size(), specs.size()) << output;
    return tokens;
  }

  static std::string secret_setting() { return "jwt_secret = \"" + secret_ + "\"\n"; }
  static std::string key_setting(const std::string& family) { return "jwt_public_key = \"" + keys_ + "/" + family + ".pem\"\n"; }

  static std::string keys_;
  static std::string secret_;
};
std::string AuthTest::keys_;
std::string AuthTest::secret_;

int ws_status(int port, const std::string& path, const std::string& headers = "", std::string* head = nullptr) {
  WsClient ws;
  int status = ws.open(port, path, headers);
  if (head) *head = ws.response_head();
  return status;
}

// "tether.toml:<line>:<col>" somewhere in a checker's output.
bool names_a_place(const std::string& output) {
  for (std::size_t at = output.find("tether.toml:"); at != std::string::npos; at = output.find("tether.toml:", at + 1)) {
    unsigned line = 0, column = 0;
    if (std::sscanf(output.c_str() + at, "tether.toml:%u:%u", &line, &column) == 2 && line > 0 && column > 0) return true;
  }
  return false;
}

std::string bearer(const std::string& token) { return "Authorization: Bearer " + token + "\r\n"; }

// A WebSocket subscriber (token in the query) and an event stream (token in the header) on
// "news" both receive a message published with a token allowed to publish there.
void expect_connects_and_receives(int port, const std::string& token, const std::string& publisher) {
  WsClient ws;
  ASSERT_EQ(ws.open(port, "/ws/news?token=" + token), 101) << ws.response_head();
  SseClient sse;
  ASSERT_EQ(sse.open(port, "/sse/news", "", bearer(token)), 200);
  auto [status, body] = publish(port, "news", "hello", bearer(publisher));
  ASSERT_EQ(status, 200) << body;
  auto message = ws.read_message();
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("\"data\":\"hello\""), std::string::npos) << *message;
  auto event = sse.read_event();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data, "hello");
}

const std::string kClaims = R"({"sub":"user-42","channels":["news","user:42:*"],"publish":["news"],"exp_in":600})";

}  // namespace

TEST_F(AuthTest, AValidTokenOfEachAlgorithmFamilyConnectsAndReceives) {
  for (const auto& [alg, setting] : std::vector<std::pair<std::string, std::string>>{
           {"HS256", secret_setting()}, {"RS256", key_setting("rsa")}, {"ES256", key_setting("ec256")},
           {"EdDSA", key_setting("ed25519")}}) {
    SCOPED_TRACE(alg);
    auto tokens = mint({{"valid", alg, kClaims}});
    TetherServer server(2, auth_config(setting), kModulesDir);
    ASSERT_TRUE(server.start()) << server.error_log();
    expect_connects_and_receives(server.port(), tokens["valid"], tokens["valid"]);
  }
}

TEST_F(AuthTest, RefusedTokensGet401WithTheChallengeAndTheReason) {
  auto tokens = mint({{"expired", "RS256", R"({"sub":"u","channels":["news"],"exp_in":-60})"},
                      {"not_yet_valid", "RS256", R"({"sub":"u","channels":["news"],"nbf_in":600})"},
                      {"wrong_issuer", "RS256", R"({"sub":"u","channels":["news"],"iss":"https://other.test"})"},
                      {"wrong_audience", "RS256", R"({"sub":"u","channels":["news"],"aud":"someone-else"})"},
                      {"bad_signature", "RS256-other-key", R"({"sub":"u","channels":["news"]})"},
                      {"alg_none", "none", R"({"sub":"u","channels":["news"]})"},
                      {"rsa_pem_as_hmac_secret", "HS256-with-rsa-pem", R"({"sub":"u","channels":["news"]})"},
                      {"valid", "RS256", R"({"sub":"u","channels":["news"],"iss":"https://issuer.test","aud":"tether"})"}});
  TetherServer server(2, auth_config(key_setting("rsa") + "issuer = \"https://issuer.test\"\naudience = \"tether\"\nleeway = \"0s\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  int refused = 0;
  for (const auto& [name, token] : tokens) {
    SCOPED_TRACE(name);
    std::string head;
    int status = ws_status(server.port(), "/ws/news?token=" + token, "", &head);
    if (name == "valid") {
      EXPECT_EQ(status, 101) << head;
      continue;
    }
    EXPECT_EQ(status, 401) << head;
    EXPECT_NE(head.find("WWW-Authenticate: Bearer realm=\"tether\", error=\"invalid_token\", error_description=\""),
              std::string::npos) << head;
    ++refused;
  }
  // No token at all: the bare challenge (RFC 6750 §3.1: no error code).
  std::string head;
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "", &head), 401);
  EXPECT_NE(head.find("WWW-Authenticate: Bearer realm=\"tether\"\r\n"), std::string::npos) << head;
  SseClient sse;
  EXPECT_EQ(sse.open(server.port(), "/sse/news", "", bearer(tokens["expired"])), 401);
  // Another scheme is no bearer token; an empty one is malformed.
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "Authorization: Basic dXNlcjpwYXNz\r\n"), 401);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token="), 401);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=%zz"), 401);
  // A route without [route.auth] is open as before.
  EXPECT_EQ(ws_status(server.port(), "/open/news"), 101);
  EXPECT_TRUE(wait_until([&] { return metrics(server.port())["tether_auth_refused_total{code=\"401\"}"] == refused + 5; }, 5s))
      << metrics(server.port())["tether_auth_refused_total{code=\"401\"}"];
  EXPECT_EQ(metrics(server.port())["tether_auth_allowed_total"], 1);
}

TEST_F(AuthTest, AChannelTheTokenDoesNotListIs403) {
  auto tokens = mint({{"t", "HS256", R"({"sub":"user-42","channels":["user:42:*","news"]})"},
                      {"no_channels", "HS256", R"({"sub":"user-42"})"}});
  TetherServer server(2, auth_config(secret_setting()), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  const std::string& t = tokens["t"];
  EXPECT_EQ(ws_status(server.port(), "/ws/user:42:inbox?token=" + t), 101);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?channel=user:42:a&token=" + t), 101);
  EXPECT_EQ(ws_status(server.port(), "/ws/user:43:inbox?token=" + t), 403);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?channel=sports&token=" + t), 403);
  EXPECT_EQ(ws_status(server.port(), "/ws/user:42?token=" + t), 403);  // the pattern needs "user:42:"
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["no_channels"]), 403);
  SseClient sse;
  EXPECT_EQ(sse.open(server.port(), "/sse/sports", "", bearer(t)), 403);
  EXPECT_EQ(metrics(server.port())["tether_auth_refused_total{code=\"403\"}"], 5);
}

// What the handler does not read (a resume id, a query on a publish, a fragment) never makes the
// channel check give up, and channels that cannot be read are refused, not let through.
TEST_F(AuthTest, ARequestWhoseChannelsCannotBeReadIsRefusedNotLetThrough) {
  auto tokens = mint({{"public", "HS256", R"({"sub":"u","channels":["public"],"publish":["public"]})"}});
  TetherServer server(2, auth_config(secret_setting()), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  const std::string auth = bearer(tokens["public"]);
  const std::string long_id(70, 'A');
  EXPECT_EQ(publish(server.port(), "public", "x", auth).first, 200);
  EXPECT_EQ(publish(server.port(), "secret", "x", auth).first, 403);
  EXPECT_EQ(publish(server.port(), "secret?since=" + long_id, "x", auth).first, 403);
  EXPECT_EQ(publish(server.port(), "secret?channel=%25zz", "x", auth).first, 403);
  EXPECT_EQ(publish(server.port(), "secret#x", "x", auth).first, 403);
  SseClient sse;
  EXPECT_EQ(sse.open(server.port(), "/sse/secret?since=" + long_id, "", auth), 403);
  std::string many;
  for (int i = 0; i < 17; ++i) many += "&channel=public";
  EXPECT_EQ(ws_status(server.port(), "/ws/public?token=" + tokens["public"] + many), 400);
  EXPECT_EQ(ws_status(server.port(), "/ws/public?channel=%zz&token=" + tokens["public"]), 400);
  EXPECT_EQ(ws_status(server.port(), "/ws/public?since=" + long_id + "&token=" + tokens["public"]), 400);  // the handler's 400
}

TEST_F(AuthTest, PublishingNeedsAPublishClaimThatCoversTheChannel) {
  auto tokens = mint({{"publisher", "HS256", R"({"sub":"app","publish":["news","room:*"]})"},
                      {"subscriber", "HS256", R"({"sub":"app","channels":["news"]})"}});
  TetherServer server(2, auth_config(secret_setting()), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(publish(server.port(), "news", "x", bearer(tokens["publisher"])).first, 200);
  EXPECT_EQ(publish(server.port(), "room:7", "x", bearer(tokens["publisher"])).first, 200);
  EXPECT_EQ(publish(server.port(), "sports", "x", bearer(tokens["publisher"])).first, 403);
  EXPECT_EQ(publish(server.port(), "news", "x", bearer(tokens["subscriber"])).first, 403);
  EXPECT_EQ(publish(server.port(), "news", "x").first, 401);
}

// With [pubsub] publish_token set too, a publish may carry either: that token, or a token whose
// publish claim covers the channel.
TEST_F(AuthTest, APublishMayCarryThePublishTokenOrAJwtWithThePublishClaim) {
  auto tokens = mint({{"publisher", "HS256", R"({"sub":"app","publish":["news"]})"},
                      {"subscriber", "HS256", R"({"sub":"app","channels":["news"]})"}});
  TetherServer server(2, auth_config(secret_setting()) + "[pubsub]\npublish_token = \"server-side-secret\"\n", kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(publish(server.port(), "news", "x", bearer("server-side-secret")).first, 200);
  EXPECT_EQ(publish(server.port(), "news", "x", bearer(tokens["publisher"])).first, 200);
  EXPECT_EQ(publish(server.port(), "news", "x", bearer(tokens["subscriber"])).first, 403);
  EXPECT_EQ(publish(server.port(), "news", "x", bearer("server-side-secreT")).first, 401);  // neither
  EXPECT_EQ(publish(server.port(), "news", "x").first, 401);
}

// A chat room (client_messages = "publish"): what a client sends is published on its channel,
// so its token needs the publish claim there too, not only the channels claim.
TEST_F(AuthTest, AWebSocketThatPublishesWhatItSendsNeedsThePublishClaim) {
  auto tokens = mint({{"reader", "HS256", R"({"sub":"r","channels":["room:1"]})"},
                      {"talker", "HS256", R"({"sub":"t","channels":["room:*"],"publish":["room:*"]})"}});
  TetherServer server(2, auth_config(secret_setting()), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(ws_status(server.port(), "/room/room:1?token=" + tokens["reader"]), 403);
  EXPECT_EQ(ws_status(server.port(), "/ws/room:1?token=" + tokens["reader"]), 101);  // reading is fine
  WsClient listener, talker;
  ASSERT_EQ(listener.open(server.port(), "/ws/room:1?token=" + tokens["talker"]), 101);
  ASSERT_EQ(talker.open(server.port(), "/room/room:1?token=" + tokens["talker"]), 101);
  ASSERT_TRUE(talker.send_text("hello room"));
  auto message = listener.read_message();
  ASSERT_TRUE(message);
  EXPECT_NE(message->find("hello room"), std::string::npos) << *message;
}

// max_connections_per_user = 3 with 2 workers: connections spread over both (SO_REUSEPORT), and
// the count is one over both. A closed one frees its place; another user has places of their own.
TEST_F(AuthTest, AUsersConnectionsAreLimitedOverAllWorkers) {
  auto tokens = mint({{"alice", "HS256", R"({"sub":"alice","channels":["news"]})"},
                      {"bob", "HS256", R"({"sub":"bob","channels":["news"]})"},
                      {"nobody", "HS256", R"({"channels":["news"]})"}});
  TetherServer server(2, auth_config(secret_setting() + "max_connections_per_user = 3\n"),
                      kModulesDir + "access_log = \"@DIR@/access.log\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<std::unique_ptr<WsClient>> open;
  std::map<int, int> statuses;
  for (int i = 0; i < 5; ++i) {
    auto ws = std::make_unique<WsClient>();
    int status = ws->open(server.port(), "/ws/news?token=" + tokens["alice"]);
    statuses[status]++;
    if (status == 101) open.push_back(std::move(ws));
  }
  EXPECT_EQ(statuses[101], 3);
  EXPECT_EQ(statuses[429], 2);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["bob"]), 101);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["nobody"]), 401);  // no sub: no user to count
  ASSERT_FALSE(open.empty());
  open.back()->close();
  open.pop_back();
  // The server notices the close on its next read; then the place is free again.
  EXPECT_TRUE(wait_until([&] {
    auto ws = std::make_unique<WsClient>();
    if (ws->open(server.port(), "/ws/news?token=" + tokens["alice"]) != 101) return false;
    open.push_back(std::move(ws));
    return true;
  }, 5s));
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["alice"]), 429);
  // Both workers refuse alice, whichever holds her connections: the count is one over both.
  // (Connections land on a worker by their port's hash: a few more make both take some.)
  for (int i = 0; i < 40; ++i) EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["alice"]), 429);
  open.clear();
  server.stop();
  std::string log = read_file(server.dir() + "/access.log");
  EXPECT_NE(log.find(" 429 35 worker=0"), std::string::npos) << log;
  EXPECT_NE(log.find(" 429 35 worker=1"), std::string::npos) << log;
  // The tokens are not in the log: the parameter's value is written "-".
  EXPECT_EQ(log.find(tokens["alice"]), std::string::npos) << log;
  EXPECT_NE(log.find("\"GET /ws/news?token=- HTTP/1.1\" 429"), std::string::npos) << log;
}

// The users' counts live in shared memory for the master's life: a reload that changes max_users
// is refused (the old workers keep serving), one that keeps it goes through.
TEST_F(AuthTest, AReloadThatChangesMaxUsersIsRefused) {
  auto tokens = mint({{"alice", "HS256", R"({"sub":"alice","channels":["news"]})"}});
  TetherServer server(2, auth_config(secret_setting() + "max_connections_per_user = 2\nmax_users = 64\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient held;
  ASSERT_EQ(held.open(server.port(), "/ws/news?token=" + tokens["alice"]), 101);
  std::string config = read_file(server.config_path());
  std::string changed = config;
  changed.replace(changed.find("max_users = 64"), 14, "max_users = 128");
  server.write_config(changed);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload failed", 10s)) << server.error_log();
  EXPECT_NE(server.error_log().find("changing it needs a restart"), std::string::npos) << server.error_log();
  // Still the old generation, still counting alice's held connection: one more, then 429.
  WsClient second;
  ASSERT_EQ(second.open(server.port(), "/ws/news?token=" + tokens["alice"]), 101);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["alice"]), 429);
  server.write_config(config);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete", 10s)) << server.error_log();
  // The new generation counts in the same table: alice still holds two.
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["alice"]), 429);
}

TEST_F(AuthTest, BadKeysAndSecretsFailTheConfigCheckAtTheirPlace) {
  struct Case {
    std::string settings, expected;
  };
  std::string pem_as_secret = read_file(keys_ + "/rsa.pem");
  for (const Case& c : std::vector<Case>{
           {"jwt_secret = \"too short\"\n", "secret shorter than 32 bytes"},
           {"jwt_public_key = \"" + keys_ + "/missing.pem\"\n", "cannot read"},
           {"jwt_public_key = \"" + keys_ + "/hmac.secret\"\n", "jwt_public_key"},
           {secret_setting() + key_setting("rsa"), "not both"},
           {"", "needs jwt_secret or jwt_public_key in [modules.auth]"},
           {secret_setting() + "leeway = \"1h\"\n", "at most 10m"},
           {secret_setting() + "max_connections_per_user = -1\n", "between 0 (no limit) and 1000000"},
           {secret_setting() + "algorithm = \"HS256\"\n", "algorithm"}}) {
    SCOPED_TRACE(c.settings);
    TetherServer server(2, auth_config(c.settings), kModulesDir);
    std::string output;
    EXPECT_NE(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path() + " 2>&1", &output), 0);
    EXPECT_NE(output.find(c.expected), std::string::npos) << output;
    EXPECT_TRUE(names_a_place(output)) << output;
  }
}

// A backend's key on a route that requires a token (or nothing) would be ignored: it is an error.
TEST_F(AuthTest, BackendKeysOnATokenRouteFailTheConfigCheckAtTheirPlace) {
  const std::string config = auth_config(secret_setting());
  const std::string token_route = "path = \"/ws/*\"\nhandler = \"websocket\"\n[route.auth]\nrequire = \"token\"\n";
  ASSERT_NE(config.find(token_route), std::string::npos) << config;
  for (const char* key : {"backend = \"http://127.0.0.1:9/auth\"\n", "cache_ttl = \"5s\"\n", "pool_size = 4\n",
                          "on_backend_error = \"allow\"\n"}) {
    SCOPED_TRACE(key);
    std::string with_key = config;
    with_key.insert(with_key.find(token_route) + token_route.size(), key);
    TetherServer server(2, with_key, kModulesDir);
    std::string output;
    EXPECT_NE(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path() + " 2>&1", &output), 0);
    EXPECT_NE(output.find("is read only with require = \"backend\""), std::string::npos) << output;
    EXPECT_TRUE(names_a_place(output)) << output;
  }
}

TEST_F(AuthTest, AReloadPicksUpARotatedKey) {
  auto tokens = mint({{"rsa", "RS256", R"({"sub":"u","channels":["news"]})"},
                      {"ec", "ES256", R"({"sub":"u","channels":["news"]})"}});
  TetherServer server(2, auth_config(key_setting("rsa")), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["rsa"]), 101);
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["ec"]), 401);
  std::string config = read_file(server.config_path());
  config.replace(config.find(keys_ + "/rsa.pem"), keys_.size() + 8, keys_ + "/ec256.pem");
  server.write_config(config);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 10s)) << server.error_log();
  EXPECT_TRUE(wait_until([&] { return ws_status(server.port(), "/ws/news?token=" + tokens["ec"]) == 101; }, 10s))
      << server.error_log();
  EXPECT_EQ(ws_status(server.port(), "/ws/news?token=" + tokens["rsa"]), 401);
}

// A token that expires during the connection ends it at exp (leeway 0 here), within a second:
// the WebSocket with close 4001, the event stream with an "expired" event.
TEST_F(AuthTest, AConnectionIsClosedWhenItsTokenExpires) {
  auto tokens = mint({{"short", "HS256", R"({"sub":"u","channels":["news"],"exp_in":3})"},
                      {"far", "HS256", R"({"sub":"u","channels":["news"],"exp":4611686018427387904})"}});
  TetherServer server(2, auth_config(secret_setting() + "leeway = \"0s\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient far;  // an exp too far out to count in ms: no deadline (it must not wrap to "now")
  ASSERT_EQ(far.open(server.port(), "/ws/news?token=" + tokens["far"]), 101);
  auto start = std::chrono::steady_clock::now();
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news?token=" + tokens["short"]), 101);
  SseClient sse;
  ASSERT_EQ(sse.open(server.port(), "/sse/news", "", bearer(tokens["short"])), 200);
  EXPECT_EQ(ws.read_close(6s), 4001);
  auto closed_after = std::chrono::steady_clock::now() - start;
  // exp is whole seconds: the token ends 2..3 s after this start, plus the sweep's half second.
  EXPECT_GE(closed_after, 1500ms);
  EXPECT_LE(closed_after, 4500ms);
  std::optional<SseEvent> event;
  while ((event = sse.read_event(3s)) && event->event != "expired") {}
  ASSERT_TRUE(event);
  EXPECT_EQ(event->data, "{\"reason\":\"token expired\"}");
  EXPECT_FALSE(far.read_frame(200ms).has_value());
  EXPECT_FALSE(far.closed());
}

// A refresh message with a fresh token of the same user keeps the connection past the old
// expiry; another user's token is refused, and the connection ends at the old expiry.
TEST_F(AuthTest, AFreshTokenOfTheSameUserKeepsTheConnectionOpen) {
  auto tokens = mint({{"short", "HS256", R"({"sub":"u","channels":["news"],"exp_in":2})"},
                      {"fresh", "HS256", R"({"sub":"u","channels":["news"],"exp_in":600})"},
                      {"other_user", "HS256", R"({"sub":"v","channels":["news"],"exp_in":600})"},
                      {"expired", "HS256", R"({"sub":"u","channels":["news"],"exp_in":-10})"},
                      {"publisher", "HS256", R"({"sub":"app","publish":["news"]})"}});
  TetherServer server(2, auth_config(secret_setting() + "leeway = \"0s\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient kept;
  ASSERT_EQ(kept.open(server.port(), "/ws/news?token=" + tokens["short"]), 101);
  WsClient refused;
  ASSERT_EQ(refused.open(server.port(), "/ws/news?token=" + tokens["short"]), 101);
  ASSERT_TRUE(kept.send_text(R"({"type":"refresh","token":")" + tokens["fresh"] + "\"}"));
  EXPECT_EQ(kept.read_message(), std::optional<std::string>("{\"event\":\"refreshed\"}"));
  for (const char* name : {"other_user", "expired"}) {
    ASSERT_TRUE(refused.send_text(R"({"type":"refresh","token":")" + tokens[name] + "\"}"));
    EXPECT_EQ(refused.read_message(), std::optional<std::string>("{\"event\":\"refresh_failed\"}")) << name;
  }
  EXPECT_EQ(refused.read_close(5s), 4001);
  // Past the old expiry (the other one was closed at it), the refreshed one still gets messages.
  std::this_thread::sleep_for(1s);
  ASSERT_EQ(publish(server.port(), "news", "still here", bearer(tokens["publisher"])).first, 200);
  auto message = kept.read_message();
  ASSERT_TRUE(message) << "closed: " << kept.closed();
  EXPECT_NE(message->find("still here"), std::string::npos) << *message;
  EXPECT_EQ(metrics(server.port())["tether_auth_refreshed_total"], 1);
}

namespace {

// Routes asking `backend` (require = "backend") with the given extra [route.auth] settings.
std::string backend_config(const std::string& url, const std::string& route_settings, const std::string& module = "") {
  return "[modules.auth]\n" + module + R"(
[modules.health]
[modules.websocket]

[[route]]
path = "/metrics"
handler = "health"

[[route]]
path = "/ws/*"
handler = "websocket"
[route.auth]
require = "backend"
backend = ")" + url + "\"\n" + route_settings;
}

}  // namespace

TEST_F(AuthTest, TheBackendDecidesAndItsUserAndChannelsAreUsed) {
  AuthBackend backend;
  ASSERT_TRUE(backend.start());
  TetherServer server(2, backend_config(backend.url("/auth"), "cache_ttl = \"0s\"\n", "max_connections_per_user = 1\n"),
                      kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  backend.set_mode("allow");
  WsClient alice;
  ASSERT_EQ(alice.open(server.port(), "/ws/news?channel=sports", "Authorization: Bearer alice\r\nCookie: s=1\r\n"), 101);
  std::string last = backend.last_request();
  EXPECT_NE(last.find("\"X-Original-URI\": \"/ws/news?channel=sports\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"X-Tether-Channels\": \"news,sports\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"Cookie\": \"s=1\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"Authorization\": \"Bearer alice\""), std::string::npos) << last;
  // The backend's user is counted (max_connections_per_user = 1): alice again is 429, bob is not.
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "Authorization: Bearer alice\r\n"), 429);
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "Authorization: Bearer bob\r\n"), 101);
  // Its channels: only news.
  backend.set_mode("news-only");
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "Authorization: Bearer carol\r\n"), 101);
  EXPECT_EQ(ws_status(server.port(), "/ws/sports", "Authorization: Bearer carol\r\n"), 403);
  // Its refusals are passed on; anything else is the configured answer (deny: 503).
  std::string head;
  backend.set_mode("401");
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "", &head), 401);
  EXPECT_NE(head.find("WWW-Authenticate: Bearer realm=\"tether\""), std::string::npos) << head;
  backend.set_mode("403");
  EXPECT_EQ(ws_status(server.port(), "/ws/news"), 403);
  backend.set_mode("500");
  EXPECT_EQ(ws_status(server.port(), "/ws/news", "", &head), 503);
  EXPECT_NE(head.find("Retry-After: 1"), std::string::npos) << head;
}

// 1,000 connects one after the other open at most pool_size connections per worker to the
// backend (it counts what it accepts); a cache hit asks nothing.
TEST_F(AuthTest, SequentialConnectsReuseThePoolsConnections) {
  AuthBackend backend;
  ASSERT_TRUE(backend.start());
  TetherServer server(2, backend_config(backend.url("/allow"), "cache_ttl = \"0s\"\npool_size = 2\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  int opened = 0;
  for (int i = 0; i < 1000; ++i) opened += ws_status(server.port(), "/ws/news", "Authorization: Bearer u" + std::to_string(i) + "\r\n") == 101;
  EXPECT_EQ(opened, 1000);
  EXPECT_EQ(backend.requests(), 1000);
  EXPECT_LE(backend.connections(), 4);  // 2 workers x pool_size 2
  TetherServer cached(1, backend_config(backend.url("/allow"), "cache_ttl = \"10s\"\n"), kModulesDir);
  ASSERT_TRUE(cached.start()) << cached.error_log();
  int before = backend.requests();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ws_status(cached.port(), "/ws/news", "Authorization: Bearer same\r\n"), 101);
  EXPECT_EQ(backend.requests(), before + 1);
}

// A backend that hangs costs each client at most backend_timeout; then the breaker opens: the
// backend gets no request during the cool-down while clients get the answer at once; after it,
// one probe, and the breaker closes again once the backend answers.
TEST_F(AuthTest, AHangingBackendCostsBackendTimeoutThenTheBreakerOpensAndCloses) {
  AuthBackend backend;
  ASSERT_TRUE(backend.start());
  TetherServer server(1, backend_config(backend.url("/auth"), "cache_ttl = \"0s\"\nbackend_timeout = \"300ms\"\n"
                                        "failure_threshold = 3\ncool_down = \"2s\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  backend.set_mode("hang");
  for (int i = 0; i < 3; ++i) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ws_status(server.port(), "/ws/news"), 503);
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_GE(took, 250ms);
    EXPECT_LE(took, 800ms);
  }
  ASSERT_TRUE(server.wait_for_log("circuit breaker closed -> open", 2s)) << server.error_log();
  EXPECT_EQ(metrics(server.port())["tether_auth_backend_breakers_open"], 1);
  int asked = backend.requests();
  backend.set_mode("allow");  // recovered, but the breaker does not know yet
  for (int i = 0; i < 5; ++i) {
    auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(ws_status(server.port(), "/ws/news"), 503);
    EXPECT_LE(std::chrono::steady_clock::now() - start, 100ms);
  }
  EXPECT_EQ(backend.requests(), asked);
  EXPECT_TRUE(wait_until([&] { return ws_status(server.port(), "/ws/news") == 101; }, 5s)) << server.error_log();
  EXPECT_TRUE(server.wait_for_log("circuit breaker half-open -> closed", 2s)) << server.error_log();
  EXPECT_EQ(metrics(server.port())["tether_auth_backend_breakers_open"], 0);
}

TEST_F(AuthTest, WithOnBackendErrorAllowAnUnreachableBackendLetsClientsIn) {
  AuthBackend backend;
  ASSERT_TRUE(backend.start());
  std::string url = backend.url("/auth");
  backend.kill();
  TetherServer server(2, backend_config(url, "on_backend_error = \"allow\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(ws_status(server.port(), "/ws/news"), 101);
  EXPECT_GE(metrics(server.port())["tether_auth_backend_failures_total"], 1);
}

// Requests pipelined behind one the backend is asked about: a plain GET (426 once allowed), then
// an upgrade with a ping right after it, to a route the backend is asked about too (the upgrade
// comes late) or to one without auth (it comes as the parser resumes after the late 426). Each
// waits for its turn, and the ping, which belongs to the WebSocket, is answered.
TEST_F(AuthTest, AnUpgradePipelinedBehindADeferredRequestGetsItsFramesHandedOver) {
  AuthBackend backend;
  ASSERT_TRUE(backend.start());
  const std::string open_route = "[[route]]\npath = \"/open/*\"\nhandler = \"websocket\"\n";
  TetherServer server(1, backend_config(backend.url("/auth"), "cache_ttl = \"0s\"\n" + open_route), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  backend.set_mode("allow");
  for (const std::string path : {"/ws/news", "/open/news"}) {
    SCOPED_TRACE(path);
    HttpClient client;
    ASSERT_TRUE(client.connect(server.port()));
    const std::string upgrade = "GET " + path +
                                " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                                "Authorization: Bearer a\r\n\r\n";
    ASSERT_TRUE(client.send("GET /ws/news HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n\r\n" + upgrade +
                            ws_frame(0x9, "are you there")));
    auto plain = client.read_response();
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status, 426);
    auto switched = client.read_response();
    ASSERT_TRUE(switched);
    ASSERT_EQ(switched->status, 101);
    std::string pong = client.read_bytes(2 + 13, 5s);
    ASSERT_EQ(pong.size(), 15u) << server.error_log();
    EXPECT_EQ(static_cast<unsigned char>(pong[0]), 0x8A);
    EXPECT_EQ(pong.substr(2), "are you there");
  }
}

// A client cut off while the backend is asked about its request (it floods past what a waiting
// request may buffer, then leaves): the module still holds the request, and its late answer must
// find it marked "client gone", not freed (under ASan a use after free kills the worker).
TEST_F(AuthTest, AClientCutOffWhileTheBackendIsAskedLeavesTheRequestToTheModule) {
  AuthBackend backend;
  ASSERT_TRUE(backend.start());
  TetherServer server(1,
                      backend_config(backend.url("/auth"), "cache_ttl = \"0s\"\nbackend_timeout = \"300ms\"\n") +
                          "[limits]\nmax_header_size = \"1KiB\"\nmax_body_size = \"1KiB\"\n",
                      kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto workers = server.worker_pids();
  ASSERT_EQ(workers.size(), 1u);
  backend.set_mode("hang");
  for (int i = 0; i < 3; ++i) {
    HttpClient client;
    ASSERT_TRUE(client.connect(server.port()));
    ASSERT_TRUE(client.send("GET /ws/news HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_TRUE(wait_until([&] { return backend.requests() > i; }, 5s));
    client.send(std::string(8192, 'x'));  // past the 2 KiB a waiting request may buffer
    client.close();
  }
  std::this_thread::sleep_for(600ms);  // every backend_timeout has passed: the module answered
  backend.set_mode("allow");
  EXPECT_EQ(ws_status(server.port(), "/ws/news"), 101) << server.error_log();
  EXPECT_EQ(server.worker_pids(), workers) << server.error_log();
}
