// The status page's data, /status.json (the health module's "status.json" endpoint), through the
// real binary: it agrees with /metrics, shows generations as a reload moves them on, the last
// reload's result, and the busiest channels summed over the workers. Every document is read by
// Python's strict JSON parser (support/json_paths.h), so one that is not valid JSON (a control
// byte left raw, a quote unescaped) fails the test.
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/status_board.h"
#include "support/http_client.h"
#include "support/json_paths.h"
#include "support/status_routes.h"
#include "support/publisher.h"
#include "support/sse_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kModulesDir = "modules_dir = \"" + std::string(TETHER_MODULES_BUILD_DIR) + "\"\n";

const std::string kRoutes = status_routes_toml();

using Paths = JsonPaths;

// /status.json, read as JsonPaths; empty when it could not be read or is not valid JSON (then
// *problem says why).
Paths status_json(const TetherServer& server, std::string* raw = nullptr, std::string* problem = nullptr) {
  auto response = http_get(server.port(), "/status.json");
  if (!response || response->status != 200) {
    if (problem) *problem = "no 200 answer";
    return {};
  }
  if (raw) *raw = response->body;
  return json_paths(response->body, server.dir(), problem);
}

long number(const Paths& paths, const std::string& path) { return json_number(paths, path); }
std::string quoted(const std::string& text) { return json_quoted(text); }

// The generation numbered `n` in the document's list: its index as a path prefix, "" if absent.
std::string generation_path(const Paths& paths, long n) {
  for (long i = 0; i < number(paths, "generations.length"); ++i)
    if (number(paths, "generations." + std::to_string(i) + ".number") == n) return "generations." + std::to_string(i);
  return "";
}

long sum_of(const std::map<std::string, long>& metrics, const std::string& name) {
  long sum = 0;
  for (const auto& [key, value] : metrics)
    if (key == name || key.rfind(name + "{", 0) == 0) sum += value;
  return sum;
}

// What status.json says that /metrics also says, and where /metrics says it. Both count the
// HTTP connection that asks, and the one before may not be closed yet: they are compared
// until they agree (or the time is up), not once.
bool agrees_with_metrics(const Paths& status, const std::map<std::string, long>& m, std::string* difference) {
  std::vector<std::pair<std::string, std::pair<long, long>>> pairs = {
      {"connections.http", {number(status, "connections.http"), m.at("tether_connections_open{kind=\"http\"}")}},
      {"connections.websocket", {number(status, "connections.websocket"), m.at("tether_connections_open{kind=\"websocket\"}")}},
      {"connections.sse", {number(status, "connections.sse"), m.at("tether_connections_open{kind=\"sse\"}")}},
      {"subscribers", {number(status, "subscribers"), sum_of(m, "tether_subscribers")}},
      {"messages.published", {number(status, "messages.published"), m.at("tether_messages_published_total")}},
      {"messages.delivered", {number(status, "messages.delivered"), m.at("tether_messages_delivered_total")}},
      {"messages.dropped", {number(status, "messages.dropped"), m.at("tether_messages_dropped_total")}},
      {"reloads.total", {number(status, "reloads.total"), m.at("tether_reloads_total")}},
      {"reloads.failed", {number(status, "reloads.failed"), m.at("tether_reload_failures_total")}},
  };
  for (const char* state : {"starting", "serving", "draining", "stopping"}) {
    std::string label = std::string("{state=\"") + state + "\"}";
    pairs.push_back({std::string("workers.") + state, {number(status, std::string("workers.") + state), m.at("tether_workers" + label)}});
    long generations = 0;
    for (long i = 0; i < number(status, "generations.length"); ++i)
      generations += status.at("generations." + std::to_string(i) + ".state") == quoted(state);
    pairs.push_back({std::string("generations in ") + state, {generations, m.at("tether_generations" + label)}});
  }
  difference->clear();
  for (const auto& [what, values] : pairs)
    if (values.first != values.second)
      *difference += what + ": status.json " + std::to_string(values.first) + ", /metrics " + std::to_string(values.second) + "\n";
  return difference->empty();
}

bool eventually_agrees(const TetherServer& server, std::string* difference) {
  return wait_until([&] {
    Paths status = status_json(server);
    std::map<std::string, long> m = metrics(server.port());
    if (status.empty() || m.empty()) return *difference = "cannot read both", false;
    return agrees_with_metrics(status, m, difference);
  }, 5s);
}

}  // namespace

TEST(StatusJson, AgreesWithMetricsOnConnectionsSubscribersMessagesAndWorkers) {
  TetherServer server(2, kRoutes, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient ws1, ws2;
  ASSERT_EQ(ws1.open(server.port(), "/ws/news"), 101);
  ASSERT_EQ(ws2.open(server.port(), "/ws/news"), 101);
  SseClient sse;
  ASSERT_EQ(sse.open(server.port(), "/sse/sport"), 200);
  ASSERT_TRUE(wait_for_subscribers(server.port(), "news", 2));
  ASSERT_TRUE(wait_for_subscribers(server.port(), "sport", 1));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(publish(server.port(), "news", "m" + std::to_string(i)).first, 200);
  ASSERT_TRUE(ws1.read_message() && ws1.read_message() && ws1.read_message());

  std::string difference;
  EXPECT_TRUE(eventually_agrees(server, &difference)) << difference;
  Paths status = status_json(server);
  EXPECT_EQ(number(status, "connections.websocket"), 2);
  EXPECT_EQ(number(status, "connections.sse"), 1);
  EXPECT_EQ(number(status, "subscribers"), 3);
  EXPECT_EQ(number(status, "messages.published"), 3);
  EXPECT_EQ(number(status, "messages.delivered"), 6);
  EXPECT_EQ(number(status, "workers.serving"), 2);
  EXPECT_EQ(number(status, "generations.length"), 1);
  EXPECT_EQ(status["generations.0.state"], quoted("serving"));
  EXPECT_EQ(number(status, "generations.0.running"), 2);
  EXPECT_EQ(number(status, "generations.0.pids.length"), 2);
  EXPECT_EQ(status["reloads.last"], "null");  // no reload yet
  EXPECT_GT(number(status, "time_ms"), 1'600'000'000'000L);
}

TEST(StatusJson, BothEndpointsAreNeverCachedAndThePageIsSelfContained) {
  TetherServer server(1, kRoutes, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto json = http_get(server.port(), "/status.json");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->status, 200);
  EXPECT_EQ(json->header("cache-control"), "no-store");
  EXPECT_EQ(json->header("content-type"), "application/json");
  auto page = http_get(server.port(), "/status");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_EQ(page->header("cache-control"), "no-store");
  EXPECT_EQ(page->header("content-type"), "text/html; charset=utf-8");
  std::string policy = page->header("content-security-policy");
  EXPECT_NE(policy.find("default-src 'none'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("script-src 'sha256-"), std::string::npos) << "no 'unsafe-inline' script: " << policy;
  EXPECT_EQ(policy.find("script-src 'unsafe-inline'"), std::string::npos) << policy;
  EXPECT_NE(policy.find("frame-ancestors 'none'"), std::string::npos) << policy;
  EXPECT_NE(page->body.find("fetch('status.json'"), std::string::npos);
  // Nothing loaded from elsewhere, and no data put in as HTML.
  for (const char* outside : {"src=\"http", "href=\"http", "@import", "url(", "innerHTML", "outerHTML", "insertAdjacentHTML"})
    EXPECT_EQ(page->body.find(outside), std::string::npos) << outside;
}

TEST(StatusJson, TheEndpointIsChosenByTheRouteTableOrThePathsLastSegment) {
  TetherServer server(1, R"(
[modules.health]
[[route]]
path = "/ops/state"
handler = "health"
[route.health]
endpoint = "status.json"
[[route]]
path = "/ops/status"
handler = "health"
)", kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto json = http_get(server.port(), "/ops/state");
  ASSERT_TRUE(json);
  EXPECT_EQ(json->header("content-type"), "application/json");
  auto page = http_get(server.port(), "/ops/status");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->header("content-type"), "text/html; charset=utf-8");
}

// A WebSocket subscriber holds the old generation open (drain_timeout 60 s, no spread): while
// it drains, status.json lists it as draining, the new one as serving, and /metrics agrees.
TEST(StatusJson, DuringAReloadTheOldGenerationDrainsAndTheNewOneServes) {
  TetherServer server(2, kRoutes, kModulesDir + "drain_timeout = \"60s\"\ndrain_spread = \"0s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient held;
  ASSERT_EQ(held.open(server.port(), "/ws/news"), 101);
  ASSERT_TRUE(wait_for_subscribers(server.port(), "news", 1));
  Paths before = status_json(server);
  long reload_started = number(before, "time_ms");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 10s)) << server.error_log();

  Paths status;
  ASSERT_TRUE(wait_until([&] {
    status = status_json(server);
    return number(status, "generations.length") == 2 && number(status, "workers.serving") == 2;
  }, 5s)) << server.error_log();
  std::string old_one = generation_path(status, 1), new_one = generation_path(status, 2);
  ASSERT_NE(old_one, "");
  ASSERT_NE(new_one, "");
  EXPECT_EQ(status[old_one + ".state"], quoted("draining"));
  EXPECT_EQ(status[new_one + ".state"], quoted("serving"));
  EXPECT_GE(number(status, old_one + ".running"), 1);  // the worker holding the subscriber
  EXPECT_GE(number(status, old_one + ".since_ms"), reload_started);
  EXPECT_GE(number(status, "workers.draining"), 1);
  EXPECT_EQ(status["reloads.last.ok"], "true");
  EXPECT_EQ(number(status, "reloads.total"), 1);
  std::string difference;
  EXPECT_TRUE(eventually_agrees(server, &difference)) << difference;
  std::map<std::string, long> m = metrics(server.port());
  EXPECT_EQ(m["tether_generations{state=\"draining\"}"], 1);
  EXPECT_EQ(m["tether_last_reload_success"], 1);
  EXPECT_GE(m["tether_last_reload_timestamp_seconds"] * 1000, reload_started - 1000);
}

// A key whose name holds a quote, "</script>" and a control byte makes the reload fail with a
// message that quotes it: status.json carries it as valid JSON, with nothing raw in it.
TEST(StatusJson, AFailedReloadIsTheLastResultWithItsMessageEscaped) {
  TetherServer server(2, kRoutes, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  server.write_config(server.default_config() + "\n\"a\\\"b</script>\\u0007c\" = 1\n");
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload failed", 5s)) << server.error_log();

  std::string raw, problem;
  Paths status;
  ASSERT_TRUE(wait_until([&] { return !(status = status_json(server, &raw, &problem)).empty() &&
                                      status["reloads.last.ok"] == "false"; }, 5s))
      << problem;
  EXPECT_EQ(number(status, "reloads.failed"), 1);
  EXPECT_EQ(number(status, "reloads.total"), 0);
  const std::string& message = status["reloads.last.message"];
  EXPECT_NE(message.find("unknown key"), std::string::npos) << message;
  EXPECT_NE(message.find("a\\\"b</script>\\u0007c"), std::string::npos) << message;  // as json.dumps writes it
  EXPECT_EQ(raw.find("</script>"), std::string::npos) << raw;  // '<' went out as \u003c
  EXPECT_EQ(raw.find('\x07'), std::string::npos) << raw;
  EXPECT_EQ(number(status, "generations.length"), 1);  // generation 1 serves on
  std::map<std::string, long> m = metrics(server.port());
  EXPECT_EQ(m["tether_last_reload_success"], 0);
  EXPECT_EQ(m["tether_reload_failures_total"], 1);
}

// Subscribers of three channels spread over both workers (SO_REUSEPORT picks the worker of each
// connection): the list is summed over the workers, the most subscribed channel first.
TEST(StatusJson, TheBusiestChannelsAreSummedOverTheWorkersMostSubscribersFirst) {
  TetherServer server(2, kRoutes, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<std::unique_ptr<WsClient>> clients;
  auto subscribe = [&](const std::string& channel, int count) {
    for (int i = 0; i < count; ++i) {
      clients.push_back(std::make_unique<WsClient>());
      ASSERT_EQ(clients.back()->open(server.port(), "/ws/" + channel), 101);
    }
    ASSERT_TRUE(wait_for_subscribers(server.port(), channel, count));
  };
  subscribe("warm", 5);
  subscribe("hot", 12);
  subscribe("cold", 1);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(publish(server.port(), "hot", "x").first, 200);
  std::map<std::string, long> m = metrics(server.port());
  EXPECT_GT(m["tether_subscribers{worker=\"0\"}"], 0) << "every subscriber landed on worker 1";
  EXPECT_GT(m["tether_subscribers{worker=\"1\"}"], 0) << "every subscriber landed on worker 0";

  Paths status;
  EXPECT_TRUE(wait_until([&] {
    status = status_json(server);
    return number(status, "channels.length") == 3 && number(status, "channels.0.subscribers") == 12 &&
           number(status, "channels.0.messages") == 2;
  }, 5s)) << "channels: " << number(status, "channels.length");
  EXPECT_EQ(status["channels.0.name"], quoted("hot"));
  EXPECT_EQ(number(status, "channels.0.messages"), 2);
  EXPECT_EQ(status["channels.1.name"], quoted("warm"));
  EXPECT_EQ(number(status, "channels.1.subscribers"), 5);
  EXPECT_EQ(status["channels.2.name"], quoted("cold"));
  EXPECT_EQ(number(status, "channels.2.subscribers"), 1);
  // Unsubscribing shows within about a second.
  clients.erase(clients.begin(), clients.begin() + 5);  // every "warm" subscriber
  EXPECT_TRUE(wait_until([&] { return number(status_json(server), "channels.length") == 2; }, 5s));
}

// A worker taken over can write any byte of the status board (tests/modules/hostile_worker.c
// fills it with 'A's: odd sequence numbers, huge counts, names without an end). status.json
// stays valid JSON, and what cannot be read as a record (a state of 'A's, a name without its
// end) is left out; what can (numbers) is bounded, not trusted. The owners' next writes repair
// it: each worker's within a second, the master's within a second too (no change needed).
TEST(StatusJson, AWorkerScribblingOverTheStatusBoardCannotBreakItAndItsOwnersRepairIt) {
  TetherServer server(2, kRoutes + "[modules.hostile]\npath = \"" + std::string(TETHER_TEST_MODULES_DIR) +
                             "/hostile_worker.so\"\n[[route]]\npath = \"/hostile/*\"\nhandler = \"hostile\"\n",
                      kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient subscriber;
  ASSERT_EQ(subscriber.open(server.port(), "/ws/news"), 101);
  ASSERT_TRUE(wait_until([&] { return status_json(server)["channels.0.name"] == quoted("news"); }, 5s));

  auto scribbled = http_get(server.port(), "/hostile/scribble?bytes=" + std::to_string(tether::StatusBoard::mapping_bytes()));
  ASSERT_TRUE(scribbled);
  ASSERT_EQ(scribbled->status, 200) << scribbled->body;  // it found the board, and wrote over it

  std::string problem;
  Paths status = status_json(server, nullptr, &problem);
  ASSERT_FALSE(status.empty()) << problem;
  EXPECT_EQ(number(status, "generations.length"), 0) << "no state of 'A's is a state";
  for (long i = 0; i < number(status, "channels.length"); ++i)
    EXPECT_EQ(status["channels." + std::to_string(i) + ".name"], quoted("news"));  // no name of 'A's without an end
  EXPECT_TRUE(wait_until([&] {
    Paths now = status_json(server);
    return number(now, "channels.length") == 1 && now["channels.0.name"] == quoted("news") &&
           number(now, "channels.0.subscribers") == 1;
  }, 3s)) << "the workers rewrite their slots";
  EXPECT_TRUE(wait_until([&] {
    Paths now = status_json(server);
    std::string serving = generation_path(now, 1);
    return !serving.empty() && now[serving + ".state"] == quoted("serving");
  }, 3s)) << "the master rewrites its area, without a reload";
}

// A compromised worker can also write records that are valid in every field but their times: a
// generation and a reload at UINT64_MAX ms, which no JavaScript Date can hold (the page would
// throw formatting it). status.json never carries a time past Date's end (8.64e15 ms).
TEST(StatusJson, TimesNoDateCanHoldNeverReachTheJson) {
  TetherServer server(1, kRoutes + "[modules.hostile]\npath = \"" + std::string(TETHER_TEST_MODULES_DIR) +
                             "/hostile_worker.so\"\n[[route]]\npath = \"/hostile/*\"\nhandler = \"hostile\"\n",
                      kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto written =
      http_get(server.port(), "/hostile/extreme-times?bytes=" + std::to_string(tether::StatusBoard::mapping_bytes()));
  ASSERT_TRUE(written);
  ASSERT_EQ(written->status, 200) << written->body;
  std::string raw, problem;
  Paths status = status_json(server, &raw, &problem);
  ASSERT_FALSE(status.empty()) << problem;
  ASSERT_GE(number(status, "generations.length"), 1) << raw;
  for (long i = 0; i < number(status, "generations.length"); ++i) {
    std::string since = status["generations." + std::to_string(i) + ".since_ms"];
    EXPECT_LE(std::strtod(since.c_str(), nullptr), 8.64e15) << raw;
  }
  if (status.count("reloads.last.time_ms"))
    EXPECT_LE(std::strtod(status["reloads.last.time_ms"].c_str(), nullptr), 8.64e15) << raw;
}
