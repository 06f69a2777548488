#include "worker/transport/connection.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/shared_metrics.h"
#include "worker/host/module_runtime.h"
#include "worker/http/access_log.h"

namespace tether {
namespace {

// Read and discard for this long after our FIN, so the client sees our last answer, not a reset.
constexpr std::uint64_t kLingerMs = 2000;
// While draining, an idle keep-alive connection is closed once it has been quiet this long; a
// connection that just became idle may be about to carry the client's next request.
constexpr std::uint64_t kDrainQuietMs = 1000;

Connection& owner_of(uv_handle_t* handle) { return *static_cast<Connection*>(handle->data); }

}  // namespace

Connection::Connection(ConnectionHost& host)
    : host_(host),
      transport_(*this),
      session_(std::make_unique<HttpSession>(host.http_limits(), host.router(), this, host.dispatcher())) {
  session_->set_connection(this);
  session_->set_keep_alive(keepalive_ms() != 0);
}

Connection::~Connection() = default;

// Every connection holds one: 408 bytes is a 416-byte allocation (glibc adds 8 and rounds to 16).
static_assert(sizeof(Connection) <= 408, "a connection outgrew its allocation size class");

HttpSession::Phase Connection::phase() const {
  if (!session_) return closing_upgraded_ ? HttpSession::Phase::closing : HttpSession::Phase::upgraded;
  return session_->phase();
}

Connection* Connection::start(ConnectionHost& host, int fd, const Listener& listener, const sockaddr* peer,
                              socklen_t peer_length) {
  auto* c = new Connection(host);
  c->listener_ = &listener;
  if (peer && peer_length <= sizeof c->peer_ && (peer->sa_family == AF_INET || peer->sa_family == AF_INET6)) {
    std::memcpy(&c->peer_, peer, peer_length);
    c->peer_length_ = static_cast<std::uint8_t>(peer_length);
  }
  c->open_handles_ = 1;
  c->note_activity();
  if (!c->transport_.open(host.loop(), fd, listener.tls, host.metrics_slot())) {
    c->close_now();  // not handed over: its close callback frees it and tells nobody
    return nullptr;
  }
  c->set_reading(true);
  c->update_timer();
  c->handed_over_ = true;
  return c;
}

bool Connection::peer_address(sockaddr_storage* address, socklen_t* length) const {
  if (peer_length_ == 0 || *length < peer_length_) return false;
  std::memcpy(address, &peer_, peer_length_);
  *length = peer_length_;
  return true;
}

namespace {
std::uint32_t clamp_ms(std::uint64_t ms) { return static_cast<std::uint32_t>(std::min<std::uint64_t>(ms, UINT32_MAX)); }
}  // namespace

void Connection::set_keepalive(std::uint64_t idle_timeout_ms, std::uint64_t max_requests) {
  keepalive_idle_ms_ = clamp_ms(idle_timeout_ms);
  if (!session_) return;
  session_->set_max_requests(max_requests);
  session_->set_keep_alive(keepalive_ms() != 0);
}

void Connection::set_heartbeat(std::uint64_t interval_ms, std::uint64_t timeout_ms) {
  heartbeat_interval_ms_ = clamp_ms(interval_ms);
  heartbeat_timeout_ms_ = clamp_ms(timeout_ms);
}

void Connection::heartbeat(std::uint64_t* interval_ms, std::uint64_t* timeout_ms) const {
  if (interval_ms) *interval_ms = heartbeat_interval_ms_;
  if (timeout_ms) *timeout_ms = heartbeat_timeout_ms_;
}

bool Connection::busy() const {
  return phase() != HttpSession::Phase::idle || transport_.writes_in_flight() != 0;
}

// Plaintext from the client (decrypted already on TLS).
void Connection::on_transport_read(std::string_view plaintext, bool peer_finished) {
  note_activity();
  if (!plaintext.empty()) feed_session(plaintext);
  if (peer_finished) peer_closed_ = true;  // TLS close_notify: like EOF
  after_output_progress();
}

void Connection::on_transport_end(TransportEnd how) {
  if (how == TransportEnd::refused) {  // garbage or a refused handshake: the alert is queued
    close_after_output();
    after_output_progress();
    return;
  }
  // End of file or error. A client that half-closed after its last request still gets the
  // answers already produced; anything else ends the connection now.
  peer_closed_ = true;
  set_reading(false);
  if (how == TransportEnd::eof && !transport_.shut_down() && transport_.writes_in_flight() != 0) return;
  close_now();
}

// Plaintext from the client: HTTP until an upgrade, then straight to the module.
void Connection::feed_session(std::string_view data) {
  if (closed_) return;
  if (!session_) {
    deliver_to_module(data);
    return;
  }
  session_->feed(data);
  after_session_parsed();
}

// A pipelining client is answered as fast as it reads: the session held the rest of its input
// once its answers passed the limit, and goes on once they are written.
void Connection::resume_held_input() {
  while (session_ && session_->input_held() && !closed_ && transport_.unsent() < host_.http_limits().max_queued_output) {
    session_->resume_input();
    after_session_parsed();
  }
}

// Writes what the session answered and, after an upgrade, hands the connection to the module.
void Connection::after_session_parsed() {
  flush_output();
  if (!session_ || session_->phase() != HttpSession::Phase::upgraded || !module_stream_) {
    release_request_if_long_lived();
    return;
  }
  // After an upgrade, bytes that came with or after the request belong to the module; the HTTP
  // session is done for good and gives its memory back.
  std::string early = session_->take_pending_input();
  session_.reset();
  deliver_to_module(early);
}

void Connection::release_request_if_long_lived() {
  if (!module_stream_ || request_released_ || !session_) return;
  if (session_->phase() != HttpSession::Phase::streaming) return;
  session_->release_request_memory();
  request_released_ = true;
}

void Connection::close_after_output() {
  if (session_) session_->close_after_output();
  else closing_upgraded_ = true;
}

void Connection::deliver_to_module(std::string_view data) {
  if (data.empty() || closed_ || !module_stream_ || !module_stream_->callbacks().on_read) return;
  module_stream_->callbacks().on_read(this, data.data(), data.size(), module_stream_->user());
}

bool Connection::attach_module_stream(const tether_stream_callbacks* callbacks, const RouteConfig* route, void* user) {
  if (closed_) return false;  // e.g. the client reset while its request was answered
  module_stream_ = std::make_unique<ModuleStream>(*this, callbacks, route, user);
  if (route && route->max_connection_age.count() > 0) {
    auto age = static_cast<std::uint64_t>(route->max_connection_age.count());
    host_.schedule_goodbye(*this, age - age / 10, age);
  }
  return true;
}

void Connection::set_expiry(std::uint64_t unix_ms) {
  if (closed_ && unix_ms != 0) return;  // nothing left to expire
  if ((expiry_unix_ms_ != 0) != (unix_ms != 0)) host_.count_expiring(unix_ms != 0 ? 1 : -1);
  expiry_unix_ms_ = unix_ms;
}

// Only long-lived connections hold credentials past their request; a plain HTTP connection's
// requests are checked one by one in their access phase.
void Connection::expire_credentials() {
  set_expiry(0);
  if (!takes_frames()) return;
  if (!module_stream_->callbacks().on_expired) {
    close_now();
    return;
  }
  module_stream_->callbacks().on_expired(this, module_stream_->user());
}

int Connection::refresh_credentials(std::string_view credentials) {
  ModuleRuntime* modules = host_.modules();
  if (!modules || closed_) return TETHER_DECLINED;
  const RouteConfig* route = nullptr;
  if (module_stream_) route = module_stream_->route();
  else if (session_ && session_->module_request()) route = session_->module_request()->route;
  return modules->refresh(this, route, credentials);
}

std::int64_t Connection::write_for_module(const void* data, std::size_t length) {
  if (closed_ || transport_.shut_down() || !module_stream_) return -1;
  std::string_view bytes(static_cast<const char*>(data), length);
  HttpSession::Phase current = phase();
  if (current == HttpSession::Phase::streaming) {
    if (bytes.empty()) return module_stream_->backlog();  // an empty chunk would end a chunked body
    if (!module_stream_->queue_write(bytes, session_->chunked_stream())) return -1;
  } else if (current == HttpSession::Phase::upgraded) {
    if (!module_stream_->queue_write(bytes, false)) return -1;
  } else {
    return -1;
  }
  std::int64_t queued = module_stream_->backlog();
  if (queued >= TETHER_WRITE_BACKLOG) module_stream_->want_writable();
  // What the module writes in answer to the client (pongs, echoes) is bounded like the pub/sub
  // output: past the queue limit the client is not read until it has taken some of it.
  if (output_backed_up()) set_reading(false);
  update_timer();
  return queued;
}

// Whether the client's unsent output is so large that reading more of its input (requests,
// pings, messages to echo) would only make it grow.
bool Connection::output_backed_up() const {
  if (module_stream_) return module_stream_->backed_up();
  return transport_.unsent() >= host_.http_limits().max_queued_output;
}

bool Connection::takes_frames() const {
  if (closed_ || transport_.shut_down() || !module_stream_) return false;
  auto current = phase();
  return current == HttpSession::Phase::streaming || current == HttpSession::Phase::upgraded;
}

void Connection::end_module_stream() {
  // Only a streamed response ends (an upgraded connection is the module's until it closes). A
  // stream whose session turned to closing meanwhile (a client cut off for flooding) ends too:
  // the module may free its state after stream_end(), so no on_close may follow (module.h).
  if (!session_ || !module_stream_ || session_->phase() == HttpSession::Phase::upgraded) return;
  bool streaming = session_->phase() == HttpSession::Phase::streaming;
  if (!closed_ && streaming) {
    request_released_ = false;
    module_stream_->leave_hub();
    module_stream_->flush(true);
  }
  module_stream_.reset();                // the module is done with it: no on_close for this connection
  if (closed_ || !streaming) return;     // closing already (or the last write failed): no request follows
  session_->end_stream();                // the session resumes with pipelined requests (on_deferred_answer)
}

void Connection::close_for_module() {
  if (closed_) return;
  if (module_stream_) module_stream_->flush(true);
  close_after_output();
  after_output_progress();
}

void Connection::shutdown_stream() {
  if (closed_) return;
  if (!module_stream_ || !module_stream_->callbacks().on_shutdown) {
    close_now();
    return;
  }
  if (!module_stream_->mark_shutdown_sent()) return;
  module_stream_->leave_hub();  // the goodbye is the last thing it gets
  module_stream_->callbacks().on_shutdown(this, module_stream_->user());
}

void Connection::flush_output() {
  if (!session_) return;  // upgraded: everything goes through the module stream
  std::string& output = session_->output();
  if (output.empty() || closed_) return;
  bool sent = transport_.write(output);
  output.clear();
  if (!sent) close_now();
}

void Connection::on_transport_written(int status) {
  if (closed_) return;
  if (status < 0) {
    close_now();
    return;
  }
  note_activity();
  if (module_stream_) {
    module_stream_->on_written();
    if (closed_) return;
  }
  after_output_progress();
}

// Decides what comes next once input was handled or output made progress.
void Connection::after_output_progress() {
  if (closed_) return;
  resume_held_input();
  if (closed_) return;
  if (transport_.writes_in_flight() == 0 && peer_closed_) {
    close_now();
    return;
  }
  if (phase() == HttpSession::Phase::closing) {
    set_reading(false);
    if (transport_.writes_in_flight() == 0) begin_lingering_close();
    // The last answer or a goodbye (a close frame) is still going out: a client that reads
    // nothing gets header_timeout for it, as any HTTP answer (upgraded ones included: their
    // module's heartbeat stops once it said goodbye).
    else if (timer_purpose_ != TimerPurpose::send && timer_purpose_ != TimerPurpose::linger)
      arm_timer(TimerPurpose::send, static_cast<std::uint64_t>(host_.limits().header_timeout.count()));
    return;
  }
  // Reading goes on while a module answers (to notice a client that leaves); the session
  // bounds what it keeps meanwhile.
  set_reading(!output_backed_up() && !(session_ && session_->input_held()));
  update_timer();
}

void Connection::update_timer() {
  const LimitsConfig& limits = host_.limits();
  auto header_ms = static_cast<std::uint64_t>(limits.header_timeout.count());
  if (transport_.secure() && !transport_.handshake_done() && !transport_.shut_down()) {  // counted from accept, never re-armed
    if (timer_purpose_ != TimerPurpose::handshake)
      arm_timer(TimerPurpose::handshake, static_cast<std::uint64_t>(limits.tls_handshake_timeout.count()));
    return;
  }
  // A client that stops reading: HTTP answers get header_timeout to go out. Upgraded
  // connections are left to their module's heartbeat and the slow-consumer limit instead (and
  // keep no timer while open).
  if (transport_.writes_in_flight() != 0 && phase() != HttpSession::Phase::upgraded) {
    if (timer_purpose_ != TimerPurpose::send) arm_timer(TimerPurpose::send, header_ms);
    return;
  }
  switch (phase()) {
    case HttpSession::Phase::headers:  // each request's own clock: a request pipelined behind another gets its time
      arm_timer(TimerPurpose::header, session_->phase_time_left(uv_now(host_.loop()), header_ms));
      return;
    case HttpSession::Phase::body: {
      // header_timeout of inactivity (re-armed on every read), and body_timeout for the whole body.
      auto body_ms = static_cast<std::uint64_t>(limits.body_timeout.count());
      arm_timer(TimerPurpose::body, std::min(header_ms, session_->phase_time_left(uv_now(host_.loop()), body_ms)));
      return;
    }
    case HttpSession::Phase::closing:
      return;
    case HttpSession::Phase::waiting:    // the module answering it owns the timing
    case HttpSession::Phase::streaming:
    case HttpSession::Phase::upgraded:
      stop_timer();
      return;
    case HttpSession::Phase::idle:
      break;
  }
  if (!session_->received_anything()) {
    // A new connection gets header_timeout to send its first request (counted from accept).
    if (timer_purpose_ != TimerPurpose::header)
      arm_timer(TimerPurpose::header, session_->phase_time_left(uv_now(host_.loop()), header_ms));
    if (!session_->draining()) return;
  }
  // An armed idle timer is left alone: on expiry it checks last_activity_ms_ and re-arms for the
  // remainder, which spares a timer-heap update on every keep-alive request.
  if (timer_purpose_ == TimerPurpose::idle && !session_->draining()) return;
  arm_timer(TimerPurpose::idle, idle_time_left());
}

// A module's idle timeout for this connection, else [limits] keepalive_timeout. 0: no keep-alive.
std::uint64_t Connection::keepalive_ms() const {
  return keepalive_idle_ms_ ? keepalive_idle_ms_ : static_cast<std::uint64_t>(host_.limits().keepalive_timeout.count());
}

std::uint64_t Connection::idle_time_left() const {
  std::uint64_t limit = session_ && session_->draining() ? kDrainQuietMs : keepalive_ms();
  std::uint32_t idle_for = static_cast<std::uint32_t>(uv_now(host_.loop())) - last_activity_ms_;  // wraps: a difference
  return idle_for >= limit ? 0 : limit - idle_for;
}

// The timer is allocated when first armed; an upgraded connection, which has no HTTP timeouts,
// gives it back (stop_timer) and gets a new one only if it needs one to close.
void Connection::arm_timer(TimerPurpose purpose, std::uint64_t timeout_ms) {
  if (!timer_) {
    timer_ = new uv_timer_t;
    uv_timer_init(host_.loop(), timer_);
    timer_->data = this;
    ++open_handles_;
  }
  timer_purpose_ = purpose;
  uv_timer_start(timer_, on_timer, timeout_ms, 0);
}

void Connection::stop_timer() {
  timer_purpose_ = TimerPurpose::none;
  if (!timer_) return;
  if (session_) {
    uv_timer_stop(timer_);
    return;
  }
  --open_handles_;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
}

void Connection::on_timer(uv_timer_t* timer) {
  Connection& c = owner_of(reinterpret_cast<uv_handle_t*>(timer));
  TimerPurpose purpose = c.timer_purpose_;
  c.timer_purpose_ = TimerPurpose::none;
  switch (purpose) {
    case TimerPurpose::header:
    case TimerPurpose::body:
      c.session_->expire_header_timeout();
      c.flush_output();
      c.after_output_progress();
      return;
    case TimerPurpose::idle:
      if (std::uint64_t left = c.idle_time_left(); left > 0) c.arm_timer(TimerPurpose::idle, left);
      else c.begin_lingering_close();
      return;
    case TimerPurpose::handshake:
    case TimerPurpose::send:
    case TimerPurpose::linger:
    case TimerPurpose::none:
      c.close_now();
      return;
  }
}

void Connection::start_drain() {
  if (closed_ || transport_.shut_down()) return;
  if (session_) session_->start_drain();
  if (!busy()) update_timer();  // re-arms the idle timer for the shorter quiet period
}

// Sends our FIN (after TLS close_notify), then reads and discards until the client closes or
// kLingerMs pass: closing with unread input would make the kernel send a reset that can destroy
// our last answer.
void Connection::begin_lingering_close() {
  if (closed_ || transport_.shut_down()) return;
  if (!transport_.shutdown()) {
    close_now();
    return;
  }
  if (!peer_closed_) set_reading(true);
  arm_timer(TimerPurpose::linger, kLingerMs);
}

void Connection::on_transport_shut_down(int status) {
  if (status < 0 || peer_closed_) close_now();
}

// Modules hear of it (on_close, connection_closed) only in the close callback, on a later
// loop turn: close_now() is reached from inside host functions a module called (a write that
// fails with ECONNRESET), and the module must find its state intact when that call returns.
void Connection::close_now() {
  if (closed_) return;
  closed_ = true;
  if (module_stream_) {
    module_stream_->leave_hub();
    module_stream_->discard();
  }
  transport_.close();
  if (timer_)
    uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) {
      Connection& c = owner_of(h);
      delete c.timer_;
      c.timer_ = nullptr;
      c.handle_closed();
    });
}

void Connection::on_transport_closed() { handle_closed(); }

// One of its handles is closed; with the last one the connection is freed, here and only here.
void Connection::handle_closed() {
  if (--open_handles_ != 0) return;
  if (auto stream = std::move(module_stream_); stream && stream->callbacks().on_close)
    stream->callbacks().on_close(this, stream->user());
  set_expiry(0);  // the worker counts it no more
  if (handed_over_) host_.on_connection_closed(*this);
  delete this;
}

// A late answer is written at once; the rest waits for the worker's idle turn
// (ConnectionHost::after_late_answer), when the session that answered is off the stack and
// a module that took the connection over has set it up: then the bytes that came after an
// upgrade go to the module, a stream gives its request memory back, and held pipelined input
// resumes (which may end in an upgrade that resets the session).
void Connection::on_deferred_answer() {
  flush_output();
  if (!closed_) host_.after_late_answer(*this);
}

void Connection::finish_late_answer() {
  if (closed_) return;
  after_output_progress();
  if (!closed_) after_session_parsed();
}

void Connection::on_request_answered(const RequestSummary& summary) {
  if (summary.status >= 100 && summary.status < 600)
    shared_metrics().add(host_.metrics_slot(), core_metrics().requests[summary.status / 100 - 1], 1);
  AccessLog& log = host_.access_log();
  if (log.enabled()) log.record(transport_.socket(), summary);
}

}  // namespace tether
