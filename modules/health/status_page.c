#include "status_page.h"

#include <stdio.h>

/* Generated from status.html (see modules/CMakeLists.txt). */
extern const unsigned char status_html[];
extern const size_t status_html_length;
extern const char status_script_csp[]; /* "'sha256-...'" of its inline script */

int serve_status_page(const tether_host *host, tether_request *request) {
  host->response_header(request, "Cache-Control", "no-store");
  /* The page loads nothing from elsewhere, no script runs but its own (by its hash: were a
   * value it shows ever parsed as HTML, an injected script would not run), and no other page
   * may frame it. */
  char policy[512];
  int n = snprintf(policy, sizeof policy,
                   "default-src 'none'; script-src %s; style-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                   status_script_csp);
  if (n < 0 || (size_t)n >= sizeof policy) return TETHER_ERROR;
  host->response_header(request, "Content-Security-Policy", policy);
  host->response_header(request, "X-Content-Type-Options", "nosniff");
  return host->respond(request, 200, "text/html; charset=utf-8", status_html, status_html_length);
}
