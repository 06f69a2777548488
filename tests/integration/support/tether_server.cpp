#include "support/tether_server.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

#include "support/http_client.h"

namespace tether::test {

int hold_port(int port, bool share) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int on = 1;
  if (share) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

int count_occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

int run_command(const std::string& command, std::string* output) {
  output->clear();
  FILE* pipe = ::popen(("{ " + command + "; } 2>&1").c_str(), "r");
  if (!pipe) return -1;
  char buffer[4096];
  std::size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) output->append(buffer, n);
  int status = ::pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TetherServer::TetherServer(unsigned workers, const std::string& extra, const std::string& server_extra)
    : port_(free_port()) {
  char pattern[] = "/tmp/tether-test-XXXXXX";
  dir_ = ::mkdtemp(pattern);
  // TETHER_TEST_LOG_LEVEL=debug makes every test server log at that level (to chase a flaky test).
  const char* level = std::getenv("TETHER_TEST_LOG_LEVEL");
  config_ = "[server]\nworkers = " + std::to_string(workers) + "\npid_file = \"" + pid_file() + "\"\nerror_log = \"" +
            error_log_path() + "\"\nlog_level = \"" + (level && *level ? level : "info") + "\"\n" + server_extra + "\n[[listen]]\naddress = \"127.0.0.1:" +
            std::to_string(port_) + "\"\n\n[[route]]\npath = \"/\"\nrespond = { status = 200, body = \"tether\\n\" }\n" +
            extra;
  for (auto at = config_.find("@DIR@"); at != std::string::npos; at = config_.find("@DIR@"))
    config_.replace(at, 5, dir_);
  write_config(config_);
}

TetherServer::~TetherServer() {
  // A sanitizer report (ASan, UBSan, LeakSanitizer) from the master or a worker fails the test.
  int status = stop();
  if (status > 0) ADD_FAILURE() << "tether exited with status " << status << "\n" << error_log();
  std::ifstream in(dir_ + "/stderr.log");
  std::stringstream stderr_text;
  stderr_text << in.rdbuf();
  if (stderr_text.str().find("Sanitizer") != std::string::npos || stderr_text.str().find("runtime error") != std::string::npos)
    ADD_FAILURE() << "sanitizer report:\n" << stderr_text.str();
  std::string ignored;
  run_command("rm -rf '" + dir_ + "'", &ignored);
}

void TetherServer::write_config(const std::string& text) const {
  std::ofstream(config_path() + ".new") << text;
  std::rename((config_path() + ".new").c_str(), config_path().c_str());
}

bool TetherServer::start() {
  master_ = ::fork();
  if (master_ == 0) {
    int null = ::open("/dev/null", O_RDWR);
    ::dup2(null, STDIN_FILENO);
    int errors = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(errors, STDERR_FILENO);
    for (const auto& [name, value] : env_) ::setenv(name.c_str(), value.c_str(), 1);
    if (fd_limit_ != 0) {
      rlimit limit{fd_limit_, fd_limit_};
      ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    ::execl(TETHER_BINARY, "tether", "-c", config_path().c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    HttpClient client;
    if (client.connect(port_) && client.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n")) {
      auto response = client.read_response(2s);
      if (response && response->status == 200) return true;
    }
    int status;
    if (::waitpid(master_, &status, WNOHANG) == master_) {
      master_ = 0;
      return false;
    }
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

void TetherServer::signal(int signum) const {
  if (master_ > 0) ::kill(master_, signum);
}

int TetherServer::stop() {
  if (master_ <= 0) return -1;
  auto workers = worker_pids();
  ::kill(master_, SIGTERM);
  int status = 0;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (::waitpid(master_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(master_, SIGKILL);
      ::waitpid(master_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  for (pid_t pid : workers) ::kill(pid, SIGKILL);  // no-op when they exited as they should
  master_ = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string TetherServer::error_log() const {
  std::ifstream in(error_log_path());
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<pid_t> TetherServer::worker_pids() const {
  std::vector<pid_t> pids;
  if (master_ <= 0) return pids;
  std::ifstream in("/proc/" + std::to_string(master_) + "/task/" + std::to_string(master_) + "/children");
  pid_t pid;
  while (in >> pid) pids.push_back(pid);
  return pids;
}

bool TetherServer::wait_for_log(const std::string& needle, std::chrono::milliseconds timeout, int count) const {
  return wait_until([&] { return count_occurrences(error_log(), needle) >= count; }, timeout);
}

bool TetherServer::wait_for_workers(std::size_t n, std::chrono::milliseconds timeout) const {
  return wait_until([&] { return worker_pids().size() == n; }, timeout);
}

std::size_t open_fd_count(pid_t pid) {
  std::size_t n = 0;
  if (DIR* dir = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* entry = ::readdir(dir)) n += entry->d_name[0] != '.';
    ::closedir(dir);
  }
  return n;
}

std::size_t resident_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoul(line.c_str() + 6, nullptr, 10);
  return 0;
}

bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string ignored, state;
  in >> ignored >> ignored >> state;
  return state != "Z";
}

bool holds_open(pid_t pid, const std::string& path) {
  std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  DIR* dir = ::opendir(fds.c_str());
  if (!dir) return false;
  bool found = false;
  while (dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    char target[4096];
    ssize_t n = ::readlink((fds + "/" + entry->d_name).c_str(), target, sizeof target);
    if (n > 0 && std::string(target, static_cast<std::size_t>(n)) == path) found = true;
  }
  ::closedir(dir);
  return found;
}

namespace {

struct TcpEntry {
  unsigned local_port = 0;
  unsigned remote_port = 0;
  unsigned state = 0;
  unsigned long inode = 0;
};

// The IPv4 TCP sockets of this network namespace. A line reads
// "sl local_address(hex ip:port) rem_address st tx:rx tr:when retrnsmt uid timeout inode ...".
std::vector<TcpEntry> tcp_entries() {
  std::vector<TcpEntry> entries;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    TcpEntry entry;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> entry.inode))
      continue;
    entry.local_port = std::stoul(local.substr(local.find(':') + 1), nullptr, 16);
    entry.remote_port = std::stoul(remote.substr(remote.find(':') + 1), nullptr, 16);
    entry.state = std::stoul(state, nullptr, 16);
    entries.push_back(entry);
  }
  return entries;
}

constexpr unsigned kTcpListen = 0x0A;

unsigned port_of(const sockaddr_in& address) { return ntohs(address.sin_port); }

}  // namespace

bool connection_accepted(int client_fd) {
  sockaddr_in local{}, peer{};
  socklen_t length = sizeof local;
  if (::getsockname(client_fd, reinterpret_cast<sockaddr*>(&local), &length) != 0) return false;
  length = sizeof peer;
  if (::getpeername(client_fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) return false;
  for (const TcpEntry& e : tcp_entries())
    if (e.local_port == port_of(peer) && e.remote_port == port_of(local) && e.inode != 0) return true;
  return false;
}

std::size_t accepted_connections(int port) {
  std::size_t n = 0;
  for (const TcpEntry& e : tcp_entries())
    n += e.local_port == static_cast<unsigned>(port) && e.state != kTcpListen && e.inode != 0;
  return n;
}

long subscriber_count(int port, const std::string& channel) {
  auto info = http_get(port, "/pub/" + channel);
  if (!info || info->status != 200) return -1;
  auto at = info->body.find("\"subscribers\":");
  if (at == std::string::npos) return -1;
  return std::strtol(info->body.c_str() + at + 14, nullptr, 10);
}

bool wait_for_subscribers(int port, const std::string& channel, long n, std::chrono::milliseconds timeout) {
  return wait_until([&] { return subscriber_count(port, channel) >= n; }, timeout);
}

}  // namespace tether::test
