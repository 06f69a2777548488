// The auth module's backend client (modules/auth/backend_client.h) against a real backend: a
// Python HTTP server (tests/unit/auth_backend.py) on a free loopback port, reached over real
// sockets from a libuv loop (tests/unit/uv_auth_loop.h). What the client sends, what each answer
// means, the keep-alive pool and its bounds, the timeouts, the one retry of a stale connection,
// the circuit breaker, the allow-cache, cancellation, and that destroy leaves nothing behind.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../../modules/auth/backend_client.h"
#include "auth_backend.h"
#include "uv_auth_loop.h"

namespace {

using tether::test::AuthBackend;
using tether::test::UvAuthLoop;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

backend_string text(const char* s) { return backend_string{s, std::char_traits<char>::length(s)}; }

// A question as a client connect would give it, with strings it owns.
struct Question {
  std::string method = "GET", uri = "/ws/news?since=x", authorization = "Bearer alice", cookie = "session=1";
  std::vector<std::string> channels{"news", "user:42:inbox"};
  bool has_authorization = true, has_cookie = true;

  backend_question view() {
    names.clear();
    for (auto& c : channels) names.push_back(backend_string{c.data(), c.size()});
    backend_question q{};
    q.method = {method.data(), method.size()};
    q.uri = {uri.data(), uri.size()};
    if (has_authorization) q.authorization = {authorization.data(), authorization.size()};
    if (has_cookie) q.cookie = {cookie.data(), cookie.size()};
    q.channels = names.data();
    q.channel_count = names.size();
    return q;
  }
  std::vector<backend_string> names;
};

// What one question got: filled at once or by done().
struct Outcome {
  bool answered = false, at_once = false, invalid = false;
  backend_result result = BACKEND_FAILURE;
  int status = 0;
  std::string reason, user;
  std::vector<std::string> channels;
  Clock::time_point asked, when;
  double ms() const { return std::chrono::duration<double, std::milli>(when - asked).count(); }

  void take(const backend_verdict* v) {
    answered = true;
    when = Clock::now();
    result = v->result;
    status = v->status;
    reason = v->reason ? v->reason : "";
    user.assign(v->user.data ? v->user.data : "", v->user.length);
    for (size_t i = 0; i < v->channel_count; ++i) channels.emplace_back(v->channels[i].data, v->channels[i].length);
  }
};

void on_done(void* user, const backend_verdict* v) {
  auto* outcome = static_cast<Outcome*>(user);
  EXPECT_FALSE(outcome->answered) << "done() ran twice";
  outcome->take(v);
}

struct BreakerChange {
  breaker_state from, to;
};

void on_breaker(void* user, breaker_state from, breaker_state to) {
  static_cast<std::vector<BreakerChange>*>(user)->push_back({from, to});
}

class BackendClient : public testing::Test {
 public:
  void SetUp() override {
    ASSERT_TRUE(backend.start());
    backend_settings_default(&settings);
    settings.cache_ttl_ms = 0;  // each test that wants the cache says so
    settings.on_breaker = on_breaker;
    settings.on_breaker_user = &changes;
  }
  void TearDown() override {
    backend_client_destroy(client);
    client = nullptr;
    EXPECT_TRUE(loop.close()) << "a timer or an io of the client outlived backend_client_destroy";
  }

  void make_client(const std::string& path) { make_client_for(backend.url(path)); }
  void make_client_for(const std::string& url_text) {
    backend_url url;
    const char* why = backend_url_parse(url_text.data(), url_text.size(), &url);
    ASSERT_EQ(why, nullptr) << why;
    client = backend_client_create(loop.loop(), &url, &settings);
    ASSERT_NE(client, nullptr);
  }

  // Asks; an answer given at once is taken at once.
  backend_call* ask(Outcome& outcome, Question q = Question()) {
    backend_question view = q.view();
    backend_call* call = nullptr;
    const backend_verdict* now = nullptr;
    outcome.asked = Clock::now();
    backend_ask status = backend_client_ask(client, &view, on_done, &outcome, &call, &now);
    if (status != BACKEND_ASK_PENDING) {
      outcome.take(now);
      outcome.at_once = true;
      outcome.invalid = status == BACKEND_ASK_INVALID;
    }
    return call;
  }

  Outcome ask_and_wait(Question q = Question(), std::chrono::milliseconds timeout = 5s) {
    Outcome outcome;
    ask(outcome, q);
    EXPECT_TRUE(loop.run_until([&] { return outcome.answered; }, timeout)) << "no answer";
    return outcome;
  }

  backend_client_stats stats() {
    backend_client_stats s;
    backend_client_stats_get(client, &s);
    return s;
  }

  AuthBackend backend;
  UvAuthLoop loop;
  backend_settings settings;
  backend_client* client = nullptr;
  std::vector<BreakerChange> changes;
};

TEST_F(BackendClient, SendsTheClientsRequestLineCredentialsAndChannels) {
  make_client("/auth/allow");
  Outcome o = ask_and_wait();
  ASSERT_EQ(o.result, BACKEND_ALLOW) << o.reason;
  std::string last = backend.last_request();
  EXPECT_NE(last.find("\"path\": \"/auth/allow\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"X-Original-Method\": \"GET\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"X-Original-URI\": \"/ws/news?since=x\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"X-Tether-Channels\": \"news,user:42:inbox\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"Authorization\": \"Bearer alice\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"Cookie\": \"session=1\""), std::string::npos) << last;
  EXPECT_NE(last.find("\"Host\": \"127.0.0.1:" + std::to_string(backend.port()) + "\""), std::string::npos) << last;
}

TEST_F(BackendClient, LeavesOutTheHeadersTheClientDidNotSend) {
  make_client("/allow");
  Question q;
  q.has_authorization = q.has_cookie = false;
  q.channels.clear();
  ASSERT_EQ(ask_and_wait(q).result, BACKEND_ALLOW);
  std::string last = backend.last_request();
  EXPECT_EQ(last.find("Authorization"), std::string::npos) << last;
  EXPECT_EQ(last.find("Cookie"), std::string::npos) << last;
  EXPECT_EQ(last.find("X-Tether-Channels"), std::string::npos) << last;
}

TEST_F(BackendClient, AnAllowGivesTheUserAndChannelsOfItsJsonBody) {
  make_client("/allow");
  Outcome o = ask_and_wait();
  ASSERT_EQ(o.result, BACKEND_ALLOW) << o.reason;
  EXPECT_EQ(o.status, 200);
  EXPECT_EQ(o.user, "alice");
  EXPECT_EQ(o.channels, (std::vector<std::string>{"news", "user:42:inbox", "extra:*"}));
}

// The host stops watching a descriptor once its peer hung up: the end of an answer delimited by
// the close must be read in that last callback (uv_auth_loop.cpp watches as the host does).
TEST_F(BackendClient, AnAnswerThatEndsWithTheConnectionIsReadToItsEnd) {
  make_client("/until-close");
  Outcome o = ask_and_wait();
  ASSERT_EQ(o.result, BACKEND_ALLOW) << o.reason;
  EXPECT_EQ(o.user, "closer");
}

TEST_F(BackendClient, A2xxWithoutJsonAllowsWithoutUserOrChannels) {
  make_client("/text");
  Outcome o = ask_and_wait();
  EXPECT_EQ(o.result, BACKEND_ALLOW);
  EXPECT_EQ(o.user, "");
  EXPECT_TRUE(o.channels.empty());
}

TEST_F(BackendClient, A401AndA403ArePassedOn) {
  make_client("/401");
  EXPECT_EQ(ask_and_wait().result, BACKEND_DENY_401);
  backend.set_mode("403");
  EXPECT_EQ(ask_and_wait().result, BACKEND_DENY_403);
  // Both answers were complete and kept alive: one connection.
  EXPECT_EQ(backend.connections(), 1);
}

TEST_F(BackendClient, EveryOtherAnswerIsAFailure) {
  settings.failure_threshold = 0;
  make_client("/500");
  for (const char* mode : {"500", "404", "close", "oversized", "badjson"}) {
    backend.set_mode(mode);
    Outcome o = ask_and_wait();
    EXPECT_EQ(o.result, BACKEND_FAILURE) << mode;
    EXPECT_FALSE(o.reason.empty()) << mode;
  }
}

TEST_F(BackendClient, ARefusedConnectIsAFailureFromTheLoopNotInsideAsk) {
  int port = backend.port();
  backend.kill();
  make_client_for("http://127.0.0.1:" + std::to_string(port) + "/allow");
  Outcome o;
  ASSERT_NE(ask(o), nullptr);
  EXPECT_FALSE(o.answered);
  ASSERT_TRUE(loop.run_until([&] { return o.answered; }, 5s));
  EXPECT_EQ(o.result, BACKEND_FAILURE);
  EXPECT_EQ(o.reason, "the backend refused the connection");
  EXPECT_LT(o.ms(), 500);
}

// A listener that takes no connection: its accept queue (backlog 0) is filled by two connects
// nobody accepts, so that the kernel drops the SYNs of the next one, which hangs in connect().
class FullListener {
 public:
  FullListener() {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listener_ = socket(AF_INET, SOCK_STREAM, 0);
    bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    listen(listener_, 0);
    socklen_t length = sizeof address;
    getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length);
    port_ = ntohs(address.sin_port);
    for (int& filler : fillers_) {
      filler = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(filler, reinterpret_cast<sockaddr*>(&address), sizeof address);
    }
  }
  ~FullListener() {
    for (int filler : fillers_) close(filler);
    close(listener_);
  }
  int port() const { return port_; }

 private:
  int listener_ = -1, port_ = 0;
  int fillers_[2] = {-1, -1};
};

TEST_F(BackendClient, AConnectThatHangsFailsAtTheConnectTimeout) {
  FullListener full;
  settings.connect_timeout_ms = 200;
  settings.timeout_ms = 3000;
  make_client_for("http://127.0.0.1:" + std::to_string(full.port()) + "/allow");
  Outcome o = ask_and_wait();
  EXPECT_EQ(o.result, BACKEND_FAILURE);
  EXPECT_EQ(o.reason, "connecting to the backend timed out");
  EXPECT_GE(o.ms(), 195);
  EXPECT_LE(o.ms(), 200 + 150);
  EXPECT_EQ(stats().open, 0u);
}

TEST_F(BackendClient, AQuestionWithAControlByteIsRefusedBeforeAnythingIsSent) {
  make_client("/allow");
  for (std::string bad : {std::string("a\r\nX-Injected: 1"), std::string("a\nb"), std::string("a\0b", 3)}) {
    Question q;
    q.cookie = bad;
    Outcome o;
    EXPECT_EQ(ask(o, q), nullptr);
    EXPECT_TRUE(o.invalid);
    Question r;
    r.authorization = bad;
    Outcome p;
    ask(p, r);
    EXPECT_TRUE(p.invalid);
  }
  Question q;
  q.uri = "/ws\r\nHost: evil";
  Outcome o;
  ask(o, q);
  EXPECT_TRUE(o.invalid);
  Question too_long;
  too_long.cookie.assign(BACKEND_MAX_VALUE + 1, 'c');
  Outcome p;
  ask(p, too_long);
  EXPECT_TRUE(p.invalid);
  EXPECT_EQ(backend.connections(), 0);
}

TEST_F(BackendClient, AThousandSequentialQuestionsOpenAtMostThePoolsSizeOfConnections) {
  settings.pool_size = 4;
  make_client("/allow");
  for (int i = 0; i < 1000; ++i) {
    Outcome o = ask_and_wait();
    ASSERT_EQ(o.result, BACKEND_ALLOW) << i << ": " << o.reason;
  }
  EXPECT_LE(backend.connections(), 4);
  EXPECT_EQ(backend.requests(), 1000);
  EXPECT_GE(stats().reuses, 996u);
}

TEST_F(BackendClient, ConcurrentQuestionsQueueForThePoolAndAllGetAnswers) {
  settings.pool_size = 4;
  make_client("/allow");
  std::vector<Outcome> outcomes(50);
  for (auto& o : outcomes) ask(o);
  EXPECT_EQ(stats().open, 4u);
  EXPECT_EQ(stats().queued, 46u);
  ASSERT_TRUE(loop.run_until(
      [&] {
        for (auto& o : outcomes)
          if (!o.answered) return false;
        return true;
      },
      10s));
  for (auto& o : outcomes) EXPECT_EQ(o.result, BACKEND_ALLOW) << o.reason;
  EXPECT_LE(backend.connections(), 4);
  EXPECT_LE(stats().idle, 4u);
}

TEST_F(BackendClient, AFullQueueIsAFailureAtOnce) {
  settings.pool_size = 1;
  settings.queue_size = 2;
  settings.timeout_ms = 500;
  make_client("/hang");
  Outcome first, second, third, fourth;
  ask(first);
  ask(second);
  ask(third);
  ask(fourth);
  EXPECT_FALSE(third.answered);
  ASSERT_TRUE(fourth.at_once);
  EXPECT_EQ(fourth.result, BACKEND_FAILURE);
  EXPECT_EQ(stats().queue_full, 1u);
  ASSERT_TRUE(loop.run_until([&] { return third.answered; }, 5s));
}

TEST_F(BackendClient, AHangingBackendCostsEachQuestionAtMostTheTimeout) {
  settings.timeout_ms = 300;
  settings.failure_threshold = 0;
  make_client("/hang");
  for (int i = 0; i < 5; ++i) {
    Outcome o = ask_and_wait();
    EXPECT_EQ(o.result, BACKEND_FAILURE);
    EXPECT_EQ(o.reason, "the backend did not answer in time");
    EXPECT_GE(o.ms(), 295);
    EXPECT_LE(o.ms(), 300 + 150) << "question " << i;
  }
  // The connection a question hung on is closed, never given to the next one.
  EXPECT_EQ(backend.connections(), 5);
  EXPECT_EQ(stats().open, 0u);
}

TEST_F(BackendClient, ASlowBackendTimesOutAndTheNextQuestionGetsAFreshConnection) {
  settings.timeout_ms = 300;
  make_client("/slow");
  EXPECT_EQ(ask_and_wait().result, BACKEND_FAILURE);
  backend.set_mode("allow");
  EXPECT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  EXPECT_EQ(backend.connections(), 2);
}

TEST_F(BackendClient, TimeInTheQueueCountsAgainstTheTimeout) {
  settings.pool_size = 1;
  settings.timeout_ms = 300;
  make_client("/hang");
  Outcome first, second;
  ask(first);
  ask(second);
  ASSERT_TRUE(loop.run_until([&] { return first.answered && second.answered; }, 5s));
  EXPECT_EQ(second.result, BACKEND_FAILURE);
  EXPECT_LE(second.ms(), 300 + 150);
}

TEST_F(BackendClient, TheBreakerOpensAfterNFailuresAnswersAtOnceThenProbesAndCloses) {
  settings.failure_threshold = 3;
  settings.cool_down_ms = 400;
  make_client("/500");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(ask_and_wait().result, BACKEND_FAILURE);
  EXPECT_EQ(backend_client_breaker(client), BREAKER_OPEN);
  int asked = backend.requests();
  EXPECT_EQ(asked, 3);
  backend.set_mode("allow");  // recovered, but the breaker does not know yet
  auto opened = Clock::now();
  while (backend_client_breaker(client) == BREAKER_OPEN && Clock::now() - opened < 300ms) {
    Outcome o;
    EXPECT_EQ(ask(o), nullptr);
    ASSERT_TRUE(o.at_once);
    EXPECT_EQ(o.result, BACKEND_FAILURE);
    loop.run_for(20ms);
  }
  EXPECT_EQ(backend.requests(), asked) << "the backend was called during the cool-down";
  ASSERT_TRUE(loop.run_until([&] { return backend_client_breaker(client) == BREAKER_HALF_OPEN; }, 2s));
  EXPECT_GE(Clock::now() - opened, 350ms);
  // One probe; while it is out the others still fail at once.
  Outcome probe, other;
  ask(probe);
  ask(other);
  EXPECT_TRUE(other.at_once);
  EXPECT_EQ(other.result, BACKEND_FAILURE);
  ASSERT_TRUE(loop.run_until([&] { return probe.answered; }, 5s));
  EXPECT_EQ(probe.result, BACKEND_ALLOW);
  EXPECT_EQ(backend_client_breaker(client), BREAKER_CLOSED);
  EXPECT_EQ(backend.requests(), asked + 1);
  EXPECT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].to, BREAKER_OPEN);
  EXPECT_EQ(changes[1].to, BREAKER_HALF_OPEN);
  EXPECT_EQ(changes[2].to, BREAKER_CLOSED);
}

TEST_F(BackendClient, AFailedProbeOpensTheBreakerAgain) {
  settings.failure_threshold = 2;
  settings.cool_down_ms = 200;
  make_client("/500");
  ask_and_wait();
  ask_and_wait();
  ASSERT_EQ(backend_client_breaker(client), BREAKER_OPEN);
  ASSERT_TRUE(loop.run_until([&] { return backend_client_breaker(client) == BREAKER_HALF_OPEN; }, 2s));
  EXPECT_EQ(ask_and_wait().result, BACKEND_FAILURE);
  EXPECT_EQ(backend_client_breaker(client), BREAKER_OPEN);
  EXPECT_EQ(backend.requests(), 3);
}

TEST_F(BackendClient, TimeoutsCountAsFailuresForTheBreaker) {
  settings.failure_threshold = 2;
  settings.timeout_ms = 200;
  make_client("/hang");
  ask_and_wait();
  EXPECT_EQ(backend_client_breaker(client), BREAKER_CLOSED);
  ask_and_wait();
  EXPECT_EQ(backend_client_breaker(client), BREAKER_OPEN);
}

TEST_F(BackendClient, RefusedConnectsCountAsFailuresForTheBreaker) {
  settings.failure_threshold = 2;
  int port = backend.port();
  backend.kill();
  make_client_for("http://127.0.0.1:" + std::to_string(port) + "/allow");
  ask_and_wait();
  EXPECT_EQ(backend_client_breaker(client), BREAKER_CLOSED);
  ask_and_wait();
  EXPECT_EQ(backend_client_breaker(client), BREAKER_OPEN);
  EXPECT_EQ(changes.size(), 1u);
}

TEST_F(BackendClient, DenialsAreSuccessesForTheBreaker) {
  settings.failure_threshold = 2;
  make_client("/403");
  for (int i = 0; i < 5; ++i) EXPECT_EQ(ask_and_wait().result, BACKEND_DENY_403);
  EXPECT_EQ(backend_client_breaker(client), BREAKER_CLOSED);
}

TEST_F(BackendClient, AStaleIdleConnectionIsRetriedOnceOnAFreshOne) {
  make_client("/allow");
  ASSERT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  ASSERT_EQ(stats().idle, 1u);
  // The backend goes away and comes back while the loop has not run: the idle connection looks
  // alive when the next question takes it.
  ASSERT_TRUE(backend.restart());
  Outcome o = ask_and_wait();
  EXPECT_EQ(o.result, BACKEND_ALLOW) << o.reason;
  EXPECT_EQ(stats().retries, 1u);
  EXPECT_EQ(stats().connects, 2u);
  EXPECT_EQ(backend.connections(), 1);  // the restarted one saw only the fresh connection
}

TEST_F(BackendClient, AFreshConnectionThatFailsIsNotRetried) {
  settings.failure_threshold = 0;
  make_client("/close");
  Outcome o = ask_and_wait();
  EXPECT_EQ(o.result, BACKEND_FAILURE);
  EXPECT_EQ(o.reason, "the backend closed the connection without answering");
  EXPECT_EQ(stats().retries, 0u);
  EXPECT_EQ(backend.requests(), 1);
}

TEST_F(BackendClient, AStaleConnectionIsRetriedOnlyOnce) {
  settings.failure_threshold = 0;
  make_client("/allow");
  ASSERT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  backend.set_mode("close");
  // The backend closes every connection unanswered: the reused one, then the fresh one.
  Outcome o = ask_and_wait();
  EXPECT_EQ(o.result, BACKEND_FAILURE);
  EXPECT_EQ(stats().retries, 1u);
  EXPECT_EQ(backend.requests(), 3);
}

TEST_F(BackendClient, AnIdleConnectionTheBackendClosesIsDropped) {
  make_client("/allow");
  ASSERT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  int port = backend.port();
  backend.kill();
  ASSERT_TRUE(loop.run_until([&] { return stats().open == 0; }, 5s));
  ASSERT_TRUE(backend.start(port));
  EXPECT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  EXPECT_EQ(stats().retries, 0u);
}

TEST_F(BackendClient, IdleConnectionsCloseAfterTheIdleTimeout) {
  settings.idle_timeout_ms = 100;
  make_client("/allow");
  ASSERT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  EXPECT_EQ(stats().idle, 1u);
  auto idle = Clock::now();
  ASSERT_TRUE(loop.run_until([&] { return stats().open == 0; }, 2s));
  EXPECT_GE(Clock::now() - idle, 90ms);
}

TEST_F(BackendClient, AtMostMaxIdleConnectionsStayIdle) {
  settings.pool_size = 4;
  settings.max_idle = 1;
  make_client("/allow");
  std::vector<Outcome> outcomes(4);
  for (auto& o : outcomes) ask(o);
  ASSERT_TRUE(loop.run_until(
      [&] {
        for (auto& o : outcomes)
          if (!o.answered) return false;
        return true;
      },
      5s));
  EXPECT_EQ(stats().idle, 1u);
  EXPECT_EQ(stats().open, 1u);
}

TEST_F(BackendClient, ACacheHitIsAnsweredAtOnceWithoutARequest) {
  settings.cache_ttl_ms = 300;
  make_client("/allow");
  ASSERT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  Outcome hit;
  EXPECT_EQ(ask(hit), nullptr);
  ASSERT_TRUE(hit.at_once);
  EXPECT_EQ(hit.result, BACKEND_ALLOW);
  EXPECT_EQ(hit.user, "alice");
  EXPECT_EQ(hit.channels.size(), 3u);
  EXPECT_EQ(backend.requests(), 1);
  EXPECT_EQ(stats().cache_hits, 1u);
  // Other credentials or other channels are other keys.
  Question other_cookie;
  other_cookie.cookie = "session=2";
  EXPECT_FALSE(ask_and_wait(other_cookie).at_once);
  Question other_channels;
  other_channels.channels = {"news"};
  EXPECT_FALSE(ask_and_wait(other_channels).at_once);
  Question no_cookie;
  no_cookie.has_cookie = false;
  EXPECT_FALSE(ask_and_wait(no_cookie).at_once);
  EXPECT_EQ(backend.requests(), 4);
  // After the TTL the backend is asked again.
  loop.run_for(350ms);
  EXPECT_FALSE(ask_and_wait().at_once);
  EXPECT_EQ(backend.requests(), 5);
}

TEST_F(BackendClient, DenialsAreNotCached) {
  settings.cache_ttl_ms = 5000;
  make_client("/401");
  ask_and_wait();
  EXPECT_FALSE(ask_and_wait().at_once);
  EXPECT_EQ(backend.requests(), 2);
}

TEST_F(BackendClient, ACancelledQuestionGetsNoAnswerAndItsConnectionIsReused) {
  make_client("/allow");
  Outcome cancelled;
  backend_call* call = ask(cancelled);
  ASSERT_NE(call, nullptr);
  backend_client_cancel(call);
  ASSERT_TRUE(loop.run_until([&] { return stats().idle == 1; }, 5s));
  EXPECT_FALSE(cancelled.answered);
  EXPECT_EQ(ask_and_wait().result, BACKEND_ALLOW);
  EXPECT_EQ(backend.connections(), 1);
  EXPECT_EQ(backend.requests(), 2);
}

TEST_F(BackendClient, ACancelledQuestionInTheQueueIsNeverSent) {
  settings.pool_size = 1;
  make_client("/allow");
  Outcome first, second;
  ask(first);
  backend_call* queued = ask(second);
  ASSERT_EQ(stats().queued, 1u);
  backend_client_cancel(queued);
  EXPECT_EQ(stats().queued, 0u);
  ASSERT_TRUE(loop.run_until([&] { return first.answered; }, 5s));
  loop.run_for(50ms);
  EXPECT_FALSE(second.answered);
  EXPECT_EQ(backend.requests(), 1);
}

TEST_F(BackendClient, ACancelledQuestionOnAHungConnectionClosesItAtTheTimeout) {
  settings.timeout_ms = 200;
  make_client("/hang");
  Outcome o;
  backend_client_cancel(ask(o));
  ASSERT_TRUE(loop.run_until([&] { return stats().open == 0; }, 2s));
  EXPECT_FALSE(o.answered);
}

TEST_F(BackendClient, DestroyFreesPendingQuestionsIdleConnectionsAndTimers) {
  settings.pool_size = 2;
  settings.cache_ttl_ms = 1000;
  make_client("/allow");
  ASSERT_EQ(ask_and_wait().result, BACKEND_ALLOW);  // one idle connection, one cache entry
  backend.set_mode("hang");
  Question others[4];
  std::vector<Outcome> outcomes(4);
  for (int i = 0; i < 4; ++i) {
    others[i].cookie = "session=" + std::to_string(10 + i);
    ask(outcomes[i], others[i]);  // two on connections, two queued
  }
  EXPECT_EQ(stats().queued, 2u);
  loop.run_for(50ms);
  backend_client_destroy(client);
  client = nullptr;
  for (auto& o : outcomes) EXPECT_FALSE(o.answered);
  // TearDown checks that the loop is left without a handle.
}

// A question asked from inside done() (what a module does when one client's answer lets it
// take the next) is started at once on the connection just released.
TEST_F(BackendClient, DoneMayAskTheNextQuestion) {
  settings.pool_size = 1;
  make_client("/allow");
  struct Chain {
    BackendClient* test;
    Outcome first, second;
  } chain{this, {}, {}};
  Question keep;
  backend_question q = keep.view();
  backend_call* call = nullptr;
  const backend_verdict* now = nullptr;
  ASSERT_EQ(backend_client_ask(
                client, &q,
                [](void* user, const backend_verdict* v) {
                  auto* c = static_cast<Chain*>(user);
                  c->first.take(v);
                  c->test->ask(c->second);
                },
                &chain, &call, &now),
            BACKEND_ASK_PENDING);
  ASSERT_TRUE(loop.run_until([&] { return chain.second.answered; }, 5s));
  EXPECT_EQ(chain.first.result, BACKEND_ALLOW);
  EXPECT_EQ(chain.second.result, BACKEND_ALLOW);
  EXPECT_EQ(backend.connections(), 1);
}

}  // namespace
