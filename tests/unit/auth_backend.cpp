#include "auth_backend.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace tether::test {

bool AuthBackend::start(int port) {
  int in[2], out[2];
  if (pipe(in) != 0) return false;
  if (pipe(out) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return false;
  }
  std::string port_text = std::to_string(port);
  pid_ = fork();
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    ::close(in[0]);
    ::close(in[1]);
    ::close(out[0]);
    ::close(out[1]);
    execl("/usr/bin/python3", "python3", AUTH_BACKEND_SCRIPT, port_text.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_ = in[1];
  from_ = out[0];
  buffered_.clear();
  std::string line = read_line();
  if (std::sscanf(line.c_str(), "port %d", &port_) != 1) {
    kill();
    return false;
  }
  return true;
}

void AuthBackend::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  if (to_ >= 0) ::close(to_);
  if (from_ >= 0) ::close(from_);
  to_ = from_ = -1;
}

std::string AuthBackend::read_line() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto newline = buffered_.find('\n');
    if (newline != std::string::npos) {
      std::string line = buffered_.substr(0, newline);
      buffered_.erase(0, newline + 1);
      return line;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{from_, POLLIN, 0};
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) <= 0) return "";
    char chunk[4096];
    ssize_t n = read(from_, chunk, sizeof chunk);
    if (n <= 0) return "";
    buffered_.append(chunk, static_cast<size_t>(n));
  }
}

std::string AuthBackend::command(const std::string& line) {
  std::string text = line + "\n";
  if (to_ < 0 || write(to_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "";
  return read_line();
}

int AuthBackend::connections() {
  int connections = -1, requests = -1;
  std::sscanf(command("stats").c_str(), "connections %d requests %d", &connections, &requests);
  return connections;
}

int AuthBackend::requests() {
  int connections = -1, requests = -1;
  std::sscanf(command("stats").c_str(), "connections %d requests %d", &connections, &requests);
  return requests;
}

}  // namespace tether::test
