// The opaque handles of include/tether/module.h, all in one place: what each one is on the
// server's side, and typed accessors between a handle and the object behind it, so that no cast
// of a handle is written anywhere else.
//
//   tether_connection  the Connection (transport/connection.h derives from it)
//   tether_feed        a Feed of the hub (pubsub/pubsub_hub.h derives from it)
//   tether_buffer      the bytes an encoder appends to
//   tether_request     one object per HTTP session that a module has seen (below)
//   tether_worker      the worker's module-facing state, owned by the ModuleRuntime
//   tether_timer       a libuv timer a module started (host/module_api.cpp)
//   tether_io          a libuv poll handle on a module's descriptor (host/module_api.cpp)
//   tether_config      a TOML table handed to a module's config hooks
//   tether_status      a checked copy of the status board (host/status_api.cpp)
//
// The C header declares them in the global namespace, so they are defined there.
#pragma once

#include <sys/socket.h>
#include <tether/module.h>
#include <uv.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/config_parser.h"
#include "core/status_board.h"

namespace tether {
class Connection;
class HttpSession;
class ModuleRuntime;
class PubsubHub;
struct Feed;
struct RouteConfig;
}  // namespace tether

// Empty bases: the Connection and the Feed are the handles.
struct tether_connection {};
struct tether_feed {};

struct tether_buffer {
  std::string bytes;
  bool failed = false;  // an append ran out of memory: the encoding is skipped, never sent cut short
};

struct tether_status {
  tether::MasterStatus master;
  std::vector<tether::ChannelLoad> channels;
};

struct tether_config {
  const tether::ConfigValue* table = nullptr;
  std::string file;
  std::string context;  // "[modules.health]" or "[route.health] of route \"/x\"", for messages
  std::vector<tether::ConfigError>* errors = nullptr;
  bool failed = false;
  std::deque<tether_config> children;  // nested tables handed out by config_table()
};

struct tether_worker {
  uv_loop_t* loop = nullptr;
  unsigned slot = 0;
  unsigned generation = 0;
  std::size_t metrics_slot = 0;
  bool draining = false;
  tether::PubsubHub* hub = nullptr;
  mutable std::string unready;  // worker_unready()'s last answer
};

// A session's request object, reused for each of its requests (they come one at a time). Its
// owner is the ModuleRuntime that created it, and only the owner frees it (release()): when the
// session closes, or, if the client left while a module was still to answer, when that module
// calls respond() (or, for an access hook that waits, request_continue()), the one call the ABI
// promises for a deferred request.
struct tether_request {
  enum class State : std::uint8_t {
    in_hand,         // the session's current request: in a hook, or answered
    deferred,        // a content hook returned TETHER_AGAIN: respond() is still to come
    client_left,     // deferred, and the session ended meanwhile: respond() drops the answer and frees it
    in_access,       // an access hook returned TETHER_AGAIN: respond() or request_continue() is to come
    left_in_access,  // in_access, and the session ended meanwhile: either call frees it
    access_resumed,  // request_continue(): the access phase goes on from next_access
  };
  tether::HttpSession* session = nullptr;  // null once the client left
  tether::ModuleRuntime* owner = nullptr;
  tether_worker* worker = nullptr;
  const tether::RouteConfig* route = nullptr;
  std::string response_headers;  // "Name: value\r\n" lines added by modules
  sockaddr_storage peer{};       // filled on first request_info()
  socklen_t peer_length = 0;
  State state = State::in_hand;  // last: these fit beside peer_length (one of these per streaming client)
  std::uint16_t next_access = 0;  // in_access: the access module to ask after the one that waits
};

struct tether_io {
  uv_poll_t handle;
  tether_worker* worker = nullptr;
  tether_io_cb callback = nullptr;
  void* user = nullptr;
};

struct tether_timer {
  uv_timer_t handle;
  tether_worker* worker = nullptr;
  tether_timer_cb callback = nullptr;
  void* user = nullptr;
};

namespace tether {

// From a handle to the object behind it and back. A handle a module passes in is one the host
// gave it: these only undo the conversion the host made.
Connection& connection_of(tether_connection* handle);
const Connection& connection_of(const tether_connection* handle);
tether_connection* handle_of(Connection& connection);
Feed& feed_of(tether_feed* handle);
tether_feed* handle_of(Feed& feed);

}  // namespace tether
