#include "master/generations.h"

#include <algorithm>

namespace tether {
namespace {

using std::chrono::milliseconds;

// A worker that ran at least this long before crashing is respawned at once.
constexpr milliseconds kStableUptime{10'000};
constexpr milliseconds kMaxRespawnDelay{10'000};

}  // namespace

std::size_t Generation::running() const {
  return static_cast<std::size_t>(std::count_if(processes.begin(), processes.end(), [](const WorkerProcess& p) { return p.pid != 0; }));
}

Generation& Generations::add(ConfigPtr config, Generation::State state, SteadyClock::time_point now) {
  Generation& g = generations_.emplace_back();
  g.number = next_number_++;
  g.config = std::move(config);
  g.workers = g.config->server.resolved_workers();
  g.state = state;
  g.deadline = now + g.config->server.ready_timeout;
  g.processes.resize(g.workers);
  for (unsigned slot = 0; slot < g.workers; ++slot) g.processes[slot].slot = slot;
  return g;
}

Generation* Generations::starting() {
  for (Generation& g : generations_)
    if (g.state == Generation::State::starting) return &g;
  return nullptr;
}

Generation* Generations::active() {
  for (Generation& g : generations_)
    if (g.state == Generation::State::active) return &g;
  return nullptr;
}

bool Generations::request_reload() {
  if (!starting()) return true;
  reload_pending_ = true;  // coalesced: one more reload runs when this one has finished
  return false;
}

bool Generations::take_pending_reload() { return std::exchange(reload_pending_, false); }

bool Generations::worker_ready(Generation& generation, WorkerProcess& process) {
  process.ready = true;
  return std::all_of(generation.processes.begin(), generation.processes.end(), [](const WorkerProcess& p) { return p.ready; });
}

Generation* Generations::commit(Generation& fresh) {
  Generation* previous = active();
  fresh.state = Generation::State::active;
  return previous;
}

void Generations::drain(Generation& generation, SteadyClock::time_point now) {
  generation.state = Generation::State::draining;
  generation.deadline = now + generation.config->server.drain_timeout + kKillGrace;
  for (WorkerProcess& p : generation.processes) p.stop_requested = true;
}

void Generations::stop(Generation& generation, SteadyClock::duration grace, SteadyClock::time_point now) {
  generation.state = Generation::State::stopping;
  generation.deadline = now + grace;
  for (WorkerProcess& p : generation.processes) p.stop_requested = true;
}

std::vector<Generation*> Generations::over_draining_limit(unsigned limit) {
  unsigned draining = 0;
  for (const Generation& g : generations_) draining += g.state == Generation::State::draining;
  std::vector<Generation*> oldest;
  for (Generation& g : generations_) {
    if (draining <= limit) break;
    if (g.state != Generation::State::draining) continue;
    oldest.push_back(&g);
    --draining;
  }
  return oldest;
}

WorkerExit Generations::worker_exited(const Generation& generation, const WorkerProcess& process, bool shutting_down) {
  WorkerExit exit;
  exit.expected = process.stop_requested || generation.state == Generation::State::draining ||
                  generation.state == Generation::State::stopping;
  if (generation.state == Generation::State::starting) exit.then = WorkerExit::Then::abandon_reload;
  else if (generation.state == Generation::State::active && !shutting_down) exit.then = WorkerExit::Then::respawn;
  else if (generation.state == Generation::State::draining) exit.then = WorkerExit::Then::release_listeners;
  return exit;
}

std::vector<DeadlineAction> Generations::deadlines_passed(SteadyClock::time_point now, bool shutting_down) {
  std::vector<DeadlineAction> actions;
  for (Generation& g : generations_) {
    if (g.state == Generation::State::active) {
      if (shutting_down) continue;
      for (WorkerProcess& p : g.processes)
        if (p.pid == 0 && p.respawn_at <= now) actions.push_back({DeadlineAction::Kind::respawn, &g, &p});
      continue;
    }
    if (g.deadline > now) continue;
    if (g.state == Generation::State::starting) {
      actions.push_back({DeadlineAction::Kind::abandon_reload, &g, nullptr});
      continue;
    }
    actions.push_back({DeadlineAction::Kind::kill_stragglers, &g, nullptr});
    g.deadline = now + kKillGrace;
  }
  return actions;
}

std::optional<SteadyClock::time_point> Generations::next_deadline() const {
  std::optional<SteadyClock::time_point> next;
  auto consider = [&](SteadyClock::time_point t) {
    if (!next || t < *next) next = t;
  };
  for (const Generation& g : generations_) {
    if (g.state != Generation::State::active) consider(g.deadline);
    else
      for (const WorkerProcess& p : g.processes)
        if (p.pid == 0) consider(p.respawn_at);
  }
  return next;
}

std::vector<unsigned> Generations::remove_finished(bool shutting_down) {
  std::vector<unsigned> gone;
  generations_.remove_if([&](const Generation& g) {
    bool done = g.state != Generation::State::active && g.state != Generation::State::starting && g.running() == 0;
    if (done) gone.push_back(g.number);
    return done;
  });
  if (shutting_down) generations_.remove_if([](const Generation& g) { return g.running() == 0; });
  return gone;
}

milliseconds plan_respawn(WorkerProcess& process, SteadyClock::time_point now) {
  if (now - process.started_at >= kStableUptime) process.recent_crashes = 0;
  ++process.recent_crashes;
  milliseconds delay{0};
  if (process.recent_crashes > 1)
    delay = std::min(kMaxRespawnDelay, milliseconds(100) * (1u << std::min(process.recent_crashes - 2, 7u)));
  process.respawn_at = now + delay;
  return delay;
}

}  // namespace tether
