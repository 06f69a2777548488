/* The hashed timer wheel of timer_wheel.h: one circular list per slot, the slot of an entry
 * being its due tick modulo TIMER_WHEEL_SLOTS. */
#include "timer_wheel.h"

enum { SLOT_MASK = TIMER_WHEEL_SLOTS - 1 };

/* The first tick at or after due_ms (rounded up, so that an entry never fires early). */
static uint64_t due_tick(const timer_wheel *wheel, uint64_t due_ms) {
  return due_ms / wheel->tick_ms + (due_ms % wheel->tick_ms != 0);
}

void timer_wheel_init(timer_wheel *wheel, uint64_t tick_ms) {
  size_t i;
  for (i = 0; i < TIMER_WHEEL_SLOTS; ++i) list_init(&wheel->slots[i]);
  wheel->tick_ms = tick_ms ? tick_ms : 1;
  wheel->next_tick = 0;
  wheel->count = 0;
}

void timer_wheel_schedule(timer_wheel *wheel, timer_wheel_entry *entry, uint64_t due_ms) {
  uint64_t tick = due_tick(wheel, due_ms);
  if (timer_wheel_scheduled(entry)) list_remove(&entry->link);
  else ++wheel->count;
  /* A tick expire has already looked at would only be seen a whole turn later: the next one. */
  if (tick < wheel->next_tick) tick = wheel->next_tick;
  entry->due_ms = due_ms;
  list_insert_head(&wheel->slots[tick & SLOT_MASK], &entry->link);
}

void timer_wheel_cancel(timer_wheel *wheel, timer_wheel_entry *entry) {
  if (!timer_wheel_scheduled(entry)) return;
  list_remove(&entry->link);
  --wheel->count;
}

/* Fires the entries of one slot that are due by now_tick and keeps the others (due in a later
 * turn). The slot's list is moved to a local head first, so that whatever a callback schedules
 * (into this slot too) waits for a later expire, and each entry is taken off the local list
 * before its callback runs, so that a callback may cancel or free any entry, itself included. */
static size_t expire_slot(timer_wheel *wheel, list_link *slot, uint64_t now_tick, timer_wheel_fire fire, void *user) {
  list_link pending;
  size_t fired = 0;
  if (list_empty(slot)) return 0;
  pending.next = slot->next;
  pending.prev = slot->prev;
  pending.next->prev = &pending;
  pending.prev->next = &pending;
  list_init(slot);
  while (!list_empty(&pending)) {
    timer_wheel_entry *entry = LIST_ENTRY(pending.next, timer_wheel_entry, link);
    list_remove(&entry->link);
    if (due_tick(wheel, entry->due_ms) > now_tick) {
      list_insert_head(slot, &entry->link);
      continue;
    }
    --wheel->count;
    ++fired;
    fire(entry, user);
  }
  return fired;
}

size_t timer_wheel_expire(timer_wheel *wheel, uint64_t now_ms, timer_wheel_fire fire, void *user) {
  uint64_t now_tick = now_ms / wheel->tick_ms, tick = wheel->next_tick;
  size_t fired = 0;
  if (now_tick < tick) return 0; /* this tick was looked at already */
  /* Set before any callback runs: what they schedule for now or earlier goes to the next tick. */
  wheel->next_tick = now_tick + 1;
  if (wheel->count == 0) return 0;
  /* After a long pause (or on the first call) every slot is looked at once, not every tick. */
  if (now_tick - tick >= TIMER_WHEEL_SLOTS) tick = now_tick - TIMER_WHEEL_SLOTS + 1;
  for (; tick <= now_tick; ++tick) fired += expire_slot(wheel, &wheel->slots[tick & SLOT_MASK], now_tick, fire, user);
  return fired;
}
