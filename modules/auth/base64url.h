/* base64url without padding (RFC 4648 §5, as RFC 7515 uses it for the segments of a JWT). */
#ifndef TETHER_AUTH_BASE64URL_H
#define TETHER_AUTH_BASE64URL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes that decoding `length` characters can produce at most (never more than `length`). */
size_t base64url_decoded_max(size_t length);

/* Decodes `in` into `out` (room for `capacity` bytes). Strict: only A-Z a-z 0-9 - _, no padding,
 * no whitespace, no length of the form 4n+1, and the unused bits of the last character zero, so
 * that every byte string has exactly one encoding. Returns 0 and sets *out_length, or -1. */
int base64url_decode(const char *in, size_t length, uint8_t *out, size_t capacity, size_t *out_length);

/* Bytes base64url_encode writes for `length` input bytes. */
size_t base64url_encoded_length(size_t length);
/* Encodes `in` into `out` (room for base64url_encoded_length(length) bytes, no NUL). */
void base64url_encode(const uint8_t *in, size_t length, char *out);

#ifdef __cplusplus
}
#endif

#endif
