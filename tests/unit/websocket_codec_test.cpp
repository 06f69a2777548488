// The websocket module's codec pieces on their own: the incremental parser fed in every split,
// UTF-8 validation, close payload checks, server frame headers, SHA-1, query parsing and JSON
// escaping.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include "../../modules/common/json.h"
#include "../../modules/common/query.h"
#include "../../modules/common/utf8.h"
#include "../../modules/websocket/sha1.h"
#include "../../modules/websocket/ws_codec.h"
}

namespace {

std::string masked(std::uint8_t first, const std::string& payload) {
  std::string out;
  out.push_back(static_cast<char>(first));
  if (payload.size() < 126) {
    out.push_back(static_cast<char>(0x80 | payload.size()));
  } else {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(payload.size() >> 8));
    out.push_back(static_cast<char>(payload.size()));
  }
  const char mask[4] = {0x11, 0x22, 0x33, 0x44};
  out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i & 3]));
  return out;
}

struct Parsed {
  std::vector<std::string> messages;
  std::vector<int> controls;
  int fail = 0;
};

// Feeds `bytes` in pieces of `step` bytes, as reads would deliver them.
Parsed parse(const std::string& bytes, std::size_t step, std::uint64_t limit = 1 << 20) {
  ws_parser p;
  ws_parser_init(&p, limit);
  Parsed out;
  std::string message;
  char scratch[7];  // small on purpose: payloads come in several pieces
  for (std::size_t at = 0; at < bytes.size() && !out.fail; at += step) {
    std::string piece = bytes.substr(at, step);
    std::size_t offset = 0;
    for (;;) {
      const char* chunk = nullptr;
      std::size_t n = 0;
      ws_event e = ws_parse(&p, piece.data(), piece.size(), &offset, scratch, sizeof scratch, &chunk, &n);
      if (e == WS_NEED_MORE) break;
      if (e == WS_DATA) message.append(chunk, n);
      if (e == WS_MESSAGE_END) out.messages.push_back(std::exchange(message, {}));
      if (e == WS_CONTROL) out.controls.push_back(p.control_opcode);
      if (e == WS_FAIL) {
        out.fail = p.fail_code;
        break;
      }
    }
  }
  return out;
}

}  // namespace

TEST(WebSocketParser, GivesTheSameMessagesWhateverTheInputSplit) {
  std::string stream = masked(0x81, "hello") + masked(0x01, "frag") + masked(0x89, "ping") + masked(0x80, "mented") +
                       masked(0x82, std::string(300, 'b')) + masked(0x81, "");
  for (std::size_t step : {1u, 2u, 3u, 5u, 64u, 4096u}) {
    Parsed p = parse(stream, step);
    EXPECT_EQ(p.fail, 0) << step;
    ASSERT_EQ(p.messages.size(), 4u) << step;
    EXPECT_EQ(p.messages[0], "hello");
    EXPECT_EQ(p.messages[1], "fragmented");
    EXPECT_EQ(p.messages[2], std::string(300, 'b'));
    EXPECT_EQ(p.messages[3], "");
    EXPECT_EQ(p.controls, std::vector<int>{WS_OP_PING});
  }
}

TEST(WebSocketParser, EnforcesTheProtocolRules) {
  EXPECT_EQ(parse(std::string("\x81\x05hello", 7), 100).fail, WS_CLOSE_PROTOCOL_ERROR);  // unmasked
  EXPECT_EQ(parse(masked(0xC1, "x"), 100).fail, WS_CLOSE_PROTOCOL_ERROR);                 // RSV1
  EXPECT_EQ(parse(masked(0x83, "x"), 100).fail, WS_CLOSE_PROTOCOL_ERROR);                 // opcode 3
  EXPECT_EQ(parse(masked(0x09, "x"), 100).fail, WS_CLOSE_PROTOCOL_ERROR);                 // fragmented ping
  EXPECT_EQ(parse(masked(0x80, "x"), 100).fail, WS_CLOSE_PROTOCOL_ERROR);                 // orphan continuation
  EXPECT_EQ(parse(masked(0x01, "a") + masked(0x81, "b"), 100).fail, WS_CLOSE_PROTOCOL_ERROR);
  EXPECT_EQ(parse(masked(0x81, "\xC3\x28"), 100).fail, WS_CLOSE_INVALID_DATA);
  EXPECT_EQ(parse(masked(0x81, "abc"), 100, 2).fail, WS_CLOSE_TOO_BIG);
  EXPECT_EQ(parse(masked(0x82, "ab"), 100, 2).fail, 0);
}

TEST(Utf8, AcceptsUtf8AndRejectsOverlongsSurrogatesAndTooLargeCodePoints) {
  EXPECT_TRUE(utf8_valid("plain", 5));
  EXPECT_TRUE(utf8_valid("\xC2\x80\xE0\xA0\x80\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", 13));
  for (const char* bad : {"\x80", "\xC0\x80", "\xC1\xBF", "\xE0\x80\x80", "\xED\xA0\x80", "\xF0\x80\x80\x80", "\xF4\x90\x80\x80",
                          "\xF5\x80\x80\x80", "\xFF", "\xE2\x82"})
    EXPECT_FALSE(utf8_valid(bad, std::strlen(bad))) << bad;
}

TEST(CloseFrames, CodesAndReasonsAreChecked) {
  std::uint16_t code = 0;
  EXPECT_EQ(ws_check_close(nullptr, 0, &code), 0);
  EXPECT_EQ(code, 1005);
  const std::uint8_t normal[] = {0x03, 0xE8, 'o', 'k'};
  EXPECT_EQ(ws_check_close(normal, sizeof normal, &code), 0);
  EXPECT_EQ(code, 1000);
  const std::uint8_t reserved[] = {0x03, 0xED};  // 1005 may not be sent
  EXPECT_EQ(ws_check_close(reserved, 2, &code), WS_CLOSE_PROTOCOL_ERROR);
  const std::uint8_t bad_reason[] = {0x03, 0xE8, 0xFF};
  EXPECT_EQ(ws_check_close(bad_reason, 3, &code), WS_CLOSE_INVALID_DATA);
  EXPECT_EQ(ws_check_close(normal, 1, &code), WS_CLOSE_PROTOCOL_ERROR);
}

TEST(ServerFrames, UseTheShortestLengthEncoding) {
  std::uint8_t h[10];
  EXPECT_EQ(ws_frame_header(WS_OP_TEXT, 125, h), 2u);
  EXPECT_EQ(h[0], 0x81);
  EXPECT_EQ(h[1], 125);
  EXPECT_EQ(ws_frame_header(WS_OP_BINARY, 126, h), 4u);
  EXPECT_EQ(h[1], 126);
  EXPECT_EQ(ws_frame_header(WS_OP_BINARY, 70000, h), 10u);
  EXPECT_EQ(h[1], 127);
  EXPECT_EQ(h[7], 0x01);  // 70000 = 0x011170
  EXPECT_EQ(h[8], 0x11);
  EXPECT_EQ(h[9], 0x70);
}

TEST(Sha1, MatchesTheStandardVectors) {
  auto hex = [](const std::string& s) {
    std::uint8_t d[20];
    ws_sha1(s.data(), s.size(), d);
    char out[41];
    for (int i = 0; i < 20; ++i) std::snprintf(out + 2 * i, 3, "%02x", d[i]);
    return std::string(out);
  };
  EXPECT_EQ(hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(hex(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(hex(std::string(1000, 'a')), "291e9a6c66994949b57ba5e650361e98fc36b1ba");
}

TEST(Query, IteratesParametersAndDecodesEscapes) {
  const char* q = "channel=a%3Ab&&since=1-2&flag&x=%zz";
  std::size_t pos = 0, nl, vl;
  const char *n, *v;
  std::vector<std::pair<std::string, std::string>> got;
  while (query_next(q, std::strlen(q), &pos, &n, &nl, &v, &vl)) got.emplace_back(std::string(n, nl), std::string(v, vl));
  ASSERT_EQ(got.size(), 4u);
  char out[32];
  std::size_t decoded = 0;
  EXPECT_EQ(query_decode(got[0].second.data(), got[0].second.size(), out, sizeof out, &decoded), QUERY_OK);
  EXPECT_EQ(std::string(out, decoded), "a:b");
  EXPECT_EQ(got[2].first, "flag");
  EXPECT_EQ(query_decode(got[3].second.data(), got[3].second.size(), out, sizeof out, &decoded), QUERY_BAD_ESCAPE);
  EXPECT_EQ(query_decode("%4", 2, out, sizeof out, &decoded), QUERY_BAD_ESCAPE);
  EXPECT_EQ(query_decode("%", 1, out, sizeof out, &decoded), QUERY_BAD_ESCAPE);
}

TEST(Query, DecodingRefusesWhatDoesNotFitInsteadOfWritingPastIt) {
  char out[5] = {'x', 'x', 'x', 'x', 'x'};
  std::size_t n = 99;
  EXPECT_EQ(query_decode("abcd", 4, out, 4, &n), QUERY_OK);
  EXPECT_EQ(n, 4u);
  EXPECT_EQ(out[4], 'x');
  EXPECT_EQ(query_decode("abcde", 5, out, 4, &n), QUERY_TOO_LONG);
  EXPECT_EQ(out[4], 'x');
  EXPECT_EQ(query_decode("%41%42%43%44%45", 15, out, 4, &n), QUERY_TOO_LONG);  // 15 bytes in, 5 out
  EXPECT_EQ(out[4], 'x');
  EXPECT_EQ(query_decode("%41%42%43%44", 12, out, 4, &n), QUERY_OK);
  EXPECT_EQ(std::string(out, n), "ABCD");
  EXPECT_EQ(query_decode("", 0, out, 0, &n), QUERY_OK);
  EXPECT_EQ(n, 0u);
}

TEST(Query, DecodedNulIsKeptAsAByteWithItsLength) {
  char out[16];
  std::size_t n = 0;
  ASSERT_EQ(query_decode("news%00junk", 11, out, sizeof out, &n), QUERY_OK);
  EXPECT_EQ(std::string(out, n), std::string("news\0junk", 9));
}

TEST(JsonEscape, EscapesControlsAndQuotesAndReplacesInvalidUtf8) {
  std::string out;
  auto append = [](void* o, const void* d, std::size_t n) { static_cast<std::string*>(o)->append(static_cast<const char*>(d), n); };
  std::string in = "a\"b\\c\n\x01 \xC3\xA9 \xFF end";
  json_escape(in.data(), in.size(), append, &out);
  EXPECT_EQ(out, "a\\\"b\\\\c\\n\\u0001 \xC3\xA9 \xEF\xBF\xBD end");
}
