/* libFuzzer harness: where the auth module finds a client's token (modules/auth/auth_token.c):
 * field 0 is the Authorization header's value (absent when the input has no line feed: only a
 * query), field 1 the query string. Checked: a token found lies in the header's bytes (after
 * "Bearer ", any case) or in the decode buffer, is 1..JWT_MAX_TOKEN bytes, and has no blank at
 * either end when it came from the header; every other answer has a reason. */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>

#include "modules/auth/auth_token.h"
#include "tests/fuzz/fuzz_fields.h"

int LLVMFuzzerTestOneInput(const uint8_t *input, size_t size) {
  fuzz_fields f;
  static char buffer[JWT_MAX_TOKEN];
  const char *token = NULL, *why = NULL, *header, *query;
  size_t length = 0, header_length, query_length;
  int found;
  fuzz_fields_split(&f, input, size, 2);
  header = f.data[1] ? f.data[0] : NULL;
  header_length = f.data[1] ? f.length[0] : 0;
  query = f.data[1] ? f.data[1] : f.data[0];
  query_length = f.data[1] ? f.length[1] : f.length[0];
  found = auth_token_find(header, header_length, query ? query : "", query ? query_length : 0, buffer, &token, &length, &why);
  if (found == AUTH_TOKEN_FOUND) {
    int in_header = header && token >= header && token + length <= header + header_length;
    int in_buffer = token >= buffer && token + length <= buffer + sizeof buffer;
    FUZZ_CHECK(in_header || in_buffer);
    FUZZ_CHECK(length >= 1 && length <= JWT_MAX_TOKEN);
    if (in_header) {
      FUZZ_CHECK(header_length >= 7 && strncasecmp(header, "Bearer ", 7) == 0 && token >= header + 7);
      FUZZ_CHECK(token[0] != ' ' && token[0] != '\t' && token[length - 1] != ' ' && token[length - 1] != '\t');
    }
  } else if (found == AUTH_TOKEN_MALFORMED) {
    FUZZ_CHECK(why != NULL);
  } else {
    FUZZ_CHECK(found == AUTH_TOKEN_NONE);
  }
  free(f.data[0]);
  free(f.data[1]);
  return 0;
}
