/* ASCII case folding for protocol tokens (header names and values, extension parameters): not
 * the C library's, which follows the locale and stops at a NUL. */
#ifndef TETHER_MODULES_COMMON_ASCII_H
#define TETHER_MODULES_COMMON_ASCII_H

#include <stddef.h>

static inline int ascii_lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }

/* Case-insensitive equality of two byte strings of the same length (NUL is a byte like any). */
static inline int ascii_equal_ignoring_case(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; ++i)
    if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i])) return 0;
  return 1;
}

#endif
