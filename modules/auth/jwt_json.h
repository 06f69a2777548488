/*
 * A small, strict JSON reader for the two JSON texts of a JWT: its header and its claims.
 *
 * The text must be exactly one object (RFC 8259, whitespace allowed around tokens, nothing after
 * it). Its members are kept in order, with their names and string values decoded (escapes
 * resolved) into one buffer the object owns:
 *   - strings, integers (what NumericDate claims are: exp, nbf, iat), other numbers (kept only
 *     as "a number"), true, false, null;
 *   - arrays whose items are all strings (aud, channels, publish), kept item by item;
 *   - any other array or object, checked to be valid JSON down to JWT_JSON_MAX_DEPTH levels but
 *     not kept (JWT_JSON_OTHER): nothing in tether reads inside them, so duplicate names in
 *     them are not looked for.
 * Refused, each with a short reason: a name twice in the top object, invalid UTF-8 (overlongs,
 * surrogates, raw or as \u escapes that do not pair), \u0000 (a NUL could cut a name short
 * further on), a raw control character in a string, an unknown escape, a leading zero, a bare
 * '-', trailing bytes, more than JWT_JSON_MAX_INPUT bytes, more than JWT_JSON_MAX_MEMBERS
 * members or JWT_JSON_MAX_STRINGS kept array items, nesting deeper than JWT_JSON_MAX_DEPTH.
 * Recursion only descends into nested values and stops at the depth bound.
 */
#ifndef TETHER_AUTH_JWT_JSON_H
#define TETHER_AUTH_JWT_JSON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  JWT_JSON_MAX_INPUT = 8192,
  JWT_JSON_MAX_MEMBERS = 64,
  JWT_JSON_MAX_STRINGS = 256,
  JWT_JSON_MAX_DEPTH = 16,
};

typedef enum jwt_json_kind {
  JWT_JSON_STRING,
  JWT_JSON_INTEGER, /* -?digits, within int64_t */
  JWT_JSON_NUMBER,  /* any other number: a fraction, an exponent, or beyond int64_t */
  JWT_JSON_TRUE,
  JWT_JSON_FALSE,
  JWT_JSON_NULL,
  JWT_JSON_STRINGS, /* an array of strings only (or empty) */
  JWT_JSON_OTHER,   /* any other array, or an object */
} jwt_json_kind;

/* A view into the object's buffer; not NUL-terminated. */
typedef struct jwt_json_string {
  const char *data;
  size_t length;
} jwt_json_string;

typedef struct jwt_json_member {
  jwt_json_string name;
  jwt_json_kind kind;
  jwt_json_string string; /* JWT_JSON_STRING */
  int64_t integer;        /* JWT_JSON_INTEGER */
  const jwt_json_string *items; /* JWT_JSON_STRINGS: item_count strings */
  size_t item_count;
} jwt_json_member;

typedef struct jwt_json_object {
  jwt_json_member members[JWT_JSON_MAX_MEMBERS];
  size_t member_count;
  jwt_json_string items[JWT_JSON_MAX_STRINGS];
  size_t item_count;
  char *text; /* owned: every decoded name and string */
} jwt_json_object;

/* Parses `input` into `out`. Returns 0, or -1 with *why set to a static reason (and nothing to
 * free). On success the caller frees with jwt_json_free; `out` must not be copied (its members
 * point into it). */
int jwt_json_parse(const char *input, size_t length, jwt_json_object *out, const char **why);
void jwt_json_free(jwt_json_object *object);

/* The member called `name` (NUL-terminated), or NULL. */
const jwt_json_member *jwt_json_find(const jwt_json_object *object, const char *name);

#ifdef __cplusplus
}
#endif

#endif
