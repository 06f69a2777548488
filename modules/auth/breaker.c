/* The circuit breaker's state machine (breaker.h). */
#include "breaker.h"

#include <stddef.h>

static void move_to(breaker *b, breaker_state to) {
  breaker_state from = b->state;
  if (from == to) return;
  b->state = to;
  b->failures = 0;
  b->probing = 0;
  if (b->on_change) b->on_change(b->user, from, to);
}

void breaker_init(breaker *b, uint32_t threshold, breaker_change_fn on_change, void *user) {
  b->state = BREAKER_CLOSED;
  b->threshold = threshold;
  b->failures = 0;
  b->probing = 0;
  b->on_change = on_change;
  b->user = user;
}

int breaker_admit(breaker *b, int *probe) {
  *probe = 0;
  switch (b->state) {
    case BREAKER_CLOSED:
      return 1;
    case BREAKER_HALF_OPEN:
      if (b->probing) return 0;
      b->probing = 1;
      *probe = 1;
      return 1;
    case BREAKER_OPEN:
    default:
      return 0;
  }
}

int breaker_record(breaker *b, int probe, int success) {
  if (b->state == BREAKER_HALF_OPEN && probe) {
    move_to(b, success ? BREAKER_CLOSED : BREAKER_OPEN);
    return b->state == BREAKER_OPEN;
  }
  if (b->state != BREAKER_CLOSED || b->threshold == 0) return 0;
  if (success) {
    b->failures = 0;
    return 0;
  }
  if (++b->failures < b->threshold) return 0;
  move_to(b, BREAKER_OPEN);
  return 1;
}

void breaker_probe_abandoned(breaker *b) {
  if (b->state == BREAKER_HALF_OPEN) b->probing = 0;
}

void breaker_cooled(breaker *b) {
  if (b->state == BREAKER_OPEN) move_to(b, BREAKER_HALF_OPEN);
}

const char *breaker_state_name(breaker_state state) {
  switch (state) {
    case BREAKER_CLOSED:
      return "closed";
    case BREAKER_OPEN:
      return "open";
    case BREAKER_HALF_OPEN:
      return "half-open";
  }
  return "?";
}
