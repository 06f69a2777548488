// What the master tells the status page (core/status_board.h) and /metrics of its generations
// and reloads: after every turn of its loop it publishes each generation's state, since when it
// is in it, and its running workers' pids; and every reload's outcome. Also the gauges
// tether_workers{state}, tether_generations{state}, tether_last_reload_success and
// tether_last_reload_timestamp_seconds, and the counter tether_reload_failures_total.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/status_board.h"
#include "master/generations.h"

namespace tether {

class StatusReport {
 public:
  // Registers the metrics; call in the master after shared_metrics() exists, before forking.
  void register_metrics();
  // The generations as they are now (`now_ms`: the wall clock, for "since").
  void publish(const Generations& generations, std::uint64_t now_ms);
  // A reload ended: `message` says why it failed (cut to fit the board).
  void reload_finished(bool ok, std::string_view message, std::uint64_t now_ms);

 private:
  MasterStatus status_;  // as last published: each generation's "since" carries over
  std::uint32_t workers_metric_[4] = {};      // by GenerationState
  std::uint32_t generations_metric_[4] = {};  // by GenerationState
  std::uint32_t reload_success_metric_ = 0;
  std::uint32_t reload_time_metric_ = 0;
  std::uint32_t reload_failures_metric_ = 0;
};

// A failed reload's message for the board: the first of `errors` errors, cut (at a UTF-8
// boundary) so that " (and N more)" still fits in status_layout::kMessageBytes.
std::string reload_failure_message(std::string_view first_error, std::size_t errors);

// Generation::State as the status page names it (active is "serving").
GenerationState status_state_of(Generation::State state);

}  // namespace tether
