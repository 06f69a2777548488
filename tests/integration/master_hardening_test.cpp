// The master as an attacker would meet it: a compromised worker user who owns the log directory,
// a second tether (or any process of the same user) on an address in use, module code in the
// checker child. Each test drives the real binary.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {


bool wait_for_text(const std::string& path, const std::string& needle, std::chrono::milliseconds timeout) {
  return wait_until([&] { return read_file(path).find(needle) != std::string::npos; }, timeout);
}

// A root-owned file only root may read, as /etc/shadow is: the target a compromised worker user
// would point a log at.
std::string make_secret(const std::string& dir) {
  std::string path = dir + "/secret";
  std::ofstream(path) << "secret\n";
  ::chmod(path.c_str(), 0600);
  return path;
}

uid_t owner_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_uid : static_cast<uid_t>(-1);
}


// Runs `tether -c config` and waits up to `timeout` for it to exit. Returns its exit status, or
// -1 when it was still running (it is then stopped, with its workers). *output: its stderr.
int run_tether_briefly(const std::string& config, std::chrono::milliseconds timeout, std::string* output = nullptr) {
  std::string errors = config + ".stderr";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(fd, STDERR_FILENO);
    ::execl(TETHER_BINARY, "tether", "-c", config.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGTERM);
      if (!wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 500ms)) {
        ::kill(pid, SIGKILL);  // its workers follow it (PR_SET_PDEATHSIG)
        ::waitpid(pid, &status, 0);
      }
      status = -1;
      break;
    }
    std::this_thread::sleep_for(20ms);  // polling: until it exits or the deadline passes
  }
  if (output) *output = read_file(errors);
  if (status == -1) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string with_listen_port(std::string config, int from, int to) {
  std::string old_address = "127.0.0.1:" + std::to_string(from);
  config.replace(config.find(old_address), old_address.size(), "127.0.0.1:" + std::to_string(to));
  return config;
}

}  // namespace

// --- Log files and the pid file (issue 11, item 5)

TEST(MasterHardening, ASymlinkInPlaceOfTheErrorLogIsNotFollowedAtReopen) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the defect is root chowning files to the worker user";
  TetherServer server(1, "", "user = \"nobody\"\naccess_log = \"@DIR@/access.log\"\n");
  ::chmod(server.dir().c_str(), 0755);  // the workers, as nobody, open the access log in it
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string secret = make_secret(server.dir());
  // The worker user "rotates" the log and leaves a link to the secret in its place.
  std::string rotated = server.error_log_path() + ".1";
  ASSERT_EQ(::rename(server.error_log_path().c_str(), rotated.c_str()), 0);
  ASSERT_EQ(::symlink(secret.c_str(), server.error_log_path().c_str()), 0);
  server.signal(SIGUSR1);
  EXPECT_TRUE(wait_for_text(rotated, "error.log\": it is a symbolic link, which tether does not follow", 3s))
      << read_file(rotated);
  EXPECT_TRUE(wait_for_text(rotated, "reopened logs", 3s)) << read_file(rotated);
  EXPECT_EQ(owner_of(secret), 0u);
  EXPECT_EQ(read_file(secret), "secret\n");
  EXPECT_TRUE(http_get(server.port(), "/"));
  EXPECT_TRUE(process_alive(server.master_pid()));
}

TEST(MasterHardening, ASymlinkInPlaceOfTheAccessLogIsNotFollowedAtReopen) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root: the defect is root chowning files to the worker user";
  TetherServer server(1, "", "user = \"nobody\"\naccess_log = \"@DIR@/access.log\"\n");
  ::chmod(server.dir().c_str(), 0755);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(http_get(server.port(), "/"));
  std::string secret = make_secret(server.dir());
  std::string access_log = server.dir() + "/access.log";
  ASSERT_EQ(::rename(access_log.c_str(), (access_log + ".1").c_str()), 0);
  ASSERT_EQ(::symlink(secret.c_str(), access_log.c_str()), 0);
  server.signal(SIGUSR1);
  EXPECT_TRUE(server.wait_for_log("access.log\": it is a symbolic link, which tether does not follow (not handed to user nobody)", 3s))
      << server.error_log();
  EXPECT_TRUE(server.wait_for_log("reopened logs", 3s));
  EXPECT_TRUE(http_get(server.port(), "/"));
  // The worker's own reopen (refused, as the master's was), after which it writes no access line.
  EXPECT_TRUE(server.wait_for_log("access log: cannot open log file", 3s)) << server.error_log();
  EXPECT_EQ(owner_of(secret), 0u);
  EXPECT_EQ(read_file(secret), "secret\n");
  EXPECT_TRUE(process_alive(server.master_pid()));
}

TEST(MasterHardening, ALogPathThatIsASymlinkIsRefusedAtStartWithItsReason) {
  TetherServer server(1);
  std::string target = server.dir() + "/elsewhere.log";
  std::ofstream(target) << "";
  ASSERT_EQ(::symlink(target.c_str(), server.error_log_path().c_str()), 0);
  std::string output;
  EXPECT_EQ(run_tether_briefly(server.config_path(), 10s, &output), 1) << output;
  EXPECT_NE(output.find("cannot open log file \"" + server.error_log_path() +
                        "\": it is a symbolic link, which tether does not follow"),
            std::string::npos)
      << output;
  EXPECT_EQ(read_file(target), "");
}

TEST(MasterHardening, ThePidFileIsNeverWrittenThroughAPlantedTemporaryFile) {
  TetherServer server(1);
  std::string target = server.dir() + "/precious";
  std::ofstream(target) << "precious\n";
  ASSERT_EQ(::symlink(target.c_str(), (server.pid_file() + ".tmp").c_str()), 0);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(read_file(target), "precious\n");
  struct stat st {};
  ASSERT_EQ(::lstat(server.pid_file().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(read_file(server.pid_file()), std::to_string(server.master_pid()) + "\n");
  EXPECT_NE(::access((server.pid_file() + ".tmp").c_str(), F_OK), 0);
}

// --- Addresses already in use (item 13)

TEST(MasterHardening, ASecondTetherOnAnAddressInUseRefusesToStart) {
  TetherServer first(1);
  ASSERT_TRUE(first.start()) << first.error_log();
  TetherServer second(1);
  second.write_config(with_listen_port(second.default_config(), second.port(), first.port()));
  EXPECT_EQ(run_tether_briefly(second.config_path(), 10s), 1) << second.error_log();
  EXPECT_NE(second.error_log().find("cannot listen on 127.0.0.1:" + std::to_string(first.port()) +
                                    ": the address is already in use by another process"),
            std::string::npos)
      << second.error_log();
  EXPECT_TRUE(http_get(first.port(), "/"));
}

TEST(MasterHardening, AnAddressSharedWithSoReuseportByAnotherProcessIsRefusedAtStart) {
  TetherServer server(2);
  int holder = hold_port(server.port(), true);
  ASSERT_GE(holder, 0);
  EXPECT_EQ(run_tether_briefly(server.config_path(), 10s), 1) << server.error_log();
  EXPECT_NE(server.error_log().find("cannot listen on 127.0.0.1:" + std::to_string(server.port()) +
                                    ": the address is already in use by another process"),
            std::string::npos)
      << server.error_log();
  ::close(holder);
}

TEST(MasterHardening, AReloadAddingAnAddressInUseIsRejectedAndTheOldWorkersKeepServing) {
  TetherServer server(2);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(2, 2s));
  auto workers = server.worker_pids();
  int taken = free_port();
  int holder = hold_port(taken, true);
  ASSERT_GE(holder, 0);
  server.write_config(server.default_config() + "\n[[listen]]\naddress = \"127.0.0.1:" + std::to_string(taken) + "\"\n");
  server.signal(SIGHUP);
  EXPECT_TRUE(server.wait_for_log("reload failed: cannot listen on 127.0.0.1:" + std::to_string(taken) +
                                      ": the address is already in use by another process",
                                  5s))
      << server.error_log();
  EXPECT_EQ(server.error_log().find("reload complete"), std::string::npos) << server.error_log();
  auto now = server.worker_pids();
  std::sort(workers.begin(), workers.end());
  std::sort(now.begin(), now.end());
  EXPECT_EQ(now, workers);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(http_get(server.port(), "/")) << "request " << i;
  ::close(holder);
  // Once the address is free the same reload goes through.
  server.signal(SIGHUP);
  EXPECT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  EXPECT_TRUE(http_get(taken, "/"));
}

// The probe must not take the master's own sockets for another process: an address that
// overlaps one the master holds (the same, or either side a wildcard) is no other tether's.
TEST(MasterHardening, AReloadChangingTheHostOnTheSamePortKeepsServingAndIsAccepted) {
  TetherServer server(2);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string loopback = "127.0.0.1:" + std::to_string(server.port());
  std::string wildcard = "0.0.0.0:" + std::to_string(server.port());
  std::string config = server.default_config();
  server.write_config(config.replace(config.find(loopback), loopback.size(), wildcard));
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  // Connections that reach the old, more specific socket while its workers stop accepting are
  // lost when it closes (changing an address is not a zero-drop reload): ask once it is closed.
  ASSERT_TRUE(server.wait_for_log("listening sockets no longer configured", 5s)) << server.error_log();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(http_get(server.port(), "/")) << "request " << i;
  // And back, while generation 2 holds the wildcard.
  server.write_config(server.default_config());
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 3", 5s)) << server.error_log();
  ASSERT_TRUE(server.wait_for_log("listening sockets no longer configured", 5s, 2)) << server.error_log();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(http_get(server.port(), "/")) << "request " << i;
  EXPECT_EQ(server.error_log().find("reload failed"), std::string::npos) << server.error_log();
}

TEST(MasterHardening, AConfigListingTheWildcardAndLoopbackOnOnePortStarts) {
  TetherServer server(2);
  server.write_config(server.default_config() + "\n[[listen]]\naddress = \"0.0.0.0:" + std::to_string(server.port()) +
                      "\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(http_get(server.port(), "/")) << "request " << i;
  EXPECT_EQ(server.error_log().find("already in use"), std::string::npos) << server.error_log();
}

// --- The module checker child (item 11)

TEST(MasterHardening, TheModuleCheckerHoldsNoListenerNorAnyOtherSocketOfTheMaster) {
  TetherServer server(1, "\n[modules.fd_report]\npath = \"" TETHER_TEST_MODULES_DIR "/fd_report.so\"\ndirectory = \"@DIR@/fds\"\n");
  std::string reports = server.dir() + "/fds";
  ASSERT_EQ(::mkdir(reports.c_str(), 0755), 0);
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(1, 2s));
  std::vector<pid_t> workers = server.worker_pids();
  // The reload's checker is forked by a master that holds listeners, control channels and
  // pub/sub links; the start's checker ran before any of them existed.
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(1, 5s));
  for (pid_t pid : server.worker_pids()) workers.push_back(pid);
  int checkers = 0, worker_reports = 0;
  for (const auto& entry : std::filesystem::directory_iterator(reports)) {
    pid_t pid = std::stoi(entry.path().filename().string());
    std::string report = read_file(entry.path().string());
    if (std::find(workers.begin(), workers.end(), pid) != workers.end()) {
      ++worker_reports;  // the report sees what a process holds: a worker holds its listener
      EXPECT_EQ(report.find("listening 0"), std::string::npos) << "worker " << pid << ":\n" << report;
      continue;
    }
    ++checkers;
    EXPECT_NE(report.find("listening 0\n"), std::string::npos) << "checker " << pid << ":\n" << report;
    EXPECT_EQ(report.find("socket:"), std::string::npos) << "checker " << pid << ":\n" << report;
    EXPECT_EQ(report.find("anon_inode:[signalfd]"), std::string::npos) << "checker " << pid << ":\n" << report;
  }
  EXPECT_EQ(checkers, 2);
  EXPECT_EQ(worker_reports, 2);
}
