/* How both streaming modules refuse a request they will not stream: the status with the reason
 * as a one-line text/plain body, so that a client (or a person with curl) reads why. */
#ifndef TETHER_MODULES_COMMON_REFUSAL_H
#define TETHER_MODULES_COMMON_REFUSAL_H

#include <tether/module.h>

/* Answers `status` with "why\n" (cut to 255 bytes), and "Allow: GET" for a 405. Returns
 * TETHER_OK, what the content hook returns then. Headers the status needs beyond Allow are the
 * caller's to add first. */
int refuse_request(const tether_host *host, tether_request *request, int status, const char *why);

#endif
