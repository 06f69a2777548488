// The master process: owns the listeners, forks and supervises generations of workers, turns
// signals into reloads and stops. It never serves a client. Single-threaded: one poll() loop over
// a signalfd and the workers' control channels, with deadlines for every timed step.
#pragma once

#include <list>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/unique_fd.h"
#include "master/broker.h"
#include "master/listener_set.h"
#include "master/privileges.h"
#include "master/service_notify.h"
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

class Master {
 public:
  Master(std::string config_path, ConfigPtr config);
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;
  ~Master();

  // Runs until QUIT/TERM/INT have taken every worker down. Returns the process exit status.
  int run();

 private:
  bool start();
  void run_loop();
  std::optional<SteadyClock::duration> time_to_next_deadline() const;

  void handle_signals();
  void reap_children();
  void on_worker_exit(Generation& generation, WorkerProcess& process, int status);
  void read_control(Generation& generation, WorkerProcess& process);
  void read_pubsub(Generation& generation, WorkerProcess& process);
  void flush_pubsub();
  void resume_pubsub();
  void close_pubsub(WorkerProcess& process);
  std::vector<PubsubLink*> pubsub_links();
  void on_deadlines();

  void start_generation(ConfigPtr config, Generation::State state);
  bool spawn(Generation& generation, WorkerProcess& process);
  void schedule_respawn(WorkerProcess& process);

  void request_reload();
  void begin_reload();
  void notify_still_serving();
  void on_generation_ready(Generation& fresh);
  void abandon(Generation& fresh, const std::string& why);
  void drain(Generation& generation);
  void stop(Generation& generation, SteadyClock::duration grace);
  void limit_draining_generations();
  void release_retired_listeners(Generation& generation);
  std::vector<int> retired_listener_fds() const;
  void remove_finished_generations();

  void begin_graceful_stop();
  void begin_fast_stop();
  void reopen_logs();
  bool apply_log_settings(const Config& config, std::string* why);

  Generation* starting_generation();
  Generation* active_generation();

  std::string config_path_;
  ConfigPtr config_;  // of the active generation
  std::string pid_file_;
  std::optional<WorkerIdentity> identity_;
  ListenerSet listeners_;
  LocalBroker broker_;
  std::uint64_t broker_expiry_ms_ = 0;  // 0: nothing to expire
  std::list<Generation> generations_;
  unsigned next_generation_ = 1;
  UniqueFd signal_fd_;
  ServiceNotifier notifier_;
  bool reload_pending_ = false;
  bool announced_ready_ = false;
  enum class Shutdown { none, graceful, fast } shutdown_ = Shutdown::none;
};

// Entry points for the command line.
int run_master(const std::string& config_path);
int test_config(const std::string& config_path);
int signal_master(const std::string& config_path, const std::string& signal_name);

}  // namespace tether
