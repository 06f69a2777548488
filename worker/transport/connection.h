// One client TCP connection: the libuv handles around an HttpSession. It reads, feeds the
// session, writes its output, and keeps at most one timer armed for the current phase:
//   waiting for / reading headers   header_timeout from the first byte (a slowloris never resets it)
//   reading a body                  header_timeout of inactivity between reads, body_timeout in all
//   idle between requests           keepalive_timeout (while draining: a short quiet period)
//   writing to a client that stalls header_timeout without progress
//   lingering close                 a few seconds to read the client's last bytes before closing
// After an upgrade the HTTP session and the timer are freed: a WebSocket subscriber costs its
// socket, this object and what the module keeps. The Connection frees itself in the close
// callback of its last handle, never before.
#pragma once

#include <tether/module.h>
#include <netinet/in.h>
#include <uv.h>

#include <cstdint>
#include <memory>

#include "core/config.h"
#include "worker/host/abi_handles.h"  // tether_connection: modules' handle for a Connection
#include "worker/http/http_session.h"
#include "worker/pubsub/shared_frame.h"
#include "worker/pubsub/stream_queue.h"
#include "worker/transport/tls_stream.h"

namespace tether {

class Connection;
class AccessLog;
class PubsubHub;
class TlsContext;
struct Subscription;

// What a connection knows of the [[listen]] entry it was accepted on (owned by the worker).
struct Listener {
  const ListenConfig* config = nullptr;
  const TlsContext* tls = nullptr;  // null: plain TCP
};

// What every connection of a worker borrows from it.
class ConnectionHost {
 public:
  virtual ~ConnectionHost() = default;
  virtual uv_loop_t* loop() = 0;
  virtual const LimitsConfig& limits() const = 0;
  virtual const HttpLimits& http_limits() const = 0;
  virtual const Router& router() const = 0;
  virtual AccessLog& access_log() = 0;
  virtual RequestDispatcher* dispatcher() = 0;  // null when no module is loaded
  virtual PubsubHub& hub() = 0;
  virtual std::size_t metrics_slot() const = 0;
  // Scratch space for reads: data is parsed before the next read, so one buffer serves all.
  virtual uv_buf_t read_buffer() = 0;
  // Once its socket is gone, on a later loop turn than close_now() (modules' connection_closed
  // hooks run here); the connection is deleted when this returns.
  virtual void on_connection_closed(Connection& connection) = 0;
};

class Connection final : public tether_connection, public RequestObserver {
 public:
  // Takes ownership of an accepted, non-blocking socket and starts serving it; `peer` is the
  // client's address as accept() gave it. Returns null (socket closed) if libuv cannot adopt it.
  static Connection* start(ConnectionHost& host, int fd, const Listener& listener, const sockaddr* peer,
                           socklen_t peer_length);

  // Graceful shutdown: finish the request in flight with "Connection: close"; an idle
  // connection is closed once it has been quiet for a moment (never mid-request).
  void start_drain();
  // Closes at once (fast stop, drain_timeout reached, a failed write). The module's on_close and
  // the connection_closed hooks follow from the close callback, never from inside this call.
  void close_now();

  bool busy() const;

  // A module owns the output (streamed response) or the whole byte stream (upgrade) from now on.
  // False if the connection is already closing (the module then owns nothing).
  bool attach_module_stream(const tether_stream_callbacks* callbacks, void* user);
  // Writes for the module: a chunk of the streamed body, or raw bytes after an upgrade.
  // Returns the bytes queued and not yet sent, or -1 when closing.
  std::int64_t write_for_module(const void* data, std::size_t length);
  void end_module_stream();
  void close_for_module();
  // drain_timeout is over: the module says goodbye (on_shutdown) or the connection closes now.
  void shutdown_stream();

  // Pub/sub output (the hub): frames are queued whole and written in batches, at most one
  // batch in flight. queue_frame() applies the slow-consumer policy; false if the connection
  // cannot take messages (not streamed/upgraded, or closing).
  bool queue_frame(FrameRef frame);
  // Hands what is queued to the socket unless a batch is still in flight (`force`: even then).
  void flush_queue(bool force = false);
  bool takes_frames() const;
  bool has_module_stream() const { return module_stream_ != nullptr; }
  bool chunked_stream() const { return phase() == HttpSession::Phase::streaming && session_->chunked_stream(); }
  void set_queue_limit(std::uint64_t max_bytes, tether_slow_policy policy);
  // The hub's per-connection state: its subscriptions, and whether it waits for a flush.
  Subscription*& subscriptions();
  bool& flush_scheduled();

  // Per-connection settings modules may change (the keepalive module).
  void set_keepalive(std::uint64_t idle_timeout_ms, std::uint64_t max_requests);
  void set_heartbeat(std::uint64_t interval_ms, std::uint64_t timeout_ms);
  void heartbeat(std::uint64_t* interval_ms, std::uint64_t* timeout_ms) const;
  // The client's address into *address (length in/out), as accept() gave it: still known once
  // the socket is gone (connection_closed hooks) or was reset. False if it has none.
  bool peer_address(sockaddr_storage* address, socklen_t* length) const;
  int fd() const;
  const Listener& listener() const { return *listener_; }
  PubsubHub& hub() { return host_.hub(); }

  // Whether connection_accepted hooks ran and accepted it (so connection_closed hooks run too).
  bool announced_to_modules = false;

  // Intrusive list of the worker's connections.
  Connection* prev = nullptr;
  Connection* next = nullptr;

 private:
  enum class TimerPurpose : std::uint8_t { none, handshake, header, body, idle, send, linger };

  explicit Connection(ConnectionHost& host);
  ~Connection() override;

  // The HTTP phase; after an upgrade the session is gone and this says upgraded (or closing).
  HttpSession::Phase phase() const;
  void feed_session(std::string_view data);
  void after_session_parsed();
  void resume_held_input();
  void close_after_output();
  void stop_timer();

  void on_request_answered(const RequestSummary& summary) override;
  void on_deferred_answer() override;

  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  void on_write_done(int status);
  static void on_shutdown(uv_shutdown_t* req, int status);
  static void on_timer(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  void handle_input(const char* data, std::size_t length);
  void flush_output();
  void write_bytes(std::string& output);
  void handle_tls_input(std::string_view ciphertext);
  void after_output_progress();
  void begin_lingering_close();
  void update_timer();
  void arm_timer(TimerPurpose purpose, std::uint64_t timeout_ms);
  std::uint64_t keepalive_ms() const;
  std::uint64_t idle_time_left() const;
  void set_reading(bool reading);

  struct ModuleStream {
    const tether_stream_callbacks* callbacks = nullptr;  // interned: shared by every stream of a module
    void* user = nullptr;
    bool wants_writable = false;
    bool flush_scheduled = false;
    bool shutdown_sent = false;
    tether_slow_policy policy = TETHER_SLOW_DISCONNECT;
    std::uint64_t queue_limit = 1024 * 1024;  // bytes: pub/sub frames and module writes alike
    std::uint32_t dropped = 0;   // messages dropped since the last DROPPED notice
    StreamQueue queue;
    Subscription* subscriptions = nullptr;  // owned by the hub
  };
  std::int64_t backlog() const;
  bool output_backed_up() const;
  void handle_overflow();
  void write_queue(StreamQueue& queue);
  void deliver_to_module(std::string_view data);
  void release_request_if_long_lived();

  ConnectionHost& host_;
  const Listener* listener_ = nullptr;
  std::unique_ptr<ModuleStream> module_stream_;  // only while a module owns the stream
  std::unique_ptr<TlsStream> tls_;               // only on TLS listeners
  union {
    sockaddr_in v4;
    sockaddr_in6 v6;
  } peer_{};  // the client's address as accept() gave it (peer_length_ bytes)
  uv_tcp_t tcp_;
  uv_timer_t* timer_ = nullptr;            // allocated when first armed (see arm_timer)
  std::unique_ptr<HttpSession> session_;   // null once upgraded: the bytes belong to a module
  std::uint64_t last_activity_ms_ = 0;  // last byte read or write completed (loop time)
  std::uint32_t pending_writes_ = 0;
  std::uint32_t keepalive_idle_ms_ = 0;        // 0: [limits] keepalive_timeout
  std::uint32_t heartbeat_interval_ms_ = 30'000;
  std::uint32_t heartbeat_timeout_ms_ = 60'000;
  std::uint8_t open_handles_ = 0;
  std::uint8_t peer_length_ = 0;  // 0: not an IP peer (or none)
  TimerPurpose timer_purpose_ = TimerPurpose::none;
  bool reading_ = false;
  bool peer_closed_ = false;
  bool lingering_ = false;
  bool closed_ = false;
  bool request_released_ = false;  // the streamed request's memory is given back
  bool closing_upgraded_ = false;  // upgraded and closing (what the session's phase said before)
};

}  // namespace tether
