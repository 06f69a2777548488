#include "metrics_page.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/text.h"

/* Prometheus wants every sample of a family together, after one HELP and one TYPE line. Each
 * metric is read once (a read sums it over every worker): the page costs one pass over the
 * registry, then grouping by name in local memory. */
int serve_metrics(const tether_host *host, tether_request *request) {
  size_t count = host->metric_count(), i, j;
  tether_metric_sample *samples = calloc(count ? count : 1, sizeof *samples);
  char *pending = calloc(count ? count : 1, 1); /* read and not yet on the page */
  text page = {NULL, 0, 0, 0};
  int status;
  if (!samples || !pending) page.failed = 1;
  for (i = 0; i < count && !page.failed; ++i) {
    samples[i].size = sizeof samples[i];
    pending[i] = host->metric_read(i, &samples[i]) == TETHER_OK;
  }
  for (i = 0; i < count && !page.failed; ++i) {
    const tether_metric_sample *first = &samples[i];
    if (!pending[i]) continue;
    text_printf(&page, "# HELP %s %s\n# TYPE %s %s\n", first->name, first->help, first->name,
                first->type == TETHER_METRIC_GAUGE ? "gauge" : "counter");
    for (j = i; j < count; ++j) {
      const tether_metric_sample *s = &samples[j];
      if (!pending[j] || strcmp(s->name, first->name) != 0) continue;
      pending[j] = 0;
      if (s->labels[0]) text_printf(&page, "%s{%s} %" PRId64 "\n", s->name, s->labels, s->value);
      else text_printf(&page, "%s %" PRId64 "\n", s->name, s->value);
    }
  }
  free(samples);
  free(pending);
  if (page.failed) {
    text_free(&page);
    return TETHER_ERROR;
  }
  host->response_header(request, "Cache-Control", "no-store");
  status = host->respond(request, 200, "text/plain; version=0.0.4; charset=utf-8", page.data, page.length);
  text_free(&page);
  return status;
}
