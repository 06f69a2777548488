/* Random spreads for the delays modules announce (an SSE retry: hint), so that clients told the
 * same thing at the same moment do not all come back in the same instant. Not for secrets. */
#ifndef TETHER_MODULES_COMMON_JITTER_H
#define TETHER_MODULES_COMMON_JITTER_H

#include <stdint.h>

/* A number drawn evenly from [low, high] (low when high <= low), seeded once per process. */
uint64_t jitter_between(uint64_t low, uint64_t high);

#endif
