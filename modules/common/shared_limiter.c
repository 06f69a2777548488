#include "shared_limiter.h"

#include <stdio.h>

rl_state *rl_shared_state(const tether_host *host, const char *name, rl_dimensions wanted, rl_dimensions *had) {
  char size_name[64];
  uint64_t *recorded, expected = 0, asked = (uint64_t)wanted.keys << 32 | wanted.addresses;
  void *zone;
  had->keys = had->addresses = 0;
  if (snprintf(size_name, sizeof size_name, "%s.size", name) >= (int)sizeof size_name) return NULL;
  recorded = host->shared_zone(size_name, sizeof *recorded);
  if (!recorded) return NULL;
  if (!__atomic_compare_exchange_n(recorded, &expected, asked, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
      expected != asked) {
    had->keys = (uint32_t)(expected >> 32);
    had->addresses = (uint32_t)expected;
    return NULL;
  }
  zone = host->shared_zone(name, rl_state_size(wanted.keys, wanted.addresses));
  return zone ? rl_state_attach(zone, wanted.keys, wanted.addresses) : NULL;
}
