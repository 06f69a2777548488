/* libFuzzer harness: the websocket module's Sec-WebSocket-Extensions reader and permessage-deflate
 * negotiation (modules/websocket/ws_extensions.c). Input: the header's value, whole (copied into a
 * block of its exact size: the host's header values are not NUL-terminated). Every answer is
 * checked for what websocket.c relies on, and an accepted answer, read back as an offer, must
 * be accepted with the same terms (it is itself a valid permessage-deflate parameter list). */
#include <stdlib.h>
#include <string.h>

#include "modules/websocket/ws_extensions.h"
#include "tests/fuzz/fuzz_fields.h"

static int mentions_deflate(const uint8_t *data, size_t size) {
  static const char name[] = "permessage-deflate";
  size_t i, j, n = sizeof name - 1;
  for (i = 0; i + n <= size; ++i) {
    for (j = 0; j < n; ++j) {
      int c = data[i + j];
      if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
      if (c != name[j]) break;
    }
    if (j == n) return 1;
  }
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *header = malloc(size ? size : 1);
  ws_deflate_agreement a, again;
  size_t length;
  memcpy(header, data, size);
  ws_deflate_negotiate(header, size, &a);
  length = strlen(a.response);
  FUZZ_CHECK(length < sizeof a.response);
  if (!a.accepted) {
    FUZZ_CHECK(length == 0);
    free(header);
    return 0;
  }
  FUZZ_CHECK(mentions_deflate(data, size));
  FUZZ_CHECK(a.server_window_bits >= 8 && a.server_window_bits <= 15);
  FUZZ_CHECK(a.client_window_bits >= 8 && a.client_window_bits <= 15);
  FUZZ_CHECK(strncmp(a.response, "permessage-deflate; server_no_context_takeover", 46) == 0);
  ws_deflate_negotiate(a.response, length, &again);
  FUZZ_CHECK(again.accepted);
  FUZZ_CHECK(again.server_window_bits == a.server_window_bits && again.client_window_bits == a.client_window_bits);
  FUZZ_CHECK(again.client_no_context_takeover == a.client_no_context_takeover);
  FUZZ_CHECK(strcmp(again.response, a.response) == 0);
  free(header);
  return 0;
}
