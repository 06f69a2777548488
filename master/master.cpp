#include "master/master.h"

#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/control_message.h"
#include "core/log.h"
#include "core/shared_metrics.h"
#include "core/shared_zones.h"
#include "core/status_board.h"
#include "core/wall_clock.h"
#include "master/pid_file.h"

namespace tether {
namespace {

using std::chrono::milliseconds;

// The longest the master's loop sleeps (see run()).
constexpr int kStatusRepairMs = 1000;

std::string describe_exit(int status) {
  if (WIFSIGNALED(status)) {
    std::string text = "killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    if (WCOREDUMP(status)) text += ", core dumped";
    return text;
  }
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

Master::Master(std::string config_path, ConfigPtr config)
    : config_path_(std::move(config_path)), config_(std::move(config)), pid_file_(config_->server.pid_file),
      broker_(config_->pubsub) {}

Master::~Master() = default;

int Master::run() {
  if (!start()) return 1;
  run_loop();
  remove_pid_file(pid_file_);
  LOG_NOTICE("exiting");
  return 0;
}

bool Master::start() {
  std::string why;
  if (auto running = read_running_pid(pid_file_, &why)) {
    LOG_ERROR("tether is already running (pid %d, pid file %s)", static_cast<int>(*running), pid_file_.c_str());
    return false;
  }
  if (!resolve_worker_identity(config_->server.user, &identity_, &why) || !apply_log_settings(*config_, &why)) {
    LOG_ERROR("%s", why.c_str());
    return false;
  }
  if (geteuid() == 0 && !identity_) LOG_WARN("running as root without [server] user: workers keep root privileges");

  sigset_t signals;
  sigemptyset(&signals);
  for (int signum : {SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&signals, signum);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  signal_fd_ = UniqueFd(signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));

  if (!shared_metrics().create(&why)) {
    LOG_ERROR("%s", why.c_str());
    return false;
  }
  core_metrics().register_all(shared_metrics());
  if (!status_board().create(&why)) {
    LOG_ERROR("%s", why.c_str());
    return false;
  }
  status_report_.register_metrics();
  if (!shared_zones().create(config_->server.shared_memory, &why)) {
    LOG_ERROR("%s", why.c_str());
    return false;
  }
  unsigned workers = config_->server.resolved_workers();
  if (!listeners_.prepare(*config_, workers, {}, &why)) {
    LOG_ERROR("%s", why.c_str());
    return false;
  }
  listeners_.commit_staged();
  if (!write_pid_file(pid_file_, &why)) {
    LOG_ERROR("%s", why.c_str());
    return false;
  }
  std::string addresses;
  for (const ListenConfig& listen : config_->listen) addresses += " " + listen.address.to_string();
  LOG_NOTICE("tether %s started: %u workers, listening on%s", TETHER_VERSION, workers, addresses.c_str());
  start_generation(config_, Generation::State::active);
  shared_metrics().set(0, core_metrics().generation, generations_.all().back().number);
  return true;
}

void Master::run_loop() {
  std::vector<pollfd> fds;
  // Per polled descriptor: its worker, and whether it is the pub/sub link (else the control channel).
  struct Owner {
    Generation* generation;
    WorkerProcess* process;
    bool pubsub;
  };
  std::vector<Owner> owners;
  while (!(shutdown_ != Shutdown::none && generations_.empty())) {
    fds.assign(1, pollfd{signal_fd_.get(), POLLIN, 0});
    owners.assign(1, Owner{nullptr, nullptr, false});
    for (Generation& g : generations_.all())
      for (WorkerProcess& p : g.processes) {
        if (p.control) {
          fds.push_back(pollfd{p.control.get(), POLLIN, 0});
          owners.push_back(Owner{&g, &p, false});
        }
        if (p.pubsub) {
          short events = static_cast<short>((p.pubsub->wants_read() ? POLLIN : 0) | (p.pubsub->wants_write() ? POLLOUT : 0));
          fds.push_back(pollfd{p.pubsub->fd(), events, 0});
          owners.push_back(Owner{&g, &p, true});
        }
      }
    status_report_.publish(generations_, unix_time_ms());
    // At least one turn a second, even idle: publish() then repairs the status board's master
    // area within a second of a worker scribbling over it.
    int timeout = kStatusRepairMs;
    if (auto next = time_to_next_deadline())
      timeout = std::min(timeout, static_cast<int>(std::chrono::ceil<milliseconds>(*next).count()));
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      LOG_ERROR("poll(): %s", std::strerror(errno));
      return;
    }
    for (std::size_t i = 1; n > 0 && i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      if (!owners[i].pubsub) read_control(*owners[i].generation, *owners[i].process);
      else if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) read_pubsub(*owners[i].generation, *owners[i].process);
    }
    flush_pubsub();
    resume_pubsub();
    if (n > 0 && fds[0].revents) handle_signals();
    on_deadlines();
    remove_finished_generations();
  }
}

std::vector<PubsubLink*> Master::pubsub_links() {
  std::vector<PubsubLink*> links;
  for (Generation& g : generations_.all())
    for (WorkerProcess& p : g.processes)
      if (p.pubsub) links.push_back(p.pubsub.get());
  return links;
}

// Frames from one worker (a bounded number of bytes per poll): everything it published is
// sequenced and relayed to all workers. A worker that breaks the protocol is replaced, as one
// that stops reading is in flush_pubsub().
void Master::read_pubsub(Generation& generation, WorkerProcess& process) {
  std::vector<PubsubLink*> links = pubsub_links();
  PubsubLink& link = *process.pubsub;
  auto result = link.read([&](const PubsubFrame& frame) { return broker_.handle(link, frame, links); });
  if (result == PubsubLink::ReadResult::broken && process.pid != 0) {
    LOG_ERROR("worker %u (pid %d, generation %u) sent %s on its pub/sub link: killing it", process.slot,
              static_cast<int>(process.pid), generation.number, link.problem().c_str());
    ::kill(process.pid, SIGKILL);
  }
  if (result != PubsubLink::ReadResult::open) close_pubsub(process);
  expire_history();
}

// A message's age is wall-clock time (its time is when it was published, the one workers show);
// the wait for the next expiry is a steady deadline like every other one of the master's.
void Master::expire_history() {
  std::int64_t next = broker_.expire(unix_time_ms());
  broker_expiry_.reset();
  if (next >= 0) broker_expiry_ = SteadyClock::now() + milliseconds(next);
}

// Sends what the broker produced. A worker that stops reading its link (wedged, stopped) would
// make the master hold every message for it: past [pubsub] worker_backlog it is killed instead,
// and its replacement's subscribers resume from history.
void Master::flush_pubsub() {
  for (Generation& g : generations_.all())
    for (WorkerProcess& p : g.processes) {
      if (!p.pubsub || !p.pubsub->wants_write()) continue;
      if (!p.pubsub->write()) {
        close_pubsub(p);
        continue;
      }
      std::size_t waiting = p.pubsub->output().size();
      if (waiting <= g.config->pubsub.worker_backlog || p.pid == 0) continue;
      LOG_ERROR("worker %u (pid %d, generation %u) stopped reading its pub/sub link (%zu bytes waiting): killing it",
                p.slot, static_cast<int>(p.pid), g.number, waiting);
      ::kill(p.pid, SIGKILL);
      close_pubsub(p);
    }
}

// Requests a worker sent while it was paused (flush_pubsub() has sent it enough since); what
// this produces goes out on the next turn, which does not block while it waits.
void Master::resume_pubsub() {
  for (Generation& g : generations_.all())
    for (WorkerProcess& p : g.processes)
      if (p.pubsub && p.pubsub->wants_read() && p.pubsub->has_buffered_frame()) read_pubsub(g, p);
}

void Master::close_pubsub(WorkerProcess& process) {
  if (!process.pubsub) return;
  broker_.forget_link(*process.pubsub);
  process.pubsub.reset();
  process.pubsub_fd.reset();
}

std::optional<SteadyClock::duration> Master::time_to_next_deadline() const {
  std::optional<SteadyClock::time_point> next = generations_.next_deadline();
  if (broker_expiry_ && (!next || *broker_expiry_ < *next)) next = broker_expiry_;
  if (!next) return std::nullopt;
  return std::max(SteadyClock::duration::zero(), *next - SteadyClock::now());
}

void Master::handle_signals() {
  signalfd_siginfo info;
  while (::read(signal_fd_.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    switch (info.ssi_signo) {
      case SIGCHLD: reap_children(); break;
      case SIGHUP: request_reload(); break;
      case SIGQUIT: begin_graceful_stop(); break;
      case SIGTERM:
      case SIGINT: begin_fast_stop(); break;
      case SIGUSR1: reopen_logs(); break;
      default: LOG_NOTICE("ignoring signal %u", info.ssi_signo);
    }
  }
}

void Master::reap_children() {
  for (;;) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    [&] {
      for (Generation& g : generations_.all())
        for (WorkerProcess& p : g.processes)
          if (p.pid == pid) return on_worker_exit(g, p, status);
    }();
  }
}

void Master::on_worker_exit(Generation& generation, WorkerProcess& process, int status) {
  pid_t pid = process.pid;
  process.pid = 0;
  process.control.reset();
  close_pubsub(process);
  status_board().clear_slot(process.metrics_slot);
  shared_metrics().release_slot(process.metrics_slot);
  process.metrics_slot = 0;
  WorkerExit exit = Generations::worker_exited(generation, process, shutdown_ != Shutdown::none);
  if (exit.expected) {
    LOG_INFO("worker %u (pid %d, generation %u) %s", process.slot, static_cast<int>(pid), generation.number,
             describe_exit(status).c_str());
  } else {
    LOG_ERROR("worker %u (pid %d, generation %u) %s", process.slot, static_cast<int>(pid), generation.number,
              describe_exit(status).c_str());
  }
  switch (exit.then) {
    case WorkerExit::Then::abandon_reload:
      abandon(generation, "worker " + std::to_string(process.slot) + " " + describe_exit(status) + " before it was ready");
      break;
    case WorkerExit::Then::respawn:
      shared_metrics().add(0, core_metrics().worker_restarts, 1);
      schedule_respawn(process);
      break;
    case WorkerExit::Then::release_listeners: release_retired_listeners(generation); break;
    case WorkerExit::Then::nothing: break;
  }
}

void Master::read_control(Generation& generation, WorkerProcess& process) {
  bool closed = false;
  while (auto message = receive_control_message(process.control.get(), &closed)) {
    switch (message->type) {
      case ControlType::ready: {
        bool all_ready = generations_.worker_ready(generation, process);
        if (all_ready && generation.state == Generation::State::starting) on_generation_ready(generation);
        if (all_ready && !announced_ready_ && generation.state == Generation::State::active) {
          announced_ready_ = true;  // the first generation is up: tell systemd once
          notifier_.ready("serving generation " + std::to_string(generation.number));
        }
        break;
      }
      case ControlType::accept_stopped:
        process.accept_stopped = true;
        release_retired_listeners(generation);
        break;
      default:
        LOG_WARN("unexpected control message %u from worker pid %d", static_cast<unsigned>(message->type),
                 static_cast<int>(process.pid));
    }
    if (process.control.get() < 0) return;
  }
  // A hang-up only closes our end; the exit itself is handled when SIGCHLD reaps the process.
  if (closed) process.control.reset();
}

void Master::on_deadlines() {
  auto now = SteadyClock::now();
  if (broker_expiry_ && *broker_expiry_ <= now) expire_history();
  for (const DeadlineAction& action : generations_.deadlines_passed(now, shutdown_ != Shutdown::none)) {
    switch (action.kind) {
      case DeadlineAction::Kind::respawn: spawn(*action.generation, *action.process); break;
      case DeadlineAction::Kind::abandon_reload:
        abandon(*action.generation, "not every worker reported READY within ready_timeout");
        break;
      case DeadlineAction::Kind::kill_stragglers: kill_stragglers(*action.generation); break;
    }
  }
}

void Master::kill_stragglers(Generation& generation) {
  for (WorkerProcess& p : generation.processes)
    if (p.pid != 0) {
      LOG_WARN("worker %u (pid %d, generation %u) did not exit in time: killing it", p.slot, static_cast<int>(p.pid),
               generation.number);
      ::kill(p.pid, SIGKILL);
    }
}

void Master::start_generation(ConfigPtr config, Generation::State state) {
  Generation& g = generations_.add(std::move(config), state, SteadyClock::now());
  // Fresh ticket keys per generation: a reload also rotates them.
  if (RAND_bytes(g.ticket_keys.data(), static_cast<int>(g.ticket_keys.size())) != 1)
    LOG_WARN("no random bytes for TLS session-ticket keys: session resumption across workers may fail");
  for (unsigned slot = 0; slot < g.workers; ++slot) {
    if (!spawn(g, g.processes[slot]) && state == Generation::State::starting) {
      abandon(g, "cannot start worker " + std::to_string(slot));
      return;
    }
  }
}

bool Master::spawn(Generation& generation, WorkerProcess& process) {
  SpawnRequest request{generation.config, process.slot, generation.number, generation.workers,
                       &listeners_,       identity_,    generation.ticket_keys};
  std::string why;
  if (!spawn_worker(request, process, &why)) {
    LOG_ERROR("cannot start worker %u of generation %u: %s", process.slot, generation.number, why.c_str());
    schedule_respawn(process);
    return false;
  }
  LOG_DEBUG("started worker %u (pid %d) of generation %u", process.slot, static_cast<int>(process.pid), generation.number);
  return true;
}

void Master::schedule_respawn(WorkerProcess& process) {
  milliseconds delay = plan_respawn(process, SteadyClock::now());
  if (delay.count() > 0)
    LOG_WARN("worker %u crashed %u times in a row: respawning in %lldms", process.slot, process.recent_crashes,
             static_cast<long long>(delay.count()));
}

void Master::begin_graceful_stop() {
  if (shutdown_ != Shutdown::none) return;
  shutdown_ = Shutdown::graceful;
  notifier_.stopping();
  LOG_NOTICE("graceful stop: draining every worker");
  for (Generation& g : generations_.all()) {
    if (g.state == Generation::State::starting) stop(g, kKillGrace);
    else if (g.state == Generation::State::active) drain(g);
  }
}

void Master::begin_fast_stop() {
  if (shutdown_ == Shutdown::fast) return;
  shutdown_ = Shutdown::fast;
  notifier_.stopping();
  LOG_NOTICE("fast stop");
  for (Generation& g : generations_.all()) stop(g, kKillGrace);
}

void Master::reopen_logs() {
  std::string why;
  if (!Log::reopen(&why)) LOG_ERROR("%s: still writing to the previous error log", why.c_str());
  else if (!apply_log_settings(*config_, &why)) LOG_ERROR("%s", why.c_str());
  LOG_NOTICE("reopened logs");
  for (Generation& g : generations_.all())
    for (WorkerProcess& p : g.processes)
      if (p.control) send_control_message(p.control.get(), ControlMessage{ControlType::reopen_logs});
}

// Opens the error log the config names and hands the log files to the worker user, which must
// be able to reopen them after rotation. The files are opened as open_log_file() does, so what
// the worker user left in their place (a link to /etc/shadow, say) is refused, never chowned.
bool Master::apply_log_settings(const Config& config, std::string* why) {
  if (config.server.error_log != Log::target() || config.server.log_level != Log::level()) {
    if (!Log::open(config.server.error_log, config.server.log_level, why)) return false;
  }
  if (!identity_) return true;
  bool handed = true;
  for (const std::string& file : {config.server.error_log, config.server.access_log}) {
    if (file == "stderr" || file == "off") continue;
    std::string refused;
    UniqueFd fd(open_log_file(file, &refused));
    if (!fd) {
      *why = refused + " (not handed to user " + identity_->user + ")";
      handed = false;
    } else if (fchown(fd.get(), identity_->uid, identity_->gid) != 0) {
      LOG_WARN("cannot hand %s to user %s: %s", file.c_str(), identity_->user.c_str(), std::strerror(errno));
    }
  }
  return handed;
}

void Master::remove_finished_generations() {
  for (unsigned number : generations_.remove_finished(shutdown_ != Shutdown::none))
    LOG_INFO("generation %u is gone", number);
}

}  // namespace tether
