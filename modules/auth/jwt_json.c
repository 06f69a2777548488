#include "jwt_json.h"

#include <stdlib.h>
#include <string.h>

#include "../common/utf8.h"

typedef struct reader {
  const char *in;
  size_t length, pos;
  jwt_json_object *out;
  size_t text_used; /* bytes of out->text in use */
  const char *why;
} reader;

static int fail(reader *r, const char *why) {
  if (!r->why) r->why = why;
  return -1;
}

static void skip_space(reader *r) {
  while (r->pos < r->length) {
    char c = r->in[r->pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    ++r->pos;
  }
}

/* The next byte, or -1 at the end of the input. */
static int peek(const reader *r) { return r->pos < r->length ? (unsigned char)r->in[r->pos] : -1; }

static int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Four hex digits after "\u", or -1. */
static long read_hex4(reader *r) {
  long v = 0;
  int i;
  if (r->length - r->pos < 4) return -1;
  for (i = 0; i < 4; ++i) {
    int h = hex_value((unsigned char)r->in[r->pos + i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  r->pos += 4;
  return v;
}

/* Appends code point `cp` (checked: a scalar value, not NUL) to the text as UTF-8. The text has
 * room: a \u escape is 6 input bytes (12 for a pair) and yields at most 4. */
static void put_utf8(reader *r, unsigned long cp) {
  char *t = r->out->text + r->text_used;
  if (cp < 0x80) {
    t[0] = (char)cp, r->text_used += 1;
  } else if (cp < 0x800) {
    t[0] = (char)(0xC0 | cp >> 6), t[1] = (char)(0x80 | (cp & 0x3F)), r->text_used += 2;
  } else if (cp < 0x10000) {
    t[0] = (char)(0xE0 | cp >> 12), t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    t[2] = (char)(0x80 | (cp & 0x3F)), r->text_used += 3;
  } else {
    t[0] = (char)(0xF0 | cp >> 18), t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    t[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), t[3] = (char)(0x80 | (cp & 0x3F)), r->text_used += 4;
  }
}

/* After "\u": one escaped code point, a surrogate pair taken whole. */
static int read_unicode_escape(reader *r) {
  long cp = read_hex4(r), low;
  if (cp < 0) return fail(r, "bad \\u escape");
  if (cp >= 0xDC00 && cp <= 0xDFFF) return fail(r, "unpaired surrogate");
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (r->length - r->pos < 2 || r->in[r->pos] != '\\' || r->in[r->pos + 1] != 'u')
      return fail(r, "unpaired surrogate");
    r->pos += 2;
    low = read_hex4(r);
    if (low < 0xDC00 || low > 0xDFFF) return fail(r, "unpaired surrogate");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
  }
  if (cp == 0) return fail(r, "NUL in string");
  put_utf8(r, (unsigned long)cp);
  return 0;
}

static int read_escape(reader *r) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  const char *found;
  int c = peek(r);
  if (c < 0) return fail(r, "unterminated string");
  ++r->pos;
  if (c == 'u') return read_unicode_escape(r);
  found = c ? strchr(from, c) : NULL;
  if (!found) return fail(r, "bad escape");
  r->out->text[r->text_used++] = to[found - from];
  return 0;
}

/* A string at r->pos (its opening quote), decoded into the text; *s views it there. */
static int read_string(reader *r, jwt_json_string *s) {
  size_t start = r->text_used;
  if (peek(r) != '"') return fail(r, "string expected");
  ++r->pos;
  for (;;) {
    int c = peek(r);
    if (c < 0) return fail(r, "unterminated string");
    ++r->pos;
    if (c == '"') break;
    if (c < 0x20) return fail(r, "control character in string");
    if (c == '\\') {
      if (read_escape(r) != 0) return -1;
    } else {
      r->out->text[r->text_used++] = (char)c;
    }
  }
  s->data = r->out->text + start;
  s->length = r->text_used - start;
  if (!utf8_valid(s->data, s->length)) return fail(r, "invalid UTF-8");
  return 0;
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* A number (RFC 8259 §6), kept as an integer when it is one that fits int64_t. */
static int read_number(reader *r, jwt_json_member *m) {
  int negative = peek(r) == '-', integer = 1;
  uint64_t magnitude = 0, limit;
  if (negative) ++r->pos;
  if (!is_digit(peek(r))) return fail(r, "bad number");
  limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  if (peek(r) == '0') {
    ++r->pos;
    if (is_digit(peek(r))) return fail(r, "leading zero");
  }
  while (is_digit(peek(r))) {
    unsigned d = (unsigned)(peek(r) - '0');
    if (!integer || magnitude > (limit - d) / 10) integer = 0;
    else magnitude = magnitude * 10 + d;
    ++r->pos;
  }
  if (peek(r) == '.') {
    ++r->pos, integer = 0;
    if (!is_digit(peek(r))) return fail(r, "bad number");
    while (is_digit(peek(r))) ++r->pos;
  }
  if (peek(r) == 'e' || peek(r) == 'E') {
    ++r->pos, integer = 0;
    if (peek(r) == '+' || peek(r) == '-') ++r->pos;
    if (!is_digit(peek(r))) return fail(r, "bad number");
    while (is_digit(peek(r))) ++r->pos;
  }
  if (m) {
    m->kind = integer ? JWT_JSON_INTEGER : JWT_JSON_NUMBER;
    if (integer) m->integer = negative ? (magnitude ? -(int64_t)(magnitude - 1) - 1 : 0) : (int64_t)magnitude;
  }
  return 0;
}

static int read_literal(reader *r, const char *word, jwt_json_kind kind, jwt_json_member *m) {
  size_t n = strlen(word);
  if (r->length - r->pos < n || memcmp(r->in + r->pos, word, n) != 0) return fail(r, "unexpected character");
  r->pos += n;
  if (m) m->kind = kind;
  return 0;
}

static int skip_value(reader *r, int depth);

/* The rest of an array or object after its first byte, items checked but not kept; the text
 * its strings were decoded into is given back. */
static int skip_container(reader *r, int depth, int is_object) {
  int close = is_object ? '}' : ']';
  skip_space(r);
  if (peek(r) == close) return ++r->pos, 0;
  for (;;) {
    skip_space(r);
    if (is_object) {
      jwt_json_string name;
      size_t mark = r->text_used;
      if (read_string(r, &name) != 0) return -1;
      r->text_used = mark;
      skip_space(r);
      if (peek(r) != ':') return fail(r, "':' expected");
      ++r->pos;
    }
    if (skip_value(r, depth + 1) != 0) return -1;
    skip_space(r);
    if (peek(r) == close) return ++r->pos, 0;
    if (peek(r) != ',') return fail(r, is_object ? "',' or '}' expected" : "',' or ']' expected");
    ++r->pos;
  }
}

/* Any value at nesting level `depth`, checked, not kept. */
static int skip_value(reader *r, int depth) {
  int c;
  if (depth > JWT_JSON_MAX_DEPTH) return fail(r, "nested too deep");
  skip_space(r);
  c = peek(r);
  if (c == '"') {
    jwt_json_string s;
    size_t mark = r->text_used;
    int status = read_string(r, &s);
    r->text_used = mark;
    return status;
  }
  if (c == '{' || c == '[') return ++r->pos, skip_container(r, depth, c == '{');
  if (c == '-' || is_digit(c)) return read_number(r, NULL);
  if (c == 't') return read_literal(r, "true", JWT_JSON_TRUE, NULL);
  if (c == 'f') return read_literal(r, "false", JWT_JSON_FALSE, NULL);
  if (c == 'n') return read_literal(r, "null", JWT_JSON_NULL, NULL);
  return fail(r, c < 0 ? "value expected" : "unexpected character");
}

/* A top-level member's array (after '['): kept while every item is a string; from the first
 * item that is not, the whole array becomes JWT_JSON_OTHER. */
static int read_array(reader *r, jwt_json_member *m) {
  jwt_json_object *o = r->out;
  size_t first = o->item_count;
  m->kind = JWT_JSON_STRINGS;
  skip_space(r);
  if (peek(r) == ']') return ++r->pos, 0;
  for (;;) {
    skip_space(r);
    if (m->kind == JWT_JSON_STRINGS && peek(r) == '"') {
      if (o->item_count == JWT_JSON_MAX_STRINGS) return fail(r, "too many strings");
      if (read_string(r, &o->items[o->item_count]) != 0) return -1;
      ++o->item_count;
    } else {
      m->kind = JWT_JSON_OTHER;
      o->item_count = first;
      if (skip_value(r, 3) != 0) return -1;
    }
    skip_space(r);
    if (peek(r) == ']') break;
    if (peek(r) != ',') return fail(r, "',' or ']' expected");
    ++r->pos;
  }
  ++r->pos;
  if (m->kind == JWT_JSON_STRINGS) {
    m->items = &o->items[first];
    m->item_count = o->item_count - first;
  }
  return 0;
}

static int read_member_value(reader *r, jwt_json_member *m) {
  int c;
  skip_space(r);
  c = peek(r);
  if (c == '"') {
    m->kind = JWT_JSON_STRING;
    return read_string(r, &m->string);
  }
  if (c == '[') return ++r->pos, read_array(r, m);
  if (c == '{') {
    m->kind = JWT_JSON_OTHER;
    return skip_value(r, 2);
  }
  if (c == '-' || is_digit(c)) return read_number(r, m);
  if (c == 't') return read_literal(r, "true", JWT_JSON_TRUE, m);
  if (c == 'f') return read_literal(r, "false", JWT_JSON_FALSE, m);
  if (c == 'n') return read_literal(r, "null", JWT_JSON_NULL, m);
  return fail(r, c < 0 ? "value expected" : "unexpected character");
}

static int same_name(jwt_json_string a, jwt_json_string b) {
  return a.length == b.length && memcmp(a.data, b.data, a.length) == 0;
}

static int read_member(reader *r) {
  jwt_json_object *o = r->out;
  jwt_json_member *m;
  size_t i;
  if (o->member_count == JWT_JSON_MAX_MEMBERS) return fail(r, "too many members");
  m = &o->members[o->member_count];
  memset(m, 0, sizeof *m);
  skip_space(r);
  if (read_string(r, &m->name) != 0) return -1;
  for (i = 0; i < o->member_count; ++i)
    if (same_name(o->members[i].name, m->name)) return fail(r, "duplicate member");
  skip_space(r);
  if (peek(r) != ':') return fail(r, "':' expected");
  ++r->pos;
  if (read_member_value(r, m) != 0) return -1;
  ++o->member_count;
  return 0;
}

static int read_object(reader *r) {
  skip_space(r);
  if (peek(r) != '{') return fail(r, "not a JSON object");
  ++r->pos;
  skip_space(r);
  if (peek(r) == '}') {
    ++r->pos;
  } else {
    for (;;) {
      if (read_member(r) != 0) return -1;
      skip_space(r);
      if (peek(r) == '}') break;
      if (peek(r) != ',') return fail(r, "',' or '}' expected");
      ++r->pos;
    }
    ++r->pos;
  }
  skip_space(r);
  if (r->pos != r->length) return fail(r, "trailing bytes");
  return 0;
}

int jwt_json_parse(const char *input, size_t length, jwt_json_object *out, const char **why) {
  reader r;
  memset(out, 0, sizeof *out);
  if (length > JWT_JSON_MAX_INPUT) {
    *why = "JSON too long";
    return -1;
  }
  /* Decoding only shrinks: every decoded byte comes from at least one input byte. */
  out->text = malloc(length ? length : 1);
  if (!out->text) {
    *why = "out of memory";
    return -1;
  }
  memset(&r, 0, sizeof r);
  r.in = input, r.length = length, r.out = out;
  if (read_object(&r) != 0) {
    jwt_json_free(out);
    *why = r.why;
    return -1;
  }
  return 0;
}

void jwt_json_free(jwt_json_object *object) {
  free(object->text);
  memset(object, 0, sizeof *object);
}

const jwt_json_member *jwt_json_find(const jwt_json_object *object, const char *name) {
  size_t i, n = strlen(name);
  for (i = 0; i < object->member_count; ++i) {
    const jwt_json_member *m = &object->members[i];
    if (m->name.length == n && memcmp(m->name.data, name, n) == 0) return m;
  }
  return NULL;
}
