#include "subscriber.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>

namespace bench {

std::uint64_t Subscriber::wire_bytes = 0;
std::uint64_t Subscriber::compressed_messages = 0;

struct Subscriber::Inflater {
  z_stream z{};
  Inflater() { inflateInit2(&z, -15); }
  ~Inflater() { inflateEnd(&z); }
};

namespace {

// The inflater of servers that compress each message alone (server_no_context_takeover): one
// for the process, reset per message.
Subscriber::Inflater* shared_inflater() {
  static auto* inflater = new Subscriber::Inflater;
  return inflater;
}

// RFC 7692 §7.2.2: a message's payload, with 00 00 ff ff appended, inflated into *out.
bool inflate_message(z_stream& z, std::string_view payload, std::string* out) {
  static const unsigned char tail[4] = {0, 0, 0xff, 0xff};
  out->clear();
  char buffer[16384];
  for (int part = 0; part < 2; ++part) {
    z.next_in = part == 0 ? reinterpret_cast<Bytef*>(const_cast<char*>(payload.data())) : const_cast<Bytef*>(tail);
    z.avail_in = part == 0 ? static_cast<uInt>(payload.size()) : 4;
    for (;;) {
      z.next_out = reinterpret_cast<Bytef*>(buffer);
      z.avail_out = sizeof buffer;
      int r = inflate(&z, Z_SYNC_FLUSH);
      if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) return false;
      out->append(buffer, sizeof buffer - z.avail_out);
      if (z.avail_in == 0 && z.avail_out != 0) break;
    }
  }
  return true;
}

}  // namespace

Subscriber::~Subscriber() = default;

const char* failure_name(Failure failure) {
  switch (failure) {
    case Failure::none: return "none";
    case Failure::connect: return "connect";
    case Failure::refused_status: return "status";
    case Failure::closed: return "closed";
    case Failure::timeout: return "timeout";
  }
  return "?";
}

Subscriber::Subscriber(uv_loop_t* loop, const Target& target, const sockaddr* source, const Events& events,
                       std::size_t index)
    : loop_(loop), target_(target), events_(events), index_(index) {
  if (source) {
    std::memcpy(&source_, source, source->sa_family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    has_source_ = true;
  }
}

void Subscriber::start() {
  uv_tcp_init_ex(loop_, &tcp_, AF_INET);
  tcp_.data = this;
  if (has_source_) {
    // Let connect() pick the port for (source, destination): bind() alone would search for a
    // port free for every destination, which gets slow with thousands bound (and TIME_WAIT).
    uv_os_fd_t fd;
    int one = 1;
    uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd);
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    uv_tcp_bind(&tcp_, reinterpret_cast<const sockaddr*>(&source_), 0);
  }
  sockaddr_in address;
  uv_ip4_addr(target_.host.c_str(), target_.port, &address);
  connect_.data = this;
  if (uv_tcp_connect(&connect_, &tcp_, reinterpret_cast<const sockaddr*>(&address), on_connect) != 0) fail(Failure::connect);
}

void Subscriber::on_connect(uv_connect_t* req, int status) {
  auto& self = *static_cast<Subscriber*>(req->data);
  if (status != 0 || self.closed_) {
    self.fail(Failure::connect);
    return;
  }
  uv_tcp_nodelay(&self.tcp_, 1);
  std::string request = "GET " + self.target_.path + " HTTP/1.1\r\nHost: " + self.target_.host + "\r\n";
  if (self.target_.protocol == Protocol::websocket)
    request += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n";
  if (self.target_.protocol == Protocol::websocket && self.target_.deflate)
    request += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";
  else
    request += "Accept: text/event-stream\r\n";
  request += "\r\n";
  self.write(std::move(request));
  uv_read_start(reinterpret_cast<uv_stream_t*>(&self.tcp_),
                [](uv_handle_t*, std::size_t, uv_buf_t* buf) {
                  static char buffer[256 * 1024];  // one loop thread: parsed before the next read
                  *buf = uv_buf_init(buffer, sizeof buffer);
                },
                on_read);
}

void Subscriber::write(std::string bytes) {
  struct Write {
    uv_write_t req;
    std::string data;
  };
  auto* w = new Write{{}, std::move(bytes)};
  uv_buf_t buf = uv_buf_init(w->data.data(), static_cast<unsigned>(w->data.size()));
  if (uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, [](uv_write_t* req, int) {
        delete reinterpret_cast<Write*>(req);
      }) != 0)
    delete w;
}

void Subscriber::send_text(std::string_view text) {
  std::string frame;
  frame.push_back(static_cast<char>(0x81));
  if (text.size() < 126) {
    frame.push_back(static_cast<char>(0x80 | text.size()));
  } else {
    frame.push_back(static_cast<char>(0x80 | 126));
    frame.push_back(static_cast<char>(text.size() >> 8));
    frame.push_back(static_cast<char>(text.size()));
  }
  frame.append("\0\0\0\0", 4);  // a zero mask: the payload goes as it is
  frame.append(text);
  write(std::move(frame));
}

void Subscriber::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto& self = *static_cast<Subscriber*>(stream->data);
  if (nread < 0) {
    self.fail(Failure::closed);
    return;
  }
  wire_bytes += static_cast<std::uint64_t>(nread);
  self.input_.append(buf->base, static_cast<std::size_t>(nread));
  self.handle_input();
}

void Subscriber::handle_input() {
  if (!ready_) {
    if (!parse_head()) return;
  }
  if (closed_) return;
  if (target_.protocol == Protocol::websocket) parse_websocket();
  else if (chunked_) parse_chunks();
  else {
    parse_sse(input_);
    input_.clear();
  }
}

bool Subscriber::parse_head() {
  std::size_t end = input_.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  std::sscanf(input_.c_str(), "HTTP/1.%*d %d", &status_);
  std::string head = input_.substr(0, end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  int wanted = target_.protocol == Protocol::websocket ? 101 : 200;
  if (status_ != wanted) {
    if (std::size_t at = head.find("\r\nretry-after:"); at != std::string::npos)
      retry_after_ = std::atoi(head.c_str() + at + 15);
    fail(Failure::refused_status);
    return false;
  }
  chunked_ = head.find("transfer-encoding: chunked") != std::string::npos;
  if (target_.deflate && head.find("sec-websocket-extensions: permessage-deflate") != std::string::npos) {
    deflated_ = true;
    if (head.find("server_no_context_takeover") == std::string::npos) inflater_ = std::make_unique<Inflater>();
  }
  input_.erase(0, end + 4);
  ready_ = true;
  if (events_.on_ready) events_.on_ready(*this);
  return true;
}

void Subscriber::parse_websocket() {
  std::size_t at = 0;
  while (input_.size() - at >= 2) {
    auto b0 = static_cast<unsigned char>(input_[at]), b1 = static_cast<unsigned char>(input_[at + 1]);
    std::size_t header = 2;
    std::uint64_t length = b1 & 0x7F;
    if (length == 126) header = 4;
    else if (length == 127) header = 10;
    if (input_.size() - at < header) break;
    if (header == 4) length = static_cast<unsigned char>(input_[at + 2]) << 8 | static_cast<unsigned char>(input_[at + 3]);
    if (header == 10) {
      length = 0;
      for (int i = 0; i < 8; ++i) length = length << 8 | static_cast<unsigned char>(input_[at + 2 + i]);
    }
    if (input_.size() - at - header < length) break;
    std::string_view payload(input_.data() + at + header, length);
    int opcode = b0 & 0x0F;
    at += header + length;
    if ((opcode == 0x1 || opcode == 0x2) && (b0 & 0x40) && deflated_) {
      Inflater* inflater = inflater_ ? inflater_.get() : shared_inflater();
      if (!inflater_) inflateReset(&inflater->z);
      if (!inflate_message(inflater->z, payload, &inflated_)) {
        fail(Failure::closed);
        return;
      }
      ++compressed_messages;
      if (events_.on_message) events_.on_message(*this, inflated_);
    } else if (opcode == 0x1 || opcode == 0x2) {
      if (events_.on_message) events_.on_message(*this, payload);
    } else if (opcode == 0x9) {
      std::string pong;
      pong.push_back(static_cast<char>(0x8A));
      pong.push_back(static_cast<char>(0x80 | payload.size()));
      pong.append("\0\0\0\0", 4);
      pong.append(payload);
      write(std::move(pong));
    } else if (opcode == 0x8) {
      if (payload.size() >= 2)
        close_code_ = static_cast<unsigned char>(payload[0]) << 8 | static_cast<unsigned char>(payload[1]);
      fail(Failure::closed);
      return;
    }
    if (closed_) return;
  }
  input_.erase(0, at);
}

void Subscriber::parse_chunks() {
  std::string body;
  std::size_t at = 0;
  for (;;) {
    if (!in_chunk_) {
      std::size_t eol = input_.find("\r\n", at);
      if (eol == std::string::npos) break;
      chunk_left_ = std::strtoul(input_.c_str() + at, nullptr, 16) + 2;
      at = eol + 2;
      in_chunk_ = true;
      if (chunk_left_ == 2) {  // the last chunk: the stream ended
        fail(Failure::closed);
        return;
      }
    }
    std::size_t n = std::min(chunk_left_, input_.size() - at);
    body.append(input_, at, n);
    chunk_left_ -= n;
    at += n;
    if (chunk_left_ != 0) break;
    body.resize(body.size() - 2);  // the chunk's CRLF
    in_chunk_ = false;
  }
  input_.erase(0, at);
  parse_sse(body);
}

// "data: <payload>\n" lines end an event at an empty line; comments and other fields are skipped.
void Subscriber::parse_sse(std::string_view body) {
  sse_pending_.append(body);
  std::size_t at = 0, end;
  while ((end = sse_pending_.find("\n\n", at)) != std::string::npos) {
    std::string_view event(sse_pending_.data() + at, end - at);
    at = end + 2;
    std::size_t data = event.rfind("data: ", std::string_view::npos);
    if (data == std::string_view::npos || (data != 0 && event[data - 1] != '\n')) continue;
    std::string_view payload = event.substr(data + 6);
    if (std::size_t nl = payload.find('\n'); nl != std::string_view::npos) payload = payload.substr(0, nl);
    if (events_.on_message) events_.on_message(*this, payload);
    if (closed_) return;
  }
  sse_pending_.erase(0, at);
}

void Subscriber::fail(Failure failure) {
  if (closed_) return;
  bool was_ready = ready_;
  close();
  if (events_.on_failure) events_.on_failure(*this, was_ready && failure == Failure::connect ? Failure::closed : failure);
}

void Subscriber::close() {
  if (closed_) return;
  closed_ = true;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), [](uv_handle_t* h) { delete static_cast<Subscriber*>(h->data); });
}

}  // namespace bench
