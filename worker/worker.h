// A worker process: one libuv loop serving the listening sockets of its slot, until the master
// tells it to drain or stop (control channel), or the master dies.
#pragma once

#include <sys/types.h>

#include <array>
#include <memory>
#include <vector>

#include "core/config.h"
#include "core/listen_socket.h"
#include "core/tls_ticket_keys.h"

namespace tether {

struct WorkerStartup {
  ConfigPtr config;
  unsigned slot = 0;
  unsigned generation = 0;
  std::vector<ListenSocket> listen_sockets;  // the sockets this slot accepts on; the worker owns them
  int control_fd = -1;          // its end of the control channel; the worker owns it
  int pubsub_fd = -1;           // its end of the pub/sub link to the broker; the worker owns it
  pid_t master_pid = 0;
  std::size_t metrics_slot = 0; // where this process counts in shared_metrics()
  TicketKeys ticket_keys{};     // TLS session tickets, shared by the generation
};

// Runs the worker to completion and returns the process exit status.
int run_worker(const WorkerStartup& startup);

}  // namespace tether
