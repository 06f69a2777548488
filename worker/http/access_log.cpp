#include "worker/http/access_log.h"

#include <unistd.h>

#include <cerrno>

#include "core/log.h"
#include "core/socket_address.h"

namespace tether {
namespace {
constexpr std::size_t kFlushThreshold = 64 * 1024;

// Appends `target` with the value of every "token" query parameter written as "-": browsers
// pass bearer tokens there (a WebSocket or an EventSource cannot set headers), and a log must
// not hand them to whoever reads it.
void append_redacted(std::string& out, std::string_view target) {
  std::size_t query = target.find('?');
  if (query == std::string_view::npos || target.find("token=", query) == std::string_view::npos) {
    out += target;
    return;
  }
  out += target.substr(0, query + 1);
  std::string_view rest = target.substr(query + 1);
  while (true) {
    std::size_t end = rest.find('&');
    std::string_view pair = rest.substr(0, end);
    if (pair.starts_with("token=")) out += "token=-";
    else out += pair;
    if (end == std::string_view::npos) break;
    out += '&';
    rest.remove_prefix(end + 1);
  }
}
}  // namespace

AccessLog::~AccessLog() {
  flush();
  close_file();
}

void AccessLog::close_file() {
  if (fd_ > STDERR_FILENO) ::close(fd_);
  fd_ = -1;
}

bool AccessLog::open(const std::string& target, unsigned worker_slot, unsigned generation, std::string* why) {
  target_ = target;
  identity_ = " worker=" + std::to_string(worker_slot) + " gen=" + std::to_string(generation);
  return reopen(why);
}

bool AccessLog::reopen(std::string* why) {
  flush();
  close_file();
  if (target_ == "off") return true;
  if (target_ == "stderr") {
    fd_ = STDERR_FILENO;
    return true;
  }
  // The one way tether opens a log: no symbolic link, nothing but a regular file of its own.
  fd_ = open_log_file(target_, why);
  if (fd_ < 0) {
    *why = "access log: " + *why;
    return false;
  }
  return true;
}

void AccessLog::record(const uv_tcp_t& peer, const RequestSummary& summary) {
  SocketAddress remote;
  int length = sizeof remote.storage;
  if (uv_tcp_getpeername(&peer, reinterpret_cast<sockaddr*>(&remote.storage), &length) == 0) {
    remote.length = static_cast<socklen_t>(length);
    buffer_ += remote.to_string();
  } else {
    buffer_ += '-';
  }
  buffer_ += " [";
  buffer_ += log_timestamp();
  buffer_ += "] \"";
  buffer_ += summary.method;
  buffer_ += ' ';
  append_redacted(buffer_, summary.target);
  buffer_ += " HTTP/";
  buffer_ += std::to_string(summary.http_major);
  buffer_ += '.';
  buffer_ += std::to_string(summary.http_minor);
  buffer_ += "\" ";
  buffer_ += std::to_string(summary.status);
  buffer_ += ' ';
  buffer_ += std::to_string(summary.body_bytes);
  buffer_ += identity_;
  buffer_ += '\n';
  if (buffer_.size() >= kFlushThreshold) flush();
}

void AccessLog::flush() {
  std::size_t offset = 0;
  while (fd_ >= 0 && offset < buffer_.size()) {
    ssize_t n = ::write(fd_, buffer_.data() + offset, buffer_.size() - offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // a full disk must not stop the server: the lines are dropped
    offset += static_cast<std::size_t>(n);
  }
  buffer_.clear();
}

}  // namespace tether
