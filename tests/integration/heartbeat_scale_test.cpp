// Heartbeats with many connections present (issue 15): the websocket and sse modules keep them
// in a timer wheel, not a sweep over every connection, and with 10,000 idle WebSocket
// connections in the same worker's wheel a silent client is still closed on time, an answering
// one is not, an SSE stream still gets its comment lines, and no idle connection is lost.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "support/http_client.h"
#include "support/publisher.h"
#include "support/tether_server.h"
#include "support/wait_until.h"
#include "support/ws_client.h"

using namespace tether::test;
using namespace std::chrono_literals;

namespace {

constexpr int kIdle = 10'000;

// The idle connections are pinged every second and would only be closed after a minute of
// silence; the clients under test get 200 ms and 800 ms, the SSE stream a comment every 300 ms.
std::string config() {
  return "[modules.health]\n[modules.websocket]\n[modules.sse]\n[modules.keepalive]\n"
         "[[route]]\npath = \"/metrics\"\nhandler = \"health\"\n"
         "[[route]]\npath = \"/idle/*\"\nhandler = \"websocket\"\n"
         "[route.keepalive]\nheartbeat_interval = \"1s\"\nheartbeat_timeout = \"60s\"\n"
         "[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n"
         "[route.keepalive]\nheartbeat_interval = \"200ms\"\nheartbeat_timeout = \"800ms\"\n"
         "[[route]]\npath = \"/sse/*\"\nhandler = \"sse\"\n"
         "[route.keepalive]\nheartbeat_interval = \"300ms\"\n";
}

// Room for `needed` descriptors in this process and the server it forks: the soft limit raised
// to the hard one if that is needed. False if even the hard limit is too low.
bool make_room_for_descriptors(rlim_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= needed) return true;
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return false;
  limit.rlim_cur = limit.rlim_max == RLIM_INFINITY ? needed : limit.rlim_max;
  return setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

// `count` WebSocket connections that upgrade and then never read nor send: raw non-blocking
// sockets, at most kInFlight handshakes at a time (the accept backlog stays short).
class IdleWebSockets {
 public:
  ~IdleWebSockets() {
    for (int fd : open_) ::close(fd);
  }

  // Empty on success, else what went wrong.
  std::string open(int port, const std::string& path, int count, std::chrono::seconds timeout = 20s) {
    constexpr int kInFlight = 500;
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    int epoll = epoll_create1(EPOLL_CLOEXEC);
    if (epoll < 0) return "epoll_create1 failed";
    std::unordered_map<int, std::string> pending;  // fd -> the answer so far
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int started = 0;
    std::string problem;
    while (problem.empty() && static_cast<int>(open_.size()) < count) {
      if (std::chrono::steady_clock::now() > deadline) {
        problem = "timed out with " + std::to_string(open_.size()) + " open";
        break;
      }
      while (started < count && pending.size() < kInFlight) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
          problem = std::string("socket: ") + std::strerror(errno);
          break;
        }
        ++started;
        if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 && errno != EINPROGRESS) {
          problem = std::string("connect: ") + std::strerror(errno);
          ::close(fd);
          break;
        }
        epoll_event event{};
        event.events = EPOLLOUT;
        event.data.fd = fd;
        epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
        pending.emplace(fd, std::string());
      }
      epoll_event events[256];
      int n = epoll_wait(epoll, events, 256, 100);
      for (int i = 0; i < n && problem.empty(); ++i) problem = advance(epoll, events[i], request, pending);
    }
    for (auto& [fd, answer] : pending) ::close(fd);
    ::close(epoll);
    return problem;
  }
  const std::vector<int>& fds() const { return open_; }

 private:
  // One socket's turn: connected (send the request) or readable (look for the 101's end).
  std::string advance(int epoll, const epoll_event& event, const std::string& request,
                      std::unordered_map<int, std::string>& pending) {
    int fd = event.data.fd;
    std::string& answer = pending[fd];
    if (event.events & EPOLLOUT) {
      int error = 0;
      socklen_t length = sizeof error;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
      if (error) return std::string("connect: ") + std::strerror(error);
      if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
        return "the handshake request was not sent whole";
      epoll_event in{};
      in.events = EPOLLIN;
      in.data.fd = fd;
      epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &in);
      return "";
    }
    char buffer[1024];
    ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) return "the server ended a connection during its handshake";
    answer.append(buffer, static_cast<std::size_t>(got));
    if (answer.find("\r\n\r\n") == std::string::npos) return "";
    if (answer.rfind("HTTP/1.1 101", 0) != 0) return "answered " + answer.substr(0, answer.find("\r\n"));
    epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr);
    open_.push_back(fd);
    pending.erase(fd);
    return "";
  }

  std::vector<int> open_;
};

// What arrives on `fd` over `duration` (the socket is read until then).
std::string read_for(int fd, std::chrono::milliseconds duration) {
  std::string got;
  auto end = std::chrono::steady_clock::now() + duration;
  timeval tick{0, 50'000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  char buffer[4096];
  while (std::chrono::steady_clock::now() < end) {
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) got.append(buffer, static_cast<std::size_t>(n));
    else if (n == 0) break;
  }
  return got;
}

std::size_t count_of(const std::string& text, const std::string& piece) {
  std::size_t count = 0;
  for (std::size_t at = text.find(piece); at != std::string::npos; at = text.find(piece, at + piece.size())) ++count;
  return count;
}

}  // namespace

TEST(HeartbeatAtScale, WithTenThousandIdleConnectionsASilentClientIsClosedOnTimeAndTheOthersStay) {
  if (!make_room_for_descriptors(kIdle + 1000))
    GTEST_SKIP() << "the descriptor limit (ulimit -Hn) is below " << kIdle + 1000 << ": this test needs that many";
  TetherServer server(1, config(), "modules_dir = \"" TETHER_MODULES_BUILD_DIR "\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  IdleWebSockets idle;
  auto opening = std::chrono::steady_clock::now();
  std::string problem = idle.open(server.port(), "/idle/quiet", kIdle);
  ASSERT_EQ(problem, "") << server.error_log();
  std::cout << "[ info ] " << kIdle << " idle WebSocket connections opened in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - opening).count()
            << " ms\n";

  HttpClient sse;
  ASSERT_TRUE(sse.connect(server.port()));
  ASSERT_TRUE(sse.send("GET /sse/beat HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  WsClient silent, alive;
  ASSERT_EQ(silent.open(server.port(), "/ws/hb"), 101);
  ASSERT_EQ(alive.open(server.port(), "/ws/hb"), 101);
  auto start = std::chrono::steady_clock::now();
  std::thread answering([&] {
    while (std::chrono::steady_clock::now() - start < 2000ms) {
      auto frame = alive.read_frame(100ms);
      if (frame && frame->opcode == 0x9) alive.send_raw(ws_frame(0xA, frame->payload));
    }
  });
  std::string stream;
  std::thread streaming([&] { stream = read_for(sse.fd(), 2000ms); });
  auto ping = silent.read_frame(1s);
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, 0x9);
  EXPECT_EQ(silent.read_close(3s), 1001);
  auto closed_after = std::chrono::steady_clock::now() - start;
  answering.join();
  streaming.join();
  // Closed after its 800 ms of silence (counted from its upgrade, a little before `start`); the
  // upper bound is the wheel's resolution and a loaded machine's slack, not a performance figure.
  EXPECT_GE(closed_after, 700ms);
  EXPECT_LT(closed_after, 2000ms);
  EXPECT_FALSE(alive.closed());  // answered every ping for 2 s: still open
  // The SSE stream got a comment every 300 ms or a little more, never every tick.
  std::size_t comments = count_of(stream, ":\n\n");
  std::cout << "[ info ] the silent client was closed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(closed_after).count() << " ms; " << comments
            << " SSE comments in 2 s\n";
  EXPECT_GE(comments, 2u) << stream;
  EXPECT_LE(comments, 7u) << stream;
  // Every idle connection is still there (the silent one is gone once it ends its side too), and
  // was pinged (each second) while it sat in the wheel.
  silent.close();
  long open = 0;
  EXPECT_TRUE(wait_until([&] { return (open = metrics(server.port())["tether_connections_open{kind=\"websocket\"}"]) == kIdle + 1; }, 5s))
      << open << " WebSocket connections open";
  std::string first = read_for(idle.fds().front(), 100ms), last = read_for(idle.fds().back(), 100ms);
  EXPECT_NE(first.find(std::string("\x89\x00", 2)), std::string::npos);
  EXPECT_NE(last.find(std::string("\x89\x00", 2)), std::string::npos);
}
