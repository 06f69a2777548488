/*
 * A circuit breaker in front of the backend, as a pure state machine (the client owns the
 * cool-down timer and tells it when the cool-down is over):
 *
 *   CLOSED     every call goes through; `threshold` FAILUREs in a row (no success between) open it
 *   OPEN       no call goes through (the caller answers FAILURE at once) until the cool-down ends
 *   HALF_OPEN  exactly one call, the probe, goes through; the others are refused as when OPEN.
 *              The probe's success closes the breaker, its failure opens it again.
 * Outcomes of calls admitted before the breaker opened (stragglers) change nothing once it is
 * open or half-open: only the probe decides. A probe given up before it was made (its caller
 * left while it waited for a connection) lets the next call be the probe.
 * threshold 0 = no breaker: always CLOSED.
 *
 * Every change of state calls on_change (from, to) once: for one log line and a gauge.
 */
#ifndef TETHER_AUTH_BREAKER_H
#define TETHER_AUTH_BREAKER_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum breaker_state {
  BREAKER_CLOSED = 0,
  BREAKER_OPEN = 1,
  BREAKER_HALF_OPEN = 2,
} breaker_state;

typedef void (*breaker_change_fn)(void *user, breaker_state from, breaker_state to);

typedef struct breaker {
  breaker_state state;
  uint32_t threshold;
  uint32_t failures; /* consecutive, while CLOSED */
  int probing;       /* HALF_OPEN: the probe is out */
  breaker_change_fn on_change;
  void *user;
} breaker;

void breaker_init(breaker *b, uint32_t threshold, breaker_change_fn on_change, void *user);
/* May a call go through now? 1 with *probe set (1 for the half-open probe), or 0. */
int breaker_admit(breaker *b, int *probe);
/* A call's outcome. Returns 1 when it opened the breaker: the caller starts the cool-down. */
int breaker_record(breaker *b, int probe, int success);
/* The probe was given up before it was made. */
void breaker_probe_abandoned(breaker *b);
/* The cool-down is over: OPEN becomes HALF_OPEN. */
void breaker_cooled(breaker *b);
const char *breaker_state_name(breaker_state state);

#ifdef __cplusplus
}
#endif

#endif
