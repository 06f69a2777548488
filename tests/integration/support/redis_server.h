// A real redis-server for the tests (Debian's, installed by scripts/install-deps.sh): started on
// a free loopback port with its own directory, killed and restarted on the same port and
// directory to play an outage, stopped when the object goes out of scope. No mock stands in for
// Redis anywhere in the tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>

namespace tether::test {

class RedisServer {
 public:
  // `appendonly`: with an append-only file (what was acknowledged survives a kill), else no
  // persistence at all (a kill loses every key).
  explicit RedisServer(bool appendonly = false);
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  ~RedisServer();

  // Starts redis-server and waits until it answers PING. False if it did not in 10 s.
  bool start();
  // SIGKILL, as a crash: no save, no goodbye to the clients. Reaps the process.
  void kill();
  // kill(), then start() on the same port and directory.
  bool restart();
  // SIGSTOP / SIGCONT: a Redis that holds its connections open but answers nothing.
  void pause() const;
  void resume() const;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  // Runs one command on a fresh synchronous connection and renders the reply as text: integers
  // and strings as they are, nil as "(nil)", errors as "(error) <message>", arrays as their
  // elements separated by spaces (nested ones in brackets). "(no connection)" if Redis is down.
  std::string command(std::initializer_list<std::string_view> args) const;

 private:
  bool answers_ping() const;

  std::string dir_;
  int port_ = 0;
  bool appendonly_;
  pid_t pid_ = 0;
};

}  // namespace tether::test
