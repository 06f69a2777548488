/* A hashed timer wheel (Varghese and Lauck's scheme 6) for what a module does per connection at
 * a time, such as heartbeats: schedule, reschedule and cancel are O(1), and a tick costs the
 * entries in one slot, not every connection.
 *
 * Time is cut into ticks of tick_ms; an entry due at due_ms goes into slot (due tick mod
 * TIMER_WHEEL_SLOTS), its due tick being the first tick at or after due_ms, so that it never
 * fires early and fires at most one tick late (plus however late the caller runs expire). An
 * entry further away than one turn of the wheel waits in its slot for the turn it is due: each
 * turn that passes costs it one look (a 30 s heartbeat on 100 ms ticks never needs a second).
 *
 * The wheel is plain data: it reads no clock (the caller passes now_ms) and starts no timer
 * (modules/common/heartbeat_wheel.c drives one from a host timer). An entry is embedded in the
 * caller's per-connection struct (two pointers and a deadline) and allocates nothing.
 *
 *   timer_wheel_init(&wheel, 100);
 *   timer_wheel_entry_init(&c->beat);
 *   timer_wheel_schedule(&wheel, &c->beat, now + 30000);      // again to reschedule
 *   timer_wheel_expire(&wheel, now, fire, user);              // fire(&c->beat, user) if due
 *   timer_wheel_cancel(&wheel, &c->beat);                     // before c is freed
 */
#ifndef TETHER_MODULES_COMMON_TIMER_WHEEL_H
#define TETHER_MODULES_COMMON_TIMER_WHEEL_H

#include <stddef.h>
#include <stdint.h>

#include "list.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A power of two: 1024 slots of 100 ms are one turn of 102.4 s. */
enum { TIMER_WHEEL_SLOTS = 1024 };

typedef struct timer_wheel_entry {
  list_link link;  /* in its slot; pointing to itself while not scheduled */
  uint64_t due_ms; /* while scheduled */
} timer_wheel_entry;

typedef struct timer_wheel {
  list_link slots[TIMER_WHEEL_SLOTS];
  uint64_t tick_ms;
  uint64_t next_tick; /* the first tick expire has not looked at yet */
  size_t count;       /* entries scheduled */
} timer_wheel;

/* Runs for an entry that is due; it is no longer scheduled, and the callback may schedule it
 * again, cancel or schedule any other entry, or free the struct that holds it. */
typedef void (*timer_wheel_fire)(timer_wheel_entry *entry, void *user);

void timer_wheel_init(timer_wheel *wheel, uint64_t tick_ms);
static inline void timer_wheel_entry_init(timer_wheel_entry *entry) { list_init(&entry->link); }
static inline int timer_wheel_scheduled(const timer_wheel_entry *entry) { return !list_empty(&entry->link); }
static inline size_t timer_wheel_count(const timer_wheel *wheel) { return wheel->count; }

/* Schedules the entry at due_ms, or moves it there if it was scheduled. A due_ms already past
 * fires at the next expire. */
void timer_wheel_schedule(timer_wheel *wheel, timer_wheel_entry *entry, uint64_t due_ms);
/* Unschedules the entry; nothing if it was not scheduled. */
void timer_wheel_cancel(timer_wheel *wheel, timer_wheel_entry *entry);
/* Fires every entry whose due tick (due_ms rounded up to tick_ms) is at or before now_ms, each
 * at most once per call: what a callback schedules for now or earlier fires at the next call.
 * Returns how many fired. */
size_t timer_wheel_expire(timer_wheel *wheel, uint64_t now_ms, timer_wheel_fire fire, void *user);

#ifdef __cplusplus
}
#endif

#endif
