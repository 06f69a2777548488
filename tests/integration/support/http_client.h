// A small blocking HTTP/1.1 client over a real TCP socket, for driving tether byte by byte.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

namespace tether::test {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

class HttpClient {
 public:
  HttpClient() = default;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  ~HttpClient();

  // Connects to host:port, from `source` (another loopback address, say) when given.
  bool connect(int port, const char* host = "127.0.0.1", const char* source = nullptr);
  // SO_RCVBUF for the next connect() (0: the kernel's default), to make a slow reader.
  void set_receive_buffer(int bytes) { receive_buffer_ = bytes; }
  bool send(const std::string& bytes);
  // Reads one response (Content-Length framed, or to EOF). nullopt on timeout, reset or EOF first.
  std::optional<HttpResponse> read_response(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True if the server closes (EOF or reset) within `timeout`, after reading any leftover bytes.
  bool wait_closed(std::chrono::milliseconds timeout, std::string* leftover = nullptr);
  // Reads exactly `count` raw bytes (after any response already read). Shorter on timeout/EOF.
  std::string read_bytes(std::size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // GET `path` on this connection and read the answer.
  std::optional<HttpResponse> get(const std::string& path, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  void close();
  int fd() const { return fd_; }

 private:
  // Waits for and appends more bytes to buffer_; false on timeout/EOF/error (sets closed_ on EOF/error).
  bool fill(std::chrono::steady_clock::time_point deadline);

  int fd_ = -1;
  int receive_buffer_ = 0;
  std::string buffer_;
  bool closed_ = false;
};

// One request on a fresh connection.
std::optional<HttpResponse> http_get(int port, const std::string& path);

// Parses the "name{labels} value" lines of a Prometheus page.
std::map<std::string, long> parse_metrics(const std::string& page);

// Waits until `fd` is readable (at most until `deadline`) and appends what one recv() returns
// to *buffer. False on timeout, or on EOF/error (then *closed is set).
bool receive_some(int fd, std::chrono::steady_clock::time_point deadline, std::string* buffer, bool* closed);

}  // namespace tether::test
