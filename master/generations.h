// The master's generations and the state machine they follow, without processes: a generation
// is starting (forked by a reload, waiting for every worker's READY), active (serving), draining
// or stopping, and each event (a READY, a worker gone, a deadline passed, a HUP) moves it on and
// says what the master must do. Master (master.cpp, reload.cpp) carries that out: control
// messages, signals, listeners, logs. Nothing here forks, kills, sends or logs, so every
// transition is unit-tested (tests/unit/generations_test.cpp).
#pragma once

#include <array>
#include <list>
#include <optional>
#include <vector>

#include "core/config.h"
#include "core/tls_ticket_keys.h"
#include "core/unique_fd.h"
#include "master/worker_process.h"

namespace tether {

// A worker that outlives its drain (drain_timeout) or stop by this much is killed.
inline constexpr std::chrono::milliseconds kKillGrace{5000};

struct Generation {
  enum class State {
    starting,  // forked by a reload, waiting for every worker's READY
    active,    // the generation that accepts; crashed workers are respawned
    draining,  // told to DRAIN; forced down at its deadline
    stopping,  // told to STOP (fast stop, failed reload, too many draining); killed at its deadline
  };

  unsigned number = 0;
  ConfigPtr config;
  unsigned workers = 0;
  State state = State::starting;
  std::vector<WorkerProcess> processes;        // indexed by slot
  std::vector<UniqueFd> retired_listeners;     // closed once this generation stopped accepting
  TicketKeys ticket_keys{};                    // TLS session-ticket keys of this generation
  SteadyClock::time_point deadline{};

  std::size_t running() const;
};

// What a worker's exit means for its generation.
struct WorkerExit {
  bool expected = false;  // it was told to drain or stop: no crash
  enum class Then {
    nothing,
    abandon_reload,     // a worker of a starting generation died before READY: the reload fails
    respawn,            // an active worker crashed: respawn it (plan_respawn says when)
    release_listeners,  // a draining worker: the retired listeners may be closable now
  } then = Then::nothing;
};

// What a passed deadline asks for, in the order of the generations.
struct DeadlineAction {
  enum class Kind {
    respawn,          // `process` of an active generation: its back-off is over
    abandon_reload,   // the starting generation missed ready_timeout
    kill_stragglers,  // a draining or stopping generation outlived its deadline: SIGKILL what runs
  } kind;
  Generation* generation = nullptr;
  WorkerProcess* process = nullptr;  // for respawn
};

class Generations {
 public:
  // A new generation numbered after the last one, with a process slot per worker (none running
  // yet). Its deadline is ready_timeout from `now` (it only counts while it is starting).
  Generation& add(ConfigPtr config, Generation::State state, SteadyClock::time_point now);

  Generation* starting();
  Generation* active();
  std::list<Generation>& all() { return generations_; }
  const std::list<Generation>& all() const { return generations_; }
  bool empty() const { return generations_.empty(); }

  // A HUP. True when a reload may begin now; during one it is remembered instead, once however
  // many arrive, and take_pending_reload() hands it out when that reload has finished.
  bool request_reload();
  bool take_pending_reload();

  // READY from `process`. True when every worker of `generation` is ready.
  bool worker_ready(Generation& generation, WorkerProcess& process);
  // Every worker of the starting generation `fresh` is ready: it becomes the active one. Returns
  // the generation it replaces (still active: the master drains it), null if there was none.
  Generation* commit(Generation& fresh);
  // Told to DRAIN: forced down drain_timeout + kKillGrace from `now`.
  void drain(Generation& generation, SteadyClock::time_point now);
  // Told to STOP: killed `grace` from `now`.
  void stop(Generation& generation, SteadyClock::duration grace, SteadyClock::time_point now);
  // The oldest draining generations past `limit`, which the master stops at once so that a
  // reload storm cannot pile up processes.
  std::vector<Generation*> over_draining_limit(unsigned limit);

  // `process` of `generation` is gone (its pid already cleared).
  static WorkerExit worker_exited(const Generation& generation, const WorkerProcess& process, bool shutting_down);
  // Every deadline that passed at `now`. A straggler's deadline moves on by kKillGrace (SIGKILL
  // cannot be ignored; that only bounds the retry).
  std::vector<DeadlineAction> deadlines_passed(SteadyClock::time_point now, bool shutting_down);
  // The earliest deadline there is, if any.
  std::optional<SteadyClock::time_point> next_deadline() const;

  // Drops the generations that have gone (no longer starting or active, no process left; when
  // shutting down, any without a process). Returns the numbers of those that went after serving.
  std::vector<unsigned> remove_finished(bool shutting_down);

 private:
  std::list<Generation> generations_;
  unsigned next_number_ = 1;
  bool reload_pending_ = false;
};

// The first crash is repaired at once; crashes in quick succession back off exponentially (100 ms
// doubling up to 10 s; a worker that ran 10 s is stable again). Sets respawn_at; returns the delay.
std::chrono::milliseconds plan_respawn(WorkerProcess& process, SteadyClock::time_point now);

}  // namespace tether
