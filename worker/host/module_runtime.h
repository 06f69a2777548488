// The modules of one worker at run time: their lifecycle hooks, the access phase and module
// handlers of requests (RequestDispatcher), and the connection hooks.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "worker/host/abi_handles.h"
#include "worker/http/http_session.h"
#include "worker/host/module_api.h"
#include "worker/host/module_loader.h"

namespace tether {

class Connection;

class ModuleRuntime final : public RequestDispatcher {
 public:
  ModuleRuntime(const Config& config, std::vector<std::unique_ptr<LoadedModule>> modules, uv_loop_t* loop,
                unsigned slot, unsigned generation, std::size_t metrics_slot, PubsubHub* hub);
  ModuleRuntime(const ModuleRuntime&) = delete;
  ModuleRuntime& operator=(const ModuleRuntime&) = delete;
  ~ModuleRuntime() override;

  bool empty() const { return modules_.empty(); }
  const Config& config() const { return config_; }
  // worker_init of every module, in config order. False (logged) if one failed.
  bool start();
  void drain();
  // worker_exit of every module, then closes timers and ios a module left running.
  void stop();

  // connection_accepted hooks; false if a module refused the connection.
  bool connection_accepted(Connection& connection);
  void connection_closed(Connection& connection);
  bool watches_connections() const { return !connection_modules_.empty(); }

  Outcome check_access(HttpSession& session, const RouteConfig* route) override;
  Outcome run_handler(HttpSession& session, const RouteConfig& route) override;
  void session_closed(HttpSession& session, bool waiting) override;

  // request_continue(): a request whose access hook waited goes on with the next access module
  // and its route's handler. TETHER_DECLINED if its client left (it is released), TETHER_ERROR
  // if it does not wait in access.
  int continue_access(tether_request* request);
  // connection_refresh(): the refresh hooks, in config order, with the config of `route` (the
  // route the connection came in on), until one does not decline.
  int refresh(tether_connection* connection, const RouteConfig* route, std::string_view credentials);
  // request_publish_allowed(): TETHER_ERROR if a publish_allowed hook refused, else TETHER_OK.
  int publish_allowed(tether_request* request, std::string_view channel);

  // Frees a request this runtime created (abi_handles.h: its one owner): when its session
  // closes, or from respond() once its client left.
  void release(tether_request* request);
  // Requests created and not released yet: one per session a module saw, plus those whose client left.
  std::size_t requests_alive() const { return requests_alive_; }

 private:
  tether_request* request_for(HttpSession& session, const RouteConfig* route);
  std::size_t route_index(const RouteConfig* route) const;
  Outcome after_hook(const LoadedModule& module, const char* hook, int status, tether_request* request,
                     tether_request::State wait_as);

  const Config& config_;
  std::vector<std::unique_ptr<LoadedModule>> modules_;
  std::vector<LoadedModule*> access_modules_;
  std::vector<LoadedModule*> connection_modules_;
  std::vector<LoadedModule*> refresh_modules_;
  std::vector<LoadedModule*> publish_check_modules_;
  std::vector<LoadedModule*> handler_of_route_;  // by route index; null for `respond` routes
  tether_worker worker_;
  std::size_t requests_alive_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace tether
