// The test backend of the backend client's tests: tests/unit/auth_backend.py (a real HTTP
// server, /usr/bin/python3) on a free loopback port, driven through its stdin. Killed and
// restarted on the same port to play a backend that goes away; killed when the object goes.
#pragma once

#include <sys/types.h>

#include <string>

namespace tether::test {

class AuthBackend {
 public:
  AuthBackend() = default;
  AuthBackend(const AuthBackend&) = delete;
  AuthBackend& operator=(const AuthBackend&) = delete;
  ~AuthBackend() { kill(); }

  // Starts it (port 0: any free one) and waits for it to listen. False if it did not in 10 s.
  bool start(int port = 0);
  // SIGKILL: its connections are closed by the kernel, with no answer.
  void kill();
  bool restart() { kill(); return start(port_); }

  int port() const { return port_; }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

  // One command (see auth_backend.py), its one-line reply; "" if it did not answer in 10 s.
  std::string command(const std::string& line);
  void set_mode(const std::string& mode) { command("mode " + mode); }
  int connections();  // TCP connections it accepted
  int requests();     // requests it read
  std::string last_request() { return command("last"); }

 private:
  std::string read_line();

  pid_t pid_ = 0;
  int to_ = -1, from_ = -1;  // its stdin, its stdout
  int port_ = 0;
  std::string buffered_;
};

}  // namespace tether::test
