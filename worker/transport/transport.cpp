#include "worker/transport/transport.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "core/shared_metrics.h"
#include "worker/transport/tls_context.h"

namespace tether {
namespace {

// What one uv_try_write hands the kernel at most (IOV_MAX); libuv queues the rest itself.
constexpr std::size_t kMaxIovecs = 1024;
constexpr std::size_t kReadBufferSize = 64 * 1024;

// The handle is the Transport's first member (see transport.h).
Transport& transport_of(uv_handle_t* handle) { return *reinterpret_cast<Transport*>(handle); }

// Bytes the caller keeps (an HTTP answer, ciphertext): what must wait is copied.
class BytesBatch final : public WriteBatch {
 public:
  explicit BytesBatch(std::string_view bytes)
      : buffer_(uv_buf_init(const_cast<char*>(bytes.data()), static_cast<unsigned>(bytes.size()))) {}
  std::span<const uv_buf_t> buffers() override { return {&buffer_, 1}; }
  PendingWrite* keep_rest(std::size_t written, std::vector<uv_buf_t>* rest) override {
    auto* pending = new BytesWrite;
    pending->bytes.assign(buffer_.base + written, buffer_.len - written);
    rest->push_back(uv_buf_init(pending->bytes.data(), static_cast<unsigned>(pending->bytes.size())));
    return pending;
  }

 private:
  struct BytesWrite final : PendingWrite {
    std::string bytes;
  };
  uv_buf_t buffer_;
};

}  // namespace

bool Transport::open(uv_loop_t* loop, int fd, const TlsContext* tls, std::size_t metrics_slot) {
  // A Transport is found from its handle (transport_of): the handle must be where it starts. Not
  // std::is_standard_layout (std::unique_ptr is not so under every compiler), but a class with
  // no base and no virtual function starts with its first member; the check folds away.
  static_assert(!std::is_polymorphic_v<Transport>, "a Transport is found from its handle");
  if (static_cast<void*>(&tcp_) != static_cast<void*>(this)) std::abort();
  void* events = tcp_.data;
  uv_tcp_init(loop, &tcp_);
  tcp_.data = events;
  metrics_slot_ = static_cast<std::uint32_t>(metrics_slot);
  if (uv_tcp_open(&tcp_, fd) != 0) {
    ::close(fd);  // once adopted, closing the handle closes it
    return false;
  }
  uv_tcp_nodelay(&tcp_, 1);
  if (!tls) return true;
  SSL* ssl = tls->new_ssl();
  if (!ssl) return false;
  tls_ = std::make_unique<TlsStream>(ssl);
  return true;
}

void Transport::close() {
  if (closing_) return;
  closing_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { transport_of(h).events().on_transport_closed(); });
}

int Transport::fd() const {
  uv_os_fd_t fd = -1;
  uv_fileno(reinterpret_cast<const uv_handle_t*>(&tcp_), &fd);
  return fd;
}

void Transport::set_reading(bool reading) {
  if (reading == reading_ || closing_) return;
  reading_ = reading;
  if (reading) uv_read_start(stream(), on_alloc, on_read);
  else uv_read_stop(stream());
}

void Transport::on_alloc(uv_handle_t*, std::size_t, uv_buf_t* buf) {
  // One loop thread per process, and every read is handled before the next one.
  static char buffer[kReadBufferSize];
  *buf = uv_buf_init(buffer, sizeof buffer);
}

void Transport::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  Transport& t = transport_of(reinterpret_cast<uv_handle_t*>(stream));
  if (nread > 0) {
    shared_metrics().add(t.metrics_slot_, core_metrics().bytes_received, nread);
    if (t.shut_down_) return;  // lingering: read and discard
    std::string_view bytes(buf->base, static_cast<std::size_t>(nread));
    if (t.tls_) t.receive_tls(bytes);
    else t.events().on_transport_read(bytes, false);
    return;
  }
  if (nread == 0) return;  // EAGAIN
  t.events().on_transport_end(nread == UV_EOF ? TransportEnd::eof : TransportEnd::error);
}

// Decrypts, answers what TLS itself must send (handshake, alerts), then hands the plaintext up
// exactly as a plain connection's bytes.
void Transport::receive_tls(std::string_view ciphertext) {
  std::string plaintext, reply;
  TlsStream::Status status = tls_->receive(ciphertext, &plaintext, &reply);
  BytesBatch handshake(reply);  // ciphertext already: sent as it is
  if (!send(handshake)) {  // the client is gone: its plaintext must reach nobody
    events().on_transport_end(TransportEnd::error);
    return;
  }
  if (status == TlsStream::Status::failed) events().on_transport_end(TransportEnd::refused);
  else events().on_transport_read(plaintext, status == TlsStream::Status::closed);
}

bool Transport::write(std::string_view bytes) {
  BytesBatch batch(bytes);
  return write(batch);
}

bool Transport::write(WriteBatch& batch) {
  if (closing_) return false;
  if (tls_) return send_encrypted(batch.buffers());
  return send(batch);
}

// Encrypted per connection: one copy of the batch is unavoidable.
bool Transport::send_encrypted(std::span<const uv_buf_t> plaintext) {
  std::string joined;
  std::string_view input;
  if (plaintext.size() == 1) {
    input = std::string_view(plaintext[0].base, plaintext[0].len);
  } else {
    std::size_t total = 0;
    for (const uv_buf_t& b : plaintext) total += b.len;
    joined.reserve(total);
    for (const uv_buf_t& b : plaintext) joined.append(b.base, b.len);
    input = joined;
  }
  if (input.empty()) return true;
  std::string ciphertext;
  bool encrypted = tls_->send(input, &ciphertext);
  BytesBatch batch(ciphertext);
  bool sent = send(batch);
  return encrypted && sent;
}

bool Transport::send(WriteBatch& batch) {
  std::span<const uv_buf_t> buffers = batch.buffers();
  std::size_t total = 0;
  for (const uv_buf_t& b : buffers) total += b.len;
  if (total == 0) return true;
  shared_metrics().add(metrics_slot_, core_metrics().bytes_sent, static_cast<std::int64_t>(total));
  std::size_t written = 0;
  if (writes_in_flight_ == 0) {
    // The kernel usually takes the whole batch: then nothing is allocated and no callback follows.
    int n = uv_try_write(stream(), buffers.data(), static_cast<unsigned>(std::min(buffers.size(), kMaxIovecs)));
    if (n < 0 && n != UV_EAGAIN) return false;
    written = static_cast<std::size_t>(std::max(n, 0));
    if (written == total) return true;
  }
  // Scratch space: one loop thread, used before returning.
  static std::vector<uv_buf_t> rest;
  rest.clear();
  PendingWrite* pending = batch.keep_rest(written, &rest);
  pending->request.data = pending;
  if (uv_write(&pending->request, stream(), rest.data(), static_cast<unsigned>(rest.size()), on_written) != 0) {
    delete pending;
    return false;
  }
  ++writes_in_flight_;
  return true;
}

void Transport::on_written(uv_write_t* request, int status) {
  Transport& t = transport_of(reinterpret_cast<uv_handle_t*>(request->handle));
  delete static_cast<PendingWrite*>(request->data);
  --t.writes_in_flight_;
  t.events().on_transport_written(status);
}

bool Transport::shutdown() {
  if (closing_ || shut_down_) return !closing_;
  if (tls_) {  // our close_notify goes out before the FIN
    std::string ciphertext;
    tls_->close(&ciphertext);
    BytesBatch batch(ciphertext);
    if (!send(batch)) return false;
  }
  shut_down_ = true;
  auto* request = new uv_shutdown_t;
  request->data = this;
  if (uv_shutdown(request, stream(), on_shutdown) != 0) {
    delete request;
    return false;
  }
  return true;
}

void Transport::on_shutdown(uv_shutdown_t* request, int status) {
  auto& t = *static_cast<Transport*>(request->data);
  delete request;
  t.events().on_transport_shut_down(status);
}

}  // namespace tether
