// permessage-deflate (RFC 7692) through the real server: negotiated with clients nobody here
// wrote (python3-websockets, libwebsockets' deflate extension) and with hand-made offers; every
// published message compressed once whatever the number of subscribers (the metric shows it);
// clients that offer nothing, or a route with compression = "off", get plain frames; compressed
// client messages inflated with max_message_size applied to what comes out (a deflate bomb gets
// 1009 and the worker does not grow); RSV1 where the RFC forbids it gets 1002.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/http_client.h"
#include "support/publisher.h"
#include "support/tether_server.h"
#include "support/wait_until.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kBuiltinModules = TETHER_MODULES_BUILD_DIR;

const std::string kConfig = R"(
[modules.health]
[modules.websocket]
max_message_size = "4MiB"

[[route]]
path = "/metrics"
handler = "health"

[[route]]
path = "/pub/*"
handler = "publish"

[[route]]
path = "/ws/*"
handler = "websocket"

[[route]]
path = "/echo/*"
handler = "websocket"
[route.websocket]
client_messages = "echo"
format = "raw"

[[route]]
path = "/plain/*"
handler = "websocket"
[route.websocket]
compression = "off"

[[route]]
path = "/every/*"
handler = "websocket"
[route.websocket]
compression_level = 1
compression_min_size = 0
)";

const std::string kOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

// What a client's zlib makes of a compressed payload (RFC 7692 section 7.2.2): raw inflate with
// the 00 00 ff ff the sender removed; "<invalid>" if it is not DEFLATE data.
std::string inflate_payload(const std::string& payload, int window_bits = 15) {
  z_stream z{};
  if (inflateInit2(&z, -window_bits) != Z_OK) return "<invalid>";
  std::string in = payload + std::string("\x00\x00\xff\xff", 4), out;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  char buffer[16384];
  int status;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    status = inflate(&z, Z_SYNC_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  } while (status == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
  inflateEnd(&z);
  return status == Z_OK || status == Z_BUF_ERROR ? out : "<invalid>";
}

// Raw deflate with a sync flush, as a client compresses; the tail is removed by the caller.
std::string deflate_chunk(z_stream& z, const std::string& data) {
  std::string out(data.size() + 1024, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_SYNC_FLUSH);
  out.resize(out.size() - z.avail_out);
  return out;
}

std::string client_compressed(const std::string& data) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string out = deflate_chunk(z, data);
  deflateEnd(&z);
  return out.substr(0, out.size() - 4);
}

std::string compressible(int i, std::size_t n = 2000) {
  std::string out = "message " + std::to_string(i) + ":";
  while (out.size() < n) out += " the quick brown fox " + std::to_string(out.size() % 7);
  return out;
}

// Whether a JSON-format frame carries `data` (texts here need no escaping). Not by regex:
// std::regex recurses once per character, which long messages overflow the stack with.
bool carries(const std::string& json, const std::string& data) {
  return json.rfind("{\"channel\":\"", 0) == 0 && json.size() >= data.size() + 10 &&
         json.compare(json.size() - data.size() - 2, data.size() + 2, data + "\"}") == 0 &&
         json.compare(json.size() - data.size() - 10, 8, "\"data\":\"") == 0;
}

long compressions(int port) { return metrics(port)["tether_websocket_compressed_messages_total"]; }

long peak_rss_kib(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

class WebSocketDeflate : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One worker: the compression count is then exactly one per message.
    server_ = std::make_unique<TetherServer>(1, kConfig, "modules_dir = \"" + kBuiltinModules + "\"\n");
    ASSERT_TRUE(server_->start()) << server_->error_log();
  }
  static void TearDownTestSuite() { server_.reset(); }
  static int port() { return server_->port(); }

  static std::unique_ptr<TetherServer> server_;
};

std::unique_ptr<TetherServer> WebSocketDeflate::server_;

}  // namespace

TEST_F(WebSocketDeflate, PythonWebsocketsReceivesEveryMessageIntactAndItsMessagesComeBackInflated) {
  std::string output;
  int status = run_command("/usr/bin/python3 " + std::string(TETHER_SOURCE_DIR) +
                               "/tests/integration/scripts/deflate_client.py --messages 40 --port " + std::to_string(port()),
                           &output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("\"subscriber_extensions\": \"permessage-deflate; server_no_context_takeover; client_no_context_takeover\""), std::string::npos)
      << output;
  EXPECT_NE(output.find("\"received\": 40"), std::string::npos) << output;
  EXPECT_NE(output.find("\"echo_mismatches\": 0"), std::string::npos) << output;
}

TEST_F(WebSocketDeflate, ALibwebsocketsClientWithItsDeflateExtensionNegotiatesAndReceives) {
  std::string subscribed, echoed;
  long before = compressions(port());
  std::thread subscriber([&] { run_command(std::string(LWS_SUBSCRIBER) + " --deflate " + std::to_string(port()) + " /ws/lws 3", &subscribed); });
  // Publish once the channel has its subscriber.
  wait_until([&] {
    auto info = http_get(port(), "/pub/lws");
    return info && info->body.find("\"subscribers\":1") != std::string::npos;
  }, std::chrono::seconds(5));
  Publisher publisher(port());
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(publisher.send("lws", compressible(i)).empty());
  subscriber.join();
  EXPECT_NE(subscribed.find("extension: permessage-deflate\n"), std::string::npos) << subscribed;
  for (int i = 0; i < 3; ++i) EXPECT_NE(subscribed.find("\"data\":\"" + compressible(i) + "\"}\n"), std::string::npos) << i;
  EXPECT_EQ(compressions(port()) - before, 3);
  // What it sends is compressed by its own zlib and comes back, inflated and echoed.
  std::string text = compressible(7, 5000);
  run_command(std::string(LWS_SUBSCRIBER) + " --deflate " + std::to_string(port()) + " /echo/lws 1 '" + text + "'", &echoed);
  EXPECT_NE(echoed.find("extension: permessage-deflate\n"), std::string::npos) << echoed;
  EXPECT_NE(echoed.find(text + "\n"), std::string::npos) << echoed;
}

TEST_F(WebSocketDeflate, EachPublishedMessageIsCompressedOnceWhateverTheNumberOfSubscribers) {
  constexpr int kDeflateClients = 5, kMessages = 4;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kDeflateClients; ++i) {
    clients.push_back(std::make_unique<WsClient>());
    ASSERT_EQ(clients.back()->open(port(), "/ws/fanout", kOffer), 101);
    EXPECT_NE(clients.back()->response_head().find("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"),
              std::string::npos)
        << clients.back()->response_head();
  }
  WsClient plain;  // offers nothing
  ASSERT_EQ(plain.open(port(), "/ws/fanout"), 101);
  EXPECT_EQ(plain.response_head().find("Sec-WebSocket-Extensions"), std::string::npos) << plain.response_head();
  long before = compressions(port());
  Publisher publisher(port());
  for (int m = 0; m < kMessages; ++m) ASSERT_FALSE(publisher.send("fanout", compressible(m)).empty());
  for (int m = 0; m < kMessages; ++m) {
    for (auto& client : clients) {
      auto frame = client->read_frame();
      ASSERT_TRUE(frame);
      EXPECT_EQ(frame->rsv, 4);  // RSV1: compressed
      EXPECT_EQ(frame->opcode, 0x1);
      EXPECT_LT(frame->payload.size(), compressible(m).size() / 2);
      EXPECT_TRUE(carries(inflate_payload(frame->payload), compressible(m)));
    }
    auto frame = plain.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->rsv, 0);
    EXPECT_TRUE(carries(frame->payload, compressible(m)));
  }
  EXPECT_EQ(compressions(port()) - before, kMessages);  // not kMessages * kDeflateClients
}

TEST_F(WebSocketDeflate, MessagesUnderCompressionMinSizeGoUncompressed) {
  WsClient client;
  ASSERT_EQ(client.open(port(), "/ws/small", kOffer), 101);
  long before = compressions(port());
  Publisher publisher(port());
  ASSERT_FALSE(publisher.send("small", "tiny").empty());  // about 50 bytes of JSON, under 128
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->rsv, 0);
  EXPECT_TRUE(carries(frame->payload, "tiny"));
  EXPECT_EQ(compressions(port()), before);
}

TEST_F(WebSocketDeflate, NoticesAreCompressedOnDeflateFeedsToo) {
  // compression_min_size = 0 on /every: the gap notice of a resume from an unknown id is compressed.
  WsClient client;
  ASSERT_EQ(client.open(port(), "/every/notices?since=00000000-1", kOffer), 101);
  auto frame = client.read_frame();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->rsv, 4);
  EXPECT_NE(inflate_payload(frame->payload).find("{\"event\":\"gap\",\"channel\":\"notices\""), std::string::npos)
      << inflate_payload(frame->payload);
}

TEST_F(WebSocketDeflate, CompressionOffDeclinesTheOfferAndRsv1StaysAProtocolError) {
  WsClient client;
  ASSERT_EQ(client.open(port(), "/plain/x", kOffer), 101);
  EXPECT_EQ(client.response_head().find("Sec-WebSocket-Extensions"), std::string::npos) << client.response_head();
  client.send_raw(ws_frame(0x1, client_compressed("hello"), true, 4));
  EXPECT_EQ(client.read_close(), 1002);
}

TEST_F(WebSocketDeflate, AWindowTheClientAsksForIsAnsweredAndUsed) {
  for (int bits : {8, 9, 12}) {
    WsClient client;
    std::string offer = "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=" + std::to_string(bits) + "\r\n";
    ASSERT_EQ(client.open(port(), "/ws/window" + std::to_string(bits), offer), 101);
    EXPECT_NE(client.response_head().find("server_max_window_bits=" + std::to_string(bits) + "\r\n"), std::string::npos)
        << client.response_head();
    std::string text = compressible(bits, 20000);
    ASSERT_FALSE(Publisher(port()).send("window" + std::to_string(bits), text).empty());
    auto frame = client.read_frame();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->rsv, 4);
    // A client whose zlib has exactly that window reads it.
    EXPECT_TRUE(carries(inflate_payload(frame->payload, bits), text)) << bits;
  }
}

// RFC 7692 section 5.1: the offers may come on several Sec-WebSocket-Extensions lines, each
// line a list, read in order as one list.
TEST_F(WebSocketDeflate, AnOfferOnASecondExtensionsLineIsNegotiated) {
  WsClient client;
  ASSERT_EQ(client.open(port(), "/echo/lines",
                        "Sec-WebSocket-Extensions: x-webkit-unknown\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"),
            101);
  EXPECT_NE(client.response_head().find("Sec-WebSocket-Extensions: permessage-deflate"), std::string::npos)
      << client.response_head();
  client.send_raw(ws_frame(0x1, client_compressed("hello"), true, 4));
  auto echo = client.read_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(*echo, "hello");
}

TEST_F(WebSocketDeflate, CompressedClientMessagesAreInflatedAcrossFragments) {
  WsClient client;
  ASSERT_EQ(client.open(port(), "/echo/fragments", kOffer), 101);
  std::string text = compressible(3, 3000), payload = client_compressed(text);
  std::size_t half = payload.size() / 2;
  // RSV1 on the first frame only; a ping in between.
  client.send_raw(ws_frame(0x1, payload.substr(0, half), false, 4) + ws_frame(0x9, "p") + ws_frame(0x0, payload.substr(half)));
  auto pong = client.read_frame();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xA);
  auto echo = client.read_message();
  ASSERT_TRUE(echo);
  EXPECT_EQ(*echo, text);
}

TEST_F(WebSocketDeflate, Rsv1OnAControlOrContinuationFrameIsAProtocolError) {
  WsClient ping, continuation;
  ASSERT_EQ(ping.open(port(), "/echo/rsv", kOffer), 101);
  ping.send_raw(ws_frame(0x9, "", true, 4));
  EXPECT_EQ(ping.read_close(), 1002);
  ASSERT_EQ(continuation.open(port(), "/echo/rsv", kOffer), 101);
  continuation.send_raw(ws_frame(0x1, "a", false, 4) + ws_frame(0x0, "b", true, 4));
  EXPECT_EQ(continuation.read_close(), 1002);
}

TEST_F(WebSocketDeflate, CorruptCompressedDataIsInvalidData) {
  WsClient client;
  ASSERT_EQ(client.open(port(), "/echo/corrupt", kOffer), 101);
  client.send_raw(ws_frame(0x2, std::string("\xff\xff\xff\xff\xff", 5), true, 4));
  EXPECT_EQ(client.read_close(), 1007);
}

TEST_F(WebSocketDeflate, ADeflateBombIsClosedWith1009AndTheWorkerDoesNotGrow) {
  // 1 GiB of zeros in about 1 MiB: with matches of distance 1 only (Z_RLE), every sync-flushed
  // MiB after the first compresses to the same bytes, so the bomb is that piece repeated.
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_RLE), Z_OK);
  std::string zeros(1 << 20, '\0');
  std::string first = deflate_chunk(z, zeros), piece = deflate_chunk(z, zeros);
  ASSERT_EQ(deflate_chunk(z, zeros), piece);
  deflateEnd(&z);
  std::string bomb = first;
  for (int i = 1; i < 1024; ++i) bomb += piece;
  bomb.resize(bomb.size() - 4);
  ASSERT_LT(bomb.size(), 4u << 20);  // under max_message_size on the wire: only the inflated size is over
  std::vector<pid_t> workers = server_->worker_pids();
  ASSERT_EQ(workers.size(), 1u);
  long peak_before = peak_rss_kib(workers[0]);
  ASSERT_GT(peak_before, 0);
  WsClient client;
  ASSERT_EQ(client.open(port(), "/echo/bomb", kOffer), 101);
  client.send_raw(ws_frame(0x2, bomb, true, 4));
  EXPECT_EQ(client.read_close(), 1009);
  // At most max_message_size (4 MiB) came out, plus the frame's input: nowhere near 1 GiB.
  long growth_kib = peak_rss_kib(workers[0]) - peak_before;
  EXPECT_LT(growth_kib, 64 * 1024) << growth_kib << " KiB";
  // The worker serves on.
  WsClient next;
  EXPECT_EQ(next.open(port(), "/echo/after", kOffer), 101);
}

// A route that ignores client messages inflates one only while it may be a refresh message:
// the same bomb is thrown away unread after its first piece, and the connection lives on.
TEST_F(WebSocketDeflate, OnARouteThatIgnoresClientMessagesACompressedOneIsNotInflatedPastWhatARefreshCouldBe) {
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_RLE), Z_OK);
  std::string zeros(1 << 20, '\0');
  std::string first = deflate_chunk(z, zeros), piece = deflate_chunk(z, zeros);
  deflateEnd(&z);
  std::string bomb = first;
  for (int i = 1; i < 1024; ++i) bomb += piece;
  bomb.resize(bomb.size() - 4);
  WsClient client;
  ASSERT_EQ(client.open(port(), "/ws/ignored", kOffer), 101);
  ASSERT_TRUE(client.send_raw(ws_frame(0x2, bomb, true, 4)));
  ASSERT_TRUE(client.send_raw(ws_frame(0x9, "still there?")));
  std::optional<WsFrame> pong = client.read_frame();
  ASSERT_TRUE(pong) << "the connection did not live on";
  EXPECT_EQ(pong->opcode, 0xA) << "closed with " << (pong->payload.size() >= 2 ? (static_cast<unsigned char>(pong->payload[0]) << 8 | static_cast<unsigned char>(pong->payload[1])) : 0);
}

TEST(WebSocketDeflateConfig, BadCompressionSettingsAreReportedWithLineAndColumn) {
  TetherServer server(1, "[modules.websocket]\n[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n[route.websocket]\n"
                         "compression = \"yes\"\ncompression_level = 10\ncompression_min_size = \"lots\"\n",
                      "modules_dir = \"" + kBuiltinModules + "\"\n");
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find(":15: \"compression\": must be \"on\" or \"off\""), std::string::npos) << output;
  EXPECT_NE(output.find(":21: \"compression_level\": must be between 1 and 9"), std::string::npos) << output;
  EXPECT_NE(output.find(":24: \"compression_min_size\" must be a size"), std::string::npos) << output;
  EXPECT_NE(output.find(server.config_path() + ":"), std::string::npos) << output;
}
