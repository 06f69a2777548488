// Module timers through the host table: a module that stops a timer twice (a bug the ABI forbids)
// gets a warning, not a use-after-free or a double close in the worker.
#include <gtest/gtest.h>
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

void never(tether_timer*, void*) { ADD_FAILURE() << "a stopped timer fired"; }

}  // namespace

TEST(ModuleTimers, StoppingATimerTwiceBeforeItIsFreedIsIgnored) {
  Loop l;
  const tether_host& host = tether::module_host_table();
  tether_timer* timer = host.timer_start(&l.worker, 10, 0, never, nullptr);
  ASSERT_NE(timer, nullptr);
  host.timer_stop(timer);
  host.timer_stop(timer);  // still closing: a second uv_close would corrupt the loop
}

TEST(ModuleTimers, StoppingATimerAgainAfterItWasFreedIsIgnored) {
  Loop l;
  const tether_host& host = tether::module_host_table();
  tether_timer* timer = host.timer_start(&l.worker, 10, 0, never, nullptr);
  ASSERT_NE(timer, nullptr);
  host.timer_stop(timer);
  uv_run(&l.loop, UV_RUN_NOWAIT);  // the close callback frees it
  host.timer_stop(timer);          // a dangling pointer: refused without touching it
}

TEST(ModuleTimers, TimersLeftRunningAreClosedForTheirWorkerOnly) {
  Loop mine, other;
  const tether_host& host = tether::module_host_table();
  host.timer_start(&mine.worker, 1000, 1000, never, nullptr);
  host.timer_start(&mine.worker, 1000, 0, never, nullptr);
  tether_timer* kept = host.timer_start(&other.worker, 1000, 0, never, nullptr);
  EXPECT_EQ(tether::close_module_timers(&mine.worker), 2u);
  EXPECT_EQ(tether::close_module_timers(&mine.worker), 0u);
  host.timer_stop(kept);
}
