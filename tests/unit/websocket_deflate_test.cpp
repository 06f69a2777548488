// The websocket module's permessage-deflate pieces (RFC 7692) on their own: the negotiation of
// Sec-WebSocket-Extensions offers, the compressor of what the server sends (checked against
// zlib's own raw inflate, as a client would read it), the bounded inflater of what clients send,
// and the parser's rules for RSV1.
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>
#include <random>
#include <string>
#include <utility>

extern "C" {
#include "../../modules/websocket/ws_codec.h"
#include "../../modules/websocket/ws_deflate.h"
#include "../../modules/websocket/ws_extensions.h"
#include "../../modules/websocket/ws_inflate.h"
}

namespace {

ws_deflate_agreement negotiate(const std::string& header) {
  ws_deflate_agreement a;
  ws_deflate_negotiate(header.data(), header.size(), &a);
  return a;
}

bool declined(const std::string& header) { return !negotiate(header).accepted; }

// A client's raw inflate (zlib, `window_bits`), with the 00 00 ff ff the sender removed.
std::string client_inflate(const std::string& payload, int window_bits) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, -window_bits), Z_OK);
  std::string in = payload + std::string("\x00\x00\xff\xff", 4), out;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  char buffer[4096];
  int status;
  do {
    z.next_out = reinterpret_cast<Bytef*>(buffer);
    z.avail_out = sizeof buffer;
    status = inflate(&z, Z_SYNC_FLUSH);
    out.append(buffer, sizeof buffer - z.avail_out);
  } while (status == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
  EXPECT_TRUE(status == Z_OK || status == Z_BUF_ERROR) << status;
  inflateEnd(&z);
  return out;
}

// A client's compressor: raw deflate, sync flush, the tail removed. With `z` kept between
// calls it takes its context over, as clients do unless they agreed to client_no_context_takeover.
std::string client_deflate(z_stream& z, const std::string& data) {
  std::string out(data.size() + 64, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_SYNC_FLUSH), Z_OK);
  out.resize(out.size() - z.avail_out);
  EXPECT_EQ(out.substr(out.size() - 4), std::string("\x00\x00\xff\xff", 4));
  out.resize(out.size() - 4);
  return out;
}

std::string client_deflate(const std::string& data, int level = 6) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out = client_deflate(z, data);
  deflateEnd(&z);
  return out;
}

struct Inflated {
  ws_inflate_result result = WS_INFLATE_OK;
  std::string data;
};

int keep(void* user, const char* data, size_t length) {
  static_cast<std::string*>(user)->append(data, length);
  return 1;
}

// One message through `inflater`, fed in pieces of `step` bytes.
Inflated inflate_message(ws_inflater* f, const std::string& payload, bool text, std::uint64_t limit, std::size_t step = 7) {
  Inflated out;
  char scratch[1000];
  ws_inflate_begin(f, text, limit);
  for (std::size_t at = 0; at < payload.size() && out.result == WS_INFLATE_OK; at += step) {
    std::string piece = payload.substr(at, step);
    out.result = ws_inflate(f, piece.data(), piece.size(), scratch, sizeof scratch, keep, &out.data);
  }
  if (out.result == WS_INFLATE_OK) out.result = ws_inflate_end(f, scratch, sizeof scratch, keep, &out.data);
  return out;
}

Inflated inflate_message(const std::string& payload, bool text = false, std::uint64_t limit = 1 << 20) {
  ws_inflater* f = ws_inflater_create(15);
  Inflated out = inflate_message(f, payload, text, limit);
  ws_inflater_destroy(f);
  return out;
}

std::string text_of_length(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; out.size() < n; ++i) out += "{\"channel\":\"prices\",\"id\":\"0a1b-" + std::to_string(i) + "\"},";
  out.resize(n);
  return out;
}

}  // namespace

// ---- negotiation (RFC 7692 section 7.1)

TEST(DeflateNegotiation, WithoutAnOfferNothingIsNegotiated) {
  ws_deflate_agreement a;
  ws_deflate_negotiate(nullptr, 0, &a);
  EXPECT_FALSE(a.accepted);
  EXPECT_STREQ(a.response, "");
  EXPECT_TRUE(declined(""));
  EXPECT_TRUE(declined("x-webkit-deflate-frame"));
}

// Both directions without context, always: no zlib stream outlives a message on either side.
TEST(DeflateNegotiation, APlainOfferIsAcceptedWithoutContextTakeoverEitherWay) {
  ws_deflate_agreement a = negotiate("permessage-deflate");
  ASSERT_TRUE(a.accepted);
  EXPECT_STREQ(a.response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  EXPECT_EQ(a.server_window_bits, 15);
  EXPECT_EQ(a.client_window_bits, 15);
  EXPECT_TRUE(a.client_no_context_takeover);
}

TEST(DeflateNegotiation, ABrowsersOfferKeepsTheClientWindowAt32KiBWithoutNamingIt) {
  // Chromium and python3-websockets offer client_max_window_bits without a value.
  ws_deflate_agreement a = negotiate("permessage-deflate; client_max_window_bits");
  ASSERT_TRUE(a.accepted);
  EXPECT_STREQ(a.response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  EXPECT_EQ(a.client_window_bits, 15);
  EXPECT_TRUE(a.client_no_context_takeover);
}

TEST(DeflateNegotiation, WindowsTheClientAsksForAreRespectedAndAnswered) {
  ws_deflate_agreement a = negotiate("permessage-deflate; server_max_window_bits=10; client_max_window_bits=9");
  ASSERT_TRUE(a.accepted);
  EXPECT_STREQ(a.response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
                           "server_max_window_bits=10; client_max_window_bits=9");
  EXPECT_EQ(a.server_window_bits, 10);
  EXPECT_EQ(a.client_window_bits, 9);
  // 8 is answered 8 (an answer may not exceed the offer): ws_deflate.c keeps to 256-byte distances.
  EXPECT_EQ(negotiate("permessage-deflate; server_max_window_bits=8").server_window_bits, 8);
}

TEST(DeflateNegotiation, ClientNoContextTakeoverIsHonouredAndRepeated) {
  ws_deflate_agreement a = negotiate("permessage-deflate;client_no_context_takeover;server_no_context_takeover");
  ASSERT_TRUE(a.accepted);
  EXPECT_TRUE(a.client_no_context_takeover);
  EXPECT_STREQ(a.response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST(DeflateNegotiation, QuotedValuesAreUnescapedAndMustBeTokens) {
  EXPECT_EQ(negotiate("permessage-deflate; server_max_window_bits=\"10\"").server_window_bits, 10);
  EXPECT_EQ(negotiate("permessage-deflate; server_max_window_bits=\"1\\2\"").server_window_bits, 12);
  EXPECT_TRUE(declined("permessage-deflate; server_max_window_bits=\"1 2\""));
  EXPECT_TRUE(declined("permessage-deflate; server_max_window_bits=\"\""));
}

TEST(DeflateNegotiation, AnOfferWithABadParameterIsDeclinedAndTheNextOneTaken) {
  for (const char* bad : {"foo", "server_max_window_bits", "server_max_window_bits=7", "server_max_window_bits=16",
                          "server_max_window_bits=08", "client_max_window_bits=0", "client_max_window_bits=100",
                          "server_no_context_takeover=1", "client_no_context_takeover=\"x\"",
                          "client_max_window_bits; client_max_window_bits=10",
                          "server_no_context_takeover; server_no_context_takeover"}) {
    std::string one = std::string("permessage-deflate; ") + bad;
    EXPECT_TRUE(declined(one)) << one;
    ws_deflate_agreement a = negotiate(one + ", permessage-deflate; server_max_window_bits=12");
    EXPECT_TRUE(a.accepted) << one;
    EXPECT_EQ(a.server_window_bits, 12) << one;  // the fallback offer, not the bad one
  }
}

TEST(DeflateNegotiation, OnlyTheFirstUsableOfferCountsAndOtherExtensionsAreSkipped) {
  ws_deflate_agreement a =
      negotiate("x-webkit-deflate-frame; max_window_bits=\"10\" , permessage-deflate; server_max_window_bits=11, "
                "permessage-deflate");
  ASSERT_TRUE(a.accepted);
  EXPECT_EQ(a.server_window_bits, 11);
  EXPECT_TRUE(negotiate(" ,permessage-deflate ,").accepted);  // empty list elements are allowed
  EXPECT_TRUE(negotiate("PerMessage-Deflate; Server_No_Context_Takeover").accepted);
}

TEST(DeflateNegotiation, AHeaderThatIsNotAnExtensionListDeclinesEverything) {
  for (const char* bad : {"permessage-deflate;", "permessage-deflate; ;", "; permessage-deflate", "permessage-deflate x",
                          "permessage-deflate, x=1", "permessage-deflate; a=\"open", "permessage-deflate; a=\"\\",
                          "permessage-deflate; a=", "permessage-deflate; a=b c", "permessage-deflate; a=\"x\x01\"",
                          "x; a=\"b\" c, permessage-deflate"}) {
    EXPECT_TRUE(declined(bad)) << bad;
  }
  std::string nul("permessage-deflate\0", 19);
  EXPECT_TRUE(declined(nul));
}

// ---- what the server sends

TEST(DeflateMessages, CompressOnceAndInflateWithAnyClientsZlib) {
  ws_deflater* d = ws_deflater_create(6, 15);
  ASSERT_NE(d, nullptr);
  for (std::size_t n : {0u, 1u, 200u, 5000u, 300000u}) {
    std::string text = text_of_length(n);
    size_t length = 0;
    const uint8_t* out = ws_deflate_message(d, text.data(), text.size(), &length);
    ASSERT_NE(out, nullptr);
    std::string payload(reinterpret_cast<const char*>(out), length);
    if (n >= 200) EXPECT_LT(payload.size(), text.size() / 2) << n;
    EXPECT_EQ(client_inflate(payload, 15), text) << n;
    ws_deflater_trim(d);
  }
  ws_deflater_destroy(d);
}

TEST(DeflateMessages, EachMessageIsCompressedWithoutTheContextOfTheOneBefore) {
  ws_deflater* d = ws_deflater_create(1, 15);
  std::string text = text_of_length(1000);
  size_t length = 0;
  const uint8_t* out = ws_deflate_message(d, text.data(), text.size(), &length);
  std::string a(reinterpret_cast<const char*>(out), length);
  out = ws_deflate_message(d, text.data(), text.size(), &length);
  std::string b(reinterpret_cast<const char*>(out), length);
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(a, b);                       // the same bytes: no reference into the previous message
  EXPECT_EQ(client_inflate(b, 15), text);  // and a fresh inflater reads the second alone
  ws_deflater_destroy(d);
}

// Whether `payload` inflates to `expected` with a window of `window_bits` (no assertion inside:
// a window too small for the data is an answer here, not a failure). The output comes 64 bytes
// at a time, as a client with little memory takes it: zlib then reads every match older than
// that from its window, and one past the window is an error (in one big buffer it would be
// copied from the output itself, and any window would do).
bool inflates_with(const std::string& payload, int window_bits, const std::string& expected) {
  z_stream z{};
  if (inflateInit2(&z, -window_bits) != Z_OK) return false;
  std::string in = payload + std::string("\x00\x00\xff\xff", 4), out;
  z.next_in = reinterpret_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  int status;
  do {
    char piece[64];
    z.next_out = reinterpret_cast<Bytef*>(piece);
    z.avail_out = sizeof piece;
    status = inflate(&z, Z_SYNC_FLUSH);
    out.append(piece, sizeof piece - z.avail_out);
  } while (status == Z_OK && (z.avail_in > 0 || z.avail_out == 0));
  inflateEnd(&z);
  return (status == Z_OK || status == Z_BUF_ERROR) && out == expected;
}

TEST(DeflateMessages, SmallWindowsAreReadableWithThatWindow) {
  // A random 2 KiB block, repeated: its matches are 2048 bytes back, past the windows of 8 to 10
  // bits, so a compressor that ignored the window asked for would make data those cannot read.
  std::mt19937 random(15);
  std::string block(2048, '\0');
  for (char& c : block) c = static_cast<char>('a' + random() % 26);
  std::string text;
  for (int i = 0; i < 10; ++i) text += block;
  ws_deflater* full = ws_deflater_create(6, 15);
  size_t full_length = 0;
  const uint8_t* full_out = ws_deflate_message(full, text.data(), text.size(), &full_length);
  ASSERT_NE(full_out, nullptr);
  std::string with_full_window(reinterpret_cast<const char*>(full_out), full_length);
  ws_deflater_destroy(full);
  for (int bits = 9; bits <= 10; ++bits)
    ASSERT_FALSE(inflates_with(with_full_window, bits, text)) << "the text does not tell windows apart at " << bits;
  for (int bits = 8; bits <= 15; ++bits) {
    ws_deflater* d = ws_deflater_create(6, bits);
    ASSERT_NE(d, nullptr) << bits;
    size_t length = 0;
    const uint8_t* out = ws_deflate_message(d, text.data(), text.size(), &length);
    ASSERT_NE(out, nullptr) << bits;
    // A client with exactly that window gets it all (zlib reads 8 as 9: ws_deflate.c keeps its
    // matches within 256 bytes for 8).
    EXPECT_TRUE(inflates_with(std::string(reinterpret_cast<const char*>(out), length), bits < 9 ? 9 : bits, text)) << bits;
    ws_deflater_destroy(d);
  }
}

// ---- what clients send

TEST(InflateMessages, ACompressedMessageComesBackWhateverItsSplit) {
  std::string text = text_of_length(30000);
  std::string payload = client_deflate(text);
  ws_inflater* f = ws_inflater_create(15);
  for (std::size_t step : {1u, 7u, 4096u, 100000u}) {
    Inflated out = inflate_message(f, payload, true, 1 << 20, step);
    EXPECT_EQ(out.result, WS_INFLATE_OK) << step;
    EXPECT_EQ(out.data, text) << step;
    ws_inflater_destroy(f);
    f = ws_inflater_create(15);
  }
  ws_inflater_destroy(f);
  EXPECT_EQ(inflate_message(client_deflate("")).data, "");
}

TEST(InflateMessages, AClientThatKeepsItsContextIsReadWithTheSameInflater) {
  z_stream z{};
  ASSERT_EQ(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string text = text_of_length(500);
  std::string first = client_deflate(z, text), second = client_deflate(z, text);
  EXPECT_LT(second.size(), first.size() / 4);  // the second refers back to the first
  ws_inflater* f = ws_inflater_create(15);
  EXPECT_EQ(inflate_message(f, first, true, 1 << 20).data, text);
  EXPECT_EQ(inflate_message(f, second, true, 1 << 20).data, text);
  ws_inflater_destroy(f);
  deflateEnd(&z);
}

TEST(InflateMessages, ABombStopsAtTheLimitWithoutProducingMore) {
  // 64 MiB of zeros deflate to about 64 KiB; the limit is 1 MiB of output.
  std::string zeros(64u << 20, '\0');
  std::string bomb = client_deflate(zeros, 9);
  ASSERT_LT(bomb.size(), 100u * 1024);
  ws_inflater* f = ws_inflater_create(15);
  Inflated out = inflate_message(f, bomb, false, 1 << 20, 1 << 20);
  EXPECT_EQ(out.result, WS_INFLATE_TOO_BIG);
  EXPECT_LE(out.data.size(), 1u << 20);
  ws_inflater_destroy(f);
  // Exactly at the limit is fine.
  EXPECT_EQ(inflate_message(client_deflate(std::string(1000, 'a')), false, 1000).result, WS_INFLATE_OK);
  EXPECT_EQ(inflate_message(client_deflate(std::string(1001, 'a')), false, 1000).result, WS_INFLATE_TOO_BIG);
}

TEST(InflateMessages, DataThatIsNotDeflateOrTextThatIsNotUtf8IsRefused) {
  EXPECT_EQ(inflate_message(std::string("\xff\xff\xff\xff", 4)).result, WS_INFLATE_BAD_DATA);
  EXPECT_EQ(inflate_message(client_deflate("ok \xC0\xAF"), true).result, WS_INFLATE_BAD_UTF8);
  EXPECT_EQ(inflate_message(client_deflate("ends inside \xE2\x82"), true).result, WS_INFLATE_BAD_UTF8);
  EXPECT_EQ(inflate_message(client_deflate("binary \xC0\xAF"), false).result, WS_INFLATE_OK);
  EXPECT_EQ(inflate_message(client_deflate("κόσμε"), true).data, "κόσμε");
}

// A message must end at a block boundary: data cut inside a block would otherwise take the
// appended tail as its own bytes and deliver them.
TEST(InflateMessages, DataCutInsideABlockIsRefusedNotCompletedWithTheTail) {
  // A stored block that announces 10 bytes and carries 3.
  EXPECT_EQ(inflate_message(std::string("\x00\x0a\x00\xf5\xff" "abc", 8)).result, WS_INFLATE_BAD_DATA);
  // A real message with its last bytes cut off.
  std::string whole = client_deflate("a message long enough to be cut somewhere in its middle, twice over");
  EXPECT_EQ(inflate_message(whole).result, WS_INFLATE_OK);
  EXPECT_EQ(inflate_message(whole.substr(0, whole.size() / 2)).result, WS_INFLATE_BAD_DATA);
  // The empty message as compressors send it (a single 0x00, RFC 7692 section 7.2.3.6).
  Inflated empty = inflate_message(std::string(1, '\0'));
  EXPECT_EQ(empty.result, WS_INFLATE_OK);
  EXPECT_EQ(empty.data, "");
}

// ---- RSV1 in the parser (RFC 7692 section 6)

namespace {

std::string masked(std::uint8_t first, const std::string& payload) {
  std::string out(1, static_cast<char>(first));
  out += static_cast<char>(0x80 | payload.size());  // payloads here are under 126 bytes
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ mask[i & 3]);
  return out;
}

// The close code the parser fails with on `bytes` (0 if none), and whether a message it ended was compressed.
std::pair<int, bool> parse(const std::string& bytes, bool negotiated) {
  ws_parser p;
  ws_parser_init(&p, 1000);
  p.rsv1_allowed = negotiated;
  char scratch[64];
  std::size_t offset = 0;
  bool compressed = false;
  for (;;) {
    const char* chunk;
    std::size_t n;
    ws_event e = ws_parse(&p, bytes.data(), bytes.size(), &offset, scratch, sizeof scratch, &chunk, &n);
    if (e == WS_FAIL) return {p.fail_code, compressed};
    if (e == WS_MESSAGE_END) compressed = p.message_compressed;
    if (e == WS_NEED_MORE) return {0, compressed};
  }
}

}  // namespace

TEST(DeflateFrames, Rsv1MarksTheFirstFrameOfACompressedMessageOnly) {
  std::string not_utf8 = "\xC0\xAF";  // compressed bytes are not text: UTF-8 is checked once inflated
  EXPECT_EQ(parse(masked(0xC1, not_utf8), true), std::make_pair(0, true));
  EXPECT_EQ(parse(masked(0x41, "ab") + masked(0x80, "cd"), true), std::make_pair(0, true));
  EXPECT_EQ(parse(masked(0x81, "ab"), true), std::make_pair(0, false));
  EXPECT_EQ(parse(masked(0xC1, "ab"), false).first, 1002);                      // not negotiated
  EXPECT_EQ(parse(masked(0xC9, ""), true).first, 1002);                         // a ping
  EXPECT_EQ(parse(masked(0x41, "ab") + masked(0xC0, "cd"), true).first, 1002);  // a continuation
  EXPECT_EQ(parse(masked(0xA1, "ab"), true).first, 1002);                       // RSV2 is still reserved
}

TEST(DeflateFrames, ACompressedMessageMayTakeALittleMoreThanTheLimitOnTheWire) {
  EXPECT_GT(ws_compressed_limit(1000), 1000u);
  EXPECT_LT(ws_compressed_limit(1u << 30), (1u << 30) + (1u << 21));
}
