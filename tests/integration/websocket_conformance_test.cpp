// The websocket module's RFC 6455 codec against the real server, case by case after the
// categories of the Autobahn testsuite (framing, ping/pong, reserved bits, opcodes,
// fragmentation, UTF-8, limits, close handling) and the opening handshake. Every bad input must
// get the exact close code (or HTTP status) the RFC calls for.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/http_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kBuiltinModules = TETHER_MODULES_BUILD_DIR;

// An echo route (client messages come back) with a 1000-byte message limit, and an Origin
// allow-list and subprotocols on the module.
const std::string kConfig = R"(
[modules.websocket]
max_message_size = 1000
allowed_origins = "https://good.example, https://also.example"
subprotocols = "chat.v2, chat.v1"

[[route]]
path = "/echo/*"
handler = "websocket"
[route.websocket]
client_messages = "echo"
format = "raw"
)";

class WebSocketConformance : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = std::make_unique<TetherServer>(1, kConfig, "modules_dir = \"" + kBuiltinModules + "\"\n");
    ASSERT_TRUE(server_->start()) << server_->error_log();
  }
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    ASSERT_EQ(client_.open(server_->port(), "/echo/room", "Origin: https://good.example\r\n"), 101)
        << client_.response_head();
  }

  // Sends `bytes` and expects the server to close with `code`, then end the TCP connection.
  void expect_close(const std::string& bytes, int code) {
    client_.send_raw(bytes);
    EXPECT_EQ(client_.read_close(), code);
    EXPECT_TRUE(client_.wait_tcp_closed(std::chrono::seconds(5)));
  }

  void expect_echo(const std::string& text) {
    ASSERT_TRUE(client_.send_text(text));
    auto frame = client_.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->opcode, 0x1);
    EXPECT_EQ(frame->payload, text);
  }

  static std::unique_ptr<TetherServer> server_;
  WsClient client_;
};

std::unique_ptr<TetherServer> WebSocketConformance::server_;

std::string repeat(char c, std::size_t n) { return std::string(n, c); }

}  // namespace

// ---- 1. Framing

TEST_F(WebSocketConformance, TextMessagesOfEveryLengthEncodingEchoBack) {
  for (std::size_t n : {0u, 1u, 125u, 126u, 127u, 1000u}) expect_echo(repeat('a', n));
}

TEST_F(WebSocketConformance, BinaryMessagesEchoAsBinary) {
  std::string data("\x00\xff\x10\x80", 4);
  client_.send_raw(ws_frame(0x2, data));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x2);
  EXPECT_EQ(frame->payload, data);
}

TEST_F(WebSocketConformance, AFrameSentOneByteAtATimeIsReassembled) {
  std::string bytes = ws_frame(0x1, "split into single bytes");
  for (char b : bytes) {
    ASSERT_TRUE(client_.send_raw(std::string(1, b)));
    usleep(1000);  // the behaviour under test: each byte arrives in a read of its own
  }
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "split into single bytes");
}

TEST_F(WebSocketConformance, SeveralFramesInOneWriteAreAllHandled) {
  client_.send_raw(ws_frame(0x1, "one") + ws_frame(0x1, "two") + ws_frame(0x1, "three"));
  for (const char* expected : {"one", "two", "three"}) {
    auto frame = client_.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->payload, expected);
  }
}

TEST_F(WebSocketConformance, AnUnmaskedClientFrameIsAProtocolError) {
  expect_close(ws_frame(0x1, "hello", true, 0, false), 1002);
}

// ---- 2. Pings and pongs

TEST_F(WebSocketConformance, APingIsAnsweredWithAPongCarryingItsPayload) {
  for (std::size_t n : {0u, 10u, 125u}) {
    client_.send_raw(ws_frame(0x9, repeat('p', n)));
    auto frame = client_.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->opcode, 0xA);
    EXPECT_EQ(frame->payload, repeat('p', n));
  }
}

TEST_F(WebSocketConformance, AnUnsolicitedPongIsIgnored) {
  client_.send_raw(ws_frame(0xA, "unasked"));
  expect_echo("still open");
}

TEST_F(WebSocketConformance, APingOver125BytesIsAProtocolError) { expect_close(ws_frame(0x9, repeat('p', 126)), 1002); }

TEST_F(WebSocketConformance, AFragmentedPingIsAProtocolError) { expect_close(ws_frame(0x9, "part", false), 1002); }

// ---- 3. Reserved bits

TEST_F(WebSocketConformance, EachReservedBitWithoutAnExtensionIsAProtocolError) {
  for (std::uint8_t rsv : {1, 2, 4, 7}) {
    WsClient c;
    ASSERT_EQ(c.open(server_->port(), "/echo/room", "Origin: https://good.example\r\n"), 101);
    c.send_raw(ws_frame(0x1, "rsv", true, rsv));
    EXPECT_EQ(c.read_close(), 1002) << "rsv " << int(rsv);
  }
}

TEST_F(WebSocketConformance, AReservedBitOnAPingIsAProtocolError) { expect_close(ws_frame(0x9, "", true, 4), 1002); }

// ---- 4. Opcodes

TEST_F(WebSocketConformance, ReservedOpcodesAreProtocolErrors) {
  for (std::uint8_t opcode : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
    WsClient c;
    ASSERT_EQ(c.open(server_->port(), "/echo/room", "Origin: https://good.example\r\n"), 101);
    c.send_raw(ws_frame(opcode, "x"));
    EXPECT_EQ(c.read_close(), 1002) << "opcode " << int(opcode);
  }
}

// ---- 5. Fragmentation

TEST_F(WebSocketConformance, AFragmentedTextMessageEchoesWhole) {
  client_.send_raw(ws_frame(0x1, "frag", false) + ws_frame(0x0, "men", false) + ws_frame(0x0, "ted"));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "fragmented");
}

TEST_F(WebSocketConformance, EmptyFragmentsAreAllowed) {
  client_.send_raw(ws_frame(0x1, "", false) + ws_frame(0x0, "x", false) + ws_frame(0x0, ""));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "x");
}

TEST_F(WebSocketConformance, APingBetweenFragmentsIsAnsweredFirst) {
  client_.send_raw(ws_frame(0x1, "be", false) + ws_frame(0x9, "ping!") + ws_frame(0x0, "fore"));
  auto pong = client_.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xA);
  EXPECT_EQ(pong->payload, "ping!");
  auto message = client_.read_frame();
  ASSERT_TRUE(message);
  EXPECT_EQ(message->payload, "before");
}

TEST_F(WebSocketConformance, AContinuationWithoutAMessageIsAProtocolError) { expect_close(ws_frame(0x0, "orphan"), 1002); }

TEST_F(WebSocketConformance, ANewMessageInsideAFragmentedOneIsAProtocolError) {
  expect_close(ws_frame(0x1, "first", false) + ws_frame(0x1, "second"), 1002);
}

// ---- 6. UTF-8

TEST_F(WebSocketConformance, ValidMultiByteTextEchoes) { expect_echo("κόσμε \xF0\x9F\x98\x80 \xE2\x82\xAC \xF4\x8F\xBF\xBF"); }

TEST_F(WebSocketConformance, AnOverlongEncodingIsInvalidData) { expect_close(ws_frame(0x1, "\xC0\xAF"), 1007); }

TEST_F(WebSocketConformance, AnEncodedSurrogateIsInvalidData) { expect_close(ws_frame(0x1, "\xED\xA0\x80"), 1007); }

TEST_F(WebSocketConformance, ACodePointAboveU10FFFFIsInvalidData) { expect_close(ws_frame(0x1, "\xF4\x90\x80\x80"), 1007); }

TEST_F(WebSocketConformance, ASequenceSplitAcrossFragmentsIsValid) {
  client_.send_raw(ws_frame(0x1, "\xE2\x82", false) + ws_frame(0x0, "\xAC"));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "\xE2\x82\xAC");
}

TEST_F(WebSocketConformance, InvalidUtf8InALaterFragmentFailsWithoutWaitingForTheEnd) {
  // The message never ends: the server must fail on the bad fragment itself.
  expect_close(ws_frame(0x1, "fine", false) + ws_frame(0x0, "\xFF", false), 1007);
}

TEST_F(WebSocketConformance, TextEndingInsideASequenceIsInvalidData) { expect_close(ws_frame(0x1, "ok\xE2\x82"), 1007); }

TEST_F(WebSocketConformance, BinaryMessagesAreNotCheckedForUtf8) {
  client_.send_raw(ws_frame(0x2, "\xFF\xFE"));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "\xFF\xFE");
}

// ---- 7. Limits

TEST_F(WebSocketConformance, AMessageOverMaxMessageSizeIsTooBig) { expect_close(ws_frame(0x2, repeat('b', 1001)), 1009); }

TEST_F(WebSocketConformance, FragmentsAddingUpOverTheLimitAreTooBig) {
  expect_close(ws_frame(0x1, repeat('a', 600), false) + ws_frame(0x0, repeat('a', 600)), 1009);
}

TEST_F(WebSocketConformance, AHugeDeclaredLengthIsRefusedBeforeItsPayload) {
  std::string header = "\x82\xFF";  // binary, masked, 64-bit length follows
  header += std::string("\x00\x00\x00\x01\x00\x00\x00\x00", 8) + "mask";
  expect_close(header, 1009);
}

// ---- 8. Close handling

TEST_F(WebSocketConformance, ACloseIsAnsweredWithTheSameCodeAndTheConnectionEnds) {
  expect_close(ws_close_frame(1000, "bye"), 1000);
}

TEST_F(WebSocketConformance, AnEmptyCloseIsAnsweredWithAnEmptyClose) {
  client_.send_raw(ws_frame(0x8, ""));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_EQ(frame->payload, "");
  EXPECT_TRUE(client_.wait_tcp_closed(std::chrono::seconds(5)));
}

TEST_F(WebSocketConformance, ApplicationCloseCodesAreAccepted) {
  for (int code : {1001, 1003, 1007, 1011, 3000, 3999, 4000, 4999}) {
    WsClient c;
    ASSERT_EQ(c.open(server_->port(), "/echo/room", "Origin: https://good.example\r\n"), 101);
    c.send_raw(ws_close_frame(code));
    EXPECT_EQ(c.read_close(), code);
  }
}

TEST_F(WebSocketConformance, InvalidCloseCodesAreProtocolErrors) {
  for (int code : {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}) {
    WsClient c;
    ASSERT_EQ(c.open(server_->port(), "/echo/room", "Origin: https://good.example\r\n"), 101);
    c.send_raw(ws_close_frame(code));
    EXPECT_EQ(c.read_close(), 1002) << "code " << code;
  }
}

TEST_F(WebSocketConformance, AOneByteClosePayloadIsAProtocolError) { expect_close(ws_frame(0x8, "x"), 1002); }

TEST_F(WebSocketConformance, ACloseReasonThatIsNotUtf8IsInvalidData) { expect_close(ws_close_frame(1000, "\xFF"), 1007); }

TEST_F(WebSocketConformance, NothingIsEchoedAfterTheClose) {
  client_.send_raw(ws_close_frame(1000) + ws_frame(0x1, "too late"));
  auto frame = client_.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->opcode, 0x8);
  EXPECT_FALSE(client_.read_frame(std::chrono::milliseconds(300)));
}

// ---- 9. Opening handshake

TEST_F(WebSocketConformance, TheHandshakeNegotiatesTheServersPreferredSubprotocol) {
  WsClient c;
  ASSERT_EQ(c.open(server_->port(), "/echo/room", "Origin: https://good.example\r\nSec-WebSocket-Protocol: chat.v1, chat.v2\r\n"),
            101);
  EXPECT_NE(c.response_head().find("Sec-WebSocket-Protocol: chat.v2\r\n"), std::string::npos) << c.response_head();
}

TEST_F(WebSocketConformance, AnOriginNotAllowedIsForbidden) {
  WsClient c;
  EXPECT_EQ(c.open(server_->port(), "/echo/room", "Origin: https://evil.example\r\n"), 403);
  WsClient none;
  EXPECT_EQ(none.open(server_->port(), "/echo/room"), 403);
}

TEST_F(WebSocketConformance, AnotherProtocolVersionGets426NamingVersion13) {
  HttpClient c;
  ASSERT_TRUE(c.connect(server_->port()));
  c.send("GET /echo/room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\nOrigin: https://good.example\r\n\r\n");
  auto r = c.read_response();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 426);
  EXPECT_EQ(r->header("sec-websocket-version"), "13");
}

TEST_F(WebSocketConformance, AMissingOrMalformedKeyIsABadRequest) {
  for (const char* key : {"", "Sec-WebSocket-Key: short\r\n", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=!\r\n"}) {
    HttpClient c;
    ASSERT_TRUE(c.connect(server_->port()));
    c.send(std::string("GET /echo/room HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n") + key +
           "Sec-WebSocket-Version: 13\r\nOrigin: https://good.example\r\n\r\n");
    auto r = c.read_response();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << key;
  }
}

// A field on several lines is one list (RFC 9110 section 5.3): "Connection: Upgrade" and
// "Connection: keep-alive", offers of subprotocols on two lines.
TEST_F(WebSocketConformance, AFieldSentOnSeveralLinesReadsAsOneList) {
  WsClient c;
  ASSERT_EQ(c.open(server_->port(), "/echo/room",
                   "Origin: https://good.example\r\nConnection: keep-alive\r\n"
                   "Sec-WebSocket-Protocol: other\r\nSec-WebSocket-Protocol: chat.v1\r\n"),
            101)
      << c.response_head();
  EXPECT_NE(c.response_head().find("Sec-WebSocket-Protocol: chat.v1\r\n"), std::string::npos) << c.response_head();
  ASSERT_TRUE(c.send_text("both lines read"));
  auto frame = c.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->payload, "both lines read");
}

// A field meant to come once that comes twice is not read as its first line.
TEST_F(WebSocketConformance, AKeyOrAnOriginSentTwiceIsRefused) {
  WsClient keys;
  EXPECT_EQ(keys.open(server_->port(), "/echo/room",
                      "Origin: https://good.example\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"),
            400);
  WsClient origins;
  EXPECT_EQ(origins.open(server_->port(), "/echo/room", "Origin: https://good.example\r\nOrigin: https://evil.example\r\n"),
            403);
}

TEST_F(WebSocketConformance, APlainGetGets426AndAPostGets405) {
  auto plain = http_get(server_->port(), "/echo/room");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 426);
  EXPECT_EQ(plain->header("upgrade"), "websocket");
  HttpClient c;
  ASSERT_TRUE(c.connect(server_->port()));
  c.send("POST /echo/room HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  auto post = c.read_response();
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
}

TEST_F(WebSocketConformance, AnInvalidChannelNameIsABadRequestSayingWhy) {
  WsClient c;
  EXPECT_EQ(c.open(server_->port(), "/echo/bad%20name", "Origin: https://good.example\r\n"), 400);
  WsClient none;
  EXPECT_EQ(none.open(server_->port(), "/echo/", "Origin: https://good.example\r\n"), 400);
}
