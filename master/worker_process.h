// Forking one worker: its control channel, its listening sockets, its privileges.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/pubsub_wire.h"
#include "core/tls_ticket_keys.h"
#include "core/unique_fd.h"
#include "master/listener_set.h"
#include "master/privileges.h"

namespace tether {

using SteadyClock = std::chrono::steady_clock;

struct WorkerProcess {
  pid_t pid = 0;          // 0: not running (crashed, waiting for its respawn)
  unsigned slot = 0;
  std::size_t metrics_slot = 0;  // its slot in shared_metrics(); released when it exits
  UniqueFd control;       // the master's end of the control channel
  UniqueFd pubsub_fd;     // the master's end of the pub/sub link (core/pubsub_wire.h)
  std::unique_ptr<PubsubLink> pubsub;
  bool ready = false;
  bool accept_stopped = false;
  bool stop_requested = false;  // we told it to drain or stop: its exit is no crash
  SteadyClock::time_point started_at{};
  unsigned recent_crashes = 0;  // for the respawn back-off
  SteadyClock::time_point respawn_at{};
};

struct SpawnRequest {
  ConfigPtr config;
  unsigned slot = 0;
  unsigned generation = 0;
  unsigned workers = 1;
  const ListenerSet* listeners = nullptr;
  std::optional<WorkerIdentity> identity;
  TicketKeys ticket_keys{};
};

// In a child just forked from the master (a worker, the module checker): restores default signal
// handling and closes every descriptor but stdin/stdout/stderr and `keep`, since the child starts
// with all of the master's (listeners, other workers' channels, the signalfd).
void prepare_forked_child(const std::vector<int>& keep);

// Forks the worker for `request.slot` into `process` (pid, control). Returns false with *error set.
bool spawn_worker(const SpawnRequest& request, WorkerProcess& process, std::string* error);

}  // namespace tether
