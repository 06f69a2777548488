// Shared state that clients or a dying worker could wedge, through the real server: subscribers
// to many names never take a channel slot from publishing, an address at its connection limit
// is not locked out for good when the worker that counted its connections is killed, and a
// worker that writes what no worker sends onto its pub/sub link is replaced.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "support/http_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kBuiltinModules = TETHER_MODULES_BUILD_DIR;
const std::string kModulesDir = "modules_dir = \"" + kBuiltinModules + "\"\n";
const std::string kTestModules = TETHER_TEST_MODULES_DIR;

int status_of(int port, const std::string& request) {
  HttpClient c;
  if (!c.connect(port)) return 0;
  c.send(request);
  auto r = c.read_response();
  return r ? r->status : 0;
}

int publish(int port, const std::string& channel) {
  return status_of(port, "POST /pub/" + channel + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi");
}

bool has_subscribers(int port, const std::string& channel) {
  auto r = http_get(port, "/pub/" + channel);
  return r && r->status == 200 && r->body.find("\"subscribers\":0,") == std::string::npos;
}

}  // namespace

TEST(PubsubHardening, SubscribersToManyRandomNamesNeverMakeAPublishToANewChannelFail) {
  const std::string config = "[modules.websocket]\n"
                             "[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n"
                             "[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n"
                             "[pubsub]\nmax_channels = 20\n";
  TetherServer server(2, config, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  // Ten connections with sixteen random names each: eight times max_channels names.
  std::mt19937_64 random(std::random_device{}());
  std::vector<std::string> names;
  std::vector<std::unique_ptr<WsClient>> subscribers;
  for (int c = 0; c < 10; ++c) {
    std::string path = "/ws/";
    for (int i = 0; i < 16; ++i) {
      names.push_back("r" + std::to_string(random()));
      path += (i == 0 ? "" : i == 1 ? "?channel=" : "&channel=") + names.back();
    }
    subscribers.push_back(std::make_unique<WsClient>());
    ASSERT_EQ(subscribers.back()->open(server.port(), path), 101) << path;
  }
  // The broker has heard of as many of them as it counts (max_channels).
  int counted = 0;
  wait_until([&] {
    counted = 0;
    for (const std::string& name : names) counted += has_subscribers(server.port(), name);
    return counted >= 20;
  }, std::chrono::seconds(10));
  EXPECT_EQ(counted, 20);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(publish(server.port(), "fresh" + std::to_string(i)), 200) << i;
  // Publishing to a subscribed name works too: it takes a slot like any other channel.
  EXPECT_EQ(publish(server.port(), names[0]), 200);
}

TEST(PubsubHardening, AnAddressAtItsConnectionLimitConnectsAgainAfterItsWorkerIsKilled) {
  const std::string config = "[modules.ratelimit]\nmax_connections_per_address = 2\n";
  TetherServer server(1, config, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  const char* source = "127.0.0.9";
  HttpClient first, second, third;
  ASSERT_TRUE(first.connect(server.port(), "127.0.0.1", source));
  ASSERT_TRUE(second.connect(server.port(), "127.0.0.1", source));
  auto first_answer = first.get("/");
  ASSERT_TRUE(first_answer);
  ASSERT_EQ(first_answer->status, 200);
  auto second_answer = second.get("/");
  ASSERT_TRUE(second_answer);
  ASSERT_EQ(second_answer->status, 200);
  ASSERT_TRUE(third.connect(server.port(), "127.0.0.1", source));
  auto refused = third.get("/");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  std::vector<pid_t> workers = server.worker_pids();
  ASSERT_EQ(workers.size(), 1u);
  ::kill(workers[0], SIGKILL);  // its two connections are never released
  wait_until([&] {
    std::vector<pid_t> now = server.worker_pids();
    return now.size() == 1 && now[0] != workers[0];
  }, std::chrono::seconds(10));
  std::vector<pid_t> respawned = server.worker_pids();
  ASSERT_EQ(respawned.size(), 1u);
  ASSERT_NE(respawned[0], workers[0]);
  first.close();
  second.close();
  third.close();
  HttpClient again;
  std::optional<HttpResponse> response;
  for (int attempt = 0; attempt < 50 && !response; ++attempt) {  // until the new worker accepts
    if (again.connect(server.port(), "127.0.0.1", source)) response = again.get("/");
    if (!response) usleep(50 * 1000);  // polling: the respawned worker accepts soon
  }
  ASSERT_TRUE(response) << server.error_log();
  EXPECT_EQ(response->status, 200) << response->body;
  HttpClient and_again;
  ASSERT_TRUE(and_again.connect(server.port(), "127.0.0.1", source));
  auto last = and_again.get("/");
  ASSERT_TRUE(last);
  EXPECT_EQ(last->status, 200);
}

TEST(PubsubHardening, AWorkerSendingWhatNoWorkerSendsOnItsLinkIsKilledAndReplaced) {
  const std::string config = "[modules.hostile]\npath = \"" + kTestModules + "/hostile_worker.so\"\n"
                             "[[route]]\npath = \"/hostile/*\"\nhandler = \"hostile\"\n"
                             "[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n";
  TetherServer server(1, config, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  struct Case {
    const char* path;
    const char* logged;
  };
  const Case cases[] = {
      {"/hostile/oversized", "sent a frame of type 1 and 1073741824 bytes (at most 65680) on its pub/sub link: killing it"},
      {"/hostile/garbage", "sent a malformed frame of type 99 and 3 bytes on its pub/sub link: killing it"},
      {"/hostile/bad-name", "sent a frame of type 1 that names an invalid channel on its pub/sub link: killing it"},
  };
  for (const Case& c : cases) {
    std::vector<pid_t> before = server.worker_pids();
    ASSERT_EQ(before.size(), 1u);
    status_of(server.port(), std::string("GET ") + c.path + " HTTP/1.1\r\nHost: x\r\n\r\n");  // may die first
    EXPECT_TRUE(server.wait_for_log(c.logged, std::chrono::seconds(5))) << c.path << "\n" << server.error_log();
    std::vector<pid_t> now;
    wait_until([&] {
      now = server.worker_pids();
      return now.size() == 1 && now[0] != before[0];
    }, std::chrono::seconds(10));
    ASSERT_EQ(now.size(), 1u) << c.path;
    EXPECT_NE(now[0], before[0]) << c.path;
    EXPECT_FALSE(process_alive(before[0])) << c.path;
    EXPECT_EQ(publish(server.port(), "after"), 200) << c.path;  // the replacement publishes
  }
}

// With max_message_size = 1B a publish frame is shorter than a history request for a
// 128-byte channel name: the master's frame limit must still let the request through.
TEST(PubsubHardening, AResumeOnTheLongestChannelNameWithTheSmallestMessageSizeKeepsItsWorker) {
  const std::string config = "[modules.websocket]\n"
                             "[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n"
                             "[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n"
                             "[pubsub]\nmax_message_size = 1\n";
  TetherServer server(1, config, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<pid_t> before = server.worker_pids();
  ASSERT_EQ(before.size(), 1u);
  const std::string channel(128, 'c');
  WsClient subscriber;
  ASSERT_EQ(subscriber.open(server.port(), "/ws/" + channel + "?since=00000001-1"), 101);
  // The broker answered the history request: an id of another epoch is a gap.
  auto gap = subscriber.read_message();
  ASSERT_TRUE(gap) << server.error_log();
  EXPECT_NE(gap->find("\"event\":\"gap\""), std::string::npos) << *gap;
  EXPECT_EQ(status_of(server.port(), "POST /pub/" + channel + " HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nm"), 200);
  auto message = subscriber.read_message();
  ASSERT_TRUE(message) << server.error_log();
  EXPECT_NE(message->find("\"data\":\"m\""), std::string::npos) << *message;
  EXPECT_EQ(server.worker_pids(), before);
  EXPECT_EQ(server.error_log().find("killing it"), std::string::npos) << server.error_log();
}

namespace {

// A route of the probe test module that subscribes to 100 channels and says how many it got.
std::string subscriber_route(const std::string& pubsub) {
  return pubsub + "[modules.probe]\npath = \"" + kTestModules + "/probe_v1.so\"\n" +
         "[[route]]\npath = \"/subscribe\"\nhandler = \"probe\"\n[route.probe]\naction = \"subscribe\"\n";
}

std::string subscriptions_taken(int port) {
  HttpClient c;
  if (!c.connect(port) || !c.send("GET /subscribe HTTP/1.1\r\nHost: t\r\n\r\n")) return "";
  std::string head_and_chunk = c.read_bytes(200, std::chrono::seconds(2));
  auto at = head_and_chunk.find("subscribed ");
  return at == std::string::npos ? head_and_chunk : head_and_chunk.substr(at, head_and_chunk.find('\n', at) - at);
}

}  // namespace

TEST(PubsubHardening, AModuleCannotSubscribeOneConnectionToMoreThanMaxSubscriptions) {
  TetherServer defaults(1, subscriber_route(""));
  ASSERT_TRUE(defaults.start()) << defaults.error_log();
  EXPECT_EQ(subscriptions_taken(defaults.port()), "subscribed 16");
  TetherServer raised(1, subscriber_route("[pubsub]\nmax_subscriptions = 40\n"));
  ASSERT_TRUE(raised.start()) << raised.error_log();
  EXPECT_EQ(subscriptions_taken(raised.port()), "subscribed 40");
}

TEST(PubsubHardening, MaxSubscriptionsBelowWhatTheBuiltInModulesAskIsAConfigError) {
  TetherServer server(1, "[pubsub]\nmax_subscriptions = 8\n");
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path() + " 2>&1", &output), 1);
  EXPECT_NE(output.find("\"max_subscriptions\" must be between 16 and 4096"), std::string::npos) << output;
}
