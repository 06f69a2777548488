#include "refusal.h"

#include <stdio.h>

int refuse_request(const tether_host *host, tether_request *request, int status, const char *why) {
  char body[256];
  int n = snprintf(body, sizeof body, "%s\n", why);
  if (status == 405) host->response_header(request, "Allow", "GET");
  host->respond(request, status, "text/plain", body, (size_t)(n < (int)sizeof body ? n : (int)sizeof body - 1));
  return TETHER_OK;
}
