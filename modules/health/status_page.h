/* /status: the status page, one self-contained HTML file (modules/health/status.html, turned
 * into a C array at build time by cmake/embed_file.cmake). It fetches /status.json every second;
 * the page itself never changes. */
#ifndef TETHER_HEALTH_STATUS_PAGE_H
#define TETHER_HEALTH_STATUS_PAGE_H

#include <tether/module.h>

int serve_status_page(const tether_host *host, tether_request *request);

#endif
