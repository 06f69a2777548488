#include "jitter.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* xorshift64*: fast, and good enough to spread reconnections. */
static uint64_t state;

static uint64_t next(void) {
  if (state == 0) {
    if (getrandom(&state, sizeof state, GRND_NONBLOCK) != (ssize_t)sizeof state || state == 0) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      state = ((uint64_t)now.tv_nsec << 20) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ull;
    }
  }
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545f4914f6cdd1dull;
}

uint64_t jitter_between(uint64_t low, uint64_t high) {
  if (high <= low) return low;
  uint64_t span = high - low;
  if (span == UINT64_MAX) return next();
  return low + next() % (span + 1);
}
