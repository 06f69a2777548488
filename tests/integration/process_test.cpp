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
  bool replaced = false;
  while (!replaced && std::chrono::steady_clock::now() - killed_at < 1s) {
    auto now = server.worker_pids();
    replaced = now.size() == 2 && std::find(now.begin(), now.end(), victim) == now.end();
    if (!replaced) std::this_thread::sleep_for(10ms);
  }
  EXPECT_TRUE(replaced) << server.error_log();
  EXPECT_TRUE(server.wait_for_log("killed by signal 9 (Killed)", 1s)) << server.error_log();
  EXPECT_TRUE(http_get(server.port(), "/"));
}

TEST(Process, RepeatedCrashesBackOff) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(server.wait_for_workers(1, 3s));
    ::kill(server.worker_pids()[0], SIGKILL);
    std::this_thread::sleep_for(50ms);
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
  auto deadline = std::chrono::steady_clock::now() + 2s;
  bool all_gone = false;
  while (!all_gone && std::chrono::steady_clock::now() < deadline) {
    all_gone = std::none_of(workers.begin(), workers.end(), process_alive);
    if (!all_gone) std::this_thread::sleep_for(20ms);
  }
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
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (uid_of(worker) != 65534 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
    EXPECT_EQ(uid_of(worker), 65534) << "worker " << worker;
  }
  EXPECT_TRUE(http_get(server.port(), "/"));
  // Rotation works for the unprivileged workers too: the master hands them the log files.
  server.signal(SIGUSR1);
  EXPECT_TRUE(server.wait_for_log("reopened logs", 2s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(server.error_log().find("cannot open access log"), std::string::npos) << server.error_log();
}
