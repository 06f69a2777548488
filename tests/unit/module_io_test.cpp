// Module I/O through the host table (ABI 1.4) on a real loop and a real socketpair: what is
// ready is reported, a hang-up is an ERROR reported once (the io is then not watched), an io may
// stop itself in its callback, a second io_stop() is refused, and ios left at exit are stopped.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "worker/host/module_api.h"

namespace {

struct Loop {
  Loop() {
    uv_loop_init(&loop);
    worker.loop = &loop;
  }
  ~Loop() {
    uv_run(&loop, UV_RUN_DEFAULT);
    EXPECT_EQ(uv_loop_close(&loop), 0);
  }
  uv_loop_t loop;
  tether_worker worker;
};

struct Pair {
  Pair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0); }
  ~Pair() {
    for (int f : fd)
      if (f >= 0) close(f);
  }
  int fd[2] = {-1, -1};
};

struct Seen {
  int calls = 0;
  int events = 0;
  bool stop_in_callback = false;
};

void record(tether_io* io, int events, void* user) {
  auto* seen = static_cast<Seen*>(user);
  ++seen->calls;
  seen->events |= events;
  if (seen->stop_in_callback) tether::module_host_table().io_stop(io);
}

}  // namespace

TEST(ModuleIo, ReadinessIsReportedAndAnIoMayStopItselfInItsCallback) {
  Loop l;
  Pair p;
  const tether_host& host = tether::module_host_table();
  Seen seen;
  seen.stop_in_callback = true;
  tether_io* io = host.io_start(&l.worker, p.fd[0], TETHER_IO_READ | TETHER_IO_WRITE, record, &seen);
  ASSERT_NE(io, nullptr);
  ASSERT_EQ(write(p.fd[1], "x", 1), 1);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.events, TETHER_IO_READ | TETHER_IO_WRITE);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.calls, 1);  // stopped: nothing more
}

TEST(ModuleIo, AHangUpIsAnErrorReportedOnce) {
  Loop l;
  Pair p;
  const tether_host& host = tether::module_host_table();
  Seen seen;
  tether_io* io = host.io_start(&l.worker, p.fd[0], TETHER_IO_READ, record, &seen);
  ASSERT_NE(io, nullptr);
  close(p.fd[1]);
  p.fd[1] = -1;
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_TRUE(seen.events & TETHER_IO_ERROR);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.calls, 1);  // not watched any more until io_update
  host.io_stop(io);
}

TEST(ModuleIo, WhatIsWatchedChangesWithIoUpdate) {
  Loop l;
  Pair p;
  const tether_host& host = tether::module_host_table();
  Seen seen;
  tether_io* io = host.io_start(&l.worker, p.fd[0], 0, record, &seen);
  ASSERT_NE(io, nullptr);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.calls, 0);  // nothing watched
  EXPECT_EQ(host.io_update(io, TETHER_IO_WRITE), TETHER_OK);
  uv_run(&l.loop, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.events, TETHER_IO_WRITE);
  EXPECT_EQ(host.io_update(io, TETHER_IO_ERROR), TETHER_ERROR);  // only READ and WRITE are watched
  host.io_stop(io);
}

TEST(ModuleIo, StoppingAnIoTwiceIsIgnoredAndItsDescriptorStaysOpen) {
  Loop l;
  Pair p;
  const tether_host& host = tether::module_host_table();
  Seen seen;
  tether_io* io = host.io_start(&l.worker, p.fd[0], TETHER_IO_READ, record, &seen);
  ASSERT_NE(io, nullptr);
  host.io_stop(io);
  host.io_stop(io);  // still closing: a second uv_close would corrupt the loop
  uv_run(&l.loop, UV_RUN_NOWAIT);
  host.io_stop(io);  // freed: refused without touching it
  EXPECT_EQ(host.io_update(io, TETHER_IO_READ), TETHER_ERROR);
  EXPECT_EQ(write(p.fd[0], "x", 1), 1);  // the module's descriptor is still its own
}

TEST(ModuleIo, IosLeftWatchedAreStoppedForTheirWorkerOnly) {
  Loop mine, other;
  Pair p;
  const tether_host& host = tether::module_host_table();
  Seen seen;
  host.io_start(&mine.worker, p.fd[0], TETHER_IO_READ, record, &seen);
  tether_io* kept = host.io_start(&other.worker, p.fd[1], TETHER_IO_READ, record, &seen);
  EXPECT_EQ(tether::close_module_ios(&mine.worker), 1u);
  EXPECT_EQ(tether::close_module_ios(&mine.worker), 0u);
  host.io_stop(kept);
}
