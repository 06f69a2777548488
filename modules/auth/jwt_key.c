/* JWT keys and signature checks on OpenSSL 3. The key's family is fixed when it is made, and
 * an algorithm is accepted only when it belongs to that family (jwt.h says which). */
#include "jwt_key.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

typedef enum key_family { KEY_HMAC, KEY_RSA, KEY_EC_P256, KEY_EC_P384, KEY_ED25519 } key_family;

struct jwt_key {
  key_family family;
  unsigned char *secret; /* KEY_HMAC */
  size_t secret_length;
  EVP_PKEY *pkey; /* the others */
};

typedef struct algorithm {
  const char *name;
  key_family family;
  const EVP_MD *(*digest)(void); /* NULL for EdDSA, which hashes by itself */
} algorithm;

static const algorithm algorithms[] = {
    {"HS256", KEY_HMAC, EVP_sha256},    {"HS384", KEY_HMAC, EVP_sha384},    {"HS512", KEY_HMAC, EVP_sha512},
    {"RS256", KEY_RSA, EVP_sha256},     {"RS384", KEY_RSA, EVP_sha384},     {"RS512", KEY_RSA, EVP_sha512},
    {"ES256", KEY_EC_P256, EVP_sha256}, {"ES384", KEY_EC_P384, EVP_sha384}, {"EdDSA", KEY_ED25519, NULL},
};

static void set_why(char *why, size_t why_size, const char *text) {
  if (why && why_size) snprintf(why, why_size, "%s", text);
}

static int holds_pem_block(const unsigned char *data, size_t length) {
  static const char marker[] = "-----BEGIN";
  size_t i, n = sizeof marker - 1;
  for (i = 0; i + n <= length; ++i)
    if (memcmp(data + i, marker, n) == 0) return 1;
  return 0;
}

jwt_key *jwt_key_hmac(const void *secret, size_t length, char *why, size_t why_size) {
  jwt_key *key;
  if (length < JWT_MIN_SECRET) return set_why(why, why_size, "secret shorter than 32 bytes"), NULL;
  if (length > JWT_MAX_SECRET) return set_why(why, why_size, "secret longer than 4096 bytes"), NULL;
  if (holds_pem_block(secret, length))
    return set_why(why, why_size, "secret holds a PEM block: give a public key as a public key"), NULL;
  key = calloc(1, sizeof *key);
  if (key) key->secret = malloc(length);
  if (!key || !key->secret) {
    free(key);
    return set_why(why, why_size, "out of memory"), NULL;
  }
  memcpy(key->secret, secret, length);
  key->secret_length = length;
  key->family = KEY_HMAC;
  return key;
}

/* The first public key in a PEM text, bare or else in a certificate. */
static EVP_PKEY *read_public_key(const char *pem, size_t length) {
  EVP_PKEY *pkey = NULL;
  X509 *certificate = NULL;
  BIO *bio = BIO_new_mem_buf(pem, (int)length);
  if (bio) pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
  BIO_free(bio);
  if (pkey) return pkey;
  bio = BIO_new_mem_buf(pem, (int)length);
  if (bio) certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL);
  BIO_free(bio);
  if (certificate) pkey = X509_get_pubkey(certificate);
  X509_free(certificate);
  return pkey;
}

/* The family of a public key, or -1 with a reason. */
static int public_key_family(EVP_PKEY *pkey, const char **why) {
  char group[64];
  switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(pkey) < JWT_MIN_RSA_BITS) return *why = "RSA key shorter than 2048 bits", -1;
      if (EVP_PKEY_get_bits(pkey) > JWT_MAX_RSA_BITS) return *why = "RSA key longer than 16384 bits", -1;
      return KEY_RSA;
    case EVP_PKEY_EC:
      if (!EVP_PKEY_get_group_name(pkey, group, sizeof group, NULL)) return *why = "EC key without a named curve", -1;
      if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0) return KEY_EC_P256;
      if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0) return KEY_EC_P384;
      return *why = "EC curve not supported (P-256 and P-384 are)", -1;
    case EVP_PKEY_ED25519:
      return KEY_ED25519;
    default:
      return *why = "key type not supported (RSA, EC P-256/P-384 and Ed25519 are)", -1;
  }
}

jwt_key *jwt_key_pem(const char *pem, size_t length, char *why, size_t why_size) {
  const char *reason = NULL;
  EVP_PKEY *pkey;
  jwt_key *key;
  int family;
  if (length > JWT_MAX_PEM) return set_why(why, why_size, "PEM longer than 64 KiB"), NULL;
  pkey = read_public_key(pem, length);
  ERR_clear_error();
  if (!pkey) return set_why(why, why_size, "no public key or certificate in the PEM"), NULL;
  family = public_key_family(pkey, &reason);
  key = family >= 0 ? calloc(1, sizeof *key) : NULL;
  if (!key) {
    EVP_PKEY_free(pkey);
    return set_why(why, why_size, reason ? reason : "out of memory"), NULL;
  }
  key->family = (key_family)family;
  key->pkey = pkey;
  return key;
}

void jwt_key_free(jwt_key *key) {
  if (!key) return;
  if (key->secret) OPENSSL_cleanse(key->secret, key->secret_length);
  free(key->secret);
  EVP_PKEY_free(key->pkey);
  free(key);
}

const char *jwt_key_kind(const jwt_key *key) {
  static const char *const names[] = {"HMAC", "RSA", "EC P-256", "EC P-384", "Ed25519"};
  return names[key->family];
}

static const algorithm *find_algorithm(const char *name, size_t length) {
  size_t i;
  for (i = 0; i < sizeof algorithms / sizeof algorithms[0]; ++i)
    if (strlen(algorithms[i].name) == length && memcmp(algorithms[i].name, name, length) == 0) return &algorithms[i];
  return NULL;
}

static int check_hmac(const jwt_key *key, const algorithm *alg, const uint8_t *data, size_t length,
                      const uint8_t *signature, size_t signature_length, const char **why) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_length = 0;
  if (!HMAC(alg->digest(), key->secret, (int)key->secret_length, data, length, mac, &mac_length))
    return *why = "HMAC failed", JWT_FAILED;
  if (signature_length != mac_length || CRYPTO_memcmp(mac, signature, mac_length) != 0)
    return *why = "bad signature", JWT_REFUSED;
  return JWT_OK;
}

/* JWS gives an ECDSA signature as r||s, each of the curve's size; OpenSSL wants DER. Returns
 * the DER (OPENSSL_free it) or NULL. */
static unsigned char *ecdsa_der(const uint8_t *signature, size_t half, int *der_length) {
  unsigned char *der = NULL;
  ECDSA_SIG *sig = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(signature, (int)half, NULL), *s = BN_bin2bn(signature + half, (int)half, NULL);
  if (!sig || !r || !s || !ECDSA_SIG_set0(sig, r, s)) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return NULL;
  }
  *der_length = i2d_ECDSA_SIG(sig, &der);
  ECDSA_SIG_free(sig);
  if (*der_length <= 0) return OPENSSL_free(der), NULL;
  return der;
}

/* RSA, ECDSA and Ed25519, each after its signature's exact size is checked. */
static int check_public(const jwt_key *key, const algorithm *alg, const uint8_t *data, size_t length,
                        const uint8_t *signature, size_t signature_length, const char **why) {
  unsigned char *der = NULL;
  EVP_MD_CTX *ctx;
  int verified, der_length = 0;
  size_t expected = key->family == KEY_RSA       ? (size_t)EVP_PKEY_get_size(key->pkey)
                    : key->family == KEY_EC_P256 ? 64
                    : key->family == KEY_EC_P384 ? 96
                                                 : 64;
  if (signature_length != expected) return *why = "bad signature length", JWT_REFUSED;
  if (key->family == KEY_EC_P256 || key->family == KEY_EC_P384) {
    der = ecdsa_der(signature, expected / 2, &der_length);
    if (!der) return *why = "out of memory", JWT_FAILED;
    signature = der, signature_length = (size_t)der_length;
  }
  ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestVerifyInit(ctx, NULL, alg->digest ? alg->digest() : NULL, NULL, key->pkey) != 1) {
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return *why = "signature check failed to start", JWT_FAILED;
  }
  verified = EVP_DigestVerify(ctx, signature, signature_length, data, length);
  EVP_MD_CTX_free(ctx);
  OPENSSL_free(der);
  return verified == 1 ? JWT_OK : (*why = "bad signature", JWT_REFUSED);
}

static int is_none(const char *alg, size_t length) {
  static const char none[] = "none";
  size_t i;
  if (length != 4) return 0;
  for (i = 0; i < 4; ++i)
    if ((alg[i] | 0x20) != none[i]) return 0;
  return 1;
}

int jwt_key_check_signature(const jwt_key *key, const char *alg_name, size_t alg_length, const uint8_t *data,
                            size_t length, const uint8_t *signature, size_t signature_length, const char **why) {
  const algorithm *alg = find_algorithm(alg_name, alg_length);
  int status;
  if (!alg) return *why = is_none(alg_name, alg_length) ? "unsigned token (alg none)" : "algorithm not supported",
                JWT_REFUSED;
  if (alg->family != key->family) return *why = "algorithm not allowed for this key", JWT_REFUSED;
  status = alg->family == KEY_HMAC ? check_hmac(key, alg, data, length, signature, signature_length, why)
                                   : check_public(key, alg, data, length, signature, signature_length, why);
  ERR_clear_error();
  return status;
}
