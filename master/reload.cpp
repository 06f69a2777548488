// The reload protocol of DESIGN.md ("Listeners and zero-drop reload"), as Master's methods:
//   1. re-read and validate the config; on error keep the running generation;
//   2. open listeners the new config adds; fork generation g+1;
//   3. once every new worker reported READY, tell generation g to DRAIN (else kill g+1, keep g);
//   4. close listeners the new config dropped once g stopped accepting; reap g.
// Reloads are serialised: a HUP during a reload schedules exactly one more.
#include <signal.h>

#include "core/config_parser.h"
#include "core/control_message.h"
#include "core/log.h"
#include "core/shared_metrics.h"
#include "core/wall_clock.h"
#include "master/master.h"
#include "master/module_check.h"

namespace tether {
void Master::request_reload() {
  if (shutdown_ != Shutdown::none) return;
  if (!generations_.request_reload()) {  // coalesced: one more reload runs when this one has finished
    LOG_NOTICE("reload requested while one is in progress: it will follow");
    return;
  }
  begin_reload();
}

void Master::begin_reload() {
  notifier_.reloading();
  LOG_NOTICE("reloading %s", config_path_.c_str());
  ConfigLoadResult loaded = load_config_file(config_path_);
  if (!loaded.errors.empty()) {
    for (const ConfigError& error : loaded.errors) LOG_ERROR("%s", error.to_string().c_str());
    LOG_ERROR("reload failed: configuration has %zu error(s); generation %u keeps serving", loaded.errors.size(),
              generations_.active() ? generations_.active()->number : 0);
    reload_failed(reload_failure_message(loaded.errors.front().to_string(), loaded.errors.size()));
    return;
  }
  std::vector<std::string> module_errors = check_modules_in_child(*loaded.config);
  if (!module_errors.empty()) {
    for (const std::string& error : module_errors) LOG_ERROR("%s", error.c_str());
    LOG_ERROR("reload failed: modules could not be loaded; generation %u keeps serving",
              generations_.active() ? generations_.active()->number : 0);
    reload_failed(module_errors.front());
    return;
  }
  std::string why;
  std::optional<WorkerIdentity> identity;
  if (!resolve_worker_identity(loaded.config->server.user, &identity, &why) ||
      !listeners_.prepare(*loaded.config, loaded.config->server.resolved_workers(), retired_listener_fds(), &why)) {
    LOG_ERROR("reload failed: %s; the running generation keeps serving", why.c_str());
    reload_failed(why);
    return;
  }
  identity_ = identity;
  if (!apply_log_settings(*loaded.config, &why)) LOG_ERROR("%s", why.c_str());
  start_generation(loaded.config, Generation::State::starting);
}

void Master::on_generation_ready(Generation& fresh) {
  listeners_.commit_staged();
  Generation* previous = generations_.commit(fresh);
  config_ = fresh.config;
  broker_.configure(config_->pubsub);
  shared_metrics().add(0, core_metrics().reloads, 1);
  shared_metrics().set(0, core_metrics().generation, fresh.number);
  status_report_.reload_finished(true, "", unix_time_ms());
  if (previous) {
    previous->retired_listeners = listeners_.retire_unlisted(*fresh.config);
    drain(*previous);
    release_retired_listeners(*previous);
  }
  LOG_NOTICE("reload complete: generation %u serving with %u workers", fresh.number, fresh.workers);
  notifier_.ready("serving generation " + std::to_string(fresh.number));
  limit_draining_generations();
  if (generations_.take_pending_reload()) begin_reload();
}

void Master::abandon(Generation& fresh, const std::string& why) {
  if (fresh.state != Generation::State::starting) return;
  LOG_ERROR("reload failed: generation %u %s; generation %u keeps serving", fresh.number, why.c_str(),
            generations_.active() ? generations_.active()->number : 0);
  stop(fresh, std::chrono::milliseconds(0));
  for (WorkerProcess& p : fresh.processes)
    if (p.pid != 0) ::kill(p.pid, SIGKILL);
  listeners_.rollback_staged();
  reload_failed("generation " + std::to_string(fresh.number) + " " + why);
  if (generations_.take_pending_reload()) begin_reload();
}

// A failed reload is the last reload's result on the status page (`why`, cut to fit), and it
// ends systemd's RELOADING state too: the old generation is still ready.
void Master::reload_failed(const std::string& why) {
  status_report_.reload_finished(false, why, unix_time_ms());
  notify_still_serving();
}

void Master::notify_still_serving() {
  Generation* active = generations_.active();
  notifier_.ready("reload failed; serving generation " + std::to_string(active ? active->number : 0));
}

void Master::drain(Generation& generation) {
  generations_.drain(generation, SteadyClock::now());
  for (WorkerProcess& p : generation.processes)
    if (p.control) send_control_message(p.control.get(), ControlMessage{ControlType::drain});
  LOG_INFO("generation %u draining", generation.number);
}

void Master::stop(Generation& generation, SteadyClock::duration grace) {
  generations_.stop(generation, grace, SteadyClock::now());
  for (WorkerProcess& p : generation.processes) {
    if (p.control) send_control_message(p.control.get(), ControlMessage{ControlType::stop});
    else if (p.pid != 0) ::kill(p.pid, SIGTERM);
  }
}

// A reload storm must not pile up processes: past the limit the oldest draining generation is
// stopped at once instead of waiting for its drain_timeout.
void Master::limit_draining_generations() {
  unsigned limit = config_->server.max_draining_generations;
  for (Generation* g : generations_.over_draining_limit(limit)) {
    LOG_WARN("more than %u generations draining: stopping generation %u now", limit, g->number);
    stop(*g, kKillGrace);
  }
}

std::vector<int> Master::retired_listener_fds() const {
  std::vector<int> fds;
  for (const Generation& g : generations_.all())
    for (const UniqueFd& fd : g.retired_listeners) fds.push_back(fd.get());
  return fds;
}

void Master::release_retired_listeners(Generation& generation) {
  if (generation.retired_listeners.empty()) return;
  for (const WorkerProcess& p : generation.processes)
    if (p.pid != 0 && !p.accept_stopped) return;
  LOG_INFO("closing %zu listening sockets no longer configured", generation.retired_listeners.size());
  generation.retired_listeners.clear();
}

}  // namespace tether
