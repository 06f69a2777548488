// QUIT, TERM and USR1 on the real master.
#include <gtest/gtest.h>
#include <signal.h>
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
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

TEST(Signals, QuitFinishesRequestsInFlightThenExitsAndRemovesThePidFile) {
  TetherServer server(2, "[limits]\nheader_timeout = \"30s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient busy;
  ASSERT_TRUE(busy.connect(server.port()));
  ASSERT_TRUE(busy.send("GET / HTTP/1.1\r\nHost: t\r\n"));
  std::this_thread::sleep_for(100ms);
  server.signal(SIGQUIT);
  ASSERT_TRUE(server.wait_for_log("graceful stop", 2s)) << server.error_log();
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
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (read_file(server.error_log_path()).find("reopened logs") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  std::this_thread::sleep_for(200ms);  // the workers reopen after the master
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(http_get(server.port(), "/after-rotation"));
  std::this_thread::sleep_for(100ms);
  std::string fresh = read_file(access);
  int lines = 0;
  for (auto pos = fresh.find("/after-rotation"); pos != std::string::npos; pos = fresh.find("/after-rotation", pos + 1)) ++lines;
  EXPECT_EQ(lines, 10) << fresh;
  EXPECT_EQ(read_file(access + ".1").find("/after-rotation"), std::string::npos);
  EXPECT_NE(read_file(server.error_log_path()).find("reopened logs"), std::string::npos);
}
