// QUIT, TERM and USR1 on the real master.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
}  // namespace

TEST(Signals, QuitFinishesRequestsInFlightThenExitsAndRemovesThePidFile) {
  TetherServer server(2, "[limits]\nheader_timeout = \"30s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient busy;
  ASSERT_TRUE(busy.connect(server.port()));
  ASSERT_TRUE(busy.send("GET / HTTP/1.1\r\nHost: t\r\n"));
  ASSERT_TRUE(wait_until([&] { return connection_accepted(busy.fd()); }, 2s)) << "no worker accepted the connection";
  server.signal(SIGQUIT);
  ASSERT_TRUE(server.wait_for_log("graceful stop", 2s)) << server.error_log();
  // Both workers have closed their listening sockets once each has logged "draining N
  // connections" (the master's "graceful stop: draining every worker" says nothing of them).
  ASSERT_TRUE(server.wait_for_log(" connections (at most ", 2s, 2)) << server.error_log();
  HttpClient refused;
  EXPECT_FALSE(refused.connect(server.port()) && refused.get("/", 500ms));
  ASSERT_TRUE(busy.send("\r\n"));
  auto response = busy.read_response();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_TRUE(server.wait_for_log("exiting", 5s)) << server.error_log();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_FALSE(std::ifstream(server.pid_file()).good());
}

TEST(Signals, TermStopsAtOnceEvenWithOpenConnections) {
  TetherServer server(2, "[limits]\nheader_timeout = \"30s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient busy;
  ASSERT_TRUE(busy.connect(server.port()));
  ASSERT_TRUE(busy.send("GET / HTTP/1.1\r\n"));
  auto workers = server.worker_pids();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(server.stop(), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(busy.wait_closed(1s));
  for (pid_t pid : workers) EXPECT_FALSE(process_alive(pid));
  EXPECT_FALSE(std::ifstream(server.pid_file()).good());
}

TEST(Signals, IntStopsLikeTerm) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  server.signal(SIGINT);
  EXPECT_TRUE(server.wait_for_log("fast stop", 2s));
  EXPECT_TRUE(server.wait_for_log("exiting", 3s));
}

TEST(Signals, Usr1ReopensTheLogsAfterRotation) {
  TetherServer server(2, "", "access_log = \"@DIR@/access.log\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string access = server.dir() + "/access.log";
  ASSERT_EQ(std::rename(access.c_str(), (access + ".1").c_str()), 0);
  ASSERT_EQ(std::rename(server.error_log_path().c_str(), (server.error_log_path() + ".1").c_str()), 0);
  server.signal(SIGUSR1);
  server.wait_for_log("reopened logs", 3s);
  bool workers_reopened = wait_until([&] {  // the workers reopen after the master
    for (pid_t worker : server.worker_pids())
      if (!holds_open(worker, access)) return false;
    return true;
  }, 3s);
  EXPECT_TRUE(workers_reopened) << "not every worker reopened the access log";
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(http_get(server.port(), "/after-rotation"));
  wait_until([&] { return count_occurrences(read_file(access), "/after-rotation") >= 10; }, 2s);
  std::string fresh = read_file(access);
  EXPECT_EQ(count_occurrences(fresh, "/after-rotation"), 10) << fresh;
  EXPECT_EQ(read_file(access + ".1").find("/after-rotation"), std::string::npos);
  EXPECT_NE(read_file(server.error_log_path()).find("reopened logs"), std::string::npos);
}

TEST(Signals, TheServiceManagerIsToldReadyReloadingAndStopping) {
  TetherServer server(1);
  std::string socket_path = server.dir() + "/notify.sock";
  int listener = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  server.set_env("NOTIFY_SOCKET", socket_path);
  auto next_message = [&] {
    pollfd p{listener, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return std::string("(nothing)");
    char buffer[512];
    ssize_t n = ::recv(listener, buffer, sizeof buffer, 0);
    return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string("(error)");
  };
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(next_message(), "READY=1\nSTATUS=serving generation 1");
  server.signal(SIGHUP);
  EXPECT_EQ(next_message().rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u);
  EXPECT_EQ(next_message(), "READY=1\nSTATUS=serving generation 2");
  server.signal(SIGQUIT);
  EXPECT_EQ(next_message(), "STOPPING=1");
  ::close(listener);
}
