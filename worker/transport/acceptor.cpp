#include "worker/transport/acceptor.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tether {
namespace {
// Accept at most this many per wake-up so one busy listener cannot starve the loop's other work.
constexpr int kAcceptBatch = 64;
}

Acceptor::Acceptor(uv_loop_t* loop, int listen_fd, AcceptorOwner& owner, const void* tag)
    : poll_(new uv_poll_t), fd_(listen_fd), owner_(owner), tag_(tag) {
  uv_poll_init(loop, poll_, fd_);
  poll_->data = this;
}

Acceptor::~Acceptor() {
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  ::close(fd_);
}

void Acceptor::resume() {
  if (active_) return;
  active_ = true;
  uv_poll_start(poll_, UV_READABLE, on_readable);
}

void Acceptor::pause() {
  if (!active_) return;
  active_ = false;
  uv_poll_stop(poll_);
}

void Acceptor::on_readable(uv_poll_t* poll, int status, int) {
  auto& self = *static_cast<Acceptor*>(poll->data);
  if (status < 0) return;
  for (int i = 0; i < kAcceptBatch && self.active_; ++i) {
    sockaddr_storage peer;
    socklen_t peer_length = sizeof peer;
    int fd = ::accept4(self.fd_, reinterpret_cast<sockaddr*>(&peer), &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (!self.owner_.on_accepted(fd, reinterpret_cast<sockaddr*>(&peer), peer_length, self.tag_)) return;
      continue;
    }
    switch (errno) {
      case EINTR:
      case ECONNABORTED:
      case EPROTO:
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        self.owner_.on_accept_exhausted(errno);
        return;
      default:  // EAGAIN: the backlog is empty (another worker may have taken the connection)
        return;
    }
  }
}

}  // namespace tether
