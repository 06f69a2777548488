#include "worker/transport/connection.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/shared_metrics.h"
#include "worker/http/access_log.h"
#include "worker/pubsub/pubsub_hub.h"
#include "worker/transport/tls_context.h"

namespace tether {
namespace {

// Read and discard for this long after our FIN, so the client sees our last answer, not a reset.
constexpr std::uint64_t kLingerMs = 2000;
// While draining, an idle keep-alive connection is closed once it has been quiet this long; a
// connection that just became idle may be about to carry the client's next request.
constexpr std::uint64_t kDrainQuietMs = 1000;

struct WriteRequest {
  uv_write_t req;
  std::string data;
};

// A batch of queued frames handed to libuv; the frames stay referenced until it is written.
struct FrameWrite {
  uv_write_t req;
  std::vector<FrameRef> frames;
};


Connection& connection_of(uv_handle_t* handle) { return *static_cast<Connection*>(handle->data); }

}  // namespace

Connection::Connection(ConnectionHost& host)
    : host_(host), session_(std::make_unique<HttpSession>(host.http_limits(), host.router(), this, host.dispatcher())) {
  session_->set_connection(this);
  session_->set_keep_alive(keepalive_ms() != 0);
}

Connection::~Connection() = default;

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
  if (listener.tls) {
    SSL* ssl = listener.tls->new_ssl();
    if (!ssl) {
      ::close(fd);
      delete c;
      return nullptr;
    }
    c->tls_ = std::make_unique<TlsStream>(ssl);
  }
  uv_tcp_init(host.loop(), &c->tcp_);
  c->tcp_.data = c;
  c->open_handles_ = 1;
  c->last_activity_ms_ = uv_now(host.loop());
  if (uv_tcp_open(&c->tcp_, fd) != 0) {
    // Never handed to the worker or a module: nobody is told, the handle just goes.
    ::close(fd);
    c->closed_ = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp_), [](uv_handle_t* h) { delete &connection_of(h); });
    return nullptr;
  }
  uv_tcp_nodelay(&c->tcp_, 1);
  c->set_reading(true);
  c->update_timer();
  return c;
}

bool Connection::peer_address(sockaddr_storage* address, socklen_t* length) const {
  if (peer_length_ == 0 || *length < peer_length_) return false;
  std::memcpy(address, &peer_, peer_length_);
  *length = peer_length_;
  return true;
}

int Connection::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd);
  return fd;
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
  return phase() != HttpSession::Phase::idle || pending_writes_ != 0;
}

void Connection::set_reading(bool reading) {
  if (reading == reading_ || closed_) return;
  reading_ = reading;
  if (reading) uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), on_alloc, on_read);
  else uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
}

void Connection::on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
  *buf = connection_of(handle).host_.read_buffer();
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Connection& c = connection_of(reinterpret_cast<uv_handle_t*>(stream));
  if (nread > 0) {
    shared_metrics().add(c.host_.metrics_slot(), core_metrics().bytes_received, nread);
    if (!c.lingering_) c.handle_input(buf->base, static_cast<std::size_t>(nread));
    return;
  }
  if (nread == 0) return;  // EAGAIN
  // End of file or error. A client that half-closed after its last request still gets the
  // answers already produced; anything else ends the connection now.
  c.peer_closed_ = true;
  c.set_reading(false);
  if (nread == UV_EOF && !c.lingering_ && c.pending_writes_ != 0) return;
  c.close_now();
}

void Connection::handle_input(const char* data, std::size_t length) {
  last_activity_ms_ = uv_now(host_.loop());
  if (tls_) {
    handle_tls_input(std::string_view(data, length));
    return;
  }
  feed_session(std::string_view(data, length));
  after_output_progress();
}

// Decrypts, answers what TLS itself must send (handshake, alerts), then hands the plaintext
// to the HTTP session exactly as on a plain connection.
void Connection::handle_tls_input(std::string_view ciphertext) {
  std::string plaintext, reply;
  TlsStream::Status status = tls_->receive(ciphertext, &plaintext, &reply);
  write_bytes(reply);
  if (closed_) return;  // the reply failed (client gone): its plaintext must reach nobody
  if (status == TlsStream::Status::failed) {  // garbage or a refused handshake: the alert is out
    close_after_output();
    after_output_progress();
    return;
  }
  if (!plaintext.empty()) feed_session(plaintext);
  if (status == TlsStream::Status::closed) peer_closed_ = true;  // close_notify: like EOF
  after_output_progress();
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
  while (session_ && session_->input_held() && !closed_ && tcp_.write_queue_size < host_.http_limits().max_queued_output) {
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
  if (data.empty() || closed_ || !module_stream_ || !module_stream_->callbacks->on_read) return;
  module_stream_->callbacks->on_read(this, data.data(), data.size(), module_stream_->user);
}

namespace {

// The distinct callback sets modules handed over (one or two per module), so that a connection
// keeps a pointer instead of a copy. Copied as the ABI promises: only the members the module's
// struct has (it may be older and smaller than ours), the rest NULL.
const tether_stream_callbacks* intern_callbacks(const tether_stream_callbacks* callbacks) {
  static std::vector<std::unique_ptr<tether_stream_callbacks>> known;
  tether_stream_callbacks copy{};
  if (callbacks) std::memcpy(&copy, callbacks, std::min(callbacks->size, sizeof(tether_stream_callbacks)));
  copy.size = sizeof(tether_stream_callbacks);
  for (const auto& k : known)
    if (std::memcmp(k.get(), &copy, sizeof copy) == 0) return k.get();
  known.push_back(std::make_unique<tether_stream_callbacks>(copy));
  return known.back().get();
}

}  // namespace

bool Connection::attach_module_stream(const tether_stream_callbacks* callbacks, void* user) {
  if (closed_) return false;  // e.g. the client reset while its request was answered
  module_stream_ = std::make_unique<ModuleStream>();
  module_stream_->callbacks = intern_callbacks(callbacks);
  module_stream_->user = user;
  return true;
}

std::int64_t Connection::write_for_module(const void* data, std::size_t length) {
  if (closed_ || lingering_ || !module_stream_) return -1;
  std::string_view bytes(static_cast<const char*>(data), length);
  if (phase() == HttpSession::Phase::streaming) {
    if (bytes.empty()) return backlog();  // an empty chunk would end a chunked body
    module_stream_->queue.push_back(session_->chunked_stream() ? chunk_frame(bytes) : FrameRef::copy_of(bytes));
  } else if (phase() == HttpSession::Phase::upgraded) {
    if (!bytes.empty()) module_stream_->queue.push_back(FrameRef::copy_of(bytes));
  } else {
    return -1;
  }
  flush_queue();
  if (closed_) return -1;
  std::int64_t queued = backlog();
  if (queued >= TETHER_WRITE_BACKLOG) module_stream_->wants_writable = true;
  // What the module writes in answer to the client (pongs, echoes) is bounded like the pub/sub
  // output: past the queue limit the client is not read until it has taken some of it.
  if (output_backed_up()) set_reading(false);
  update_timer();
  return queued;
}

std::int64_t Connection::backlog() const {
  std::size_t queued = module_stream_ ? module_stream_->queue.bytes() : 0;
  return static_cast<std::int64_t>(queued + tcp_.write_queue_size);
}

// Whether the client's unsent output is so large that reading more of its input (requests,
// pings, messages to echo) would only make it grow.
bool Connection::output_backed_up() const {
  // Past the limit, as the slow-consumer policy counts it (a limit of 0 is not "always full").
  if (module_stream_) return static_cast<std::uint64_t>(backlog()) > module_stream_->queue_limit;
  return tcp_.write_queue_size >= host_.http_limits().max_queued_output;
}

bool Connection::takes_frames() const {
  if (closed_ || lingering_ || !module_stream_) return false;
  auto current = phase();
  return current == HttpSession::Phase::streaming || current == HttpSession::Phase::upgraded;
}

void Connection::set_queue_limit(std::uint64_t max_bytes, tether_slow_policy policy) {
  if (!module_stream_) return;
  module_stream_->queue_limit = max_bytes;
  module_stream_->policy = policy;
}

Subscription*& Connection::subscriptions() { return module_stream_->subscriptions; }
bool& Connection::flush_scheduled() { return module_stream_->flush_scheduled; }

bool Connection::queue_frame(FrameRef frame) {
  if (!takes_frames()) return false;
  ModuleStream& s = *module_stream_;
  s.queue.push_back(std::move(frame));
  if (static_cast<std::uint64_t>(backlog()) > s.queue_limit) handle_overflow();
  return takes_frames();
}

// The slow-consumer policy: never more than queue_limit of unsent messages per client.
void Connection::handle_overflow() {
  ModuleStream& s = *module_stream_;
  if (s.policy == TETHER_SLOW_DROP) {
    std::size_t in_flight = tcp_.write_queue_size;
    std::size_t room = s.queue_limit > in_flight ? s.queue_limit - in_flight : 0;
    std::uint64_t dropped = s.queue.drop_oldest(room);
    s.dropped += static_cast<std::uint32_t>(dropped);
    shared_metrics().add(host_.metrics_slot(), core_metrics().messages_dropped, static_cast<std::int64_t>(dropped));
    return;
  }
  shared_metrics().add(host_.metrics_slot(), core_metrics().slow_disconnects, 1);
  shared_metrics().add(host_.metrics_slot(), core_metrics().messages_dropped, static_cast<std::int64_t>(s.queue.frames()));
  s.queue.clear();
  host_.hub().connection_closing(*this);  // no more messages for it
  if (s.callbacks->on_overflow) s.callbacks->on_overflow(this, s.user);
  if (!closed_ && module_stream_ && phase() != HttpSession::Phase::closing) close_for_module();
}

void Connection::flush_queue(bool force) {
  if (closed_ || !module_stream_) return;
  flush_output();  // the response head (101, stream headers) goes first
  if (closed_ || !module_stream_) return;
  ModuleStream& s = *module_stream_;
  if (pending_writes_ != 0 && !force) return;  // on_write comes back here
  if (s.dropped != 0) {
    FrameRef notice = host_.hub().dropped_notice(*this, s.dropped);
    s.dropped = 0;
    if (notice) s.queue.push_front(std::move(notice));
  }
  if (s.queue.empty()) return;
  write_queue(s.queue);
}

void Connection::write_queue(StreamQueue& queue) {
  std::size_t total = queue.bytes();
  if (tls_) {  // encrypted per connection: one copy is unavoidable
    std::string plaintext;
    plaintext.reserve(total);
    for (const FrameRef& f : queue) plaintext.append(f.view());
    queue.clear();
    std::string ciphertext;
    bool ok = tls_->send(plaintext, &ciphertext);
    write_bytes(ciphertext);
    if (!ok) close_now();
    return;
  }
  shared_metrics().add(host_.metrics_slot(), core_metrics().bytes_sent, static_cast<std::int64_t>(total));
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  // One writev for the whole batch; the kernel usually takes it all, and then nothing is
  // allocated and no callback follows. Scratch space: one loop thread, used before returning.
  static std::vector<uv_buf_t> bufs;
  bufs.clear();
  for (const FrameRef& f : queue) bufs.push_back(uv_buf_init(const_cast<char*>(f.data()), static_cast<unsigned>(f.size())));
  std::size_t done_frames = 0, offset = 0;
  if (pending_writes_ == 0) {
    int written = uv_try_write(stream, bufs.data(), static_cast<unsigned>(std::min<std::size_t>(bufs.size(), 1024)));
    if (written < 0 && written != UV_EAGAIN) {
      close_now();
      return;
    }
    auto left = static_cast<std::size_t>(std::max(written, 0));
    for (const FrameRef& f : queue) {
      if (left < f.size()) break;
      left -= f.size();
      ++done_frames;
    }
    offset = left;
    if (done_frames == bufs.size()) {
      queue.clear();
      last_activity_ms_ = uv_now(host_.loop());
      return;
    }
  }
  // The rest waits in libuv, holding its frames until written.
  queue.consume(done_frames);
  auto* request = new FrameWrite;
  request->frames = queue.take_all();
  request->req.data = this;
  bufs.erase(bufs.begin(), bufs.begin() + static_cast<std::ptrdiff_t>(done_frames));
  bufs.front().base += offset;
  bufs.front().len -= offset;
  int status = uv_write(&request->req, stream, bufs.data(), static_cast<unsigned>(bufs.size()),
                        [](uv_write_t* req, int result) {
                          auto* done = reinterpret_cast<FrameWrite*>(req);
                          Connection& c = *static_cast<Connection*>(req->data);
                          delete done;
                          c.on_write_done(result);
                        });
  if (status != 0) {
    delete request;
    close_now();
    return;
  }
  ++pending_writes_;
}

void Connection::end_module_stream() {
  // Only a streamed response ends (an upgraded connection is the module's until it closes).
  if (!session_ || session_->phase() != HttpSession::Phase::streaming) return;
  if (!closed_) {
    request_released_ = false;
    host_.hub().connection_closing(*this);
    flush_queue(true);
  }
  module_stream_.reset();  // the module is done with it: no on_close for this connection
  if (closed_) return;     // closing already (or the last write failed): no request follows
  session_->end_stream();  // the session resumes with pipelined requests (on_deferred_answer)
}

void Connection::close_for_module() {
  if (closed_) return;
  flush_queue(true);
  close_after_output();
  after_output_progress();
}

void Connection::shutdown_stream() {
  if (closed_) return;
  if (!module_stream_ || !module_stream_->callbacks->on_shutdown) {
    close_now();
    return;
  }
  if (module_stream_->shutdown_sent) return;
  module_stream_->shutdown_sent = true;
  host_.hub().connection_closing(*this);  // the goodbye is the last thing it gets
  module_stream_->callbacks->on_shutdown(this, module_stream_->user);
}

void Connection::flush_output() {
  if (!session_) return;  // upgraded: everything goes through the frame queue
  std::string& output = session_->output();
  if (output.empty() || closed_) return;
  if (!tls_) {
    write_bytes(output);
    return;
  }
  std::string ciphertext;
  bool ok = tls_->send(output, &ciphertext);
  output.clear();
  write_bytes(ciphertext);
  if (!ok) close_now();
}

// Sends `output` (ciphertext with TLS) and empties it.
void Connection::write_bytes(std::string& output) {
  if (output.empty() || closed_) return;
  shared_metrics().add(host_.metrics_slot(), core_metrics().bytes_sent, static_cast<std::int64_t>(output.size()));
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  std::size_t offset = 0;
  if (pending_writes_ == 0) {
    // Fast path: the kernel usually takes the whole response at once, with no allocation.
    uv_buf_t whole = uv_buf_init(output.data(), static_cast<unsigned>(output.size()));
    int written = uv_try_write(stream, &whole, 1);
    if (written > 0) offset = static_cast<std::size_t>(written);
    else if (written < 0 && written != UV_EAGAIN) {
      output.clear();
      close_now();
      return;
    }
  }
  if (offset < output.size()) {
    auto* request = new WriteRequest;
    request->data.assign(output, offset);
    request->req.data = this;
    uv_buf_t rest = uv_buf_init(request->data.data(), static_cast<unsigned>(request->data.size()));
    if (uv_write(&request->req, stream, &rest, 1, on_write) == 0) ++pending_writes_;
    else {
      delete request;
      output.clear();
      close_now();
      return;
    }
  }
  output.clear();
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* request = reinterpret_cast<WriteRequest*>(req);
  Connection& c = *static_cast<Connection*>(req->data);
  delete request;
  c.on_write_done(status);
}

void Connection::on_write_done(int status) {
  --pending_writes_;
  if (closed_) return;
  if (status < 0) {
    close_now();
    return;
  }
  last_activity_ms_ = uv_now(host_.loop());
  if (module_stream_) {
    flush_queue();
    if (closed_) return;
    if (module_stream_ && module_stream_->wants_writable && backlog() < TETHER_WRITE_BACKLOG) {
      module_stream_->wants_writable = false;
      if (module_stream_->callbacks->on_writable) module_stream_->callbacks->on_writable(this, module_stream_->user);
      if (closed_) return;
    }
  }
  after_output_progress();
}

// Decides what comes next once input was handled or output made progress.
void Connection::after_output_progress() {
  if (closed_) return;
  resume_held_input();
  if (closed_) return;
  if (pending_writes_ == 0 && peer_closed_) {
    close_now();
    return;
  }
  if (phase() == HttpSession::Phase::closing) {
    set_reading(false);
    if (pending_writes_ == 0) begin_lingering_close();
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
  if (tls_ && !tls_->handshake_done() && !lingering_) {  // counted from accept, never re-armed
    if (timer_purpose_ != TimerPurpose::handshake)
      arm_timer(TimerPurpose::handshake, static_cast<std::uint64_t>(limits.tls_handshake_timeout.count()));
    return;
  }
  // A client that stops reading: HTTP answers get header_timeout to go out. Upgraded
  // connections are left to their module's heartbeat and the slow-consumer limit instead (and
  // keep no timer while open).
  if (pending_writes_ != 0 && phase() != HttpSession::Phase::upgraded) {
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
  std::uint64_t idle_for = uv_now(host_.loop()) - last_activity_ms_;
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
  Connection& c = connection_of(reinterpret_cast<uv_handle_t*>(timer));
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
  if (closed_ || lingering_) return;
  if (session_) session_->start_drain();
  if (!busy()) update_timer();  // re-arms the idle timer for the shorter quiet period
}

// Sends our FIN, then reads and discards until the client closes or kLingerMs pass: closing
// with unread input would make the kernel send a reset that can destroy our last answer.
void Connection::begin_lingering_close() {
  if (closed_ || lingering_) return;
  if (tls_) {  // our close_notify goes out before the FIN
    std::string ciphertext;
    tls_->close(&ciphertext);
    write_bytes(ciphertext);
    if (closed_) return;
  }
  lingering_ = true;
  auto* req = new uv_shutdown_t;
  req->data = this;
  if (uv_shutdown(req, reinterpret_cast<uv_stream_t*>(&tcp_), on_shutdown) != 0) {
    delete req;
    close_now();
    return;
  }
  if (!peer_closed_) set_reading(true);
  arm_timer(TimerPurpose::linger, kLingerMs);
}

void Connection::on_shutdown(uv_shutdown_t* req, int status) {
  Connection& c = *static_cast<Connection*>(req->data);
  delete req;
  if (status < 0 || c.peer_closed_) c.close_now();
}

// Modules hear of it (on_close, connection_closed) only in the close callback, on a later
// loop turn: close_now() is reached from inside host functions a module called (a write that
// fails with ECONNRESET), and the module must find its state intact when that call returns.
void Connection::close_now() {
  if (closed_) return;
  closed_ = true;
  if (module_stream_) host_.hub().connection_closing(*this);
  if (module_stream_) module_stream_->queue.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), on_handle_closed);
  if (timer_) uv_close(reinterpret_cast<uv_handle_t*>(timer_), on_handle_closed);
}

void Connection::on_handle_closed(uv_handle_t* handle) {
  Connection& c = connection_of(handle);
  if (handle == reinterpret_cast<uv_handle_t*>(c.timer_)) {
    delete c.timer_;
    c.timer_ = nullptr;
  }
  if (--c.open_handles_ != 0) return;
  if (auto stream = std::move(c.module_stream_); stream && stream->callbacks->on_close)
    stream->callbacks->on_close(&c, stream->user);
  c.host_.on_connection_closed(c);
  delete &c;
}

void Connection::on_deferred_answer() {
  flush_output();
  after_output_progress();
}

void Connection::on_request_answered(const RequestSummary& summary) {
  if (summary.status >= 100 && summary.status < 600)
    shared_metrics().add(host_.metrics_slot(), core_metrics().requests[summary.status / 100 - 1], 1);
  AccessLog& log = host_.access_log();
  if (log.enabled()) log.record(tcp_, summary);
}

}  // namespace tether
