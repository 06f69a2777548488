// The pieces of the auth module's backend client that need no socket: the request it writes
// (modules/auth/backend_request.h), how it reads an answer (backend_answer.h), the allow-cache
// (allow_cache.h) and the circuit breaker's states (breaker.h).
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "../../modules/auth/allow_cache.h"
#include "../../modules/auth/backend_answer.h"
#include "../../modules/auth/backend_request.h"
#include "../../modules/auth/breaker.h"

namespace {

backend_string str(const std::string& s) { return backend_string{s.data(), s.size()}; }
backend_string str(const char* literal) { return backend_string{literal, strlen(literal)}; }

backend_url url_of(const char* text) {
  backend_url url;
  EXPECT_EQ(backend_url_parse(text, strlen(text), &url), nullptr);
  return url;
}

TEST(BackendRequest, IsAGetCarryingTheClientsRequestAndCredentials) {
  backend_url url = url_of("http://127.0.0.1:9000/auth?realm=ws");
  std::string method = "GET", uri = "/ws/news?x=1", auth = "Bearer t", cookie = "a=1; b=2";
  std::vector<backend_string> channels{str("news"), str("user:42:inbox")};
  backend_question q{str(method), str(uri), str(auth), str(cookie), channels.data(), channels.size()};
  char* out = nullptr;
  size_t length = 0;
  ASSERT_EQ(backend_request_build(&url, &q, &out, &length), nullptr);
  EXPECT_EQ(std::string(out, length),
            "GET /auth?realm=ws HTTP/1.1\r\nHost: 127.0.0.1:9000\r\nX-Original-Method: GET\r\n"
            "X-Original-URI: /ws/news?x=1\r\nX-Tether-Channels: news,user:42:inbox\r\nAuthorization: Bearer t\r\n"
            "Cookie: a=1; b=2\r\nAccept: application/json\r\n\r\n");
  free(out);
}

TEST(BackendRequest, RefusesEveryValueThatCouldSmuggleAHeader) {
  backend_url url = url_of("http://127.0.0.1/");
  std::string good = "x", crlf = "x\r\nEvil: 1", lf = "x\nEvil: 1", nul("x\0y", 3), del = "x\x7f";
  for (const std::string* bad : {&crlf, &lf, &nul, &del}) {
    backend_string channel = str(*bad);
    backend_question questions[] = {
        {str("GET"), str(*bad), {}, {}, nullptr, 0},
        {str("GET"), str("/"), str(*bad), {}, nullptr, 0},
        {str("GET"), str("/"), {}, str(*bad), nullptr, 0},
        {str(*bad), str("/"), {}, {}, nullptr, 0},
        {str("GET"), str("/"), {}, {}, &channel, 1},
    };
    for (const auto& q : questions) {
      char* out = reinterpret_cast<char*>(1);
      size_t length = 1;
      EXPECT_NE(backend_request_build(&url, &q, &out, &length), nullptr);
      EXPECT_EQ(out, nullptr);
      EXPECT_EQ(length, 0u);
    }
  }
  // A tab is a legal header byte; a ',' would split a channel in two.
  std::string tab = "a\tb", comma = "a,b";
  backend_string channel = str(comma);
  backend_question with_tab{str("GET"), str("/"), str(tab), {}, nullptr, 0};
  backend_question with_comma{str("GET"), str("/"), {}, {}, &channel, 1};
  char* out = nullptr;
  size_t length = 0;
  EXPECT_EQ(backend_request_build(&url, &with_tab, &out, &length), nullptr);
  free(out);
  EXPECT_NE(backend_request_build(&url, &with_comma, &out, &length), nullptr);
}

TEST(BackendRequest, BoundsEveryValue) {
  backend_url url = url_of("http://127.0.0.1/");
  std::string big(BACKEND_MAX_VALUE + 1, 'a'), fits(BACKEND_MAX_VALUE, 'a');
  char* out = nullptr;
  size_t length = 0;
  backend_question too_big{str("GET"), str("/"), str(big), {}, nullptr, 0};
  EXPECT_NE(backend_request_build(&url, &too_big, &out, &length), nullptr);
  backend_question just{str("GET"), str("/"), str(fits), str(fits), nullptr, 0};
  EXPECT_EQ(backend_request_build(&url, &just, &out, &length), nullptr);
  free(out);
  std::vector<backend_string> many(BACKEND_MAX_CHANNELS + 1, str("c"));
  backend_question too_many{str("GET"), str("/"), {}, {}, many.data(), many.size()};
  EXPECT_NE(backend_request_build(&url, &too_many, &out, &length), nullptr);
}

// An answer fed in pieces of `step` bytes, then its verdict.
struct Read {
  backend_feed feed;
  bool keep_alive;
  backend_verdict verdict;
  ~Read() { backend_verdict_free(&verdict); }
};

std::unique_ptr<Read> read_answer(const std::string& bytes, size_t step = 1 << 20, bool eof = false) {
  auto a = std::make_unique<backend_answer>();
  backend_answer_init(a.get());
  auto r = std::make_unique<Read>();
  r->feed = BACKEND_FEED_MORE;
  for (size_t at = 0; at < bytes.size() && r->feed == BACKEND_FEED_MORE; at += step)
    r->feed = backend_answer_feed(a.get(), bytes.data() + at, std::min(step, bytes.size() - at));
  if (eof && r->feed == BACKEND_FEED_MORE) r->feed = backend_answer_eof(a.get());
  r->keep_alive = a->keep_alive;
  backend_answer_verdict(a.get(), &r->verdict);
  return r;
}

std::string json_200(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

TEST(BackendAnswer, A200WithJsonGivesUserAndChannelsInAnyPieces) {
  std::string bytes = json_200(R"({"user":"al\u0069ce","channels":["news","user:42:*"],"extra":{"a":[1,2]}})");
  for (size_t step : {size_t(1), size_t(7), bytes.size()}) {
    auto r = read_answer(bytes, step);
    ASSERT_EQ(r->feed, BACKEND_FEED_DONE) << step;
    EXPECT_TRUE(r->keep_alive);
    ASSERT_EQ(r->verdict.result, BACKEND_ALLOW) << r->verdict.reason;
    EXPECT_EQ(std::string(r->verdict.user.data, r->verdict.user.length), "alice");
    ASSERT_TRUE(r->verdict.has_channels);
    ASSERT_EQ(r->verdict.channel_count, 2u);
    EXPECT_EQ(std::string(r->verdict.channels[1].data, r->verdict.channels[1].length), "user:42:*");
  }
}

TEST(BackendAnswer, AChunkedBodyIsRead) {
  auto r = read_answer(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n{\"use\r\n8\r\nr\":\"bob\"\r\n1\r\n}\r\n0\r\n\r\n",
      3);
  ASSERT_EQ(r->verdict.result, BACKEND_ALLOW) << r->verdict.reason;
  EXPECT_EQ(std::string(r->verdict.user.data, r->verdict.user.length), "bob");
  EXPECT_FALSE(r->verdict.has_channels);
  EXPECT_TRUE(r->keep_alive);
}

TEST(BackendAnswer, OtherBodiesOfA2xxAreIgnored) {
  auto r = read_answer("HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(r->verdict.result, BACKEND_ALLOW);
  auto text = read_answer("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n{nope");
  EXPECT_EQ(text->verdict.result, BACKEND_ALLOW);
  EXPECT_EQ(text->verdict.user.data, nullptr);
}

TEST(BackendAnswer, ProblemJsonIsJsonToo) {
  auto r = read_answer("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.x+json\r\nContent-Length: 3\r\n\r\n{x}");
  EXPECT_EQ(r->verdict.result, BACKEND_FAILURE);
}

TEST(BackendAnswer, A401AndA403AreDenialsWhateverTheirBody) {
  EXPECT_EQ(read_answer("HTTP/1.1 401 Unauthorized\r\nContent-Length: 3\r\n\r\n{x}")->verdict.result, BACKEND_DENY_401);
  EXPECT_EQ(read_answer("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")->verdict.result, BACKEND_DENY_403);
}

TEST(BackendAnswer, EveryOtherStatusIsAFailure) {
  for (const char* status : {"301", "404", "429", "500", "503"}) {
    auto r = read_answer(std::string("HTTP/1.1 ") + status + " X\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(r->verdict.result, BACKEND_FAILURE) << status;
    EXPECT_EQ(r->verdict.status, atoi(status));
  }
  EXPECT_EQ(read_answer("HTTP/1.1 100 Continue\r\n\r\n")->feed, BACKEND_FEED_BAD);
  EXPECT_EQ(read_answer("HTTP/1.1 101 Switching\r\nUpgrade: x\r\n\r\n")->feed, BACKEND_FEED_BAD);
}

TEST(BackendAnswer, MalformedJsonOrWrongTypesAreFailures) {
  for (const char* body : {R"({"user":1})", R"({"user":"a","user":"b"})", R"({"channels":"news"})",
                           R"({"channels":["a",1]})", R"({"channels":[""]})", R"({"user":"a\u0001"})", R"([])",
                           R"({"user":"a"} x)", R"({"user":null})"}) {
    auto r = read_answer(json_200(body));
    EXPECT_EQ(r->verdict.result, BACKEND_FAILURE) << body;
    EXPECT_NE(r->verdict.reason, nullptr);
  }
  EXPECT_EQ(read_answer(json_200(R"({"user":")" + std::string(BACKEND_MAX_USER + 1, 'u') + "\"}"))->verdict.result,
            BACKEND_FAILURE);
}

TEST(BackendAnswer, ABodyOverTheLimitIsAFailure) {
  std::string body = R"({"user":")" + std::string(BACKEND_MAX_BODY, 'x') + "\"}";
  auto r = read_answer(json_200(body), 1000);
  EXPECT_EQ(r->feed, BACKEND_FEED_BAD);
  EXPECT_STREQ(r->verdict.reason, "the backend's body is larger than 8 KiB");
  // Also a body nobody would keep.
  auto text = read_answer("HTTP/1.1 401 X\r\nContent-Length: 100000\r\n\r\n" + std::string(100000, 'x'), 4096);
  EXPECT_EQ(text->verdict.result, BACKEND_FAILURE);
}

TEST(BackendAnswer, HeadersOverTheLimitAreAFailure) {
  std::string bytes = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 1000; ++i) bytes += "X-Filler-" + std::to_string(i) + ": 0123456789\r\n";
  auto r = read_answer(bytes + "Content-Length: 0\r\n\r\n", 512);
  EXPECT_EQ(r->feed, BACKEND_FEED_BAD);
  EXPECT_STREQ(r->verdict.reason, "the backend's headers are too long");
}

TEST(BackendAnswer, AConnectionIsReusableOnlyAfterAFramedAnswerThatAllowsIt) {
  EXPECT_FALSE(read_answer("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")->keep_alive);
  EXPECT_FALSE(read_answer("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")->keep_alive);
  EXPECT_TRUE(read_answer("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")->keep_alive);
  // Bytes after the answer: nothing we asked for, so the connection is not trusted again.
  auto r = read_answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n");
  EXPECT_EQ(r->feed, BACKEND_FEED_DONE);
  EXPECT_FALSE(r->keep_alive);
  // A body up to the close: complete at EOF, never reusable.
  auto until_close = read_answer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"user\":\"u\"}", 4, true);
  EXPECT_EQ(until_close->feed, BACKEND_FEED_DONE);
  EXPECT_EQ(until_close->verdict.result, BACKEND_ALLOW);
  EXPECT_FALSE(until_close->keep_alive);
}

TEST(BackendAnswer, ACloseBeforeTheEndIsAFailure) {
  auto none = read_answer("", 1, true);
  EXPECT_EQ(none->feed, BACKEND_FEED_BAD);
  EXPECT_STREQ(none->verdict.reason, "the backend closed the connection without answering");
  auto half = read_answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 1, true);
  EXPECT_EQ(half->feed, BACKEND_FEED_BAD);
  EXPECT_EQ(read_answer("HTTP/1.1 200 OK\r\nContent-Le", 1, true)->feed, BACKEND_FEED_BAD);
}

TEST(BackendAnswer, BytesThatAreNotHttpAreAFailure) {
  EXPECT_EQ(read_answer("SSH-2.0-OpenSSH\r\n")->feed, BACKEND_FEED_BAD);
  EXPECT_EQ(read_answer("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")->feed, BACKEND_FEED_BAD);
  EXPECT_EQ(read_answer("HTTP/1.1 2000 OK\r\n\r\n")->feed, BACKEND_FEED_BAD);
}

// ---- the allow-cache

backend_verdict allow(const char* user) {
  backend_verdict v;
  backend_verdict_set(&v, BACKEND_ALLOW, 200, nullptr);
  v.user = backend_string{user, strlen(user)};
  return v;
}

struct CacheFree {
  void operator()(allow_cache* c) const { allow_cache_destroy(c); }
};
using Cache = std::unique_ptr<allow_cache, CacheFree>;

std::string key_of(const char* authorization, const char* cookie, std::vector<std::string> channels = {},
                   const char* method = "GET", const char* uri = "/") {
  std::vector<backend_string> names;
  for (auto& c : channels) names.push_back(str(c));
  backend_question q{str(method), str(uri), {}, {}, names.data(), names.size()};
  if (authorization) q.authorization = backend_string{authorization, strlen(authorization)};
  if (cookie) q.cookie = backend_string{cookie, strlen(cookie)};
  size_t length = 0;
  char* key = allow_cache_key(&q, &length);
  std::string k(key, length);
  free(key);
  return k;
}

std::string user_of(allow_cache* c, const std::string& key, uint64_t now) {
  const backend_verdict* v = allow_cache_find(c, key.data(), key.size(), now);
  return v ? std::string(v->user.data, v->user.length) : "(miss)";
}

void store(allow_cache* c, const std::string& key, const char* user, uint64_t now) {
  backend_verdict v = allow(user);
  allow_cache_store(c, key.data(), key.size(), &v, now);
}

TEST(AllowCache, KeysTellEveryFieldApart) {
  EXPECT_NE(key_of("ab", "c"), key_of("a", "bc"));
  EXPECT_NE(key_of(nullptr, "x"), key_of("", "x"));
  EXPECT_NE(key_of("a", "b", {"x", "y"}), key_of("a", "b", {"xy"}));
  EXPECT_NE(key_of("a", "b", {"x"}), key_of("a", "b"));
  EXPECT_EQ(key_of("a", "b", {"x"}), key_of("a", "b", {"x"}));
}

// A GET allowed is no POST allowed (a publish), and a token in the query is a credential.
TEST(AllowCache, KeysTellTheMethodAndTheTargetApart) {
  EXPECT_NE(key_of("a", "b", {"news"}, "GET", "/pub/news"), key_of("a", "b", {"news"}, "POST", "/pub/news"));
  EXPECT_NE(key_of(nullptr, nullptr, {"news"}, "GET", "/ws/news?token=alice"),
            key_of(nullptr, nullptr, {"news"}, "GET", "/ws/news?token=mallory"));
  EXPECT_EQ(key_of("a", "b", {"news"}, "GET", "/ws/news"), key_of("a", "b", {"news"}, "GET", "/ws/news"));
}

TEST(AllowCache, KeysWhoseHashesCollideNeverShareAnAnswer) {
  Cache c(allow_cache_create(16, 1 << 20, 1000, [](const char*, size_t, uint64_t) -> uint64_t { return 42; }));
  store(c.get(), key_of("Bearer alice", nullptr), "alice", 0);
  EXPECT_EQ(user_of(c.get(), key_of("Bearer alice", nullptr), 1), "alice");
  EXPECT_EQ(user_of(c.get(), key_of("Bearer mallory", nullptr), 1), "(miss)");
  store(c.get(), key_of("Bearer bob", nullptr), "bob", 0);
  EXPECT_EQ(user_of(c.get(), key_of("Bearer alice", nullptr), 1), "alice");
  EXPECT_EQ(user_of(c.get(), key_of("Bearer bob", nullptr), 1), "bob");
}

TEST(AllowCache, EntriesExpireAfterTheTtl) {
  Cache c(allow_cache_create(16, 1 << 20, 1000, nullptr));
  store(c.get(), "k", "u", 5000);
  EXPECT_EQ(user_of(c.get(), "k", 5999), "u");
  EXPECT_EQ(user_of(c.get(), "k", 6000), "(miss)");
  EXPECT_EQ(allow_cache_count(c.get()), 0u);
}

TEST(AllowCache, KeepsOnlyAllows) {
  Cache c(allow_cache_create(16, 1 << 20, 1000, nullptr));
  backend_verdict deny;
  backend_verdict_set(&deny, BACKEND_DENY_403, 403, nullptr);
  allow_cache_store(c.get(), "k", 1, &deny, 0);
  EXPECT_EQ(allow_cache_count(c.get()), 0u);
}

TEST(AllowCache, IsBoundedInEntriesAndBytesDroppingTheOldestFirst) {
  Cache c(allow_cache_create(4, 1 << 20, 1000, nullptr));
  for (int i = 0; i < 10; ++i) store(c.get(), "key" + std::to_string(i), "u", 0);
  EXPECT_EQ(allow_cache_count(c.get()), 4u);
  EXPECT_EQ(user_of(c.get(), "key5", 1), "(miss)");
  EXPECT_EQ(user_of(c.get(), "key9", 1), "u");
  Cache small(allow_cache_create(1024, 2048, 1000, nullptr));
  for (int i = 0; i < 100; ++i) store(small.get(), std::string(200, 'a' + i % 26) + std::to_string(i), "u", 0);
  EXPECT_LE(allow_cache_bytes(small.get()), 2048u);
  EXPECT_GT(allow_cache_count(small.get()), 0u);
  // An entry larger than the whole budget is not kept at all.
  store(small.get(), std::string(4096, 'k'), "u", 0);
  EXPECT_EQ(user_of(small.get(), std::string(4096, 'k'), 1), "(miss)");
}

TEST(AllowCache, ZeroTtlOrSizeIsNoCache) {
  EXPECT_EQ(allow_cache_create(0, 1 << 20, 1000, nullptr), nullptr);
  EXPECT_EQ(allow_cache_create(16, 1 << 20, 0, nullptr), nullptr);
  EXPECT_EQ(allow_cache_find(nullptr, "k", 1, 0), nullptr);
}

// ---- the breaker

struct Transitions {
  std::vector<std::string> seen;
  static void record(void* user, breaker_state from, breaker_state to) {
    static_cast<Transitions*>(user)->seen.push_back(std::string(breaker_state_name(from)) + ">" + breaker_state_name(to));
  }
};

TEST(Breaker, OpensAfterThresholdFailuresInARow) {
  Transitions t;
  breaker b;
  breaker_init(&b, 3, Transitions::record, &t);
  int probe = 0;
  EXPECT_FALSE(breaker_record(&b, 0, 0));
  EXPECT_FALSE(breaker_record(&b, 0, 0));
  EXPECT_FALSE(breaker_record(&b, 0, 1));  // a success in between starts the count again
  EXPECT_FALSE(breaker_record(&b, 0, 0));
  EXPECT_FALSE(breaker_record(&b, 0, 0));
  EXPECT_EQ(b.state, BREAKER_CLOSED);
  EXPECT_TRUE(breaker_admit(&b, &probe));
  EXPECT_TRUE(breaker_record(&b, 0, 0));
  EXPECT_EQ(b.state, BREAKER_OPEN);
  EXPECT_FALSE(breaker_admit(&b, &probe));
  EXPECT_EQ(t.seen, std::vector<std::string>{"closed>open"});
}

TEST(Breaker, HalfOpenLetsOneProbeThroughAndItDecides) {
  Transitions t;
  breaker b;
  breaker_init(&b, 1, Transitions::record, &t);
  int probe = 0;
  breaker_record(&b, 0, 0);
  breaker_cooled(&b);
  ASSERT_TRUE(breaker_admit(&b, &probe));
  EXPECT_EQ(probe, 1);
  EXPECT_FALSE(breaker_admit(&b, &probe));
  breaker_record(&b, 0, 1);  // a straggler's success decides nothing
  EXPECT_EQ(b.state, BREAKER_HALF_OPEN);
  EXPECT_TRUE(breaker_record(&b, 1, 0));  // the probe failed: open again
  EXPECT_EQ(b.state, BREAKER_OPEN);
  breaker_cooled(&b);
  ASSERT_TRUE(breaker_admit(&b, &probe));
  breaker_probe_abandoned(&b);  // its caller left before it was sent: the next one probes
  ASSERT_TRUE(breaker_admit(&b, &probe));
  EXPECT_EQ(probe, 1);
  EXPECT_FALSE(breaker_record(&b, 1, 1));
  EXPECT_EQ(b.state, BREAKER_CLOSED);
  EXPECT_EQ(t.seen, (std::vector<std::string>{"closed>open", "open>half-open", "half-open>open", "open>half-open",
                                              "half-open>closed"}));
}

TEST(Breaker, AThresholdOfZeroNeverOpens) {
  breaker b;
  breaker_init(&b, 0, nullptr, nullptr);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(breaker_record(&b, 0, 0));
  EXPECT_EQ(b.state, BREAKER_CLOSED);
}

}  // namespace
