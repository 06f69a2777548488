/* The heartbeats of one module's connections in one worker: a timer_wheel (timer_wheel.h) on
 * 100 ms ticks, driven by one host timer that runs only while an entry is scheduled, so that a
 * worker with no heartbeat to keep wakes up for none.
 *
 * 100 ms is the resolution the modules' sweeps had: an entry fires between its time and about
 * two ticks later (one for rounding up to a tick, one for the host timer's phase), and 1024
 * slots make one turn of 102.4 s, longer than the default heartbeat_interval (30 s) and
 * heartbeat_timeout (60 s), so a default heartbeat never waits more than one turn.
 *
 *   static heartbeat_wheel beats;
 *   heartbeat_wheel_init(&beats, host, worker, on_beat, NULL);   // worker_init
 *   heartbeat_wheel_schedule(&beats, &c->beat, monotonic_ms() + interval);
 *   heartbeat_wheel_cancel(&beats, &c->beat);                   // before c is freed
 *   heartbeat_wheel_exit(&beats);                               // worker_exit
 */
#ifndef TETHER_MODULES_COMMON_HEARTBEAT_WHEEL_H
#define TETHER_MODULES_COMMON_HEARTBEAT_WHEEL_H

#include <tether/module.h>

#include "timer_wheel.h"

#ifdef __cplusplus
extern "C" {
#endif

enum { HEARTBEAT_TICK_MS = 100 };

typedef struct heartbeat_wheel {
  timer_wheel wheel;
  const tether_host *host;
  tether_worker *worker;
  tether_timer *timer; /* running while the wheel holds an entry (stopped at the first tick after) */
  timer_wheel_fire fire;
  void *user;
} heartbeat_wheel;

void heartbeat_wheel_init(heartbeat_wheel *beats, const tether_host *host, tether_worker *worker, timer_wheel_fire fire,
                          void *user);
/* Schedules (or moves) the entry at due_ms of monotonic_ms() (modules/common/clock.h); fire runs
 * for it on the loop, never inside this call. */
void heartbeat_wheel_schedule(heartbeat_wheel *beats, timer_wheel_entry *entry, uint64_t due_ms);
static inline void heartbeat_wheel_cancel(heartbeat_wheel *beats, timer_wheel_entry *entry) {
  timer_wheel_cancel(&beats->wheel, entry);
}
/* Stops the host timer; entries still scheduled stay so (and never fire). */
void heartbeat_wheel_exit(heartbeat_wheel *beats);

#ifdef __cplusplus
}
#endif

#endif
