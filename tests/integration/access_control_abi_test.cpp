// The host side of module ABI 1.4, through the real binary and the gate test module
// (tests/modules/gate.c): an access hook that waits and then lets the request through or answers,
// credentials that expire on a live WebSocket or SSE connection, their refresh by a WebSocket
// message, non-blocking I/O for modules, and a module built for ABI 1.3 beside it all.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "support/http_client.h"
#include "support/sse_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kTestModules = TETHER_TEST_MODULES_DIR;
const std::string kBuiltinModules = "modules_dir = \"" + std::string(TETHER_MODULES_BUILD_DIR) + "\"\n";

// Routes with a [route.gate] table are the gate's; /open and /ws-open/* are not.
std::string gate_config(const std::string& so = "gate.so", const std::string& gate_settings = "") {
  return "[modules.gate]\npath = \"" + kTestModules + "/" + so + "\"\n" + gate_settings +
         "[modules.websocket]\n[modules.sse]\n"
         "[[route]]\npath = \"/gated\"\nrespond = { status = 200, body = \"handler answered\\n\" }\n[route.gate]\n"
         "[[route]]\npath = \"/open\"\nrespond = { status = 200, body = \"open\\n\" }\n"
         "[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n[route.gate]\n"
         "[[route]]\npath = \"/ws-open/*\"\nhandler = \"websocket\"\n"
         "[[route]]\npath = \"/sse/*\"\nhandler = \"sse\"\n[route.gate]\n";
}

std::uint64_t unix_now_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

// How far from `deadline_ms` (unix ms) now is: positive once it passed.
long long ms_past(std::uint64_t deadline_ms) {
  return static_cast<long long>(unix_now_ms()) - static_cast<long long>(deadline_ms);
}

std::string request(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: t\r\n\r\n"; }

// The close frame that ends a WebSocket within `timeout`, nullopt if none came.
std::optional<WsFrame> read_close_frame(WsClient& ws, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto frame = ws.read_frame(std::max(left, 1ms));
    if (!frame || frame->opcode == 0x8) return frame;
  }
}

// The connection answers a ping, so it is open.
bool answers_ping(WsClient& ws) {
  if (!ws.send_raw(ws_frame(0x9, "alive?"))) return false;
  auto pong = ws.read_frame(2s);
  return pong && pong->opcode == 0xA && pong->payload == "alive?";
}

}  // namespace

TEST(AccessThatWaits, TheHandlerAnswersOnceTheModuleLetsTheRequestThrough) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto start = std::chrono::steady_clock::now();
  auto answer = http_get(server.port(), "/gated?wait=300");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 200);
  EXPECT_EQ(answer->body, "handler answered\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 290ms);
  EXPECT_TRUE(server.wait_for_log("[gate] continued: 0", 2s)) << server.error_log();
}

TEST(AccessThatWaits, TheWaitingModuleMayAnswerItselfInstead) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto answer = http_get(server.port(), "/gated?wait=200&deny");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 401);
  EXPECT_EQ(answer->body, "denied by gate\n");
}

TEST(AccessThatWaits, RequestsPipelinedBehindAWaitingOneAreAnsweredInOrder) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.send(request("/gated?wait=300") + request("/open") + request("/gated?wait=50&deny") +
                          request("/gated")));
  auto first = client.read_response();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "handler answered\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 290ms);
  auto second = client.read_response();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "open\n");
  auto third = client.read_response();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 401);
  auto fourth = client.read_response();
  ASSERT_TRUE(fourth);
  EXPECT_EQ(fourth->body, "handler answered\n");
}

// The request outlives its client until the module's request_continue(), which then says
// TETHER_DECLINED (-5) and frees it, or its respond(), which drops the answer and frees it
// (under ASan, a leak or a use after free fails the test).
TEST(AccessThatWaits, AClientThatLeavesWhileItsRequestWaitsCostsNothing) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  for (const char* target : {"/gated?wait=1500", "/gated?wait=1500&deny"}) {
    HttpClient leaver;
    ASSERT_TRUE(leaver.connect(server.port()));
    ASSERT_TRUE(leaver.send(request(target) + request("/open")));
    ASSERT_TRUE(wait_until([&] { return connection_accepted(leaver.fd()); }, 2s));
  }  // both closed before the gate decides
  ASSERT_TRUE(wait_until([&] { return accepted_connections(server.port()) == 0; }, 1s))
      << "the worker did not notice the clients leave before the gate decides";
  ASSERT_TRUE(server.wait_for_log("[gate] continued: -5", 3s)) << server.error_log();
  ASSERT_TRUE(server.wait_for_log("[gate] denied: 0", 3s)) << server.error_log();
  auto after = http_get(server.port(), "/gated?wait=10");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "handler answered\n");
  EXPECT_EQ(server.stop(), 0) << server.error_log();
}

// What the auth module does with a backend: the upgrade waits, then goes through with its expiry.
TEST(AccessThatWaits, AWebSocketUpgradeAndAnSseStreamMayWaitInAccess) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::uint64_t deadline = unix_now_ms() + 1500;
  auto start = std::chrono::steady_clock::now();
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news?wait=200&expire_at=" + std::to_string(deadline)), 101);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 190ms);
  EXPECT_TRUE(answers_ping(ws));
  SseClient sse;
  ASSERT_EQ(sse.open(server.port(), "/sse/news?wait=200"), 200);
  auto goodbye = read_close_frame(ws, 5s);
  ASSERT_TRUE(goodbye);
  EXPECT_EQ(goodbye->close_code(), 4001);
  EXPECT_LE(ms_past(deadline), 1000);
}

TEST(Expiry, AWebSocketIsClosedWith4001WhenItsTokenExpires) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::uint64_t deadline = unix_now_ms() + 1500;
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news?expire_at=" + std::to_string(deadline)), 101);
  auto goodbye = read_close_frame(ws, 5s);
  ASSERT_TRUE(goodbye);
  EXPECT_EQ(goodbye->close_code(), 4001);
  EXPECT_EQ(goodbye->payload.substr(2), "token expired");
  EXPECT_GE(ms_past(deadline), -1000);
  EXPECT_LE(ms_past(deadline), 1000);
  EXPECT_TRUE(ws.wait_tcp_closed(3s));
}

TEST(Expiry, AnSseStreamEndsWithAnExpiredEvent) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::uint64_t deadline = unix_now_ms() + 1500;
  SseClient sse;
  ASSERT_EQ(sse.open(server.port(), "/sse/news?expire_at=" + std::to_string(deadline)), 200);
  auto expired = sse.read_event(5s);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->event, "expired");
  EXPECT_EQ(expired->data, "{\"reason\":\"token expired\"}");
  EXPECT_GE(ms_past(deadline), -1000);
  EXPECT_LE(ms_past(deadline), 1000);
  EXPECT_FALSE(sse.read_event(2s));
  EXPECT_TRUE(sse.ended());
}

// The probe's echo upgrade has no on_expired (NULL): the server closes the connection itself.
TEST(Expiry, AConnectionWhoseModuleHasNoOnExpiredIsClosedByTheServer) {
  TetherServer server(1, gate_config() + "[modules.probe]\npath = \"" + kTestModules + "/probe_v1.so\"\n"
                         "[[route]]\npath = \"/echo\"\nhandler = \"probe\"\n[route.probe]\naction = \"echo\"\n[route.gate]\n",
                      kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::uint64_t deadline = unix_now_ms() + 1500;
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.send("GET /echo?expire_at=" + std::to_string(deadline) +
                          " HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: probe-echo\r\n\r\nhello"));
  auto switched = client.read_response();
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 101);
  EXPECT_EQ(client.read_bytes(5), "hello");
  EXPECT_TRUE(client.wait_closed(5s));
  EXPECT_GE(ms_past(deadline), -1000);
  EXPECT_LE(ms_past(deadline), 1000);
}

// Only long-lived connections hold credentials past their request.
TEST(Expiry, ADeadlineOnAPlainKeepAliveConnectionIsIgnored) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  std::uint64_t deadline = unix_now_ms() + 200;
  auto first = client.get("/gated?expire_at=" + std::to_string(deadline));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  // Past the deadline and a sweep (every 500 ms): the connection is still there.
  EXPECT_FALSE(client.wait_closed(1500ms));
  auto second = client.get("/open");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "open\n");
}

TEST(Refresh, AnAcceptedTokenKeepsTheWebSocketOpenPastItsOldExpiry) {
  TetherServer server(1, gate_config("gate.so", "refresh_extend = \"3s\"\n"), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::uint64_t old_deadline = unix_now_ms() + 1500;
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news?expire_at=" + std::to_string(old_deadline)), 101);
  std::uint64_t new_deadline = unix_now_ms() + 3000;
  ASSERT_TRUE(ws.send_text("{\"type\":\"refresh\",\"token\":\"good\"}"));
  auto answer = ws.read_message(2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "{\"event\":\"refreshed\"}");
  // Nothing comes until well past the old deadline, and the connection still answers.
  EXPECT_FALSE(ws.read_frame(std::chrono::milliseconds(old_deadline + 1200 - unix_now_ms())));
  EXPECT_FALSE(ws.closed());
  EXPECT_TRUE(answers_ping(ws));
  auto goodbye = read_close_frame(ws, 5s);
  ASSERT_TRUE(goodbye);
  EXPECT_EQ(goodbye->close_code(), 4001);
  EXPECT_GE(ms_past(new_deadline), -1000);
  EXPECT_LE(ms_past(new_deadline), 1000);
}

TEST(Refresh, ARefusedTokenIsAnsweredAndTheWebSocketClosesAtItsOldExpiry) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::uint64_t deadline = unix_now_ms() + 1500;
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news?expire_at=" + std::to_string(deadline)), 101);
  ASSERT_TRUE(ws.send_text("{\"type\":\"refresh\",\"token\":\"bad\"}"));
  auto answer = ws.read_message(2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "{\"event\":\"refresh_failed\"}");
  auto goodbye = read_close_frame(ws, 5s);
  ASSERT_TRUE(goodbye);
  EXPECT_EQ(goodbye->close_code(), 4001);
  EXPECT_GE(ms_past(deadline), -1000);
  EXPECT_LE(ms_past(deadline), 1000);
}

// The refresh hook gets the config of the route the connection came in on: the gate declines
// on routes without a [route.gate] table, and no other module handles refresh.
TEST(Refresh, OnARouteNoModuleGuardsTheRefreshFails) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws-open/news"), 101);
  ASSERT_TRUE(ws.send_text("{\"type\":\"refresh\",\"token\":\"good\"}"));
  auto answer = ws.read_message(2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "{\"event\":\"refresh_failed\"}");
  EXPECT_TRUE(answers_ping(ws));
}

// Only exactly {"type":"refresh","token":"…"} is a refresh message; anything else is an
// ordinary client message (ignored on this route: no answer at all).
TEST(Refresh, OnlyTheExactRefreshMessageIsTakenForOne) {
  TetherServer server(1, gate_config(), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news"), 101);
  for (const char* text : {"{\"type\":\"refresh\",\"token\":\"good\",\"more\":1}", "{\"type\":\"refresh\"}",
                           "{\"type\":\"Refresh\",\"token\":\"good\"}", "{\"type\":\"refresh\",\"token\":7}",
                           "{\"type\":\"refresh\",\"token\":\"good\"} x", "[\"refresh\",\"good\"]"})
    ASSERT_TRUE(ws.send_text(text));
  ASSERT_TRUE(ws.send_raw(ws_frame(0x2, "{\"type\":\"refresh\",\"token\":\"good\"}")));  // binary
  EXPECT_TRUE(answers_ping(ws));  // the first frame back is the pong: none of those was answered
  ASSERT_TRUE(ws.send_text(" { \"token\" : \"good\" , \"type\" : \"refresh\" } "));
  auto answer = ws.read_message(2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "{\"event\":\"refreshed\"}");
}

TEST(ModuleIo, AModuleTalksOverADescriptorOnTheWorkersLoop) {
  TetherServer server(1, gate_config("gate.so", "io_check = true\nio_leak = true\n"), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_TRUE(server.wait_for_log("[gate] io: round trip done", 5s)) << server.error_log();
  EXPECT_TRUE(server.wait_for_log("[gate] io: hang-up seen", 5s)) << server.error_log();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_NE(server.error_log().find("modules left 1 ios watched at exit: stopped them"), std::string::npos)
      << server.error_log();
}

// A module built against the 1.3 header: its descriptor ends before the refresh hook (which the
// host must not read, and the gate's 1.3 build fills in to notice if it did).
TEST(ModuleAbi, AModuleBuiltForAbi13StillLoadsAndWorks) {
  TetherServer server(1, gate_config("gate_abi13.so"), kBuiltinModules);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto denied = http_get(server.port(), "/gated?deny");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  EXPECT_EQ(denied->body, "gate 1.3 says no\n");
  auto through = http_get(server.port(), "/gated");
  ASSERT_TRUE(through);
  EXPECT_EQ(through->body, "handler answered\n");
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/news"), 101);
  ASSERT_TRUE(ws.send_text("{\"type\":\"refresh\",\"token\":\"good\"}"));
  auto answer = ws.read_message(2s);
  ASSERT_TRUE(answer);
  EXPECT_EQ(*answer, "{\"event\":\"refresh_failed\"}");
  EXPECT_EQ(server.error_log().find("refresh of a 1.3 module called"), std::string::npos) << server.error_log();
}
