// How the websocket and sse modules read a request, as pure functions: the channels and the
// resume id (modules/common/subscription.c), the WebSocket opening handshake
// (modules/websocket/ws_handshake.c) and the event-stream request (modules/sse/sse_request.c).
// Channel names are checked with the server's own rule, the one the publish API applies.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "core/pubsub_wire.h"

extern "C" {
#include "../../modules/common/subscription.h"
#include "../../modules/sse/sse_request.h"
#include "../../modules/websocket/ws_handshake.h"
}

namespace {

const char* server_channel_rule(const char* name, size_t length) {
  return tether::channel_name_problem(std::string_view(name, length));
}

// Reads `query` on a "/ws/" prefix route with `path`.
const subscription_id_source kSince = SUBSCRIPTION_ID_SOURCE("since");
const subscription_id_source kLastEventId = SUBSCRIPTION_ID_SOURCE("lastEventId");
const subscription_id_source kHeader = SUBSCRIPTION_ID_SOURCE("Last-Event-ID");

const char* read(subscription& s, const std::string& path, const std::string& query,
                 const subscription_id_source* since = &kSince) {
  return subscription_read(&s, path.data(), path.size(), 4, query.data(), query.size(), since, server_channel_rule);
}

std::string name(const subscription& s, std::size_t i) { return std::string(s.names[i], s.name_lengths[i]); }

std::string repeat(const std::string& piece, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += piece;
  return out;
}

}  // namespace

TEST(Subscription, ReadsThePathChannelThenTheQueryChannelsAndTheLastSince) {
  subscription s;
  ASSERT_EQ(read(s, "/ws/news", "channel=a%3Ab&since=1-2&channel=c&since=00000001-7"), nullptr);
  ASSERT_EQ(s.count, 3u);
  EXPECT_EQ(name(s, 0), "news");
  EXPECT_EQ(name(s, 1), "a:b");
  EXPECT_EQ(name(s, 2), "c");
  ASSERT_TRUE(s.has_since);
  EXPECT_EQ(std::string(s.since, s.since_length), "00000001-7");
  ASSERT_EQ(read(s, "/ws/", "channel=x"), nullptr);
  EXPECT_EQ(s.count, 1u);
  EXPECT_FALSE(s.has_since);
  EXPECT_STREQ(read(s, "/ws/", ""), "no channel: use {route}{channel} or ?channel=");
  EXPECT_STREQ(read(s, "/ws/", "channel="), "the channel name is empty");
}

TEST(Subscription, NamesKeepTheirLengthSoANulIsRefusedNotCutShort) {
  subscription s;
  const char* bad = "the channel name may only contain letters, digits and _ - . : @";
  EXPECT_STREQ(read(s, "/ws/", "channel=news%00junk!!"), bad);
  EXPECT_STREQ(read(s, "/ws/", "channel=news%00junk"), bad);
  EXPECT_STREQ(read(s, "/ws/", "channel=news%00"), bad);
  EXPECT_STREQ(read(s, std::string("/ws/news\0junk", 13), ""), bad);
}

TEST(Subscription, RefusesOversizedNamesAndIdsInsteadOfOverflowing) {
  subscription s;
  EXPECT_STREQ(read(s, "/ws/" + std::string(129, 'c'), ""), "the channel name is longer than 128 bytes");
  EXPECT_STREQ(read(s, "/ws/", "channel=" + repeat("%63", 129)), "the channel name is longer than 128 bytes");
  ASSERT_EQ(read(s, "/ws/" + std::string(128, 'c'), "channel=" + repeat("%63", 128)), nullptr);
  EXPECT_EQ(s.name_lengths[0], 128);
  EXPECT_EQ(s.name_lengths[1], 128);
  EXPECT_STREQ(read(s, "/ws/x", "since=" + std::string(384, 'a')), "since is not a message id (at most 64 bytes)");
  EXPECT_STREQ(read(s, "/ws/x", "since=" + repeat("%41", 65)), "since is not a message id (at most 64 bytes)");
  ASSERT_EQ(read(s, "/ws/x", "since=" + repeat("%41", 64)), nullptr);
  EXPECT_EQ(s.since_length, 64u);
  EXPECT_STREQ(read(s, "/ws/x", "since=1-%4"), "bad %-escape in since");
  EXPECT_STREQ(read(s, "/ws/x", "channel=%zz"), "bad %-escape in a channel name");
  EXPECT_STREQ(read(s, "/ws/a", repeat("channel=b&", 16)), "too many channels (at most 16 per connection)");
  ASSERT_EQ(read(s, "/ws/a", repeat("channel=b&", 15)), nullptr);
  EXPECT_EQ(s.count, 16u);
}

TEST(Subscription, ParametersItDoesNotReadAreNotLookedAt) {
  subscription s;
  EXPECT_EQ(read(s, "/ws/x", "token=" + std::string(5000, 't') + "&junk=%zz&since2=" + std::string(100, '1')), nullptr);
  EXPECT_FALSE(s.has_since);
  EXPECT_EQ(read(s, "/ws/x", "since=" + std::string(100, '1') + "&lastEventId=1-1", &kLastEventId), nullptr);
  EXPECT_EQ(std::string(s.since, s.since_length), "1-1");
}

TEST(Subscription, AHeaderIdIsUsedAsIsAndBounded) {
  subscription s;
  ASSERT_EQ(read(s, "/ws/x", ""), nullptr);
  EXPECT_EQ(subscription_set_since(&s, "1-%41", 5, &kHeader), nullptr);
  EXPECT_EQ(std::string(s.since, s.since_length), "1-%41");
  std::string long_id(65, '1');
  EXPECT_STREQ(subscription_set_since(&s, long_id.data(), long_id.size(), &kHeader),
               "Last-Event-ID is not a message id (at most 64 bytes)");
  EXPECT_FALSE(s.has_since);
}

namespace {

// A valid upgrade request for /ws/news on a "/ws/" route; tests change one field at a time.
struct Upgrade {
  std::string method = "GET", path = "/ws/news", query, upgrade = "websocket", connection = "keep-alive, Upgrade",
              version = "13", key = "dGhlIHNhbXBsZSBub25jZQ==";
  std::string origin, protocols;
  bool has_origin = false, has_protocols = false;
  int minor = 1;
  const char* allowed_origins = nullptr;
  const char* subprotocols = nullptr;

  ws_handshake run() const {
    ws_upgrade_request r{};
    r.method = method.data(), r.method_length = method.size();
    r.http_major = 1, r.http_minor = minor;
    r.path = path.data(), r.path_length = path.size(), r.route_length = 4;
    r.query = query.data(), r.query_length = query.size();
    r.upgrade = upgrade.data(), r.upgrade_length = upgrade.size();
    r.connection = connection.data(), r.connection_length = connection.size();
    r.version = version.data(), r.version_length = version.size();
    r.key = key.data(), r.key_length = key.size();
    if (has_origin) r.origin = origin.data(), r.origin_length = origin.size();
    if (has_protocols) r.protocols = protocols.data(), r.protocols_length = protocols.size();
    ws_handshake_policy policy{allowed_origins, subprotocols, server_channel_rule};
    ws_handshake h;
    ws_handshake_read(&h, &r, &policy);
    return h;
  }
};

}  // namespace

TEST(WebSocketHandshake, AcceptsWithTheRfcsAcceptValue) {
  ws_handshake h = Upgrade().run();
  EXPECT_EQ(h.status, 101) << h.problem;
  EXPECT_STREQ(h.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");  // RFC 6455 section 1.3
  EXPECT_STREQ(h.protocol, "");
  ASSERT_EQ(h.channels.count, 1u);
  EXPECT_EQ(name(h.channels, 0), "news");
}

TEST(WebSocketHandshake, RefusesEachBrokenPartWithItsStatus) {
  Upgrade u;
  u.method = "POST";
  EXPECT_EQ(u.run().status, 405);
  u = Upgrade(), u.minor = 0;
  EXPECT_EQ(u.run().status, 426);
  u = Upgrade(), u.upgrade = "h2c";
  EXPECT_EQ(u.run().status, 426);
  u = Upgrade(), u.connection = "close";
  EXPECT_EQ(u.run().status, 426);
  u = Upgrade(), u.version = "8";
  EXPECT_EQ(u.run().status, 426);
  u = Upgrade(), u.key = "dGhlIHNhbXBsZSBub25jZQ";
  EXPECT_EQ(u.run().status, 400);
  u = Upgrade(), u.key = "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==";
  EXPECT_EQ(u.run().status, 400);
  u = Upgrade(), u.query = "since=" + std::string(384, 'a');
  ws_handshake h = u.run();
  EXPECT_EQ(h.status, 400);
  EXPECT_STREQ(h.problem, "since is not a message id (at most 64 bytes)");
}

TEST(WebSocketHandshake, OriginMustBeOneOfTheAllowedWholeBytes) {
  Upgrade u;
  u.allowed_origins = "https://good.example, https://also.example";
  EXPECT_EQ(u.run().status, 403);
  u.has_origin = true;
  u.origin = "https://also.example";
  EXPECT_EQ(u.run().status, 101);
  u.origin = "HTTPS://GOOD.example";
  EXPECT_EQ(u.run().status, 101);
  u.origin = std::string("https://good.example\0.evil", 26);
  EXPECT_EQ(u.run().status, 403);
  u.origin = "https://good.exampl";
  EXPECT_EQ(u.run().status, 403);
  u.origin = std::string(10000, 'o');
  EXPECT_EQ(u.run().status, 403);
}

TEST(WebSocketHandshake, PicksOurFirstPreferredSubprotocolTheClientOffers) {
  Upgrade u;
  u.subprotocols = "chat.v2, chat.v1";
  u.has_protocols = true;
  u.protocols = "chat.v1, chat.v2";
  EXPECT_STREQ(u.run().protocol, "chat.v2");
  u.protocols = "chat.v1";
  EXPECT_STREQ(u.run().protocol, "chat.v1");
  u.protocols = "other";
  EXPECT_STREQ(u.run().protocol, "");
  u.protocols = std::string("chat.v2\0x", 9);
  EXPECT_STREQ(u.run().protocol, "");
  u.subprotocols = nullptr;
  u.protocols = "chat.v2";
  EXPECT_STREQ(u.run().protocol, "");
}

namespace {

sse_answer read_stream(const std::string& method, const std::string& path, const std::string& query,
                       const std::string* last_event_id = nullptr) {
  sse_request r{};
  r.method = method.data(), r.method_length = method.size();
  r.path = path.data(), r.path_length = path.size(), r.route_length = 5;
  r.query = query.data(), r.query_length = query.size();
  if (last_event_id) r.last_event_id = last_event_id->data(), r.last_event_id_length = last_event_id->size();
  sse_answer a;
  sse_request_read(&a, &r, server_channel_rule);
  return a;
}

}  // namespace

TEST(SseRequest, TheLastEventIdHeaderWinsOverTheQueryAndIsBounded) {
  std::string header = "00000001-9";
  sse_answer a = read_stream("GET", "/sse/feed", "lastEventId=00000001-3", &header);
  ASSERT_EQ(a.status, 200) << a.problem;
  EXPECT_EQ(std::string(a.channels.since, a.channels.since_length), "00000001-9");
  a = read_stream("GET", "/sse/feed", "lastEventId=00000001-3");
  EXPECT_EQ(std::string(a.channels.since, a.channels.since_length), "00000001-3");
  std::string long_header(384, 'a');
  a = read_stream("GET", "/sse/feed", "", &long_header);
  EXPECT_EQ(a.status, 400);
  EXPECT_STREQ(a.problem, "Last-Event-ID is not a message id (at most 64 bytes)");
  a = read_stream("GET", "/sse/feed", "lastEventId=" + std::string(384, 'a'));
  EXPECT_EQ(a.status, 400);
  EXPECT_STREQ(a.problem, "lastEventId is not a message id (at most 64 bytes)");
  EXPECT_EQ(read_stream("POST", "/sse/feed", "").status, 405);
  EXPECT_EQ(read_stream("GET", "/sse/", "channel=news%00junk!!").status, 400);
}
