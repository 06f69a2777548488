/* heartbeat_wheel.h: a timer_wheel ticked by a host timer only while it holds entries. */
#include "heartbeat_wheel.h"

#include "clock.h"

enum { TICK_MARGIN_MS = 5 };

static void tick(tether_timer *timer, void *user) {
  heartbeat_wheel *beats = user;
  timer_wheel_expire(&beats->wheel, monotonic_ms(), beats->fire, beats->user);
  /* Nothing left to look after: no more wakeups until something is scheduled. (A host timer may
   * be stopped from its own callback: the host frees it on a later turn of the loop.) */
  (void)timer;
  if (timer_wheel_count(&beats->wheel) == 0 && beats->timer) {
    beats->host->timer_stop(beats->timer);
    beats->timer = NULL;
  }
}

void heartbeat_wheel_init(heartbeat_wheel *beats, const tether_host *host, tether_worker *worker, timer_wheel_fire fire,
                          void *user) {
  timer_wheel_init(&beats->wheel, HEARTBEAT_TICK_MS);
  beats->host = host;
  beats->worker = worker;
  beats->timer = NULL;
  beats->fire = fire;
  beats->user = user;
}

void heartbeat_wheel_schedule(heartbeat_wheel *beats, timer_wheel_entry *entry, uint64_t due_ms) {
  timer_wheel_schedule(&beats->wheel, entry, due_ms);
  if (!beats->timer) {
    /* The first tick just after the next tick boundary of the clock, so that entries fire soon
     * after their tick (the loop's cached time may be a few ms behind: hence the margin). If the
     * timer cannot start, the next schedule tries again. */
    uint64_t to_boundary = HEARTBEAT_TICK_MS - monotonic_ms() % HEARTBEAT_TICK_MS + TICK_MARGIN_MS;
    beats->timer = beats->host->timer_start(beats->worker, to_boundary, HEARTBEAT_TICK_MS, tick, beats);
  }
}

void heartbeat_wheel_exit(heartbeat_wheel *beats) {
  if (beats->timer) beats->host->timer_stop(beats->timer);
  beats->timer = NULL;
}
