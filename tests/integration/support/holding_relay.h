// A TCP relay on a free loopback port in front of a real Redis, that can hold what goes one way
// on one kind of connection: a test that needs Redis to see commands in an order the network
// could produce but rarely does (a subscriber connection's SUBSCRIBE late, a command
// connection's replies late) holds one side, acts, and releases it. The bytes are relayed
// unchanged, in order; nothing stands in for Redis.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tether::test {

class HoldingRelay {
 public:
  // What a connection is, told by what its client sent: a subscriber connection has sent
  // SUBSCRIBE, any other is a command connection.
  enum class Kind { commands, subscriber };
  enum class Way { to_redis, to_client };

  explicit HoldingRelay(int redis_port);
  HoldingRelay(const HoldingRelay&) = delete;
  HoldingRelay& operator=(const HoldingRelay&) = delete;
  ~HoldingRelay();

  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // While held, what comes that way on that kind of connection is kept; on release it goes on.
  void hold(Kind kind, Way way, bool held);

 private:
  struct Pair {
    int client = -1;
    int redis = -1;
    Kind kind = Kind::commands;
    std::string kept[2];  // indexed by Way
  };
  void run();
  bool relay(Pair& pair, Way way);
  void flush(Pair& pair, Way way);
  bool held(Kind kind, Way way) const { return held_[static_cast<int>(kind)][static_cast<int>(way)]; }

  int redis_port_;
  int listener_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};  // a byte on wake_[1] makes the relay thread look at the holds again
  std::mutex mutex_;        // guards held_ and pairs_' kept bytes against hold()
  bool held_[2][2] = {};
  std::vector<Pair> pairs_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace tether::test
