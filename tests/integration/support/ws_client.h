// A blocking WebSocket client over a real TCP socket that can also misbehave on purpose: it
// sends whatever frames a test builds (unmasked, reserved bits, bad lengths, split byte by byte)
// and reports exactly what the server answers, close codes included. It never answers pings by
// itself, so heartbeat tests can play a dead client.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace tether::test {

struct WsFrame {
  bool fin = true;
  std::uint8_t opcode = 0;
  std::uint8_t rsv = 0;  // RSV1..3 as bits 2..0: 4 is RSV1, a compressed message (permessage-deflate)
  std::string payload;
  int close_code() const;  // for a close frame: its code, 1005 if empty
};

// One client frame: header, mask (when `masked`) and masked payload.
std::string ws_frame(std::uint8_t opcode, const std::string& payload, bool fin = true, std::uint8_t rsv = 0,
                     bool masked = true);
std::string ws_close_frame(int code, const std::string& reason = "");

class WsClient {
 public:
  WsClient() = default;
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;
  ~WsClient();

  // Connects and sends the handshake (extra: more "Name: value\r\n" lines). Returns the HTTP
  // status of the answer (101 on success, the Sec-WebSocket-Accept checked), 0 if none came.
  int open(int port, const std::string& path, const std::string& extra_headers = "");
  const std::string& response_head() const { return head_; }
  void set_receive_buffer(int bytes) { receive_buffer_ = bytes; }

  bool send_raw(const std::string& bytes);
  bool send_text(const std::string& text) { return send_raw(ws_frame(0x1, text)); }
  // The next frame, nullopt on timeout or when the connection ended (see closed()).
  std::optional<WsFrame> read_frame(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The next text/binary message's payload (answering nothing, skipping pings and pongs).
  std::optional<std::string> read_message(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads until a close frame: its code; -1 if the TCP connection ended first or on timeout.
  int read_close(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the TCP connection ends (EOF/reset) within `timeout`.
  bool wait_tcp_closed(std::chrono::milliseconds timeout);
  bool closed() const { return closed_; }
  void close();
  int fd() const { return fd_; }

 private:
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  int receive_buffer_ = 0;
  std::string buffer_;
  std::string head_;
  bool closed_ = false;
};

}  // namespace tether::test
