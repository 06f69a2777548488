#include "publisher.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace bench {

std::string timestamped_payload(std::uint64_t sequence, std::size_t size) {
  std::string body = std::to_string(sequence) + " " + std::to_string(uv_hrtime()) + " ";
  if (body.size() < size) body.append(size - body.size(), 'x');
  return body;
}

Publisher::Publisher(uv_loop_t* loop, std::string host, int port, std::string path, unsigned window)
    : loop_(loop), host_(std::move(host)), port_(port), path_(std::move(path)), window_(window) {}

void Publisher::start() {
  tcp_ = new uv_tcp_t;
  uv_tcp_init(loop_, tcp_);
  tcp_->data = this;
  sockaddr_in address;
  uv_ip4_addr(host_.c_str(), port_, &address);
  connect_.data = this;
  uv_tcp_connect(&connect_, tcp_, reinterpret_cast<const sockaddr*>(&address), [](uv_connect_t* req, int status) {
    auto& self = *static_cast<Publisher*>(req->data);
    if (status != 0) {
      std::fprintf(stderr, "publisher: cannot connect: %s\n", uv_strerror(status));
      return;
    }
    uv_tcp_nodelay(self.tcp_, 1);
    self.connected_ = true;
    for (const std::string& body : self.unanswered_) self.write_request(body);  // after a reconnect
    uv_read_start(reinterpret_cast<uv_stream_t*>(self.tcp_),
                  [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
                    static char buffer[64 * 1024];
                    *buf = uv_buf_init(buffer, sizeof buffer);
                  },
                  on_read);
  });
}

void Publisher::send(const std::string& body) {
  unanswered_.push_back(body);
  sent_ns_.push_back(uv_hrtime());
  ++in_flight_;
  write_request(body);
}

void Publisher::write_request(const std::string& body) {
  struct Write {
    uv_write_t req;
    std::string data;
  };
  auto* w = new Write{{}, "POST " + path_ + " HTTP/1.1\r\nHost: " + host_ + "\r\nContent-Type: text/plain\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body};
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(tcp_), &buf, 1,
               [](uv_write_t* req, int) { delete reinterpret_cast<Write*>(req); }) != 0)
    delete w;  // the connection is going: reconnect() sends it again
}

void Publisher::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto& self = *static_cast<Publisher*>(stream->data);
  if (nread < 0) {
    self.reconnect();
    return;
  }
  self.input_.append(buf->base, static_cast<std::size_t>(nread));
  self.parse();
}

// Responses with Content-Length bodies, one after the other.
void Publisher::parse() {
  for (;;) {
    std::size_t end = input_.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::size_t length = 0;
    for (std::size_t at = 0; at < end;) {
      std::size_t eol = input_.find("\r\n", at);
      if (eol > end) eol = end;
      if (eol - at > 15 && strncasecmp(input_.c_str() + at, "content-length:", 15) == 0)
        length = std::strtoul(input_.c_str() + at + 15, nullptr, 10);
      at = eol + 2;
    }
    if (input_.size() < end + 4 + length) return;
    int status = std::atoi(input_.c_str() + 9);
    if (status < 200 || status > 299) ++failed_;
    input_.erase(0, end + 4 + length);
    --in_flight_;
    ++answered_;
    if (!unanswered_.empty()) unanswered_.pop_front();
    if (!sent_ns_.empty()) {
      latency_.add((uv_hrtime() - sent_ns_.front()) / 1000);
      sent_ns_.pop_front();
    }
  }
}

// The server closed (keepalive_requests reached, say): what it did not answer goes again.
void Publisher::reconnect() {
  connected_ = false;
  input_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(tcp_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  tcp_ = nullptr;
  if (++reconnects_ > 1000) {
    std::fprintf(stderr, "publisher: the server keeps closing the connection: giving up\n");
    return;
  }
  start();
}

void Publisher::close() {
  if (tcp_) uv_close(reinterpret_cast<uv_handle_t*>(tcp_), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  tcp_ = nullptr;
}

}  // namespace bench
