#include "worker/pubsub/redis_loop.h"

#include <hiredis/async.h>

namespace tether {
namespace {

struct Watch {
  uv_poll_t poll;
  redisAsyncContext* context;  // null once hiredis let go of it (cleanup)
  int events = 0;              // what the poll watches now
};

void on_ready(uv_poll_t* poll, int status, int events) {
  auto* w = static_cast<Watch*>(poll->data);
  if (status < 0) {
    // libuv stopped the handle. What hiredis wanted is tried: the failing read or write (or
    // SO_ERROR, while connecting) tells hiredis what went wrong, and it disconnects.
    events = w->events;
    w->events = 0;
  }
  if (w->context && (events & UV_READABLE)) redisAsyncHandleRead(w->context);
  if (w->context && (events & UV_WRITABLE)) redisAsyncHandleWrite(w->context);
}

void watch(Watch* w, int events) {
  if (!w->context || events == w->events) return;  // the point: no restart for the same interest
  w->events = events;
  if (events) uv_poll_start(&w->poll, events, on_ready);
  else uv_poll_stop(&w->poll);
}

void add_read(void* data) { watch(static_cast<Watch*>(data), static_cast<Watch*>(data)->events | UV_READABLE); }
void del_read(void* data) { watch(static_cast<Watch*>(data), static_cast<Watch*>(data)->events & ~UV_READABLE); }
void add_write(void* data) { watch(static_cast<Watch*>(data), static_cast<Watch*>(data)->events | UV_WRITABLE); }
void del_write(void* data) { watch(static_cast<Watch*>(data), static_cast<Watch*>(data)->events & ~UV_WRITABLE); }

// hiredis frees the context: stop watching; the handle is freed once libuv closed it.
void cleanup(void* data) {
  auto* w = static_cast<Watch*>(data);
  w->context = nullptr;
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), [](uv_handle_t* h) { delete static_cast<Watch*>(h->data); });
}

}  // namespace

bool attach_redis_to_loop(redisAsyncContext* context, uv_loop_t* loop) {
  if (context->ev.data) return false;
  auto* w = new Watch{};
  if (uv_poll_init_socket(loop, &w->poll, context->c.fd) != 0) {
    delete w;
    return false;
  }
  w->poll.data = w;
  w->context = context;
  context->ev.addRead = add_read;
  context->ev.delRead = del_read;
  context->ev.addWrite = add_write;
  context->ev.delWrite = del_write;
  context->ev.cleanup = cleanup;
  context->ev.data = w;
  return true;
}

}  // namespace tether
