// Starts the real tether binary on a loopback port with a config written for the test, and stops
// every process it started when it goes out of scope.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "support/ports.h"
#include "wait_until.h"

namespace tether::test {

using namespace std::chrono_literals;

// Binds and listens on 127.0.0.1:port without SO_REUSEPORT, so that nobody else can bind it
// (with `share`: with SO_REUSEPORT, as a second tether of the same user would, which the kernel
// lets any SO_REUSEPORT socket of that user join). Returns the socket (close it to release the
// port), -1 on failure.
int hold_port(int port, bool share = false);
// The whole content of a file, empty if it cannot be read.
std::string read_file(const std::string& path);
// How many times `needle` occurs in `text`.
int count_occurrences(const std::string& text, const std::string& needle);
// Runs a command line through /bin/sh; returns its exit status and fills *output (stdout+stderr).
int run_command(const std::string& command, std::string* output);

class TetherServer {
 public:
  // `extra` is appended to a config holding [server] (pid_file, workers, error_log), one
  // [[listen]] on 127.0.0.1:port() and a "/" route answering "tether\n". "@DIR@" in either
  // is replaced by the test's own temporary directory.
  explicit TetherServer(unsigned workers = 2, const std::string& extra = "", const std::string& server_extra = "");
  TetherServer(const TetherServer&) = delete;
  TetherServer& operator=(const TetherServer&) = delete;
  ~TetherServer();

  // Starts the master and waits until the port answers HTTP. False if it did not in 10 s.
  bool start();
  // Limits the descriptors of the processes start() creates (RLIMIT_NOFILE), 0 = inherited.
  void set_fd_limit(unsigned limit) { fd_limit_ = limit; }
  // An environment variable for the processes start() creates.
  void set_env(const std::string& name, const std::string& value) { env_.emplace_back(name, value); }
  // Sends `signum` to the master.
  void signal(int signum) const;
  // Fast stop and reap; kills everything left after 10 s. Returns the master's exit status.
  int stop();

  int port() const { return port_; }
  pid_t master_pid() const { return master_; }
  const std::string& dir() const { return dir_; }
  // The config file start() runs: dir()/tether.toml unless use_config_file() named another (a
  // shipped config copied into dir(), whose relative paths need the layout it was written in).
  std::string config_path() const { return config_file_.empty() ? dir_ + "/tether.toml" : config_file_; }
  void use_config_file(const std::string& path) { config_file_ = path; }
  std::string pid_file() const { return dir_ + "/tether.pid"; }
  std::string error_log_path() const { return dir_ + "/error.log"; }
  std::string error_log() const;
  // Replaces the config file (for reload tests).
  void write_config(const std::string& text) const;
  std::string default_config() const { return config_; }

  // The master's direct children, as the kernel lists them.
  std::vector<pid_t> worker_pids() const;
  // Waits until the error log contains `needle` (count times). False on timeout.
  bool wait_for_log(const std::string& needle, std::chrono::milliseconds timeout, int count = 1) const;
  // Waits until the master has exactly `n` children. False on timeout.
  bool wait_for_workers(std::size_t n, std::chrono::milliseconds timeout) const;

 private:
  std::string dir_;
  std::string config_;
  int port_;
  std::string config_file_;
  pid_t master_ = 0;
  unsigned fd_limit_ = 0;
  std::vector<std::pair<std::string, std::string>> env_;
};

// Helpers reading /proc.
std::size_t open_fd_count(pid_t pid);
std::size_t resident_kib(pid_t pid);
bool process_alive(pid_t pid);
// Whether `pid` has a descriptor open on `path` (a log it reopened after rotation, say).
bool holds_open(pid_t pid, const std::string& path);

// Helpers reading /proc/net/tcp, where a server-side socket still in the accept queue (or
// already closed by its process) has no inode. Whether the server has accepted the connection
// of this connected client socket:
bool connection_accepted(int client_fd);
// How many connections to 127.0.0.1:port some process has accepted and not closed.
std::size_t accepted_connections(int port);

// The subscriber count of `channel` that the publish endpoint at /pub/ reports (channel info,
// GET /pub/{channel}); -1 when it cannot be asked.
long subscriber_count(int port, const std::string& channel);
// Waits until that count is at least `n`.
bool wait_for_subscribers(int port, const std::string& channel, long n, std::chrono::milliseconds timeout = 5s);

}  // namespace tether::test
