// Supervision: crashed workers come back, workers never outlive the master.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

TEST(Process, MasterForksTheConfiguredNumberOfWorkersAndWritesItsPid) {
  TetherServer server(3);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_TRUE(server.wait_for_workers(3, 2s));
  std::ifstream pid_file(server.pid_file());
  pid_t pid = 0;
  pid_file >> pid;
  EXPECT_EQ(pid, server.master_pid());
}

TEST(Process, KilledWorkerIsReplacedWithinOneSecondWhileOthersServe) {
  TetherServer server(2);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(2, 2s));
  auto before = server.worker_pids();
  pid_t victim = before[0];
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  auto killed_at = std::chrono::steady_clock::now();
  // The other worker keeps serving meanwhile.
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(http_get(server.port(), "/")) << "request " << i;
  bool replaced = wait_until([&] {
    auto now = server.worker_pids();
    return now.size() == 2 && std::find(now.begin(), now.end(), victim) == now.end();
  }, std::chrono::duration_cast<std::chrono::milliseconds>(killed_at + 1s - std::chrono::steady_clock::now()));
  EXPECT_TRUE(replaced) << server.error_log();
  EXPECT_TRUE(server.wait_for_log("killed by signal 9 (Killed)", 1s)) << server.error_log();
  EXPECT_TRUE(http_get(server.port(), "/"));
}

TEST(Process, RepeatedCrashesBackOff) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(server.wait_for_workers(1, 3s));
    pid_t victim = server.worker_pids()[0];
    ::kill(victim, SIGKILL);
    ASSERT_TRUE(wait_until([&] { return server.worker_pids() != std::vector<pid_t>{victim}; }, 3s))
        << "the master did not reap worker " << victim;
  }
  EXPECT_TRUE(server.wait_for_log("crashed 3 times in a row: respawning in 200ms", 2s)) << server.error_log();
  EXPECT_TRUE(server.wait_for_workers(1, 3s));
}

TEST(Process, NoWorkerSurvivesTheMasterBeingKilled) {
  TetherServer server(2);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(2, 2s));
  auto workers = server.worker_pids();
  HttpClient idle;  // a connection in progress must not keep a worker alive
  ASSERT_TRUE(idle.connect(server.port()));
  server.signal(SIGKILL);
  bool all_gone = wait_until([&] { return std::none_of(workers.begin(), workers.end(), process_alive); }, 2s);
  EXPECT_TRUE(all_gone);
  server.stop();
}

TEST(Process, WorkersDropRootPrivilegesToTheConfiguredUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to switch users";
  TetherServer server(2, "", "user = \"nobody\"\naccess_log = \"@DIR@/access.log\"\n");
  ::chmod(server.dir().c_str(), 0755);  // the workers, as nobody, open the access log in it
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(2, 2s));
  auto uid_of = [](pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
      if (line.rfind("Uid:", 0) == 0) return std::stoi(line.substr(4));
    return -1;
  };
  EXPECT_EQ(uid_of(server.master_pid()), 0);
  // A worker drops privileges right after fork: give a just-forked one a moment to get there.
  for (pid_t worker : server.worker_pids()) {
    wait_until([&] { return uid_of(worker) == 65534; }, 2s);
    EXPECT_EQ(uid_of(worker), 65534) << "worker " << worker;
  }
  EXPECT_TRUE(http_get(server.port(), "/"));
  // Rotation works for the unprivileged workers too: the master hands them the log files.
  std::string access = server.dir() + "/access.log";
  ASSERT_EQ(std::rename(access.c_str(), (access + ".1").c_str()), 0);
  server.signal(SIGUSR1);
  EXPECT_TRUE(server.wait_for_log("reopened logs", 2s));
  EXPECT_TRUE(wait_until([&] {
    for (pid_t worker : server.worker_pids())
      if (!holds_open(worker, access)) return false;
    return true;
  }, 2s)) << "not every worker reopened the access log\n" << server.error_log();
  EXPECT_EQ(server.error_log().find("cannot open access log"), std::string::npos) << server.error_log();
}
