// Accepts connections from one inherited listening socket. We poll the socket ourselves instead of
// using uv_listen so that accepting can be paused (max_connections, EMFILE) and resumed, and so
// that stopping closes only this worker's descriptor: the socket and its backlog live on in the
// master and the next generation (see DESIGN.md, "Listeners and zero-drop reload").
#pragma once

#include <sys/socket.h>
#include <uv.h>

namespace tether {

class AcceptorOwner {
 public:
  virtual ~AcceptorOwner() = default;
  // Called for each accepted socket (non-blocking, close-on-exec) with the client's address as
  // accept() gave it and the acceptor's tag. Returns false to stop this round.
  virtual bool on_accepted(int fd, const sockaddr* peer, socklen_t peer_length, const void* tag) = 0;
  // accept() failed for lack of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM).
  virtual void on_accept_exhausted(int error) = 0;
};

class Acceptor {
 public:
  // `tag` is handed back with every accepted socket (the worker's description of the listener).
  Acceptor(uv_loop_t* loop, int listen_fd, AcceptorOwner& owner, const void* tag);
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;
  ~Acceptor();  // closes the poll handle and this process's descriptor

  void resume();
  void pause();

 private:
  static void on_readable(uv_poll_t* poll, int status, int events);

  uv_poll_t* poll_;  // heap: freed in its close callback, which may run after ~Acceptor
  int fd_;
  AcceptorOwner& owner_;
  const void* tag_;
  bool active_ = false;
};

}  // namespace tether
