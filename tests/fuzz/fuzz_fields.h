/* For the module harnesses: cuts a fuzz input into fields, each copied into a heap block of
 * its exact size so that AddressSanitizer sees a read one byte past any of them (the fields of
 * a real request are not NUL-terminated either). Fields are separated by a line feed; a field
 * may hold any other byte, NUL included. Header-only, for C harnesses. */
#ifndef TETHER_FUZZ_FIELDS_H
#define TETHER_FUZZ_FIELDS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(condition) \
  do {                        \
    if (!(condition)) abort(); \
  } while (0)

enum { FUZZ_MAX_FIELDS = 16 };

typedef struct fuzz_fields {
  char *data[FUZZ_MAX_FIELDS]; /* NULL: the input ended before this field */
  size_t length[FUZZ_MAX_FIELDS];
} fuzz_fields;

static inline void fuzz_fields_split(fuzz_fields *f, const uint8_t *input, size_t size, size_t count) {
  size_t i, start = 0;
  memset(f, 0, sizeof *f);
  for (i = 0; i < count && i < FUZZ_MAX_FIELDS && start <= size; ++i) {
    const uint8_t *end = memchr(input + start, '\n', size - start);
    size_t n = end ? (size_t)(end - (input + start)) : size - start;
    f->data[i] = malloc(n ? n : 1);
    memcpy(f->data[i], input + start, n);
    f->length[i] = n;
    start += n + 1;
    if (!end) break;
  }
}

/* The field as a NUL-terminated string (cut at its first NUL, as a C string from a config
 * file would be); free it. NULL stays NULL. */
static inline char *fuzz_fields_string(const fuzz_fields *f, size_t i) {
  char *s;
  if (!f->data[i]) return NULL;
  s = malloc(f->length[i] + 1);
  memcpy(s, f->data[i], f->length[i]);
  s[f->length[i]] = 0;
  return s;
}

static inline void fuzz_fields_free(fuzz_fields *f) {
  size_t i;
  for (i = 0; i < FUZZ_MAX_FIELDS; ++i) free(f->data[i]);
}

/* The server's channel name rule (core/pubsub_wire.cpp), for harnesses that cannot link the
 * core: 1 to 128 bytes of letters, digits and _ - . : @. */
static inline const char *fuzz_channel_rule(const char *name, size_t length) {
  size_t i;
  if (length == 0) return "the channel name is empty";
  if (length > 128) return "the channel name is longer than 128 bytes";
  for (i = 0; i < length; ++i) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
             c == '.' || c == ':' || c == '@';
    if (!ok) return "the channel name may only contain letters, digits and _ - . : @";
  }
  return NULL;
}

#endif
