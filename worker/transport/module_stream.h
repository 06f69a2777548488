// The output of a connection a module owns (a streamed response, or the byte stream after an
// upgrade): the module's callbacks, and the queue of whole frames waiting for the socket, fed by
// the pub/sub hub and by the module's own writes. Frames go out in batches, one write each (at
// most one in flight), straight from the queue: a frame shared by many subscribers is never
// copied (but encrypted, on TLS).
//
// The queue and libuv's unsent bytes are bounded together by queue_limit (the route's max_queue).
// Past it the slow-consumer policy decides: `drop` removes the oldest whole frames (never one half
// written) and sends a DROPPED notice before the next batch; `disconnect` discards the queue,
// tells the module (on_overflow) and closes.
//
// It is the pub/sub hub's frame sink for this connection, and the one place that tells the hub
// the stream takes no more frames (leave_hub). It lives in transport/, beside the connection it
// writes through, not in pubsub/: it serves every module stream (an echoing WebSocket, a module's
// own chunks), subscribed or not; the frame queue itself (StreamQueue) is pubsub's.
//
// A module may end the stream from inside its callbacks (on_overflow, on_writable), which frees
// this object: nothing here touches it after calling one.
#pragma once

#include <tether/module.h>

#include <cstdint>
#include <string_view>
#include <utility>

#include "worker/pubsub/frame_sink.h"
#include "worker/pubsub/stream_queue.h"

namespace tether {

class Connection;
struct RouteConfig;

// What a stream keeps of the module that owns it: its callbacks, and the route the connection
// came in on (for the refresh hooks' route config). Interned: one per (callbacks, route) pair a
// worker saw, shared by every stream of that pair, so a stream holds one pointer for both.
struct StreamBinding {
  tether_stream_callbacks callbacks;
  const RouteConfig* route;
};

class ModuleStream final : public FrameSink {
 public:
  ModuleStream(Connection& connection, const tether_stream_callbacks* callbacks, const RouteConfig* route, void* user);
  ModuleStream(const ModuleStream&) = delete;
  ModuleStream& operator=(const ModuleStream&) = delete;
  ~ModuleStream() override { leave_hub(); }

  const tether_stream_callbacks& callbacks() const { return binding_->callbacks; }
  const RouteConfig* route() const { return binding_->route; }
  void* user() const { return user_; }

  // FrameSink: what the hub sees.
  bool queue_frame(FrameRef frame) override;
  void flush_frames() override { flush(); }
  bool takes_frames() const override;
  bool chunked() const override;
  // The stream takes no more of the hub's frames (closing, overflowed, ending, saying goodbye).
  void leave_hub();

  // Bytes the module writes (a chunk of the streamed body, or raw bytes after an upgrade);
  // queued and flushed at once. Returns false if the connection cannot carry them.
  bool queue_write(std::string_view bytes, bool chunked);
  // Hands the queue to the transport unless a batch is in flight (`force`: even then).
  void flush(bool force = false);
  // A batch is written: the next goes out, and a module that waited for room hears on_writable.
  void on_written();
  // Drops what is queued (the connection closes).
  void discard() { queue_.clear(); }

  void set_queue_limit(std::uint64_t max_bytes, tether_slow_policy policy);
  // Queued frames plus libuv's unsent bytes.
  std::int64_t backlog() const;
  // Past the queue limit, as the slow-consumer policy counts it (a limit of 0 is not "always full").
  bool backed_up() const { return static_cast<std::uint64_t>(backlog()) > queue_limit_; }
  // The module's write filled the backlog: tell it (on_writable) once it has room again.
  void want_writable() { wants_writable_ = true; }
  // The goodbye (on_shutdown) is sent once.
  bool mark_shutdown_sent() { return !std::exchange(shutdown_sent_, true); }

 private:
  bool handle_overflow();

  // The small fields first: they fill the end of FrameSink (a subscriber holds one of these).
  bool wants_writable_ = false;
  bool shutdown_sent_ = false;
  std::uint8_t policy_ = TETHER_SLOW_DISCONNECT;  // tether_slow_policy
  std::uint32_t queue_limit_ = 1024 * 1024;  // bytes: pub/sub frames and module writes alike
  Connection& connection_;
  const StreamBinding* binding_;  // interned: shared by every stream of a module and route
  void* user_;
  // Its tail padding holds dropped_: a subscriber's stream stays in a 96-byte allocation.
  [[no_unique_address]] StreamQueue queue_;
  std::uint32_t dropped_ = 0;  // messages dropped since the last DROPPED notice
};

}  // namespace tether
