/*
 * JWT verification for the auth module (RFC 7519 tokens in the JWS compact form, RFC 7515),
 * plain C against OpenSSL 3 and nothing of the host, so that it can be tested and fuzzed alone.
 *
 * Keys. A key fixes the algorithms a token may name; the token's "alg" only chooses among them:
 *   jwt_key_hmac   a secret of at least 32 bytes          HS256, HS384, HS512
 *   jwt_key_pem    RSA public key, >= 2048 bits           RS256, RS384, RS512
 *                  EC public key on P-256                  ES256
 *                  EC public key on P-384                  ES384
 *                  Ed25519 public key                      EdDSA
 * A PEM is a SubjectPublicKeyInfo ("BEGIN PUBLIC KEY") or a certificate ("BEGIN CERTIFICATE",
 * whose key is taken; its dates and issuer are not checked). "none" and every other alg are
 * refused, and since a public key is never an HMAC key, a token "HS256-signed with the public
 * key as the secret" fails against it. jwt_key_hmac also refuses a secret that holds a PEM
 * block, so that a public key pasted as jwt_secret is a config error rather than that hole.
 *
 * Tokens (jwt_verify). Refused before anything is decoded: more than JWT_MAX_TOKEN bytes, other
 * than three segments. Each segment must be strict base64url (base64url.h). The header is a
 * JSON object (jwt_json.h) with a string "alg"; a "crit" member is refused (no extension is
 * understood); "typ", "kid" and the rest are ignored (no key is ever fetched from a token).
 * Signatures: HMAC compared in constant time; RSA PKCS#1 v1.5 of exactly the modulus size;
 * ECDSA as JWS has it, r||s of exactly 64 (ES256) or 96 (ES384) bytes, made DER for OpenSSL;
 * Ed25519 of exactly 64 bytes. Only then are the claims read:
 *   exp  optional (a token without one never expires: the issuer decides). When present it is
 *        an integer and the token is refused once now >= exp + leeway.
 *   nbf  optional; refused while now + leeway < nbf.
 *   iat  optional; an integer when present, not otherwise checked.
 *   iss  when rules->issuer is set, must be a string equal to it.
 *   aud  when rules->audience is set, a string equal to it or an array holding it. A token with
 *        an aud is refused when no audience is configured (RFC 7519 §4.1.3: the verifier does
 *        not identify itself with it).
 *   sub  optional string: the user.
 *   channels, publish  optional arrays of strings: the channels the connection may subscribe
 *        to and publish on; an item ending in '*' matches every channel starting with what is
 *        before it ("user:42:*"); a '*' anywhere else is an ordinary character.
 * Any of these with the wrong JSON type refuses the token; other claims are ignored.
 * Every refusal comes with a short, static reason (for the log and the 401's error
 * description; it never quotes the token).
 *
 * OpenSSL's error queue is cleared on every failure, so that a refused token leaves nothing
 * there for the worker's next TLS call to misread. No allocation survives a failed call.
 */
#ifndef TETHER_AUTH_JWT_H
#define TETHER_AUTH_JWT_H

#include <stddef.h>
#include <stdint.h>

#include "jwt_json.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  JWT_MAX_TOKEN = 8192,       /* bytes of a token, all three segments */
  JWT_MIN_SECRET = 32,        /* bytes of an HMAC secret (HS256's output size) */
  JWT_MAX_SECRET = 4096,
  JWT_MAX_PEM = 65536,
  JWT_MIN_RSA_BITS = 2048,
  JWT_MAX_RSA_BITS = 16384,
};

/* jwt_verify's results: OK, the token is refused (the client's fault: 401), or the verifier
 * could not decide (out of memory, an OpenSSL failure: the server's fault). */
enum { JWT_OK = 0, JWT_REFUSED = -1, JWT_FAILED = -2 };

typedef struct jwt_key jwt_key;

/* A key, or NULL with a reason written into why (why_size bytes, NUL-terminated). */
jwt_key *jwt_key_hmac(const void *secret, size_t length, char *why, size_t why_size);
jwt_key *jwt_key_pem(const char *pem, size_t length, char *why, size_t why_size);
void jwt_key_free(jwt_key *key);
/* "HMAC", "RSA", "EC P-256", "EC P-384" or "Ed25519", for the log. */
const char *jwt_key_kind(const jwt_key *key);

typedef struct jwt_rules {
  const char *issuer;   /* NUL-terminated; NULL: iss is not checked */
  const char *audience; /* NUL-terminated; NULL: tokens with an aud are refused */
  uint64_t leeway_s;    /* clock skew allowed on exp and nbf */
  uint64_t now_s;       /* seconds since the epoch */
} jwt_rules;

typedef struct jwt_claims {
  const char *sub; /* NULL when absent; sub_length bytes, not NUL-terminated */
  size_t sub_length;
  int has_exp, has_nbf;
  int64_t exp, nbf;
  int has_channels; /* whether the claim is there: the module decides what its absence means */
  const jwt_json_string *channels;
  size_t channel_count;
  int has_publish;
  const jwt_json_string *publish;
  size_t publish_count;
  jwt_json_object *payload; /* owned: every view above points into it */
} jwt_claims;

/* Verifies `token` (length bytes, need not be NUL-terminated). JWT_OK fills *out, which the
 * caller frees with jwt_claims_free; otherwise *out is empty (freeing it is harmless) and *why
 * says why. */
int jwt_verify(const jwt_key *key, const char *token, size_t length, const jwt_rules *rules, jwt_claims *out,
               const char **why);
void jwt_claims_free(jwt_claims *claims);

/* Whether the channels (or publish) claim lets the connection use `channel`. No claim: 0. */
int jwt_channel_allowed(const jwt_claims *claims, const char *channel, size_t length);
int jwt_publish_allowed(const jwt_claims *claims, const char *channel, size_t length);
/* One channel pattern of those claims (also of a backend's answer): an item ending in '*'
 * matches every channel starting with what is before it, any other only itself. */
int jwt_pattern_matches(const char *pattern, size_t pattern_length, const char *channel, size_t length);

#ifdef __cplusplus
}
#endif

#endif
