#include "worker/worker.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <string>

#include "core/log.h"
#include "worker/transport/accept_rate.h"
#include "worker/transport/acceptor.h"
#include "worker/http/access_log.h"
#include "worker/transport/connection.h"
#include "worker/transport/goodbye_schedule.h"
#include "core/shared_metrics.h"
#include "core/status_board.h"
#include "worker/control_channel.h"
#include "worker/host/crash_report.h"
#include "worker/host/module_runtime.h"
#include "worker/pubsub/channel_report.h"
#include "worker/pubsub/master_link_broker.h"
#include "worker/pubsub/publish_endpoint.h"
#include "worker/pubsub/redis_broker.h"
#include "worker/pubsub/pubsub_hub.h"
#include "worker/http/router.h"
#include "worker/transport/tls_context.h"

namespace tether {
namespace {

// After EMFILE/ENFILE, accepting resumes after this pause instead of spinning on the error.
constexpr std::uint64_t kAcceptRetryMs = 500;
// After drain_timeout, long-lived connections get this long to say goodbye (WebSocket close
// handshake, SSE retry hint) before the worker exits.
constexpr std::uint64_t kShutdownGraceMs = 1000;
// Credentials that expire (connection_set_expiry) are checked this often: within a second, as
// the ABI promises, with one timer for the worker instead of one per connection.
constexpr std::uint64_t kExpirySweepMs = 500;

std::uint64_t unix_now_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

class Worker final : public ConnectionHost, public AcceptorOwner, public RequestDispatcher {
 public:
  Worker(const WorkerStartup& startup, std::vector<std::unique_ptr<LoadedModule>> modules)
      : config_(startup.config),
        slot_(startup.slot),
        generation_(startup.generation),
        metrics_slot_(startup.metrics_slot),
        router_(config_->routes),
        http_limits_{config_->limits.max_header_size, config_->limits.max_body_size},
        accept_rate_(config_->limits.max_accept_rate) {
    uv_loop_init(&loop_);
    goodbyes_ = std::make_unique<GoodbyeSchedule>(&loop_);
    hub_ = std::make_unique<PubsubHub>(&loop_, make_broker(startup), config_->pubsub, slot_, metrics_slot_);
    publish_ = std::make_unique<PublishEndpoint>(*hub_);
    // A slot that cannot report (0, shared; or past the board) is not worth a scan a second.
    if (StatusBoard::reports_channels(metrics_slot_))
      channel_report_ = std::make_unique<ChannelReport>(&loop_, *hub_, metrics_slot_);
    modules_ = std::make_unique<ModuleRuntime>(*config_, std::move(modules), &loop_, slot_, generation_, metrics_slot_,
                                               hub_.get());
    tls_contexts_.resize(config_->listen.size());
    listeners_.resize(config_->listen.size());
    for (std::size_t i = 0; i < config_->listen.size(); ++i) {
      listeners_[i].config = &config_->listen[i];
      if (!config_->listen[i].tls) continue;
      std::string why;
      tls_contexts_[i] = TlsContext::create(*config_->listen[i].tls, startup.ticket_keys, &why);
      listeners_[i].tls = tls_contexts_[i].get();
      if (!tls_contexts_[i]) {
        LOG_ERROR("TLS on %s: %s", config_->listen[i].address.to_string().c_str(), why.c_str());
        tls_failed_ = true;
      }
    }
    for (const ListenSocket& s : startup.listen_sockets)
      acceptors_.push_back(std::make_unique<Acceptor>(&loop_, s.fd, *this, &listeners_[s.listen_index]));
    control_ = std::make_unique<ControlChannel>(
        &loop_, startup.control_fd, [this](const ControlMessage& m) { on_control(m); },
        [this] { on_master_gone(); });
    uv_timer_init(&loop_, &accept_retry_timer_);
    uv_timer_init(&loop_, &drain_timer_);
    uv_timer_init(&loop_, &exit_timer_);
    uv_timer_init(&loop_, &expiry_timer_);
    uv_check_init(&loop_, &flush_check_);
    uv_idle_init(&loop_, &late_answer_idle_);
    accept_retry_timer_.data = drain_timer_.data = exit_timer_.data = expiry_timer_.data = flush_check_.data = this;
    late_answer_idle_.data = this;
    uv_check_start(&flush_check_, [](uv_check_t* h) { static_cast<Worker*>(h->data)->access_log_.flush(); });
    uv_unref(reinterpret_cast<uv_handle_t*>(&flush_check_));
    for (int signum : {SIGTERM, SIGINT, SIGQUIT, SIGUSR1}) {
      auto& handle = signals_.emplace_back(std::make_unique<uv_signal_t>());
      uv_signal_init(&loop_, handle.get());
      handle->data = this;
      uv_signal_start(handle.get(), on_signal, signum);
    }
  }

  // The master over this worker's link, or Redis. With Redis the link stays open, as the master
  // expects of a live worker, and is still read: across a reload that switches brokers, the
  // master relays the other generation's messages to every link, and an unread one would fill
  // up until the master gave the worker up. What comes on it is dropped (no Delivery).
  std::unique_ptr<Broker> make_broker(const WorkerStartup& startup) {
    if (config_->pubsub.broker == BrokerKind::local) {
      shared_metrics().set(metrics_slot_, core_metrics().broker_up, 1);  // the master is there while we are
      return std::make_unique<MasterLinkBroker>(&loop_, startup.pubsub_fd);
    }
    idle_master_link_ = std::make_unique<MasterLinkBroker>(&loop_, startup.pubsub_fd);
    return std::make_unique<RedisBroker>(&loop_, RedisBrokerConfig::from(config_->pubsub), metrics_slot_);
  }

  ~Worker() override {
    if (!torn_down_) close_everything();
    uv_run(&loop_, UV_RUN_DEFAULT);  // lets close callbacks run
    uv_loop_close(&loop_);
  }

  bool open_logs() {
    std::string why;
    if (!access_log_.open(config_->server.access_log, slot_, generation_, &why)) {
      LOG_ERROR("%s", why.c_str());
      return false;
    }
    return true;
  }

  int run() {
    if (tls_failed_ || !modules_->start()) return 1;
    for (auto& acceptor : acceptors_) acceptor->resume();
    control_->send(ControlType::ready);
    LOG_INFO("worker %u of generation %u serving", slot_, generation_);
    uv_run(&loop_, UV_RUN_DEFAULT);
    access_log_.flush();
    return 0;
  }

  // ConnectionHost
  uv_loop_t* loop() override { return &loop_; }
  const LimitsConfig& limits() const override { return config_->limits; }
  const HttpLimits& http_limits() const override { return http_limits_; }
  const Router& router() const override { return router_; }
  AccessLog& access_log() override { return access_log_; }
  RequestDispatcher* dispatcher() override { return this; }
  PubsubHub& hub() override { return *hub_; }

  // RequestDispatcher: the built-in publish endpoint, and the modules for everything else.
  Outcome check_access(HttpSession& session, const RouteConfig* route) override {
    return modules_->empty() ? Outcome::declined : modules_->check_access(session, route);
  }
  Outcome run_handler(HttpSession& session, const RouteConfig& route) override {
    if (route.handler == "publish") return publish_->handle(session, route);
    return modules_->run_handler(session, route);
  }
  void session_closed(HttpSession& session, bool waiting) override {
    if (waiting) publish_->session_closed(session);
    modules_->session_closed(session, waiting);
  }
  std::size_t metrics_slot() const override { return metrics_slot_; }
  ModuleRuntime* modules() override { return modules_->empty() ? nullptr : modules_.get(); }

  // The sweep of credentials' deadlines runs only while a connection has one: connections
  // without cost nothing (no timer, no walk).
  void count_expiring(int delta) override {
    bool sweeping = expiring_ != 0;
    expiring_ += delta;
    if (!sweeping && expiring_ != 0 && !torn_down_)
      uv_timer_start(&expiry_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->sweep_expiries(); },
                     kExpirySweepMs, kExpirySweepMs);
    else if (sweeping && expiring_ == 0)
      uv_timer_stop(&expiry_timer_);
  }

  void schedule_goodbye(Connection& c, std::uint64_t earliest_ms, std::uint64_t latest_ms) override {
    goodbyes_->schedule(c, earliest_ms, latest_ms);
  }

  // An idle handle, not a check: it runs on this turn when the answer came from a timer, and
  // keeps the next poll from blocking when it came from I/O.
  void after_late_answer(Connection& c) override {
    if (torn_down_) return;
    if (late_answers_.empty())
      uv_idle_start(&late_answer_idle_, [](uv_idle_t* h) { static_cast<Worker*>(h->data)->finish_late_answers(); });
    late_answers_.push_back(&c);
  }

  void finish_late_answers() {
    uv_idle_stop(&late_answer_idle_);
    std::vector<Connection*> batch;
    batch.swap(late_answers_);
    for (Connection* c : batch) c->finish_late_answer();
  }

  void on_connection_closed(Connection& c) override {
    late_answers_.erase(std::remove(late_answers_.begin(), late_answers_.end(), &c), late_answers_.end());
    goodbyes_->cancel(c);
    if (modules_->watches_connections() && c.announced_to_modules) modules_->connection_closed(c);
    if (!connections_.remove(c)) return;
    shared_metrics().add(metrics_slot_, core_metrics().connections_open, -1);
    if (torn_down_ && connections_.empty()) stop_modules_and_loop();
    else if (draining_ && connections_.empty()) request_exit();
    else if (at_capacity_ && connections_.size() < config_->limits.max_connections) {
      at_capacity_ = false;
      resume_accepting();
    }
  }

  // AcceptorOwner
  bool on_accepted(int fd, const sockaddr* peer, socklen_t peer_length, const void* tag) override {
    shared_metrics().add(metrics_slot_, core_metrics().connections_accepted, 1);
    Connection* c = Connection::start(*this, fd, *static_cast<const Listener*>(tag), peer, peer_length);
    if (!c) return true;
    if (!accept_rate_.take(uv_now(&loop_))) {
      // Told to come back in 1, 2 or 3 s in turn, so that the refused do not return together.
      c->refuse_requests(1 + static_cast<unsigned>(over_accept_rate_++ % 3));
      shared_metrics().add(metrics_slot_, core_metrics().connections_over_accept_rate, 1);
    }
    if (modules_->watches_connections()) {
      if (!modules_->connection_accepted(*c)) c->close_now();  // refused before a byte was read
      else c->announced_to_modules = true;
    }
    connections_.push_front(*c);
    shared_metrics().add(metrics_slot_, core_metrics().connections_open, 1);
    if (draining_) c->start_drain();  // accepted from the backlog after DRAIN: serve once, close
    if (connections_.size() >= config_->limits.max_connections) {
      if (!at_capacity_) LOG_WARN("max_connections (%lu) reached: not accepting until one closes",
                                  static_cast<unsigned long>(config_->limits.max_connections));
      at_capacity_ = true;
      pause_accepting();
      return false;
    }
    return true;
  }

  void on_accept_exhausted(int error) override {
    LOG_ERROR("accept() failed: %s; pausing accepts for %lums", std::strerror(error),
              static_cast<unsigned long>(kAcceptRetryMs));
    pause_accepting();
    uv_timer_start(&accept_retry_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->resume_accepting(); },
                   kAcceptRetryMs, 0);
  }

 private:
  void pause_accepting() {
    for (auto& acceptor : acceptors_) acceptor->pause();
  }
  void resume_accepting() {
    if (draining_ || at_capacity_) return;
    for (auto& acceptor : acceptors_) acceptor->resume();
  }

  void on_control(const ControlMessage& message) {
    switch (message.type) {
      case ControlType::drain: start_drain(); break;
      case ControlType::stop: request_exit(); break;
      case ControlType::reopen_logs: reopen_logs(); break;
      default: LOG_WARN("unexpected control message %u", static_cast<unsigned>(message.type));
    }
  }

  void on_master_gone() {
    LOG_NOTICE("master is gone: exiting");
    request_exit();
  }

  static void on_signal(uv_signal_t* handle, int signum) {
    auto& self = *static_cast<Worker*>(handle->data);
    if (signum == SIGQUIT) self.start_drain();
    else if (signum == SIGUSR1) self.reopen_logs();
    else self.request_exit();
  }

  void reopen_logs() {
    std::string why;
    if (!Log::reopen(&why)) LOG_ERROR("%s", why.c_str());
    if (!access_log_.reopen(&why)) LOG_ERROR("%s", why.c_str());
  }

  // Stop accepting (closing only our descriptors), let requests in flight finish with
  // "Connection: close", close idle connections, and give the rest drain_timeout.
  void start_drain() {
    if (draining_) return;
    draining_ = true;
    acceptors_.clear();
    uv_timer_stop(&accept_retry_timer_);
    control_->send(ControlType::accept_stopped);
    modules_->drain();
    LOG_INFO("draining %lu connections (at most %lldms)", static_cast<unsigned long>(connections_.size()),
             static_cast<long long>(config_->server.drain_timeout.count()));
    connections_.for_each([](Connection& c) { c.start_drain(); });
    if (connections_.empty()) {
      request_exit();
      return;
    }
    spread_goodbyes();
    uv_timer_start(&drain_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->end_long_lived_connections(); },
                   static_cast<std::uint64_t>(config_->server.drain_timeout.count()), 0);
  }

  // Long-lived connections say goodbye at random moments over the last drain_spread before
  // drain_timeout (streams that start later in the drain wait for drain_timeout).
  void spread_goodbyes() {
    auto timeout = static_cast<std::uint64_t>(config_->server.drain_timeout.count());
    auto spread = std::min<std::uint64_t>(static_cast<std::uint64_t>(config_->server.drain_spread.count()), timeout);
    if (spread == 0) return;
    connections_.for_each([&](Connection& c) { goodbyes_->schedule(c, timeout - spread, timeout); });
  }

  // drain_timeout is over: streams and upgraded connections say goodbye so their clients
  // reconnect to the new generation; whatever is left after a short grace is closed.
  void end_long_lived_connections() {
    LOG_NOTICE("drain_timeout reached: closing %lu connections", static_cast<unsigned long>(connections_.size()));
    connections_.for_each([](Connection& c) { c.shutdown_stream(); });
    if (connections_.empty()) return;
    uv_timer_start(&drain_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->request_exit(); }, kShutdownGraceMs, 0);
  }

  // A turn of its own, so a module's on_expired never runs inside a host function (ABI 1.2).
  void sweep_expiries() {
    std::uint64_t now = unix_now_ms();
    connections_.for_each([now](Connection& c) {
      if (c.expiry() != 0 && c.expiry() <= now) c.expire_credentials();
    });
  }

  // Tears everything down from a fresh callback (never from inside the handler that asked).
  void request_exit() {
    if (exiting_) return;
    exiting_ = true;
    uv_timer_start(&exit_timer_, [](uv_timer_t* t) { static_cast<Worker*>(t->data)->close_everything(); }, 0, 0);
  }

  // Modules hear of every connection closing (on_close, connection_closed) before worker_exit:
  // those come from close callbacks, so the rest waits for the last connection to be gone.
  void close_everything() {
    torn_down_ = true;
    acceptors_.clear();
    control_.reset();
    connections_.for_each([](Connection& c) { c.close_now(); });
    if (connections_.empty()) stop_modules_and_loop();
  }

  void stop_modules_and_loop() {
    modules_->stop();
    if (channel_report_) channel_report_->close();
    hub_->close();
    goodbyes_->close();
    if (idle_master_link_) idle_master_link_->close();
    for (auto& handle : signals_) uv_close(reinterpret_cast<uv_handle_t*>(handle.get()), nullptr);
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&accept_retry_timer_), reinterpret_cast<uv_handle_t*>(&drain_timer_),
                           reinterpret_cast<uv_handle_t*>(&exit_timer_), reinterpret_cast<uv_handle_t*>(&expiry_timer_),
                           reinterpret_cast<uv_handle_t*>(&flush_check_),
                           reinterpret_cast<uv_handle_t*>(&late_answer_idle_)})
      uv_close(h, nullptr);
  }

  ConfigPtr config_;
  unsigned slot_;
  unsigned generation_;
  std::size_t metrics_slot_;
  Router router_;
  HttpLimits http_limits_;
  AcceptRate accept_rate_;             // max_accept_rate
  std::uint64_t over_accept_rate_ = 0;  // connections refused by it
  uv_loop_t loop_;
  std::unique_ptr<MasterLinkBroker> idle_master_link_;  // broker = "redis": read, and nothing delivered
  std::unique_ptr<PubsubHub> hub_;
  std::unique_ptr<PublishEndpoint> publish_;
  std::unique_ptr<ChannelReport> channel_report_;  // the busiest channels, for the status page (or none)
  std::unique_ptr<ModuleRuntime> modules_;  // destroyed (dlclose) only after the loop has closed
  std::vector<std::unique_ptr<TlsContext>> tls_contexts_;  // by [[listen]] index; null for plain TCP
  std::vector<Listener> listeners_;                         // by [[listen]] index
  bool tls_failed_ = false;
  std::vector<std::unique_ptr<Acceptor>> acceptors_;
  std::unique_ptr<ControlChannel> control_;
  std::vector<std::unique_ptr<uv_signal_t>> signals_;
  uv_timer_t accept_retry_timer_;
  uv_timer_t drain_timer_;
  uv_timer_t exit_timer_;
  uv_timer_t expiry_timer_;  // sweep_expiries(), while expiring_ != 0
  uv_check_t flush_check_;
  uv_idle_t late_answer_idle_;             // active while late_answers_ is not empty
  std::vector<Connection*> late_answers_;  // see after_late_answer()
  std::unique_ptr<GoodbyeSchedule> goodbyes_;  // max_connection_age, drain_spread
  AccessLog access_log_;
  // The live connections: linked here once Connection::start() hands one over, unlinked here
  // when its close callback reports it gone; nothing else touches the list.
  IntrusiveList<Connection> connections_;
  std::size_t expiring_ = 0;  // connections whose credentials have a deadline
  bool at_capacity_ = false;
  bool draining_ = false;
  bool exiting_ = false;
  bool torn_down_ = false;
};

}  // namespace

int run_worker(const WorkerStartup& startup) {
  // Die with the master; if it is already gone, PR_SET_PDEATHSIG came too late: check by hand.
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != startup.master_pid) return 1;
  Log::set_process_name("worker " + std::to_string(startup.slot) + " g" + std::to_string(startup.generation));
  signal(SIGPIPE, SIG_IGN);
  install_crash_report();
  std::vector<ConfigError> errors;
  auto modules = load_modules(*startup.config, &errors);
  for (const ConfigError& error : errors) LOG_ERROR("%s", error.to_string().c_str());
  if (!errors.empty()) return 1;
  Worker worker(startup, std::move(modules));
  if (!worker.open_logs()) return 1;
  return worker.run();
}

}  // namespace tether
