#include "master/status_report.h"

#include <algorithm>
#include <string>

#include "core/shared_metrics.h"

namespace tether {

GenerationState status_state_of(Generation::State state) {
  switch (state) {
    case Generation::State::starting: return GenerationState::starting;
    case Generation::State::active: return GenerationState::serving;
    case Generation::State::draining: return GenerationState::draining;
    case Generation::State::stopping: return GenerationState::stopping;
  }
  return GenerationState::stopping;
}

std::string reload_failure_message(std::string_view first_error, std::size_t errors) {
  std::string suffix = errors > 1 ? " (and " + std::to_string(errors - 1) + " more)" : "";
  std::string message(utf8_prefix(first_error, status_layout::kMessageBytes - 1 - suffix.size()));
  return message + suffix;
}

void StatusReport::register_metrics() {
  SharedMetrics& m = shared_metrics();
  for (std::uint32_t s = 0; s < 4; ++s) {
    std::string label = std::string("state=\"") + generation_state_name(static_cast<GenerationState>(s)) + "\"";
    workers_metric_[s] = m.register_metric("tether_workers", label, "Running worker processes, by their generation's state.",
                                           MetricType::gauge);
    generations_metric_[s] = m.register_metric("tether_generations", label, "Generations of workers, by state.",
                                               MetricType::gauge);
  }
  reload_success_metric_ = m.register_metric("tether_last_reload_success", "",
                                             "1 if the last reload succeeded, 0 if it failed (or none yet).",
                                             MetricType::gauge);
  reload_time_metric_ = m.register_metric("tether_last_reload_timestamp_seconds", "",
                                          "When the last reload ended (unix time; 0: none yet).", MetricType::gauge);
  reload_failures_metric_ = m.register_metric("tether_reload_failures_total", "",
                                              "Reloads that failed (the running generation kept serving).",
                                              MetricType::counter);
}

// Runs on every turn of the master's loop, which pub/sub traffic makes frequent: in the steady
// state it allocates nothing (the vectors keep their capacity) and the board skips the write.
void StatusReport::publish(const Generations& generations, std::uint64_t now_ms) {
  std::int64_t workers[4] = {}, counts[4] = {};
  std::size_t n = 0;
  std::vector<GenerationStatus>& list = status_.generations;  // by number, as generations.all()
  for (const Generation& g : generations.all()) {
    // Generations only go (anywhere) and come (at the end): those before this one's last entry
    // have gone.
    auto at = list.begin() + static_cast<std::ptrdiff_t>(n);
    auto last = std::find_if(at, list.end(), [&](const GenerationStatus& s) { return s.number == g.number; });
    auto entry = last == list.end() ? list.emplace(at) : list.erase(at, last);
    GenerationStatus& shown = *entry;
    ++n;
    GenerationState state = status_state_of(g.state);
    // The same generation in the same state as last time keeps its "since".
    if (shown.number != g.number || shown.state != state) shown.since_ms = now_ms;
    shown.number = g.number;
    shown.state = state;
    shown.workers = g.workers;
    shown.pids.clear();
    for (const WorkerProcess& p : g.processes)
      if (p.pid != 0) shown.pids.push_back(static_cast<std::int32_t>(p.pid));
    shown.running = static_cast<unsigned>(shown.pids.size());
    auto s = static_cast<std::size_t>(state);
    workers[s] += static_cast<std::int64_t>(shown.pids.size());
    counts[s] += 1;
  }
  status_.generations.resize(n);
  for (std::size_t s = 0; s < 4; ++s) {
    shared_metrics().set(0, workers_metric_[s], workers[s]);
    shared_metrics().set(0, generations_metric_[s], counts[s]);
  }
  status_board().write_master(status_, now_ms);
}

void StatusReport::reload_finished(bool ok, std::string_view message, std::uint64_t now_ms) {
  status_.last_reload = ReloadStatus{now_ms, ok, ok ? std::string() : std::string(message)};
  shared_metrics().set(0, reload_success_metric_, ok ? 1 : 0);
  shared_metrics().set(0, reload_time_metric_, static_cast<std::int64_t>(now_ms / 1000));
  if (!ok) shared_metrics().add(0, reload_failures_metric_, 1);
  status_board().write_master(status_, now_ms);
}

}  // namespace tether
