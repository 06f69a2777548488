/* JWT verification: the compact form cut into its segments, the header read, the signature
 * checked with the key (jwt_key.c), then the claims checked against the rules (jwt.h). */
#include "jwt.h"

#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "jwt_key.h"

/* What one verification needs and drops: the decoded segments and the header. */
typedef struct scratch {
  jwt_json_object header;
  uint8_t decoded[JWT_MAX_TOKEN];
} scratch;

typedef struct segments {
  const char *header, *payload, *signature;
  size_t header_length, payload_length, signature_length;
} segments;

/* header.payload.signature: exactly two dots. */
static int cut(const char *token, size_t length, segments *s) {
  const char *end = token + length, *first, *second;
  if (length == 0 || !(first = memchr(token, '.', length))) return -1;
  second = memchr(first + 1, '.', (size_t)(end - first - 1));
  if (!second || memchr(second + 1, '.', (size_t)(end - second - 1))) return -1;
  s->header = token, s->header_length = (size_t)(first - token);
  s->payload = first + 1, s->payload_length = (size_t)(second - first - 1);
  s->signature = second + 1, s->signature_length = (size_t)(end - second - 1);
  return 0;
}

static int refuse(const char **why, const char *reason) {
  *why = reason;
  return JWT_REFUSED;
}

static int read_header(const segments *s, scratch *room, const char **alg, size_t *alg_length,
                       const char **why) {
  const jwt_json_member *m;
  size_t n;
  if (base64url_decode(s->header, s->header_length, room->decoded, sizeof room->decoded, &n) != 0)
    return refuse(why, "bad base64url in header");
  if (jwt_json_parse((const char *)room->decoded, n, &room->header, why) != 0) return JWT_REFUSED;
  if (jwt_json_find(&room->header, "crit")) return refuse(why, "critical header extension not supported");
  m = jwt_json_find(&room->header, "alg");
  if (!m || m->kind != JWT_JSON_STRING) return refuse(why, "no alg in header");
  *alg = m->string.data, *alg_length = m->string.length;
  return JWT_OK;
}

static int check_signature(const jwt_key *key, const segments *s, const char *alg, size_t alg_length,
                           scratch *room, const char **why) {
  /* room->decoded can be reused: alg points into the header's own text, not there. */
  size_t n;
  if (base64url_decode(s->signature, s->signature_length, room->decoded, sizeof room->decoded, &n) != 0)
    return refuse(why, "bad base64url in signature");
  return jwt_key_check_signature(key, alg, alg_length, (const uint8_t *)s->header,
                                 s->header_length + 1 + s->payload_length, room->decoded, n, why);
}

/* Whether a NumericDate says the token has expired / is not valid yet, given the leeway; the
 * sums are checked, and every exp or nbf, negative or huge, has an answer. */
static int expired(int64_t exp, const jwt_rules *rules) {
  if (exp < 0) return 1;
  if (rules->leeway_s > UINT64_MAX - (uint64_t)exp) return 0;
  return (uint64_t)exp + rules->leeway_s <= rules->now_s;
}

static int not_yet_valid(int64_t nbf, const jwt_rules *rules) {
  if (nbf <= 0 || rules->leeway_s > UINT64_MAX - rules->now_s) return 0;
  return rules->now_s + rules->leeway_s < (uint64_t)nbf;
}

static int equals(jwt_json_string s, const char *text) {
  size_t n = strlen(text);
  return s.length == n && memcmp(s.data, text, n) == 0;
}

static int check_times(const jwt_json_object *p, const jwt_rules *rules, jwt_claims *out, const char **why) {
  const jwt_json_member *exp = jwt_json_find(p, "exp"), *nbf = jwt_json_find(p, "nbf"), *iat = jwt_json_find(p, "iat");
  if (exp && exp->kind != JWT_JSON_INTEGER) return refuse(why, "exp is not an integer");
  if (nbf && nbf->kind != JWT_JSON_INTEGER) return refuse(why, "nbf is not an integer");
  if (iat && iat->kind != JWT_JSON_INTEGER) return refuse(why, "iat is not an integer");
  if (exp && expired(exp->integer, rules)) return refuse(why, "expired");
  if (nbf && not_yet_valid(nbf->integer, rules)) return refuse(why, "not yet valid");
  out->has_exp = exp != NULL, out->exp = exp ? exp->integer : 0;
  out->has_nbf = nbf != NULL, out->nbf = nbf ? nbf->integer : 0;
  return JWT_OK;
}

static int check_audience(const jwt_json_member *aud, const char *audience, const char **why) {
  size_t i;
  if (!aud) return audience ? refuse(why, "wrong audience") : JWT_OK;
  if (aud->kind != JWT_JSON_STRING && aud->kind != JWT_JSON_STRINGS) return refuse(why, "aud is not a string or strings");
  if (!audience) return refuse(why, "token has an audience, none is configured");
  if (aud->kind == JWT_JSON_STRING) return equals(aud->string, audience) ? JWT_OK : refuse(why, "wrong audience");
  for (i = 0; i < aud->item_count; ++i)
    if (equals(aud->items[i], audience)) return JWT_OK;
  return refuse(why, "wrong audience");
}

static int check_identity(const jwt_json_object *p, const jwt_rules *rules, jwt_claims *out, const char **why) {
  const jwt_json_member *iss = jwt_json_find(p, "iss"), *sub = jwt_json_find(p, "sub");
  if (iss && iss->kind != JWT_JSON_STRING) return refuse(why, "iss is not a string");
  if (rules->issuer && (!iss || !equals(iss->string, rules->issuer))) return refuse(why, "wrong issuer");
  if (check_audience(jwt_json_find(p, "aud"), rules->audience, why) != JWT_OK) return JWT_REFUSED;
  if (sub && sub->kind != JWT_JSON_STRING) return refuse(why, "sub is not a string");
  if (sub) out->sub = sub->string.data, out->sub_length = sub->string.length;
  return JWT_OK;
}

/* An optional array-of-strings claim into (*has, *items, *count). */
static int read_list(const jwt_json_object *p, const char *name, int *has, const jwt_json_string **items,
                     size_t *count) {
  const jwt_json_member *m = jwt_json_find(p, name);
  if (!m) return 0;
  if (m->kind != JWT_JSON_STRINGS) return -1;
  *has = 1, *items = m->items, *count = m->item_count;
  return 0;
}

static int check_claims(const jwt_json_object *p, const jwt_rules *rules, jwt_claims *out, const char **why) {
  if (check_times(p, rules, out, why) != JWT_OK || check_identity(p, rules, out, why) != JWT_OK) return JWT_REFUSED;
  if (read_list(p, "channels", &out->has_channels, &out->channels, &out->channel_count) != 0)
    return refuse(why, "channels is not an array of strings");
  if (read_list(p, "publish", &out->has_publish, &out->publish, &out->publish_count) != 0)
    return refuse(why, "publish is not an array of strings");
  return JWT_OK;
}

static int read_payload(const segments *s, scratch *room, const jwt_rules *rules, jwt_claims *out, const char **why) {
  size_t n;
  if (base64url_decode(s->payload, s->payload_length, room->decoded, sizeof room->decoded, &n) != 0)
    return refuse(why, "bad base64url in payload");
  out->payload = malloc(sizeof *out->payload);
  if (!out->payload) return *why = "out of memory", JWT_FAILED;
  if (jwt_json_parse((const char *)room->decoded, n, out->payload, why) != 0) {
    free(out->payload);
    out->payload = NULL;
    return JWT_REFUSED;
  }
  return check_claims(out->payload, rules, out, why);
}

int jwt_verify(const jwt_key *key, const char *token, size_t length, const jwt_rules *rules, jwt_claims *out,
               const char **why) {
  segments s;
  scratch *room;
  const char *alg = NULL;
  size_t alg_length = 0;
  int status;
  memset(out, 0, sizeof *out);
  if (length > JWT_MAX_TOKEN) return refuse(why, "token too long");
  if (cut(token, length, &s) != 0) return refuse(why, "not three segments");
  room = malloc(sizeof *room);
  if (!room) return *why = "out of memory", JWT_FAILED;
  memset(&room->header, 0, sizeof room->header);
  status = read_header(&s, room, &alg, &alg_length, why);
  if (status == JWT_OK) status = check_signature(key, &s, alg, alg_length, room, why);
  if (status == JWT_OK) status = read_payload(&s, room, rules, out, why);
  jwt_json_free(&room->header);
  free(room);
  if (status != JWT_OK) jwt_claims_free(out);
  return status;
}

void jwt_claims_free(jwt_claims *claims) {
  if (claims->payload) {
    jwt_json_free(claims->payload);
    free(claims->payload);
  }
  memset(claims, 0, sizeof *claims);
}

int jwt_pattern_matches(const char *pattern, size_t pattern_length, const char *channel, size_t length) {
  if (pattern_length > 0 && pattern[pattern_length - 1] == '*')
    return length >= pattern_length - 1 && (pattern_length == 1 || memcmp(pattern, channel, pattern_length - 1) == 0);
  return pattern_length == length && (length == 0 || memcmp(pattern, channel, length) == 0);
}

static int matches(jwt_json_string pattern, const char *channel, size_t length) {
  return jwt_pattern_matches(pattern.data, pattern.length, channel, length);
}

static int any_matches(const jwt_json_string *patterns, size_t count, const char *channel, size_t length) {
  size_t i;
  for (i = 0; i < count; ++i)
    if (matches(patterns[i], channel, length)) return 1;
  return 0;
}

int jwt_channel_allowed(const jwt_claims *claims, const char *channel, size_t length) {
  return any_matches(claims->channels, claims->channel_count, channel, length);
}

int jwt_publish_allowed(const jwt_claims *claims, const char *channel, size_t length) {
  return any_matches(claims->publish, claims->publish_count, channel, length);
}
