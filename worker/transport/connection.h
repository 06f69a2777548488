// One client connection: an HttpSession on a Transport (TCP, optionally TLS). It feeds the session
// what the transport reads, writes its output, hands the stream to a module (ModuleStream) after
// an upgrade or for a streamed response, and keeps at most one timer armed for the current phase:
//   waiting for / reading headers   header_timeout from the first byte (a slowloris never resets it)
//   reading a body                  header_timeout of inactivity between reads, body_timeout in all
//   idle between requests           keepalive_timeout (while draining: a short quiet period)
//   writing to a client that stalls header_timeout without progress
//   lingering close                 a few seconds to read the client's last bytes before closing
// After an upgrade the HTTP session and the timer are freed: a WebSocket subscriber costs its
// socket, this object, its ModuleStream and what the module keeps. The Connection frees itself
// in the close callback of its last handle (socket, timer), never before.
#pragma once

#include <tether/module.h>
#include <netinet/in.h>
#include <uv.h>

#include <cstdint>
#include <memory>

#include "core/config.h"
#include "core/intrusive_list.h"
#include "worker/host/abi_handles.h"  // tether_connection: modules' handle for a Connection
#include "worker/http/http_session.h"
#include "worker/transport/module_stream.h"
#include "worker/transport/transport.h"

namespace tether {

class Connection;
class AccessLog;
class ModuleRuntime;
class PubsubHub;
class TlsContext;

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
  // The modules of the worker (refresh hooks); null when none is loaded.
  virtual ModuleRuntime* modules() { return nullptr; }
  // A connection's credentials got a deadline (+1) or lost it (-1): the worker checks deadlines
  // only while some connection has one (see Connection::expire_credentials).
  virtual void count_expiring(int delta) { (void)delta; }
  // A long-lived connection of a route with max_connection_age: a goodbye between
  // `earliest_ms` and `latest_ms` from now (GoodbyeSchedule).
  virtual void schedule_goodbye(Connection& connection, std::uint64_t earliest_ms, std::uint64_t latest_ms) {
    (void)connection, (void)earliest_ms, (void)latest_ms;
  }
  // A request was answered late (a module's deferred answer, perhaps an upgrade or a stream):
  // once this loop turn's callbacks are over, the host calls connection.finish_late_answer(),
  // never before: the session that answered is still on the stack, and a module that took the
  // connection over is still setting it up.
  virtual void after_late_answer(Connection& connection) = 0;
  // Once its socket is gone, on a later loop turn than close_now() (modules' connection_closed
  // hooks run here); the connection is deleted when this returns.
  virtual void on_connection_closed(Connection& connection) = 0;
};

// A connection is in the worker's list of live connections (ListLink): the worker links and
// unlinks it, the connection itself never touches the list.
class Connection final : public tether_connection,
                         public RequestObserver,
                         public ListLink<Connection>,
                         private TransportEvents {
 public:
  // Takes ownership of an accepted, non-blocking socket and starts serving it; `peer` is the
  // client's address as accept() gave it. Returns null (socket closed) if libuv cannot adopt it:
  // such a connection is never handed over, and the host never hears of it.
  static Connection* start(ConnectionHost& host, int fd, const Listener& listener, const sockaddr* peer,
                           socklen_t peer_length);

  // Graceful shutdown: finish the request in flight with "Connection: close"; an idle
  // connection is closed once it has been quiet for a moment (never mid-request).
  void start_drain();
  // Closes at once (fast stop, drain_timeout reached, a failed write). The module's on_close and
  // the connection_closed hooks follow from the close callback, never from inside this call.
  void close_now();

  bool busy() const;

  // A module owns the output (streamed response) or the whole byte stream (upgrade) from now on,
  // for a request of `route`. False if the connection is already closing (the module then owns
  // nothing).
  bool attach_module_stream(const tether_stream_callbacks* callbacks, const RouteConfig* route, void* user);
  // Writes for the module: a chunk of the streamed body, or raw bytes after an upgrade.
  // Returns the bytes queued and not yet sent, or -1 when closing.
  std::int64_t write_for_module(const void* data, std::size_t length);
  void end_module_stream();
  void close_for_module();
  // drain_timeout is over: the module says goodbye (on_shutdown) or the connection closes now.
  void shutdown_stream();
  // max_accept_rate: its requests get 503 with Retry-After (HttpSession::refuse_requests).
  void refuse_requests(unsigned retry_after_seconds) {
    if (session_) session_->refuse_requests(retry_after_seconds);
  }
  // A goodbye before the client leaves (max_connection_age, drain_spread): the same as
  // shutdown_stream() for a long-lived connection; nothing for one that serves requests.
  void say_goodbye() {
    if (takes_frames()) shutdown_stream();
  }

  // Where the hub queues this connection's pub/sub frames: its module stream, null without one.
  FrameSink* frame_sink() { return module_stream_.get(); }
  void set_queue_limit(std::uint64_t max_bytes, tether_slow_policy policy) {
    if (module_stream_) module_stream_->set_queue_limit(max_bytes, policy);
  }

  // Per-connection settings modules may change (the keepalive module).
  void set_keepalive(std::uint64_t idle_timeout_ms, std::uint64_t max_requests);
  void set_heartbeat(std::uint64_t interval_ms, std::uint64_t timeout_ms);
  void heartbeat(std::uint64_t* interval_ms, std::uint64_t* timeout_ms) const;
  // Credentials that expire (connection_set_expiry): the deadline in unix ms, 0 for none.
  void set_expiry(std::uint64_t unix_ms);
  std::uint64_t expiry() const { return expiry_unix_ms_; }
  // The deadline passed (the worker's sweep, never inside a host function): a streamed or
  // upgraded connection says goodbye (on_expired) or is closed; any other forgets the deadline.
  void expire_credentials();
  // connection_refresh: the modules' refresh hooks, with the route of the stream (or of the
  // request in hand). TETHER_DECLINED without modules.
  int refresh_credentials(std::string_view credentials);
  // The client's address into *address (length in/out), as accept() gave it: still known once
  // the socket is gone (connection_closed hooks) or was reset. False if it has none.
  bool peer_address(sockaddr_storage* address, socklen_t* length) const;
  int fd() const { return transport_.fd(); }
  const Listener& listener() const { return *listener_; }
  PubsubHub& hub() { return host_.hub(); }

  // What follows a late answer (ConnectionHost::after_late_answer).
  void finish_late_answer();

  // Whether connection_accepted hooks ran and accepted it (so connection_closed hooks run too).
  bool announced_to_modules = false;

 private:
  friend class ModuleStream;  // the stream a module owns writes through this connection's transport
  enum class TimerPurpose : std::uint8_t { none, handshake, header, body, idle, send, linger };

  explicit Connection(ConnectionHost& host);
  ~Connection() override;

  // The HTTP phase; after an upgrade the session is gone and this says upgraded (or closing).
  HttpSession::Phase phase() const;
  // Whether the module stream carries frames now (streamed or upgraded, not closing).
  bool takes_frames() const;
  bool chunked_stream() const { return phase() == HttpSession::Phase::streaming && session_->chunked_stream(); }
  void feed_session(std::string_view data);
  void after_session_parsed();
  void resume_held_input();
  void close_after_output();
  void stop_timer();

  void on_request_answered(const RequestSummary& summary) override;
  void on_deferred_answer() override;

  // TransportEvents
  void on_transport_read(std::string_view plaintext, bool peer_finished) override;
  void on_transport_end(TransportEnd how) override;
  void on_transport_written(int status) override;
  void on_transport_shut_down(int status) override;
  void on_transport_closed() override;

  static void on_timer(uv_timer_t* timer);
  void handle_closed();

  void flush_output();
  void after_output_progress();
  void begin_lingering_close();
  void update_timer();
  void arm_timer(TimerPurpose purpose, std::uint64_t timeout_ms);
  std::uint64_t keepalive_ms() const;
  std::uint64_t idle_time_left() const;
  void set_reading(bool reading) {
    if (!closed_) transport_.set_reading(reading);
  }
  bool output_backed_up() const;
  void deliver_to_module(std::string_view data);
  void release_request_if_long_lived();
  void note_activity() { last_activity_ms_ = static_cast<std::uint32_t>(uv_now(host_.loop())); }

  // Ordered so that the small fields fill the padding (a subscriber holds one of these).
  ConnectionHost& host_;
  const Listener* listener_ = nullptr;
  std::unique_ptr<ModuleStream> module_stream_;  // only while a module owns the stream
  union {
    sockaddr_in v4;
    sockaddr_in6 v6;
  } peer_{};  // the client's address as accept() gave it (peer_length_ bytes)
  std::uint8_t peer_length_ = 0;  // 0: not an IP peer (or none)
  std::uint8_t open_handles_ = 0;
  TimerPurpose timer_purpose_ = TimerPurpose::none;
  bool peer_closed_ = false;
  [[no_unique_address]] Transport transport_;  // its tail padding holds the four flags below
  bool closed_ = false;
  bool handed_over_ = false;       // start() returned it: the host hears of its close
  bool request_released_ = false;  // the streamed request's memory is given back
  bool closing_upgraded_ = false;  // upgraded and closing (what the session's phase said before)
  uv_timer_t* timer_ = nullptr;            // allocated when first armed (see arm_timer)
  std::unique_ptr<HttpSession> session_;   // null once upgraded: the bytes belong to a module
  std::uint64_t expiry_unix_ms_ = 0;    // when the client's credentials expire (wall clock); 0: never
  // Last byte read or write completed: loop time cut to 32 bits, only compared as a difference
  // (an idle limit is at most 2^32 ms), which keeps the connection in its allocation size class.
  std::uint32_t last_activity_ms_ = 0;
  std::uint32_t keepalive_idle_ms_ = 0;        // 0: [limits] keepalive_timeout
  std::uint32_t heartbeat_interval_ms_ = 30'000;
  std::uint32_t heartbeat_timeout_ms_ = 60'000;
};

}  // namespace tether
