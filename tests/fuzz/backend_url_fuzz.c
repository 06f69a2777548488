/* libFuzzer harness: the auth module's `backend` setting (modules/auth/backend_url.c) and the
 * request the backend client writes with it (backend_request.c), where a header could be
 * smuggled in. Fields (tests/fuzz/fuzz_fields.h, separated by '\n'): the URL, the method, the
 * URI, Authorization, Cookie, then channels. An empty Authorization or Cookie field is "absent".
 * Checked: an accepted URL has a host, a path of printable ASCII starting with '/', an address of
 * its family and a port; a request built from it is exactly its request line, the fixed headers
 * and one line per header present, each ending in CRLF, with no other CR or LF anywhere. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modules/auth/backend_request.h"
#include "modules/auth/backend_url.h"
#include "tests/fuzz/fuzz_fields.h"

static void check_url(const backend_url *url) {
  size_t i, path_length = strlen(url->path);
  FUZZ_CHECK(url->host[0] != '\0' && strlen(url->host) < sizeof url->host);
  FUZZ_CHECK(path_length >= 1 && url->path[0] == '/');
  for (i = 0; i < path_length; ++i) FUZZ_CHECK(url->path[i] > 0x20 && url->path[i] < 0x7f && url->path[i] != '#');
  if (url->address.ss_family == AF_INET) {
    FUZZ_CHECK(url->address_length == sizeof(struct sockaddr_in));
    FUZZ_CHECK(((const struct sockaddr_in *)&url->address)->sin_port != 0);
  } else {
    FUZZ_CHECK(url->address.ss_family == AF_INET6 && url->address_length == sizeof(struct sockaddr_in6));
    FUZZ_CHECK(((const struct sockaddr_in6 *)&url->address)->sin6_port != 0);
  }
}

/* Every CR is followed by LF and every LF preceded by CR; returns the number of lines. */
static size_t crlf_lines(const char *text, size_t length) {
  size_t i, lines = 0;
  for (i = 0; i < length; ++i) {
    if (text[i] == '\r') FUZZ_CHECK(i + 1 < length && text[i + 1] == '\n');
    if (text[i] == '\n') {
      FUZZ_CHECK(i > 0 && text[i - 1] == '\r');
      ++lines;
    }
  }
  return lines;
}

static backend_string field(const fuzz_fields *f, size_t i, int empty_is_absent) {
  backend_string s = {NULL, 0};
  if (!f->data[i] || (empty_is_absent && f->length[i] == 0)) return s;
  s.data = f->data[i];
  s.length = f->length[i];
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_fields f;
  backend_url url;
  backend_string channels[FUZZ_MAX_FIELDS];
  backend_question q;
  char *request = NULL;
  size_t length = 0, i, lines;
  fuzz_fields_split(&f, data, size, FUZZ_MAX_FIELDS);
  if (!f.data[0] || backend_url_parse(f.data[0], f.length[0], &url) != NULL) {
    fuzz_fields_free(&f);
    return 0;
  }
  check_url(&url);
  memset(&q, 0, sizeof q);
  q.method = field(&f, 1, 0);
  q.uri = field(&f, 2, 0);
  q.authorization = field(&f, 3, 1);
  q.cookie = field(&f, 4, 1);
  for (i = 5; i < FUZZ_MAX_FIELDS && f.data[i]; ++i) channels[q.channel_count++] = field(&f, i, 0);
  q.channels = channels;
  if (backend_request_build(&url, &q, &request, &length) == NULL) {
    lines = crlf_lines(request, length);
    /* request line, Host, X-Original-Method, X-Original-URI, Accept, the empty line, and the rest */
    FUZZ_CHECK(lines == 6 + (q.channel_count > 0) + (q.authorization.data != NULL) + (q.cookie.data != NULL));
    FUZZ_CHECK(length >= 4 && memcmp(request + length - 4, "\r\n\r\n", 4) == 0);
    for (i = 0; i + 4 < length; ++i) FUZZ_CHECK(memcmp(request + i, "\r\n\r\n", 4) != 0); /* one end of headers */
    free(request);
  } else {
    FUZZ_CHECK(request == NULL && length == 0);
  }
  fuzz_fields_free(&f);
  return 0;
}
