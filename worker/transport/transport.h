// The byte stream under a Connection, as h2o's socket layer draws it: an accepted TCP socket,
// with TLS (TlsStream, memory BIOs) when its listener has it, behind one read callback that
// gives plaintext and one write of iovecs. HTTP, modules and streams above never ask which it is.
//
// The one write path: a batch goes to the kernel at once (uv_try_write, one writev); only what
// the kernel does not take waits in libuv, in one request that keeps the batch's memory alive
// (the batch says how: shared frames by reference, other bytes by copy). So the usual write
// allocates nothing and gets no callback. On TLS a batch is first encrypted into one buffer:
// that copy is the encryption itself.
//
// Reads go into one buffer per process (parsed before the next read). After shutdown() (our
// FIN) reads are discarded: that is the lingering close the connection asks for.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "worker/transport/tls_stream.h"

namespace tether {

class TlsContext;

// How the peer's side of the stream ended.
enum class TransportEnd : std::uint8_t {
  eof,      // the client closed (TCP FIN)
  error,    // a read failed, or a reply TLS had to send could not be written
  refused,  // TLS failed (a refused handshake, garbage): its alert is queued
};

// What the owner of a transport hears. Every call comes from a libuv callback of the transport.
class TransportEvents {
 public:
  // Plaintext from the peer, possibly empty (a read that held only TLS's own records).
  // `peer_finished`: TLS close_notify came with it (the end, like EOF).
  virtual void on_transport_read(std::string_view plaintext, bool peer_finished) = 0;
  virtual void on_transport_end(TransportEnd how) = 0;
  // A write that had to wait in libuv is done (status < 0: it failed).
  virtual void on_transport_written(int status) = 0;
  // Our FIN went out (status < 0: it could not).
  virtual void on_transport_shut_down(int status) = 0;
  // The socket is closed (after close()); the transport may be freed now.
  virtual void on_transport_closed() = 0;

 protected:
  ~TransportEvents() = default;
};

// A write that waits in libuv, holding whatever backs its bytes until its callback.
struct PendingWrite {
  virtual ~PendingWrite() = default;
  uv_write_t request;
};

// One write's bytes: iovecs over memory the caller owns, and how to keep that memory if the
// kernel does not take it all at once.
class WriteBatch {
 public:
  virtual std::span<const uv_buf_t> buffers() = 0;
  // Called only when part of the batch must wait: a PendingWrite holding what backs the bytes
  // from `written` on, whose iovecs it appends to *rest.
  virtual PendingWrite* keep_rest(std::size_t written, std::vector<uv_buf_t>* rest) = 0;

 protected:
  ~WriteBatch() = default;
};

class Transport {
 public:
  explicit Transport(TransportEvents& events) { tcp_.data = &events; }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Adopts an accepted, non-blocking socket (closing `fd` if libuv refuses it) and, when `tls`
  // is given, starts TLS on it. False: nothing is served, and the owner must close().
  bool open(uv_loop_t* loop, int fd, const TlsContext* tls, std::size_t metrics_slot);
  // Closes the socket; on_transport_closed() follows on a later loop turn. Idempotent.
  void close();

  void set_reading(bool reading);
  // Sends the batch after what is still in flight, and has taken it when it returns (what the
  // kernel did not take is kept by the write). False: the stream is broken or closing (nothing
  // more can be sent; the owner closes).
  bool write(WriteBatch& batch);
  bool write(std::string_view bytes);  // a batch of one buffer, copied if it must wait
  // TLS close_notify, then our FIN (on_transport_shut_down follows); from now on reads are
  // discarded. False: it could not be sent.
  bool shutdown();

  bool closing() const { return closing_; }
  bool shut_down() const { return shut_down_; }
  bool secure() const { return tls_ != nullptr; }
  bool handshake_done() const { return tls_ && tls_->handshake_done(); }
  // Bytes handed over and not yet taken by the kernel.
  std::size_t unsent() const { return tcp_.write_queue_size; }
  std::uint32_t writes_in_flight() const { return writes_in_flight_; }
  int fd() const;
  const uv_tcp_t& socket() const { return tcp_; }

 private:
  static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_written(uv_write_t* request, int status);
  static void on_shutdown(uv_shutdown_t* request, int status);
  void receive_tls(std::string_view ciphertext);
  bool send(WriteBatch& batch);
  bool send_encrypted(std::span<const uv_buf_t> plaintext);
  uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp_); }
  TransportEvents& events() const { return *static_cast<TransportEvents*>(tcp_.data); }

  // First, so that a handle libuv calls back with is the Transport's address; its `data` is the
  // owner's events (a connection costs no pointer more for either).
  uv_tcp_t tcp_;
  std::unique_ptr<TlsStream> tls_;  // only on TLS listeners
  std::uint32_t writes_in_flight_ = 0;
  std::uint32_t metrics_slot_ = 0;
  bool reading_ = false;
  bool shut_down_ = false;
  bool closing_ = false;
};

}  // namespace tether
