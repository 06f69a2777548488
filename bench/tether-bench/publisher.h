// Publishes over one HTTP/1.1 keep-alive connection (POST <path> with the message as body), up
// to `window` requests in flight (pipelined), paced to a rate by the caller. When the server
// closes the connection (nginx does after keepalive_requests), it reconnects and sends again
// what was not answered. Each answer's time since its request was sent goes into latency().
#pragma once

#include <uv.h>

#include <cstdint>
#include <deque>
#include <string>

#include "latency.h"

namespace bench {

// A message the subscribers can time: "<sequence> <now in ns> " padded with 'x' to `size` bytes.
std::string timestamped_payload(std::uint64_t sequence, std::size_t size);

class Publisher {
 public:
  Publisher(uv_loop_t* loop, std::string host, int port, std::string path, unsigned window);
  void start();
  bool connected() const { return connected_; }
  bool can_send() const { return connected_ && in_flight_ < window_; }
  void send(const std::string& body);
  std::uint64_t answered() const { return answered_; }
  std::uint64_t failed() const { return failed_; }
  Latency& latency() { return latency_; }  // request sent -> answer parsed, microseconds
  void close();

 private:
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  void parse();
  void write_request(const std::string& body);
  void reconnect();

  uv_loop_t* loop_;
  std::string host_;
  int port_;
  std::string path_;
  unsigned window_;
  uv_tcp_t* tcp_ = nullptr;  // replaced on reconnect; freed in its close callback
  std::deque<std::string> unanswered_;
  std::deque<std::uint64_t> sent_ns_;  // when each unanswered request was first sent
  uv_connect_t connect_;
  std::string input_;
  bool connected_ = false;
  unsigned in_flight_ = 0;
  unsigned reconnects_ = 0;
  std::uint64_t answered_ = 0;
  std::uint64_t failed_ = 0;  // non-2xx answers
  Latency latency_;
};

}  // namespace bench
