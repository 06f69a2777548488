/* /status.json: what the status page shows, as one JSON object (documented in docs/status.md):
 * the node's time, its generations and their workers, connections by kind, subscribers, the
 * message counters, reloads and the last one's result, and the busiest channels. Counters come
 * from the metrics registry (the same values /metrics shows), the rest from the host's status
 * snapshot (ABI 1.5). */
#ifndef TETHER_HEALTH_STATUS_JSON_H
#define TETHER_HEALTH_STATUS_JSON_H

#include <tether/module.h>

#include "../common/text.h"

/* The channels listed, at most. */
#define STATUS_BUSIEST_CHANNELS 10

/* Builds the document into *out (check out->failed). TETHER_ERROR when the host has no status
 * (ABI before 1.5) or is out of memory. */
int status_json_build(const tether_host *host, tether_request *request, text *out);
int serve_status_json(const tether_host *host, tether_request *request);

#endif
