/* The one clock of the built-in modules: CLOCK_MONOTONIC, which never jumps with the wall clock,
 * for heartbeats, sweeps and rate buckets. Microseconds where rates need them, milliseconds for
 * everything else; both read the same clock. */
#ifndef TETHER_MODULES_COMMON_CLOCK_H
#define TETHER_MODULES_COMMON_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t monotonic_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

static inline uint64_t monotonic_ms(void) { return monotonic_us() / 1000u; }

#endif
