#include "uv_auth_loop.h"

#include <gtest/gtest.h>

namespace tether::test {
namespace {

struct Io {
  uv_poll_t poll;
  auth_event* event;
};

struct Timer {
  uv_timer_t timer;
  auth_event* event;
};

// As the host does it (worker/host/module_api.cpp): a hang-up is reported as ERROR with what
// else is ready, once, and the io is watched no more.
int uv_events(int events) {
  return ((events & AUTH_IO_READ) ? UV_READABLE : 0) | ((events & AUTH_IO_WRITE) ? UV_WRITABLE : 0) | UV_DISCONNECT;
}

void on_poll(uv_poll_t* handle, int status, int events) {
  auto* io = static_cast<Io*>(handle->data);
  bool error = status < 0 || (events & UV_DISCONNECT);
  int fired = (error ? AUTH_IO_ERROR : 0) | ((events & UV_READABLE) ? AUTH_IO_READ : 0) |
              ((events & UV_WRITABLE) ? AUTH_IO_WRITE : 0);
  if (error) uv_poll_stop(handle);
  io->event->fire(io->event, fired);
}

auth_io* io_start(void* context, int fd, int events, auth_event* event) {
  auto* self = static_cast<UvAuthLoop*>(context);
  auto* io = new Io{{}, event};
  if (uv_poll_init_socket(self->uv(), &io->poll, fd) != 0) {
    delete io;
    return nullptr;
  }
  io->poll.data = io;
  uv_poll_start(&io->poll, uv_events(events), on_poll);
  return reinterpret_cast<auth_io*>(io);
}

int io_update(auth_io* handle, int events) {
  auto* io = reinterpret_cast<Io*>(handle);
  return uv_poll_start(&io->poll, uv_events(events), on_poll) == 0 ? 0 : -1;
}

void io_stop(auth_io* handle) {
  auto* io = reinterpret_cast<Io*>(handle);
  uv_poll_stop(&io->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&io->poll), [](uv_handle_t* h) { delete static_cast<Io*>(h->data); });
}

auth_timer* timer_start(void* context, uint64_t timeout_ms, auth_event* event) {
  auto* self = static_cast<UvAuthLoop*>(context);
  auto* timer = new Timer{{}, event};
  uv_timer_init(self->uv(), &timer->timer);
  timer->timer.data = timer;
  // The test may have spent a while outside the loop since it last ran (asking the backend for
  // its counts): a timeout counts from now, as on a worker whose loop is always running.
  uv_update_time(self->uv());
  uv_timer_start(
      &timer->timer,
      [](uv_timer_t* h) {
        auto* t = static_cast<Timer*>(h->data);
        t->event->fire(t->event, 0);
      },
      timeout_ms, 0);
  return reinterpret_cast<auth_timer*>(timer);
}

void timer_stop(auth_timer* handle) {
  auto* timer = reinterpret_cast<Timer*>(handle);
  uv_timer_stop(&timer->timer);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer->timer), [](uv_handle_t* h) { delete static_cast<Timer*>(h->data); });
}

uint64_t now_ms(void*) { return uv_hrtime() / 1000000u; }

}  // namespace

UvAuthLoop::UvAuthLoop() {
  uv_loop_init(&loop_);
  interface_ = auth_loop{this, io_start, io_update, io_stop, timer_start, timer_stop, now_ms};
}

UvAuthLoop::~UvAuthLoop() {
  if (!closed_) EXPECT_TRUE(close()) << "the loop still had handles: something was not stopped";
}

bool UvAuthLoop::run_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  // A timer that wakes the loop so that the deadline is seen even when nothing else happens.
  uv_timer_t tick;
  uv_timer_init(&loop_, &tick);
  uv_timer_start(&tick, [](uv_timer_t*) {}, 5, 5);
  bool held = condition();
  while (!held && std::chrono::steady_clock::now() < deadline) {
    uv_run(&loop_, UV_RUN_ONCE);
    held = condition();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);
  return held;
}

void UvAuthLoop::run_for(std::chrono::milliseconds duration) {
  auto deadline = std::chrono::steady_clock::now() + duration;
  run_until([&] { return std::chrono::steady_clock::now() >= deadline; }, duration + std::chrono::seconds(1));
}

bool UvAuthLoop::close() {
  closed_ = true;
  uv_run(&loop_, UV_RUN_NOWAIT);  // the close callbacks of what was stopped last
  bool clean = uv_loop_close(&loop_) == 0;
  if (!clean) {
    uv_walk(&loop_, [](uv_handle_t* h, void*) { if (!uv_is_closing(h)) uv_close(h, nullptr); }, nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }
  return clean;
}

}  // namespace tether::test
