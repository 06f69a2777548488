#include "support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <sstream>

namespace tether::test {

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool HttpClient::connect(int port, const char* host, const char* source) {
  close();
  buffer_.clear();
  closed_ = false;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, host, &address.sin_addr);
  int on = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  if (receive_buffer_ > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_, sizeof receive_buffer_);
  if (source) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return false;
  }
  return ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

bool HttpClient::send(const std::string& bytes) {
  std::size_t offset = 0;
  while (offset < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + offset, bytes.size() - offset, MSG_NOSIGNAL);
    if (n <= 0) return false;
    offset += static_cast<std::size_t>(n);
  }
  return true;
}

bool HttpClient::fill(std::chrono::steady_clock::time_point deadline) {
  if (closed_ || fd_ < 0) return false;
  return receive_some(fd_, deadline, &buffer_, &closed_);
}

bool receive_some(int fd, std::chrono::steady_clock::time_point deadline, std::string* buffer, bool* closed) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  pollfd p{fd, POLLIN, 0};
  if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
  char chunk[65536];
  ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
  if (n <= 0) {
    *closed = true;
    return false;
  }
  buffer->append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::map<std::string, long> parse_metrics(const std::string& page) {
  std::map<std::string, long> values;
  std::istringstream lines(page);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto space = line.rfind(' ');
    values[line.substr(0, space)] = std::stol(line.substr(space + 1));
  }
  return values;
}

std::optional<HttpResponse> HttpClient::read_response(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::size_t end;
  while ((end = buffer_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline)) return std::nullopt;
  HttpResponse response;
  std::string head = buffer_.substr(0, end);
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) return std::nullopt;
  response.status = std::stoi(head.substr(9, 3));
  std::size_t line_start = head.find("\r\n");
  while (line_start != std::string::npos) {
    std::size_t next = head.find("\r\n", line_start + 2);
    std::string line = head.substr(line_start + 2, next == std::string::npos ? std::string::npos : next - line_start - 2);
    if (auto colon = line.find(':'); colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[name] = value;
    }
    line_start = next;
  }
  buffer_.erase(0, end + 4);
  if (response.status < 200 || response.status == 204 || response.status == 304) return response;
  if (response.header("transfer-encoding") == "chunked") {
    // "<hex size>\r\n<data>\r\n" ... "0\r\n\r\n"
    for (;;) {
      std::size_t line_end;
      while ((line_end = buffer_.find("\r\n")) == std::string::npos)
        if (!fill(deadline)) return std::nullopt;
      std::size_t size = std::stoul(buffer_.substr(0, line_end), nullptr, 16);
      while (buffer_.size() < line_end + 2 + size + 2)
        if (!fill(deadline)) return std::nullopt;
      response.body.append(buffer_, line_end + 2, size);
      buffer_.erase(0, line_end + 2 + size + 2);
      if (size == 0) return response;
    }
  }
  std::string length = response.header("content-length");
  if (length.empty()) {
    while (fill(deadline)) {
    }
    response.body = std::move(buffer_);
    buffer_.clear();
    return response;
  }
  std::size_t want = std::stoul(length);
  while (buffer_.size() < want)
    if (!fill(deadline)) return std::nullopt;
  response.body = buffer_.substr(0, want);
  buffer_.erase(0, want);
  return response;
}

std::string HttpClient::read_bytes(std::size_t count, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (buffer_.size() < count && fill(deadline)) {
  }
  std::string bytes = buffer_.substr(0, std::min(count, buffer_.size()));
  buffer_.erase(0, bytes.size());
  return bytes;
}

bool HttpClient::wait_closed(std::chrono::milliseconds timeout, std::string* leftover) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_ && std::chrono::steady_clock::now() < deadline) fill(deadline);
  if (leftover) *leftover = buffer_;
  return closed_;
}

std::optional<HttpResponse> HttpClient::get(const std::string& path, std::chrono::milliseconds timeout) {
  if (!send("GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n")) return std::nullopt;
  return read_response(timeout);
}

std::optional<HttpResponse> http_get(int port, const std::string& path) {
  HttpClient client;
  if (!client.connect(port)) return std::nullopt;
  return client.get(path);
}

}  // namespace tether::test
