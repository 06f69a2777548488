// hiredis async contexts on the worker's libuv loop: tether's own adapter, in place of hiredis
// 0.14's (hiredis/adapters/libuv.h). That one restarts its poll handle each time hiredis asks for
// read or write interest, that is for every command queued and every reply read: libuv then
// takes the descriptor out of epoll and puts it back (an epoll_ctl pair per command, one of them
// failing). It also drops a poll error, so a refused connect was noticed only at connect_timeout.
// This one changes the poll only when the interest changes, and hands an error to hiredis as
// readiness: its read or write then fails and the context disconnects at once.
#pragma once

#include <uv.h>

struct redisAsyncContext;

namespace tether {

// Watches `context`'s socket on `loop` until hiredis frees the context. False when the context
// already has an event loop or the poll handle cannot be made.
bool attach_redis_to_loop(redisAsyncContext* context, uv_loop_t* loop);

}  // namespace tether
