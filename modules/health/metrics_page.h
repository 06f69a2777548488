/* /metrics: every metric of the shared registry, summed over all workers, in the Prometheus
 * text format (version 0.0.4). */
#ifndef TETHER_HEALTH_METRICS_PAGE_H
#define TETHER_HEALTH_METRICS_PAGE_H

#include <tether/module.h>

int serve_metrics(const tether_host *host, tether_request *request);

#endif
