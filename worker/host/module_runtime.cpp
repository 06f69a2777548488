#include "worker/host/module_runtime.h"

#include <sys/socket.h>

#include "core/log.h"
#include "worker/transport/connection.h"
#include "worker/http/http_response.h"

namespace tether {

ModuleRuntime::ModuleRuntime(const Config& config, std::vector<std::unique_ptr<LoadedModule>> modules, uv_loop_t* loop,
                             unsigned slot, unsigned generation, std::size_t metrics_slot, PubsubHub* hub)
    : config_(config), modules_(std::move(modules)) {
  worker_.hub = hub;
  worker_.loop = loop;
  worker_.slot = slot;
  worker_.generation = generation;
  worker_.metrics_slot = metrics_slot;
  for (auto& m : modules_) {
    if (m->has(&tether_module::access)) access_modules_.push_back(m.get());
    if (m->has(&tether_module::connection_accepted) || m->has(&tether_module::connection_closed))
      connection_modules_.push_back(m.get());
    if (m->has(&tether_module::refresh)) refresh_modules_.push_back(m.get());
    if (m->has(&tether_module::publish_allowed)) publish_check_modules_.push_back(m.get());
  }
  handler_of_route_.assign(config.routes.size(), nullptr);
  for (std::size_t r = 0; r < config.routes.size(); ++r)
    for (auto& m : modules_)
      if (config.routes[r].handler == m->name()) handler_of_route_[r] = m.get();
}

ModuleRuntime::~ModuleRuntime() { stop(); }

bool ModuleRuntime::start() {
  started_ = true;
  for (auto& m : modules_) {
    if (!m->has(&tether_module::worker_init)) continue;
    if (m->descriptor().worker_init(&module_host_table(), &worker_, m->config()) != TETHER_OK) {
      LOG_ERROR("module %s (%s): worker_init failed", m->name().c_str(), m->path().c_str());
      return false;
    }
  }
  return true;
}

void ModuleRuntime::drain() {
  worker_.draining = true;
  for (auto& m : modules_)
    if (m->has(&tether_module::worker_drain)) m->descriptor().worker_drain(&worker_, m->config());
}

void ModuleRuntime::stop() {
  if (!started_ || stopped_) return;
  stopped_ = true;
  for (auto& m : modules_)
    if (m->has(&tether_module::worker_exit)) m->descriptor().worker_exit(&worker_, m->config());
  if (std::size_t left = close_module_timers(&worker_); left != 0)
    LOG_WARN("modules left %zu timers running at exit: closed them", left);
  if (std::size_t left = close_module_ios(&worker_); left != 0)
    LOG_WARN("modules left %zu ios watched at exit: stopped them", left);
}

namespace {
// `local` is the [[listen]] address as configured (so "0.0.0.0:8080" stays that, whatever
// interface the connection came in on), which is also one system call fewer per connection.
tether_connection_info describe(Connection& connection, sockaddr_storage* peer) {
  tether_connection_info info{};
  info.size = sizeof info;
  info.fd = connection.fd();
  info.connection = handle_of(connection);
  socklen_t peer_length = sizeof *peer;
  if (connection.peer_address(peer, &peer_length)) {
    info.peer = reinterpret_cast<sockaddr*>(peer);
    info.peer_length = peer_length;
  }
  const SocketAddress& local = connection.listener().config->address;
  info.local = local.get();
  info.local_length = local.length;
  return info;
}
}  // namespace

bool ModuleRuntime::connection_accepted(Connection& connection) {
  sockaddr_storage peer{};
  tether_connection_info info = describe(connection, &peer);
  for (LoadedModule* m : connection_modules_) {
    if (!m->has(&tether_module::connection_accepted)) continue;
    if (m->descriptor().connection_accepted(&worker_, m->config(), &info) != TETHER_OK) return false;
  }
  return true;
}

void ModuleRuntime::connection_closed(Connection& connection) {
  sockaddr_storage peer{};
  tether_connection_info info = describe(connection, &peer);
  for (LoadedModule* m : connection_modules_)
    if (m->has(&tether_module::connection_closed)) m->descriptor().connection_closed(&worker_, m->config(), &info);
}

std::size_t ModuleRuntime::route_index(const RouteConfig* route) const {
  return route ? static_cast<std::size_t>(route - config_.routes.data()) : config_.routes.size();
}

// One request object per session, reused for each of its requests (they come one at a time).
// A request whose access phase goes on after a wait keeps what it had.
tether_request* ModuleRuntime::request_for(HttpSession& session, const RouteConfig* route) {
  tether_request* request = session.module_request();
  if (request && request->state == tether_request::State::access_resumed) {
    request->state = tether_request::State::in_hand;
    return request;
  }
  if (!request) {
    request = new tether_request;
    ++requests_alive_;
    request->session = &session;
    request->owner = this;
    request->worker = &worker_;
    session.set_module_request(request);
  }
  request->state = tether_request::State::in_hand;
  request->route = route;
  request->response_headers.clear();
  request->peer_length = 0;
  request->next_access = 0;
  return request;
}

// Turns a hook's return code into what the session does next.
// `wait_as`: the state of a request the hook may defer (TETHER_AGAIN), in_hand if it may not.
RequestDispatcher::Outcome ModuleRuntime::after_hook(const LoadedModule& module, const char* hook, int status,
                                                     tether_request* request, tether_request::State wait_as) {
  HttpSession& session = *request->session;
  bool answered = session.phase() != HttpSession::Phase::body;
  if (status == TETHER_DECLINED && !answered) return Outcome::declined;
  if (status == TETHER_AGAIN && wait_as != tether_request::State::in_hand && !answered) {
    request->state = wait_as;
    return Outcome::deferred;
  }
  if (status == TETHER_OK && answered) return Outcome::answered;
  if (!answered) {
    LOG_ERROR("module %s: %s returned %d without answering the request: answering 500", module.name().c_str(), hook, status);
    session.answer(500, "text/plain", "", default_error_body(500));
  }
  return Outcome::answered;
}

RequestDispatcher::Outcome ModuleRuntime::check_access(HttpSession& session, const RouteConfig* route) {
  if (access_modules_.empty()) return Outcome::declined;
  tether_request* request = request_for(session, route);
  std::size_t index = route_index(route);
  for (std::size_t i = request->next_access; i < access_modules_.size(); ++i) {
    LoadedModule* m = access_modules_[i];
    int status = m->descriptor().access(request, m->config(), m->route_config(index));
    // Waiting in access is 1.4: for an older module TETHER_AGAIN stays the error it was.
    bool may_wait = m->descriptor().abi_minor >= 4;
    Outcome outcome = after_hook(*m, "access", status, request,
                                 may_wait ? tether_request::State::in_access : tether_request::State::in_hand);
    if (outcome == Outcome::deferred) request->next_access = static_cast<std::uint16_t>(i + 1);
    if (outcome != Outcome::declined) return outcome;
  }
  return Outcome::declined;
}

// The session was paused in `waiting` since the hook returned TETHER_AGAIN; continue_request()
// runs the rest of handle_request() from the next access module on (request_for keeps it).
int ModuleRuntime::continue_access(tether_request* request) {
  using State = tether_request::State;
  if (request->state == State::left_in_access) {
    release(request);
    return TETHER_DECLINED;
  }
  if (request->state != State::in_access) {
    LOG_WARN("request_continue() on a request that does not wait in its access phase: ignored");
    return TETHER_ERROR;
  }
  request->state = State::access_resumed;
  request->session->continue_request();
  return TETHER_OK;
}

int ModuleRuntime::refresh(tether_connection* connection, const RouteConfig* route, std::string_view credentials) {
  std::size_t index = route_index(route);
  for (LoadedModule* m : refresh_modules_) {
    int status = m->descriptor().refresh(connection, m->config(), m->route_config(index), credentials.data(),
                                         credentials.size());
    if (status == TETHER_DECLINED) continue;
    return status == TETHER_OK ? TETHER_OK : TETHER_ERROR;  // any other code counts as a refusal
  }
  return TETHER_DECLINED;
}

int ModuleRuntime::publish_allowed(tether_request* request, std::string_view channel) {
  std::size_t index = route_index(request->route);
  for (LoadedModule* m : publish_check_modules_) {
    int status = m->descriptor().publish_allowed(request, m->config(), m->route_config(index), channel.data(),
                                                 channel.size());
    if (status != TETHER_OK && status != TETHER_DECLINED) return TETHER_ERROR;
  }
  return TETHER_OK;
}

RequestDispatcher::Outcome ModuleRuntime::run_handler(HttpSession& session, const RouteConfig& route) {
  std::size_t index = route_index(&route);
  LoadedModule* m = index < handler_of_route_.size() ? handler_of_route_[index] : nullptr;
  if (!m || !m->has(&tether_module::content)) {
    session.answer(500, "text/plain", "", default_error_body(500));
    return Outcome::answered;
  }
  tether_request* request = request_for(session, &route);
  int status = m->descriptor().content(request, m->config(), m->route_config(index));
  return after_hook(*m, "content", status, request, tether_request::State::deferred);
}

// A request a module still has to answer outlives its session: it is marked client_left (or
// left_in_access), and the module's respond() (or request_continue()) releases it.
// A request a module deferred is the module's until it answers, whatever the session says: it
// is marked, not freed.
void ModuleRuntime::session_closed(HttpSession& session, bool /*waiting*/) {
  using State = tether_request::State;
  tether_request* request = session.module_request();
  if (!request) return;
  session.set_module_request(nullptr);
  if (request->state == State::deferred || request->state == State::in_access) {
    request->state = request->state == State::deferred ? State::client_left : State::left_in_access;
    request->session = nullptr;
  } else {
    release(request);
  }
}

void ModuleRuntime::release(tether_request* request) {
  --requests_alive_;
  delete request;
}

}  // namespace tether
