/* libFuzzer harness: the auth module's JWT verifier (modules/auth/jwt*.c, base64url.c) and its
 * strict JSON reader. Byte 0 chooses how the rest is used and the rules: bits 0-1 the mode,
 * bit 2 an issuer to check ("iss"), bit 3 an audience ("aud"), bits 4-7 the leeway in seconds
 * (now is fixed).
 *   mode 0: the rest is a token, verified with a fixed HMAC key;
 *   mode 1: the rest is a token, verified with a P-256 key made at start;
 *   mode 2: the rest is "<header JSON>\n<claims JSON>": the harness encodes and signs it HS256
 *           with the HMAC key, so that the verifier gets past the signature to the claims;
 *   mode 3: the same, signed ES256 with the P-256 key.
 * In every mode the rest also goes through jwt_json_parse on its own. Checked: every string the
 * reader keeps lies in its buffer and is UTF-8 without NUL; an accepted token's times agree
 * with the rules, and each of its channels patterns allows the channel of the same name. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "modules/auth/base64url.h"
#include "modules/auth/jwt.h"
#include "modules/auth/jwt_json.h"
#include "modules/common/utf8.h"
#include "tests/fuzz/fuzz_fields.h"

static const char hmac_secret[] = "tether-fuzz-hmac-secret-0123456789abcdef";
static const uint64_t now = 1700000000;

typedef struct keys {
  jwt_key *hmac, *ec;
  EVP_PKEY *ec_private;
} keys;

static jwt_key *ec_public_key(EVP_PKEY *pkey) {
  char *pem = NULL, why[128];
  long length;
  jwt_key *key;
  BIO *bio = BIO_new(BIO_s_mem());
  FUZZ_CHECK(bio && PEM_write_bio_PUBKEY(bio, pkey) == 1);
  length = BIO_get_mem_data(bio, &pem);
  key = jwt_key_pem(pem, (size_t)length, why, sizeof why);
  BIO_free(bio);
  FUZZ_CHECK(key != NULL);
  return key;
}

static const keys *get_keys(void) {
  static keys k;
  char why[128];
  if (!k.hmac) {
    k.hmac = jwt_key_hmac(hmac_secret, sizeof hmac_secret - 1, why, sizeof why);
    k.ec_private = EVP_EC_gen("P-256");
    FUZZ_CHECK(k.hmac && k.ec_private);
    k.ec = ec_public_key(k.ec_private);
  }
  return &k;
}

static void check_string(const jwt_json_object *o, jwt_json_string s, size_t input_length) {
  FUZZ_CHECK(s.data >= o->text && s.data + s.length <= o->text + input_length);
  FUZZ_CHECK(utf8_valid(s.data, s.length) && memchr(s.data, 0, s.length) == NULL);
}

static void check_json(const char *input, size_t length) {
  jwt_json_object *o = malloc(sizeof *o);
  const char *why = NULL;
  size_t i, j;
  if (jwt_json_parse(input, length, o, &why) != 0) {
    FUZZ_CHECK(why != NULL && o->text == NULL);
    free(o);
    return;
  }
  for (i = 0; i < o->member_count; ++i) {
    const jwt_json_member *m = &o->members[i];
    check_string(o, m->name, length);
    FUZZ_CHECK(jwt_json_find(o, "") != NULL || m->name.length > 0);
    if (m->kind == JWT_JSON_STRING) check_string(o, m->string, length);
    if (m->kind == JWT_JSON_STRINGS)
      for (j = 0; j < m->item_count; ++j) check_string(o, m->items[j], length);
  }
  jwt_json_free(o);
  free(o);
}

/* mode 2 and 3: "<header>.<claims>" encoded, then ".<signature>". */
static char *sign(const char *header, size_t header_length, const char *claims, size_t claims_length, int ec,
                  size_t *token_length) {
  uint8_t signature[EVP_MAX_MD_SIZE + 96];
  size_t input_length = base64url_encoded_length(header_length) + 1 + base64url_encoded_length(claims_length);
  size_t signature_length = 0;
  char *token = malloc(input_length + 1 + base64url_encoded_length(sizeof signature));
  base64url_encode((const uint8_t *)header, header_length, token);
  token[base64url_encoded_length(header_length)] = '.';
  base64url_encode((const uint8_t *)claims, claims_length, token + base64url_encoded_length(header_length) + 1);
  if (!ec) {
    unsigned int n = 0;
    FUZZ_CHECK(HMAC(EVP_sha256(), hmac_secret, (int)sizeof hmac_secret - 1, (const uint8_t *)token, input_length,
                    signature, &n));
    signature_length = n;
  } else {
    uint8_t der[128];
    const uint8_t *p = der;
    size_t der_length = sizeof der;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    ECDSA_SIG *sig;
    FUZZ_CHECK(ctx && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, get_keys()->ec_private) == 1);
    FUZZ_CHECK(EVP_DigestSign(ctx, der, &der_length, (const uint8_t *)token, input_length) == 1);
    EVP_MD_CTX_free(ctx);
    sig = d2i_ECDSA_SIG(NULL, &p, (long)der_length);
    FUZZ_CHECK(sig && BN_bn2binpad(ECDSA_SIG_get0_r(sig), signature, 32) == 32 &&
               BN_bn2binpad(ECDSA_SIG_get0_s(sig), signature + 32, 32) == 32);
    ECDSA_SIG_free(sig);
    signature_length = 64;
  }
  token[input_length] = '.';
  base64url_encode(signature, signature_length, token + input_length + 1);
  *token_length = input_length + 1 + base64url_encoded_length(signature_length);
  return token;
}

static void check_accepted(const jwt_claims *claims, const jwt_rules *rules) {
  size_t i;
  if (claims->has_exp) FUZZ_CHECK(claims->exp >= 0 && (uint64_t)claims->exp + rules->leeway_s > rules->now_s);
  if (claims->has_nbf && claims->nbf > 0) FUZZ_CHECK((uint64_t)claims->nbf <= rules->now_s + rules->leeway_s);
  if (claims->sub) FUZZ_CHECK(utf8_valid(claims->sub, claims->sub_length));
  FUZZ_CHECK(claims->has_channels || claims->channel_count == 0);
  for (i = 0; i < claims->channel_count; ++i)
    FUZZ_CHECK(jwt_channel_allowed(claims, claims->channels[i].data, claims->channels[i].length));
  for (i = 0; i < claims->publish_count; ++i)
    FUZZ_CHECK(jwt_publish_allowed(claims, claims->publish[i].data, claims->publish[i].length));
}

static void verify(const jwt_key *key, const char *token, size_t length, const jwt_rules *rules) {
  jwt_claims claims;
  const char *why = NULL;
  int status = jwt_verify(key, token, length, rules, &claims, &why);
  if (status == JWT_OK) {
    check_accepted(&claims, rules);
  } else {
    FUZZ_CHECK(why != NULL && claims.payload == NULL);
  }
  jwt_claims_free(&claims);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const keys *k = get_keys();
  jwt_rules rules;
  char *rest;
  size_t length;
  int mode;
  if (size < 1) return 0;
  mode = data[0] & 3;
  rules.issuer = data[0] & 4 ? "iss" : NULL;
  rules.audience = data[0] & 8 ? "aud" : NULL;
  rules.leeway_s = data[0] >> 4;
  rules.now_s = now;
  /* An exact-size copy, so that ASan sees a read one byte past the input. */
  length = size - 1;
  rest = malloc(length ? length : 1);
  memcpy(rest, data + 1, length);
  check_json(rest, length);
  if (mode < 2) {
    verify(mode == 0 ? k->hmac : k->ec, rest, length, &rules);
  } else if (length <= JWT_MAX_TOKEN) {
    const char *newline = memchr(rest, '\n', length);
    size_t header_length = newline ? (size_t)(newline - rest) : length;
    const char *claims = newline ? newline + 1 : rest + length;
    size_t token_length = 0;
    char *token = sign(rest, header_length, claims, length - header_length - (newline ? 1 : 0), mode == 3,
                       &token_length);
    verify(mode == 2 ? k->hmac : k->ec, token, token_length, &rules);
    free(token);
  }
  free(rest);
  return 0;
}
