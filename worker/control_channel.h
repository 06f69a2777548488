// The worker's end of its control channel to the master (see core/control_message.h).
#pragma once

#include <uv.h>

#include <functional>

#include "core/control_message.h"

namespace tether {

class ControlChannel {
 public:
  using MessageHandler = std::function<void(const ControlMessage&)>;
  using HangupHandler = std::function<void()>;

  ControlChannel(uv_loop_t* loop, int fd, MessageHandler on_message, HangupHandler on_hangup);
  ControlChannel(const ControlChannel&) = delete;
  ControlChannel& operator=(const ControlChannel&) = delete;
  ~ControlChannel();

  void send(ControlType type, std::uint32_t argument = 0);

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);

  uv_poll_t* poll_;  // freed in its close callback
  int fd_;
  MessageHandler on_message_;
  HangupHandler on_hangup_;
};

}  // namespace tether
