/* The slow-consumer settings both streaming modules take per route:
 *   max_queue = "1MiB"            unsent bytes per client before the policy applies (1KiB to 4GiB)
 *   slow_consumer = "disconnect"  or "drop" */
#ifndef TETHER_MODULES_COMMON_QUEUE_SETTINGS_H
#define TETHER_MODULES_COMMON_QUEUE_SETTINGS_H

#include <stdint.h>
#include <tether/module.h>

typedef struct queue_settings {
  uint64_t max_queue;
  tether_slow_policy slow_consumer;
} queue_settings;

#define MAX_QUEUE_LIMIT (UINT64_C(4) << 30) /* connection_set_queue_limit counts a larger one as this */
#define QUEUE_SETTINGS_DEFAULT {1024 * 1024, TETHER_SLOW_DISCONNECT}

/* Reads the keys present in `table` into *s; returns 0 after reporting an error. */
int read_queue_settings(const tether_host *host, tether_config *table, queue_settings *s);

#endif
