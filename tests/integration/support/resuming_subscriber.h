// A pub/sub subscriber that behaves like a well-written client behind a load balancer: it reads
// one channel in its own thread (WebSocket or SSE), records the id and data of every message and
// counts the gap notices; when the server says goodbye (a drain's close 1001 or the end of the
// event stream) or the connection ends, it comes back with its last id (?since= / Last-Event-ID)
// on the next of the ports it was given, retrying until a node answers.
#pragma once

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tether::test {

class ResumingSubscriber {
 public:
  enum class Kind { websocket, sse };
  struct Message {
    std::string id;
    std::string data;
    int subscription = 0;  // which answered subscription (1, 2, …) delivered it
    int port = 0;          // and on which port
  };

  // Subscribes on ports[0] (resuming after `since` when it is not empty), reconnects on the next.
  ResumingSubscriber(Kind kind, std::vector<int> ports, std::string channel, std::string since = "");
  ResumingSubscriber(const ResumingSubscriber&) = delete;
  ResumingSubscriber& operator=(const ResumingSubscriber&) = delete;
  ~ResumingSubscriber() { stop(); }

  // Until the first subscription is answered (101 / 200 with an event stream).
  bool wait_connected(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;
  // Until a message with this data has arrived.
  bool wait_for_data(const std::string& data, std::chrono::milliseconds timeout) const;
  // Leaves the current connection, as a client whose network changed: it comes back at once,
  // resuming on the next port.
  void hop() { hopping_ = true; }
  // Closes the connection and ends the thread (what was received stays readable).
  void stop();

  std::vector<Message> messages() const;
  std::vector<std::string> ids() const;
  std::string last_id() const;
  int gaps() const;
  int subscriptions() const;  // answered subscriptions: 1 while it never had to come back
  int port() const { return port_; }  // of the subscription now answered, 0 between two
  const std::string& channel() const { return channel_; }
  Kind kind() const { return kind_; }

 private:
  void run();
  // One connection, until it ends or stop(). False if the subscription was not answered.
  bool read_websocket(int port);
  bool read_sse(int port);
  void take(const std::string& id, const std::string& data);
  void notice_gap();
  void subscribed(int port);

  const Kind kind_;
  const std::vector<int> ports_;
  const std::string channel_;
  mutable std::mutex mutex_;
  std::vector<Message> messages_;
  std::string last_id_;
  int gaps_ = 0;
  int subscriptions_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> hopping_{false};
  std::atomic<int> port_{0};
  std::thread thread_;  // last: starts once the rest is built
};

}  // namespace tether::test
