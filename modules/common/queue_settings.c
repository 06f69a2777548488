#include "queue_settings.h"

#include <string.h>

int read_queue_settings(const tether_host *host, tether_config *table, queue_settings *s) {
  const char *value;
  int ok = 1, status;
  if ((status = host->config_string(table, "slow_consumer", &value)) == TETHER_OK) {
    if (strcmp(value, "disconnect") == 0) s->slow_consumer = TETHER_SLOW_DISCONNECT;
    else if (strcmp(value, "drop") == 0) s->slow_consumer = TETHER_SLOW_DROP;
    else host->config_error(table, "slow_consumer", "must be \"disconnect\" or \"drop\""), ok = 0;
  } else if (status == TETHER_ERROR) {
    ok = 0;
  }
  if (host->config_size(table, "max_queue", &s->max_queue) == TETHER_ERROR) ok = 0;
  else if (s->max_queue < 1024 || s->max_queue > MAX_QUEUE_LIMIT)  /* the host counts at most 4GiB */
    host->config_error(table, "max_queue", "must be between 1KiB and 4GiB"), ok = 0;
  return ok;
}
