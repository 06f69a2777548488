// Messages on the control channel between the master and one worker: a SOCK_SEQPACKET
// socketpair, so each send is one whole message and a closed peer reads as end-of-file.
#pragma once

#include <cstdint>
#include <optional>

namespace tether {

enum class ControlType : std::uint32_t {
  // worker -> master
  ready = 1,            // listening and serving: the master may drain the previous generation
  accept_stopped = 2,   // no longer accepts: listeners removed by the reload may be closed
  // master -> worker
  drain = 10,           // graceful stop: stop accepting, finish requests, close within drain_timeout
  stop = 11,            // fast stop: close everything now and exit
  reopen_logs = 12,     // USR1: reopen the error and access logs
};

struct ControlMessage {
  ControlType type;
  std::uint32_t argument = 0;
};

const char* control_type_name(ControlType type);

// Sends one message; returns false if the peer is gone.
bool send_control_message(int fd, const ControlMessage& message);
// Receives one message without blocking. nullopt with *closed = true when the peer hung up,
// with *closed = false when nothing is pending (EAGAIN).
std::optional<ControlMessage> receive_control_message(int fd, bool* closed);

}  // namespace tether
