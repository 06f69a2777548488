#include "worker/control_channel.h"

#include <unistd.h>

#include "core/log.h"

namespace tether {

ControlChannel::ControlChannel(uv_loop_t* loop, int fd, MessageHandler on_message, HangupHandler on_hangup)
    : poll_(new uv_poll_t), fd_(fd), on_message_(std::move(on_message)), on_hangup_(std::move(on_hangup)) {
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE | UV_DISCONNECT, on_readable);
}

ControlChannel::~ControlChannel() {
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  ::close(fd_);
}

void ControlChannel::send(ControlType type, std::uint32_t argument) {
  if (!send_control_message(fd_, ControlMessage{type, argument}))
    LOG_WARN("cannot send %s to the master", control_type_name(type));
}

void ControlChannel::on_readable(uv_poll_t* poll, int status, int) {
  auto& self = *static_cast<ControlChannel*>(poll->data);
  bool closed = status < 0;
  while (!closed) {
    auto message = receive_control_message(self.fd_, &closed);
    if (!message) break;
    self.on_message_(*message);
  }
  if (closed) {
    uv_poll_stop(poll);
    self.on_hangup_();  // may destroy this channel: nothing after this line
  }
}

}  // namespace tether
