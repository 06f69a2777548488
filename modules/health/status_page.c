#include "status_page.h"

/* Generated from status.html (see modules/CMakeLists.txt). */
extern const unsigned char status_html[];
extern const size_t status_html_length;

int serve_status_page(const tether_host *host, tether_request *request) {
  host->response_header(request, "Cache-Control", "no-store");
  /* The page loads nothing from elsewhere, and nothing it shows runs as code. */
  host->response_header(request, "Content-Security-Policy",
                        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                        "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'");
  host->response_header(request, "X-Content-Type-Options", "nosniff");
  return host->respond(request, 200, "text/html; charset=utf-8", status_html, status_html_length);
}
