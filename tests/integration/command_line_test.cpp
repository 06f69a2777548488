// The command line of the real binary: -t, -s, -v, -h.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kBinary = TETHER_BINARY;
}

TEST(CommandLine, TestReportsAGoodConfigAsOk) {
  TetherServer server(1);
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 0);
  EXPECT_EQ(output, "tether: configuration " + server.config_path() + " is ok\n");
}

TEST(CommandLine, TestReportsEveryErrorWithFileLineAndColumn) {
  TetherServer server(1);
  server.write_config("[server]\nworkers = \"lots\"\n[limits]\nheader_timeout = 10\n[[listen]]\naddress = \"127.0.0.1:80\"\nbogus = 1\n");
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 1);
  const std::string file = server.config_path();
  EXPECT_NE(output.find(file + ":2:11: \"workers\" must be \"auto\""), std::string::npos) << output;
  EXPECT_NE(output.find(file + ":4:18: \"header_timeout\" must be a duration"), std::string::npos) << output;
  EXPECT_NE(output.find(file + ":7:1: unknown key \"bogus\" in [[listen]]"), std::string::npos) << output;
  EXPECT_NE(output.find("test failed"), std::string::npos) << output;
}

TEST(CommandLine, TestDoesNotBindTheListenAddress) {
  // A socket bound without SO_REUSEPORT holds the port: if -t bound it, -t would fail.
  int port = free_port();
  int holder = hold_port(port);
  ASSERT_GE(holder, 0);
  TetherServer server(1);
  server.write_config("[server]\npid_file = \"" + server.pid_file() + "\"\n[[listen]]\naddress = \"127.0.0.1:" +
                      std::to_string(port) + "\"\n");
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 0) << output;
  // Whereas running for real must fail to bind, with a clear error.
  EXPECT_EQ(run_command(kBinary + " -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("cannot listen on 127.0.0.1:" + std::to_string(port)), std::string::npos) << output;
  ::close(holder);
}

TEST(CommandLine, SignalWithoutARunningMasterFailsClearly) {
  TetherServer server(1);
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -s reload -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("cannot send reload"), std::string::npos) << output;
  EXPECT_NE(output.find(server.pid_file()), std::string::npos) << output;
  std::ofstream(server.pid_file()) << "999999\n";
  EXPECT_EQ(run_command(kBinary + " -s quit -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("not running"), std::string::npos) << output;
}

TEST(CommandLine, SignalReachesTheRunningMaster) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -s reload -c " + server.config_path(), &output), 0) << output;
  EXPECT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  EXPECT_EQ(run_command(kBinary + " -s quit -c " + server.config_path(), &output), 0) << output;
  EXPECT_TRUE(server.wait_for_log("exiting", 5s)) << server.error_log();
}

TEST(CommandLine, VersionHelpAndUsageErrors) {
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -v", &output), 0);
  EXPECT_EQ(output.rfind("tether ", 0), 0u);
  EXPECT_EQ(run_command(kBinary + " -h", &output), 0);
  EXPECT_NE(output.find("-s SIGNAL"), std::string::npos);
  EXPECT_EQ(run_command(kBinary + " --bogus", &output), 2);
  EXPECT_NE(output.find("unknown option \"--bogus\""), std::string::npos);
}

TEST(CommandLine, StartingWithABrokenConfigFailsWithItsErrors) {
  TetherServer server(1);
  server.write_config("[[listen]]\naddress = \"127.0.0.1:1\"\n[[route]]\npath = \"x\"\nrespond = {}\n");
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find(server.config_path() + ":4:8: route path \"x\" must start with '/'"), std::string::npos) << output;
}

TEST(CommandLine, SecondMasterOnTheSamePidFileRefusesToStart) {
  TetherServer server(1);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("tether is already running (pid " + std::to_string(server.master_pid())), std::string::npos)
      << output;
  EXPECT_TRUE(http_get(server.port(), "/"));
}

TEST(CommandLine, TheShippedDefaultConfigIsValidWithItsModules) {
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " TETHER_SOURCE_DIR "/conf/tether.toml", &output), 0) << output;
  EXPECT_NE(output.find("is ok"), std::string::npos) << output;
}

// -t reports what the start would refuse (issue 11, item 14): values outside a key's range, and
// what the config asks of the system, checked as the user running -t.
TEST(CommandLine, TestRefusesAZeroHeaderTimeoutAtItsPosition) {
  TetherServer server(1, "[limits]\nheader_timeout = \"0s\"\n");
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 1) << output;
  const std::string& config = server.default_config();
  auto line = std::count(config.begin(), config.begin() + static_cast<long>(config.find("header_timeout")), '\n') + 1;
  EXPECT_NE(output.find(server.config_path() + ":" + std::to_string(line) +
                        ":18: \"header_timeout\" must be between 100ms and 1h"),
            std::string::npos)
      << output;
}

TEST(CommandLine, TestRefusesAUserThatDoesNotExist) {
  if (::geteuid() != 0) GTEST_SKIP() << "[server] user only applies to a master started as root";
  TetherServer server(1, "", "user = \"no-such-tether-user\"\n");
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 1) << output;
  EXPECT_NE(output.find(server.config_path() + ": user \"no-such-tether-user\" does not exist"), std::string::npos)
      << output;
  EXPECT_NE(output.find("test failed"), std::string::npos) << output;
}

TEST(CommandLine, TestRefusesAPidFileInAMissingDirectory) {
  TetherServer server(1);
  std::string config = server.default_config();
  config.replace(config.find(server.pid_file()), server.pid_file().size(), server.dir() + "/missing/tether.pid");
  server.write_config(config);
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 1) << output;
  EXPECT_NE(output.find(server.config_path() + ": cannot write pid file \"" + server.dir() + "/missing/tether.pid\": directory " +
                        server.dir() + "/missing: No such file or directory"),
            std::string::npos)
      << output;
}

TEST(CommandLine, TestRefusesLogsTheStartCouldNotOpenAndCreatesNone) {
  TetherServer server(1, "", "access_log = \"@DIR@/no/access.log\"\n");
  ASSERT_EQ(::mkdir(server.error_log_path().c_str(), 0755), 0);  // a directory where the error log should be
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -t -c " + server.config_path(), &output), 1) << output;
  EXPECT_NE(output.find(server.config_path() + ": cannot open log file \"" + server.error_log_path() + "\": Is a directory"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find(server.config_path() + ": cannot create log file \"" + server.dir() + "/no/access.log\": directory " +
                        server.dir() + "/no: No such file or directory"),
            std::string::npos)
      << output;
  // A good config's logs are checked without being created.
  TetherServer good(1, "", "access_log = \"@DIR@/access.log\"\n");
  EXPECT_EQ(run_command(kBinary + " -t -c " + good.config_path(), &output), 0) << output;
  EXPECT_NE(::access(good.error_log_path().c_str(), F_OK), 0);
  EXPECT_NE(::access((good.dir() + "/access.log").c_str(), F_OK), 0);
}

TEST(CommandLine, SignalRefusesAPidFileNumberThatAPidCannotHold) {
  // 2^32 + pid would be truncated to pid (and 2^32 - 1 to -1: every process) by a narrowing cast.
  pid_t victim = ::fork();
  if (victim == 0) {
    ::pause();
    _exit(0);
  }
  TetherServer server(1);
  std::ofstream(server.pid_file()) << (4294967296LL + victim) << "\n";
  std::string output;
  EXPECT_EQ(run_command(kBinary + " -s quit -c " + server.config_path(), &output), 1) << output;
  EXPECT_NE(output.find("does not hold a pid"), std::string::npos) << output;
  EXPECT_EQ(::waitpid(victim, nullptr, WNOHANG), 0) << "the process the truncated number names was signalled";
  ::kill(victim, SIGKILL);
  ::waitpid(victim, nullptr, 0);
}
