// What the websocket and sse modules do with hostile requests and hostile clients, through the
// real server: oversized and escaped `since`/`lastEventId`/Last-Event-ID values and channel
// names get a 400 saying why (never an overflow: the ASan build's worker died of one), a NUL in
// a channel name is refused instead of cutting the name short, and a client that closes or
// resets in the middle of a burst of frames leaves the worker serving. Every test checks that
// the one worker that answered is still the same process and still serves.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/config_toml.h"
#include "support/http_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kConfig =
    modules_toml({"websocket", "sse"}) + route_toml("/pub/*", "publish") + route_toml("/ws/*", "websocket") +
    route_toml("/echo/*", "websocket", "[route.websocket]\nclient_messages = \"echo\"\nformat = \"raw\"\n") +
    route_toml("/sse/*", "sse");

const std::string kUpgradeHeaders =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n";

class ModuleInputHardening : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<TetherServer>(1, kConfig, built_modules_dir_toml());
    ASSERT_TRUE(server_->start()) << server_->error_log();
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    workers_ = server_->worker_pids();
    ASSERT_EQ(workers_.size(), 1u);
  }

  // The worker that answered is the one that was there before, and it still upgrades.
  void TearDown() override {
    WsClient probe;
    EXPECT_EQ(probe.open(server_->port(), "/ws/still-serving"), 101) << server_->error_log();
    EXPECT_EQ(server_->worker_pids(), workers_) << "the worker died:\n" << server_->error_log();
  }

  // GET `target` with `headers` on a fresh connection; the answer, nullopt if none came.
  static std::optional<HttpResponse> request(const std::string& target, const std::string& headers) {
    HttpClient client;
    if (!client.connect(server_->port())) return std::nullopt;
    client.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n");
    return client.read_response();
  }

  static void expect_refused(const std::string& target, const std::string& headers, const std::string& reason) {
    auto answer = request(target, headers);
    ASSERT_TRUE(answer) << "no answer to " << target.substr(0, 60) << "...";
    EXPECT_EQ(answer->status, 400) << answer->body;
    EXPECT_EQ(answer->body, reason + "\n");
  }

  // The status line's code of an event stream request (whose body never ends), 0 if none.
  static int stream_status(const std::string& target, const std::string& headers = "") {
    HttpClient client;
    if (!client.connect(server_->port())) return 0;
    client.send("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + headers + "\r\n");
    std::string head = client.read_bytes(12, std::chrono::seconds(5));
    int status = 0;
    std::sscanf(head.c_str(), "HTTP/1.1 %d", &status);
    return status;
  }

  static std::unique_ptr<TetherServer> server_;
  std::vector<pid_t> workers_;
};

std::unique_ptr<TetherServer> ModuleInputHardening::server_;

std::string repeat(const std::string& piece, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += piece;
  return out;
}

// Ends the TCP connection with a reset (SO_LINGER 0), as a client that vanishes does.
void reset(int fd) {
  linger l{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

}  // namespace

// ---- WebSocket: since and channel names

TEST_F(ModuleInputHardening, WebSocketLongSinceIsRefusedNotOverflowed) {
  expect_refused("/ws/x?since=" + std::string(384, 'a'), kUpgradeHeaders, "since is not a message id (at most 64 bytes)");
  expect_refused("/ws/x?since=" + std::string(5000, '1'), kUpgradeHeaders, "since is not a message id (at most 64 bytes)");
}

TEST_F(ModuleInputHardening, WebSocketSinceIsMeasuredDecoded) {
  expect_refused("/ws/x?since=" + repeat("%41", 65), kUpgradeHeaders, "since is not a message id (at most 64 bytes)");
  WsClient at_limit;
  EXPECT_EQ(at_limit.open(server_->port(), "/ws/x?since=" + repeat("%41", 64)), 101) << at_limit.response_head();
  expect_refused("/ws/x?since=1-%4", kUpgradeHeaders, "bad %-escape in since");
}

TEST_F(ModuleInputHardening, WebSocketLongChannelNamesAreRefused) {
  const std::string too_long = "the channel name is longer than 128 bytes";
  expect_refused("/ws/" + std::string(129, 'c'), kUpgradeHeaders, too_long);
  expect_refused("/ws/?channel=" + std::string(129, 'c'), kUpgradeHeaders, too_long);
  expect_refused("/ws/?channel=" + repeat("%63", 129), kUpgradeHeaders, too_long);
  expect_refused("/ws/?channel=" + std::string(5000, 'c'), kUpgradeHeaders, too_long);
  WsClient at_limit;
  EXPECT_EQ(at_limit.open(server_->port(), "/ws/" + std::string(128, 'c') + "?channel=" + repeat("%63", 128)), 101)
      << at_limit.response_head();
}

TEST_F(ModuleInputHardening, WebSocketNulInAChannelNameIsRefusedNotCutShort) {
  const std::string bad_bytes = "the channel name may only contain letters, digits and _ - . : @";
  expect_refused("/ws/?channel=news%00junk!!", kUpgradeHeaders, bad_bytes);
  expect_refused("/ws/?channel=news%00junk", kUpgradeHeaders, bad_bytes);
  expect_refused("/ws/ok?channel=news%00", kUpgradeHeaders, bad_bytes);
  expect_refused("/ws/news%00junk", kUpgradeHeaders, bad_bytes);
}

TEST_F(ModuleInputHardening, WebSocketParametersItDoesNotReadMayBeLong) {
  WsClient client;
  EXPECT_EQ(client.open(server_->port(), "/ws/x?token=" + std::string(2000, 't') + "&junk=%zz"), 101)
      << client.response_head();
}

TEST_F(ModuleInputHardening, WebSocketTooManyChannelsAreRefused) {
  expect_refused("/ws/a?" + repeat("channel=b&", 16), kUpgradeHeaders, "too many channels (at most 16 per connection)");
}

// ---- SSE: Last-Event-ID, lastEventId and channel names

TEST_F(ModuleInputHardening, SseLongLastEventIdHeaderIsRefused) {
  const std::string reason = "Last-Event-ID is not a message id (at most 64 bytes)";
  expect_refused("/sse/x", "Last-Event-ID: " + std::string(384, 'a') + "\r\n", reason);
  EXPECT_EQ(stream_status("/sse/x", "Last-Event-ID: " + std::string(64, 'a') + "\r\n"), 200);
}

TEST_F(ModuleInputHardening, SseLongLastEventIdParameterIsRefused) {
  const std::string reason = "lastEventId is not a message id (at most 64 bytes)";
  expect_refused("/sse/x?lastEventId=" + std::string(384, 'a'), "", reason);
  expect_refused("/sse/x?lastEventId=" + repeat("%41", 65), "", reason);
  EXPECT_EQ(stream_status("/sse/x?lastEventId=" + repeat("%41", 64)), 200);
}

TEST_F(ModuleInputHardening, SseLongChannelNamesAreRefused) {
  const std::string too_long = "the channel name is longer than 128 bytes";
  expect_refused("/sse/" + std::string(129, 'c'), "", too_long);
  expect_refused("/sse/?channel=" + repeat("%63", 129), "", too_long);
  expect_refused("/sse/?channel=" + std::string(5000, 'c'), "", too_long);
  EXPECT_EQ(stream_status("/sse/" + std::string(128, 'c') + "?channel=" + repeat("%63", 128)), 200);
}

TEST_F(ModuleInputHardening, SseNulInAChannelNameIsRefusedNotCutShort) {
  const std::string bad_bytes = "the channel name may only contain letters, digits and _ - . : @";
  expect_refused("/sse/?channel=news%00junk!!", "", bad_bytes);
  expect_refused("/sse/?channel=news%00junk", "", bad_bytes);
  expect_refused("/sse/news%00junk", "", bad_bytes);
}

// ---- Both: one rule for %-escapes (modules/common/subscription.c)
// A bad escape in a parameter a module reads (channel, since, lastEventId) is a 400 naming it;
// the parameters a module does not read are not decoded, so their escapes do not matter.

TEST_F(ModuleInputHardening, BothModulesRefuseABadEscapeInAParameterTheyRead) {
  expect_refused("/ws/?channel=%zz", kUpgradeHeaders, "bad %-escape in a channel name");
  expect_refused("/ws/x?since=1-%4", kUpgradeHeaders, "bad %-escape in since");
  expect_refused("/sse/?channel=%zz", "", "bad %-escape in a channel name");
  expect_refused("/sse/x?lastEventId=1-%4", "", "bad %-escape in lastEventId");
}

TEST_F(ModuleInputHardening, BothModulesIgnoreBadEscapesInParametersTheyDoNotRead) {
  WsClient client;
  EXPECT_EQ(client.open(server_->port(), "/ws/x?junk=%zz&since2=%4"), 101) << client.response_head();
  EXPECT_EQ(stream_status("/sse/x?junk=%zz&since=%4"), 200);
}

// ---- WebSocket: nothing after the close, and clients that reset mid-burst

TEST_F(ModuleInputHardening, WebSocketParsesNothingAfterTheClientsClose) {
  WsClient client;
  ASSERT_EQ(client.open(server_->port(), "/echo/room"), 101);
  client.send_raw(ws_close_frame(1000) + ws_frame(0x9, "late ping") + ws_frame(0x1, "late text"));
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_EQ(frame->close_code(), 1000);
  EXPECT_FALSE(client.read_frame(std::chrono::milliseconds(300))) << "answered a frame after the close";
  EXPECT_TRUE(client.wait_tcp_closed(std::chrono::seconds(5)));
}

TEST_F(ModuleInputHardening, WebSocketParsesNothingAfterAProtocolError) {
  WsClient client;
  ASSERT_EQ(client.open(server_->port(), "/echo/room"), 101);
  client.send_raw(ws_frame(0x9, "p1") + ws_frame(0x1, "unmasked", true, 0, false) + ws_frame(0x9, "p2"));
  auto pong = client.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xA);
  EXPECT_EQ(client.read_close(), 1002);
  EXPECT_FALSE(client.read_frame(std::chrono::milliseconds(300))) << "answered a frame after the protocol error";
}

TEST_F(ModuleInputHardening, WebSocketClientResettingAfterPingsCloseOrBadFramesLeavesTheWorkerServing) {
  const std::vector<std::string> bursts = {
      repeat(ws_frame(0x9, std::string(125, 'p')), 200),
      repeat(ws_frame(0x1, std::string(1000, 'e')), 100),
      ws_close_frame(1000) + repeat(ws_frame(0x9, "x"), 50),
      ws_frame(0x9, "x") + ws_frame(0x1, "unmasked", true, 0, false),
      ws_frame(0x1, "\xFF") + repeat(ws_frame(0x9, "x"), 50),
  };
  for (int round = 0; round < 20; ++round)
    for (const std::string& burst : bursts) {
      WsClient client;
      ASSERT_EQ(client.open(server_->port(), "/echo/room"), 101);
      client.send_raw(burst);
      reset(client.fd());
      client.close();
    }
  EXPECT_TRUE(wait_until([] { return accepted_connections(server_->port()) == 0; }, std::chrono::seconds(3)))
      << "the worker did not close every connection that reset";
}
