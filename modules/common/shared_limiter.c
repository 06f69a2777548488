#include "shared_limiter.h"

#include <stdio.h>

rl_state *rl_shared_state(const tether_host *host, const char *name, rl_dimensions wanted, rl_dimensions *had) {
  char record_name[64];
  uint64_t *recorded, expected = 0, asked = (uint64_t)wanted.keys << 32 | wanted.addresses;
  void *zone;
  had->keys = had->addresses = 0;
  if (snprintf(record_name, sizeof record_name, "%s.dimensions", name) >= (int)sizeof record_name) return NULL;
  recorded = host->shared_zone(record_name, sizeof *recorded);
  if (!recorded) return NULL;
  if (!__atomic_compare_exchange_n(recorded, &expected, asked, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) &&
      expected != asked) {
    had->keys = (uint32_t)(expected >> 32);
    had->addresses = (uint32_t)expected;
    return NULL;
  }
  zone = host->shared_zone(name, rl_state_size(wanted.keys, wanted.addresses));
  if (zone) return rl_state_attach(zone, wanted.keys, wanted.addresses);
  /* No table of these dimensions exists (the arena only grows: every worker that asks fails
   * alike), so the record is taken back and a reload asking for a smaller one may succeed. */
  expected = asked;
  __atomic_compare_exchange_n(recorded, &expected, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
  return NULL;
}
