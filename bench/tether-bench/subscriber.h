// One subscriber connection of the load generator, on libuv: a WebSocket client (handshake,
// unmasked server frames, pongs) or an SSE client (HTTP/1.1, chunked or not, "data:" events).
// Every message payload is handed to the owner; a payload written by the publisher starts with
// "<sequence> <send time in ns>". With Target::deflate a WebSocket subscriber offers
// permessage-deflate (RFC 7692) and inflates the messages that come compressed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace bench {

enum class Protocol { websocket, sse };

struct Target {
  Protocol protocol = Protocol::websocket;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path;  // "/ws/bench"
  bool deflate = false;  // WebSocket: offer permessage-deflate
};

enum class Failure { none, connect, refused_status, closed, timeout };
const char* failure_name(Failure failure);

class Subscriber {
 public:
  struct Events {
    std::function<void(Subscriber&)> on_ready;                      // subscribed (101 / 200 head)
    std::function<void(Subscriber&, std::string_view payload)> on_message;
    std::function<void(Subscriber&, Failure)> on_failure;           // before ready, or closed after
  };

  Subscriber(uv_loop_t* loop, const Target& target, const sockaddr* source, const Events& events, std::size_t index);
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;
  ~Subscriber();

  // Over every subscriber of the process (one loop thread): bytes read from the sockets, and
  // messages that came compressed.
  static std::uint64_t wire_bytes;
  static std::uint64_t compressed_messages;
  struct Inflater;  // zlib's inflate state

  void start();
  // Sends a masked WebSocket text frame (echo mode).
  void send_text(std::string_view text);
  // Closes; the object deletes itself once libuv is done with it.
  void close();
  std::size_t index() const { return index_; }
  bool ready() const { return ready_; }
  // What the server answered: the HTTP status of the head (0 before it), its Retry-After in
  // seconds (0 without one), and the code of a WebSocket close frame (0 without one).
  int status() const { return status_; }
  int retry_after() const { return retry_after_; }
  int close_code() const { return close_code_; }

  // Per-subscriber delivery bookkeeping (fan-out).
  std::uint64_t received = 0;
  std::uint64_t next_sequence = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t out_of_order = 0;

 private:
  static void on_connect(uv_connect_t* req, int status);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void write(std::string bytes);
  void fail(Failure failure);
  void handle_input();
  bool parse_head();
  void parse_websocket();
  void parse_sse(std::string_view body);
  void parse_chunks();

  uv_loop_t* loop_;
  const Target& target_;
  Events events_;
  std::size_t index_;
  uv_tcp_t tcp_;
  uv_connect_t connect_;
  sockaddr_storage source_{};
  bool has_source_ = false;
  std::string input_;
  std::string sse_pending_;
  bool ready_ = false;
  int status_ = 0;
  int retry_after_ = 0;
  int close_code_ = 0;
  bool chunked_ = false;
  bool closed_ = false;
  std::size_t chunk_left_ = 0;  // bytes of the current chunk still to come (+2 for its CRLF)
  bool in_chunk_ = false;
  bool deflated_ = false;                  // permessage-deflate negotiated
  std::unique_ptr<Inflater> inflater_;     // only for a server that keeps its context
  std::string inflated_;
};

}  // namespace bench
