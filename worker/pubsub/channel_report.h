// Once a second, the worker's busiest channels (the hub's view) go to its slot of the status
// board (core/status_board.h), where the health module's status page merges every worker's. The
// timer does not keep the loop alive: a draining worker reports until it exits.
#pragma once

#include <uv.h>

#include <cstddef>

namespace tether {

class PubsubHub;

class ChannelReport {
 public:
  ChannelReport(uv_loop_t* loop, const PubsubHub& hub, std::size_t metrics_slot);
  ChannelReport(const ChannelReport&) = delete;
  ChannelReport& operator=(const ChannelReport&) = delete;
  ~ChannelReport();

  // Worker exit: stops the timer (freed in its close callback).
  void close();

 private:
  void report();

  const PubsubHub& hub_;
  std::size_t slot_;
  uv_timer_t* timer_;
};

}  // namespace tether
