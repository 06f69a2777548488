#include "support/ws_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "support/http_client.h"

namespace tether::test {
namespace {

std::string base64(const unsigned char* data, std::size_t length) {
  std::string out(4 * ((length + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(length));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

int WsFrame::close_code() const {
  if (payload.size() < 2) return 1005;
  return static_cast<unsigned char>(payload[0]) << 8 | static_cast<unsigned char>(payload[1]);
}

std::string ws_frame(std::uint8_t opcode, const std::string& payload, bool fin, std::uint8_t rsv, bool masked) {
  std::string out;
  out.push_back(static_cast<char>((fin ? 0x80 : 0) | (rsv & 0x7) << 4 | (opcode & 0xF)));
  std::uint8_t mask_bit = masked ? 0x80 : 0;
  std::size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(mask_bit | n));
  } else if (n <= 0xFFFF) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(static_cast<std::uint64_t>(n) >> (8 * i)));
  }
  if (!masked) return out + payload;
  static std::mt19937 random(12345);
  char mask[4];
  for (char& m : mask) m = static_cast<char>(random());
  out.append(mask, 4);
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i & 3]));
  return out;
}

std::string ws_close_frame(int code, const std::string& reason) {
  std::string payload;
  payload.push_back(static_cast<char>(code >> 8));
  payload.push_back(static_cast<char>(code));
  return ws_frame(0x8, payload + reason);
}

WsClient::~WsClient() { close(); }

void WsClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

int WsClient::open(int port, const std::string& path, const std::string& extra_headers) {
  close();
  buffer_.clear();
  head_.clear();
  closed_ = false;
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (receive_buffer_ > 0) setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_, sizeof receive_buffer_);
  int one = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return 0;
  unsigned char raw_key[16];
  std::random_device device;
  for (unsigned char& b : raw_key) b = static_cast<unsigned char>(device());
  std::string key = base64(raw_key, sizeof raw_key);
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n" + extra_headers + "\r\n";
  if (!send_raw(request)) return 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline)) return 0;
  head_ = buffer_.substr(0, end + 4);
  buffer_.erase(0, end + 4);
  int status = 0;
  std::sscanf(head_.c_str(), "HTTP/1.%*d %d", &status);
  if (status != 101) return status;
  std::string expected_input = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(expected_input.data()), expected_input.size(), digest);
  if (head_.find("Sec-WebSocket-Accept: " + base64(digest, sizeof digest) + "\r\n") == std::string::npos) return -101;
  return status;
}

bool WsClient::send_raw(const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

bool WsClient::fill(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0 || closed_) return false;
  return receive_some(fd_, deadline, &buffer_, &closed_);
}

std::optional<WsFrame> WsClient::read_frame(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (buffer_.size() >= 2) {
      auto b0 = static_cast<unsigned char>(buffer_[0]), b1 = static_cast<unsigned char>(buffer_[1]);
      std::size_t header = 2;
      std::uint64_t length = b1 & 0x7F;
      if (length == 126) header = 4;
      else if (length == 127) header = 10;
      if (buffer_.size() >= header) {
        if (header == 4) length = static_cast<unsigned char>(buffer_[2]) << 8 | static_cast<unsigned char>(buffer_[3]);
        if (header == 10) {
          length = 0;
          for (int i = 0; i < 8; ++i) length = length << 8 | static_cast<unsigned char>(buffer_[2 + i]);
        }
        if (buffer_.size() >= header + length) {
          WsFrame frame;
          frame.fin = (b0 & 0x80) != 0;
          frame.opcode = b0 & 0x0F;
          frame.rsv = (b0 >> 4) & 0x7;
          frame.payload = buffer_.substr(header, length);
          buffer_.erase(0, header + length);
          return frame;
        }
      }
    }
    if (!fill(deadline)) return std::nullopt;
  }
}

std::optional<std::string> WsClient::read_message(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto frame = read_frame(std::max(left, std::chrono::milliseconds(1)));
    if (!frame) return std::nullopt;
    if (frame->opcode == 0x1 || frame->opcode == 0x2) return frame->payload;
    if (frame->opcode == 0x8) return std::nullopt;
  }
}

int WsClient::read_close(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto frame = read_frame(std::max(left, std::chrono::milliseconds(1)));
    if (!frame) return -1;
    if (frame->opcode == 0x8) return frame->close_code();
  }
}

bool WsClient::wait_tcp_closed(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    if (!fill(deadline) && !closed_) return false;
    buffer_.clear();
  }
  return true;
}

}  // namespace tether::test
