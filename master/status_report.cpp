#include "master/status_report.h"

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

void StatusReport::publish(const Generations& generations, std::uint64_t now_ms) {
  std::int64_t workers[4] = {}, counts[4] = {};
  std::map<unsigned, Seen> seen;
  status_.generations.clear();
  for (const Generation& g : generations.all()) {
    GenerationState state = status_state_of(g.state);
    auto before = seen_.find(g.number);
    std::uint64_t since = before != seen_.end() && before->second.state == state ? before->second.since_ms : now_ms;
    seen[g.number] = Seen{state, since};
    GenerationStatus shown{g.number, state, since, g.workers, {}};
    for (const WorkerProcess& p : g.processes)
      if (p.pid != 0) shown.pids.push_back(static_cast<std::int32_t>(p.pid));
    auto s = static_cast<std::size_t>(state);
    workers[s] += static_cast<std::int64_t>(shown.pids.size());
    counts[s] += 1;
    status_.generations.push_back(std::move(shown));
  }
  seen_ = std::move(seen);
  for (std::size_t s = 0; s < 4; ++s) {
    shared_metrics().set(0, workers_metric_[s], workers[s]);
    shared_metrics().set(0, generations_metric_[s], counts[s]);
  }
  status_board().write_master(status_);
}

void StatusReport::reload_finished(bool ok, std::string_view message, std::uint64_t now_ms) {
  status_.last_reload = ReloadStatus{now_ms, ok, ok ? std::string() : std::string(message)};
  shared_metrics().set(0, reload_success_metric_, ok ? 1 : 0);
  shared_metrics().set(0, reload_time_metric_, static_cast<std::int64_t>(now_ms / 1000));
  if (!ok) shared_metrics().add(0, reload_failures_metric_, 1);
  status_board().write_master(status_);
}

}  // namespace tether
