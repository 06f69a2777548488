// A fake tether_host for driving a built-in module's hooks in a unit test, as badly behaved as
// the ABI ever allowed: a failed write closes the connection and runs on_close (which frees the
// module's state) inside connection_write, and connection_close may run on_close before it
// returns. One connection at a time; the request is a GET of `target` with `headers`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <tether/module.h>

namespace tether::test {

struct FakeConnection {
  const tether_stream_callbacks* callbacks = nullptr;
  void* user = nullptr;
  bool closed = false;
  bool ended = false;          // stream_end: no on_close after it
  bool fail_writes = false;    // every write fails (the client reset) and closes at once
  bool close_at_once = false;  // connection_close runs on_close before it returns
  int writes = 0;              // attempted
  int on_close_calls = 0;
  std::vector<std::string> written;
};

struct FakeHost {
  std::string target = "/";
  std::size_t route_length = 1;
  std::map<std::string, std::string> headers;  // lower-case names
  std::map<std::string, std::string> settings; // config_string values
  uint64_t heartbeat_interval_ms = 0;
  uint64_t heartbeat_timeout_ms = 0;
  FakeConnection connection;
  tether_timer_cb timer = nullptr;  // the last timer a module started
  void* timer_user = nullptr;
  int refresh_answer = TETHER_OK;     // what connection_refresh (1.4) returns
  std::vector<std::string> refreshes; // the credentials it was given

  // Runs on_close as the host does when the connection ends (once; not after stream_end).
  void close_now();
  tether_connection* handle() { return reinterpret_cast<tether_connection*>(&connection); }
  tether_request* request() { return reinterpret_cast<tether_request*>(this); }
  tether_worker* worker() { return reinterpret_cast<tether_worker*>(this); }
};

// The host table; its functions act on `*fake` (set it before calling any hook).
const tether_host* fake_host(FakeHost* fake);
// The same table as a host of an older minor ABI version would have it (host->abi_minor).
const tether_host* fake_host_of_abi(FakeHost* fake, std::uint16_t abi_minor);

}  // namespace tether::test
