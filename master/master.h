// The master process: owns the listeners, forks and supervises generations of workers, turns
// signals into reloads and stops. It never serves a client. Single-threaded: one poll() loop over
// a signalfd and the workers' control channels, with deadlines for every timed step.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/unique_fd.h"
#include "master/broker.h"
#include "master/generations.h"
#include "master/listener_set.h"
#include "master/privileges.h"
#include "master/service_notify.h"
#include "master/status_report.h"
#include "master/worker_process.h"

namespace tether {

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
  void kill_stragglers(Generation& generation);

  void request_reload();
  void begin_reload();
  void reload_failed(const std::string& why);
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

  void expire_history();

  std::string config_path_;
  ConfigPtr config_;  // of the active generation
  std::string pid_file_;
  std::optional<WorkerIdentity> identity_;
  ListenerSet listeners_;
  LocalBroker broker_;
  std::optional<SteadyClock::time_point> broker_expiry_;  // when the oldest kept message expires
  Generations generations_;  // the state machine of reloads and stops (master/generations.h)
  StatusReport status_report_;  // generations and reloads for the status page and /metrics
  UniqueFd signal_fd_;
  ServiceNotifier notifier_;
  bool announced_ready_ = false;
  enum class Shutdown { none, graceful, fast } shutdown_ = Shutdown::none;
};

// Entry points for the command line.
int run_master(const std::string& config_path);
int test_config(const std::string& config_path);
int signal_master(const std::string& config_path, const std::string& signal_name);

}  // namespace tether
