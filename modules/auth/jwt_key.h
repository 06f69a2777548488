/* Internal to the JWT verifier: what a key is and how it checks a signature (jwt_key.c). */
#ifndef TETHER_AUTH_JWT_KEY_H
#define TETHER_AUTH_JWT_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "jwt.h"

/* Checks that `key` allows the algorithm `alg` names (alg_length bytes) and that `signature`
 * is its signature of `data`. JWT_OK, JWT_REFUSED (with *why) or JWT_FAILED. */
int jwt_key_check_signature(const jwt_key *key, const char *alg, size_t alg_length, const uint8_t *data,
                            size_t length, const uint8_t *signature, size_t signature_length, const char **why);

#endif
