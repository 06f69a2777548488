// When the worker's long-lived connections say goodbye before their clients leave: at their
// route's max_connection_age, and over the drain_spread of a drain. Each goodbye is the one a
// drain says (Connection::say_goodbye: WebSocket 1001, an SSE retry hint), at a moment drawn at
// random in a window, so that clients ending together do not all reconnect together.
//
// One timer for the worker, armed for the earliest goodbye of a min-heap; connections without
// a goodbye cost nothing (no field in Connection: its size class is full), those with one a map
// entry. A connection that closes leaves the map; its heap entry, and one a sooner goodbye
// replaced, are skipped when they come up (the map no longer says that moment), and the heap is
// made again from the map once such stale entries outnumber the live ones (churn under a long
// max_connection_age would otherwise keep them for that long).
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <unordered_map>
#include <vector>

namespace tether {

class Connection;

class GoodbyeSchedule {
 public:
  explicit GoodbyeSchedule(uv_loop_t* loop);
  GoodbyeSchedule(const GoodbyeSchedule&) = delete;
  GoodbyeSchedule& operator=(const GoodbyeSchedule&) = delete;
  ~GoodbyeSchedule();

  // A goodbye for `connection` at a random moment from `earliest_ms` to `latest_ms` from now;
  // one it has already that comes sooner stays.
  void schedule(Connection& connection, std::uint64_t earliest_ms, std::uint64_t latest_ms);
  // The connection is gone (its close callback): no goodbye.
  void cancel(Connection& connection);
  std::size_t size() const { return due_.size(); }
  // Stops the timer for good (the loop is closing); the handle is freed in its close callback.
  void close();

 private:
  struct Entry {
    std::uint64_t at;
    Connection* connection;
    bool operator>(const Entry& other) const { return at > other.at; }
  };
  static void on_timer(uv_timer_t* timer);
  void say_due_goodbyes();
  void arm();
  void rebuild();

  uv_loop_t* loop_;
  uv_timer_t* timer_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_;
  std::unordered_map<Connection*, std::uint64_t> due_;  // each scheduled connection's moment
  std::minstd_rand random_;
  bool closed_ = false;
};

}  // namespace tether
