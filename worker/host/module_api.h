// The server's side of include/tether/module.h: the opaque handles modules see, and the table
// of host functions handed to them.
#pragma once

#include <sys/socket.h>
#include <tether/module.h>
#include <uv.h>

#include <deque>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/config_parser.h"

// The opaque ABI types are defined here, in the global namespace where the C header declares them.

struct tether_config {
  const tether::ConfigValue* table = nullptr;
  std::string file;
  std::string context;  // "[modules.health]" or "[route.health] of route \"/x\"", for messages
  std::vector<tether::ConfigError>* errors = nullptr;
  bool failed = false;
  std::deque<tether_config> children;  // nested tables handed out by config_table()
};

struct tether_timer;

namespace tether {
class PubsubHub;
}  // namespace tether

struct tether_worker {
  uv_loop_t* loop = nullptr;
  unsigned slot = 0;
  unsigned generation = 0;
  std::size_t metrics_slot = 0;
  bool draining = false;
  tether::PubsubHub* hub = nullptr;
};

namespace tether {
class HttpSession;
struct RouteConfig;
}  // namespace tether

struct tether_request {
  tether::HttpSession* session = nullptr;  // null once the connection is gone
  tether_worker* worker = nullptr;
  const tether::RouteConfig* route = nullptr;
  std::string response_headers;            // "Name: value\r\n" lines added by modules
  bool waiting = false;                    // a module answered TETHER_AGAIN
  sockaddr_storage peer{};                 // filled on first request_info()
  socklen_t peer_length = 0;
};

struct tether_timer {
  uv_timer_t handle;
  tether_worker* worker = nullptr;
  tether_timer_cb callback = nullptr;
  void* user = nullptr;
};

namespace tether {

// The host function table given to every module (ABI 1.2).
const tether_host& module_host_table();
// Stops and frees the timers modules left running on `worker` (at exit). Returns how many.
std::size_t close_module_timers(const tether_worker* worker);

}  // namespace tether
