#include "core/control_message.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace tether {

const char* control_type_name(ControlType type) {
  switch (type) {
    case ControlType::ready: return "READY";
    case ControlType::accept_stopped: return "ACCEPT_STOPPED";
    case ControlType::drain: return "DRAIN";
    case ControlType::stop: return "STOP";
    case ControlType::reopen_logs: return "REOPEN_LOGS";
  }
  return "UNKNOWN";
}

bool send_control_message(int fd, const ControlMessage& message) {
  std::uint32_t wire[2] = {static_cast<std::uint32_t>(message.type), message.argument};
  for (;;) {
    ssize_t n = ::send(fd, wire, sizeof wire, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(sizeof wire)) return true;
    if (n < 0 && errno == EINTR) continue;
    return false;
  }
}

std::optional<ControlMessage> receive_control_message(int fd, bool* closed) {
  std::uint32_t wire[2];
  *closed = false;
  for (;;) {
    ssize_t n = ::recv(fd, wire, sizeof wire, MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(sizeof wire))
      return ControlMessage{static_cast<ControlType>(wire[0]), wire[1]};
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::nullopt;
    *closed = true;  // EOF, error, or a malformed message: the peer is not one we can talk to
    return std::nullopt;
  }
}

}  // namespace tether
