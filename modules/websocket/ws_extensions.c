#include "ws_extensions.h"

#include <stdio.h>
#include <string.h>

#include "../common/ascii.h"

/* Parameter values we act on are at most 2 characters ("15"); longer ones are read to their end
 * (they may belong to another extension) but only this much is kept. */
enum { VALUE_KEPT = 8 };

typedef struct cursor {
  const char *at, *end;
} cursor;

typedef struct param {
  const char *name;
  size_t name_length;
  int has_value;
  char value[VALUE_KEPT];
  size_t value_length; /* the whole unescaped length, possibly over VALUE_KEPT */
} param;

/* tchar of RFC 9110 section 5.6.2. */
static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_space(cursor *c) {
  while (c->at < c->end && (*c->at == ' ' || *c->at == '\t')) ++c->at;
}

/* A token at the cursor: its length (0 if none). */
static size_t read_token(cursor *c) {
  const char *start = c->at;
  while (c->at < c->end && is_tchar((unsigned char)*c->at)) ++c->at;
  return (size_t)(c->at - start);
}

static void keep_value_byte(param *p, char b) {
  if (p->value_length < VALUE_KEPT) p->value[p->value_length] = b;
  ++p->value_length;
}

/* A quoted-string (RFC 9110 section 5.6.4) at the cursor, unescaped into p. The unescaped value
 * must be a token (RFC 6455 section 9.1). 0 on a syntax error. */
static int read_quoted(cursor *c, param *p) {
  int token = 1;
  ++c->at; /* the opening quote */
  while (c->at < c->end && *c->at != '"') {
    unsigned char b = (unsigned char)*c->at++;
    if (b == '\\') {
      if (c->at == c->end) return 0;
      b = (unsigned char)*c->at++;
      if (b != '\t' && (b < 0x20 || b == 0x7F)) return 0;
    } else if (b != '\t' && (b < 0x20 || b == 0x7F)) {
      return 0;
    }
    token = token && is_tchar(b);
    keep_value_byte(p, (char)b);
  }
  if (c->at == c->end) return 0; /* no closing quote */
  ++c->at;
  return token && p->value_length > 0;
}

/* `;` OWS name [ OWS "=" OWS (token | quoted-string) ], the `;` already consumed. 0 on a syntax error. */
static int read_param(cursor *c, param *p) {
  memset(p, 0, sizeof *p);
  skip_space(c);
  p->name = c->at;
  if (!(p->name_length = read_token(c))) return 0;
  skip_space(c);
  if (c->at == c->end || *c->at != '=') return 1;
  ++c->at;
  skip_space(c);
  p->has_value = 1;
  if (c->at < c->end && *c->at == '"') return read_quoted(c, p);
  {
    const char *start = c->at;
    size_t n = read_token(c), i;
    for (i = 0; i < n; ++i) keep_value_byte(p, start[i]);
    return n > 0;
  }
}

static int is_name(const char *s, size_t n, const char *name) {
  return n == strlen(name) && ascii_equal_ignoring_case(s, name, n);
}

/* A window size: "8".."15" without leading zeros (RFC 7692 section 7.1.2). 0 if not one. */
static int window_bits(const param *p) {
  if (p->value_length == 1 && p->value[0] >= '8' && p->value[0] <= '9') return p->value[0] - '0';
  if (p->value_length == 2 && p->value[0] == '1' && p->value[1] >= '0' && p->value[1] <= '5') return 10 + p->value[1] - '0';
  return 0;
}

/* What one permessage-deflate offer asks for. */
typedef struct offer {
  int valid;
  int server_no_context_takeover, client_no_context_takeover;
  int server_max_window_bits;    /* 0: not given */
  int client_max_window_bits;    /* 0: not given; -1: given without a value */
} offer;

/* Applies one parameter of a permessage-deflate offer; an invalid one makes the offer invalid. */
static void apply_param(offer *o, const param *p) {
  const char *n = p->name;
  size_t l = p->name_length;
  if (is_name(n, l, "server_no_context_takeover")) {
    if (o->server_no_context_takeover || p->has_value) o->valid = 0;
    o->server_no_context_takeover = 1;
  } else if (is_name(n, l, "client_no_context_takeover")) {
    if (o->client_no_context_takeover || p->has_value) o->valid = 0;
    o->client_no_context_takeover = 1;
  } else if (is_name(n, l, "server_max_window_bits")) {
    int bits = p->has_value ? window_bits(p) : 0;
    if (o->server_max_window_bits || !bits) o->valid = 0;
    o->server_max_window_bits = bits ? bits : 15;
  } else if (is_name(n, l, "client_max_window_bits")) {
    int bits = p->has_value ? window_bits(p) : -1;
    if (o->client_max_window_bits || !bits) o->valid = 0;
    o->client_max_window_bits = bits ? bits : 15;
  } else {
    o->valid = 0; /* RFC 7692 section 5: an unknown parameter declines the offer */
  }
}

/* The answer to an accepted offer (RFC 7692 section 7.1). */
static void accept_offer(const offer *o, ws_deflate_agreement *out) {
  int n;
  out->accepted = 1;
  /* Always, offered or not (RFC 7692 section 7.1.1.2 allows it): a client that kept its context
   * would make us keep a zlib stream and its window (~40 KiB) per connection for its whole life,
   * and browsers compress every message they send. This way no inflater outlives a message. */
  (void)o->client_no_context_takeover;
  out->client_no_context_takeover = 1;
  /* A window the client asks of us is the largest we may use: we answer with that value. */
  out->server_window_bits = (uint8_t)(o->server_max_window_bits ? o->server_max_window_bits : 15);
  /* Without the parameter in the offer, the client may use 32 KiB and the answer must not name
   * it; with a value, the client uses no more, and saying the same lets us inflate with that. */
  out->client_window_bits = (uint8_t)(o->client_max_window_bits > 0 ? o->client_max_window_bits : 15);
  n = snprintf(out->response, sizeof out->response, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  if (o->server_max_window_bits)
    n += snprintf(out->response + n, sizeof out->response - (size_t)n, "; server_max_window_bits=%d", o->server_max_window_bits);
  if (o->client_max_window_bits > 0)
    snprintf(out->response + n, sizeof out->response - (size_t)n, "; client_max_window_bits=%d", o->client_max_window_bits);
}

/* Reads the whole list; 0 if it is not a valid extension list. The first valid permessage-deflate
 * offer is kept in *chosen. */
static int read_offers(cursor *c, offer *chosen) {
  for (;;) {
    const char *name;
    size_t name_length;
    int deflate;
    offer o;
    /* Empty list elements (", ,") are allowed by the list syntax of RFC 9110 section 5.6.1. */
    while (c->at < c->end && (*c->at == ' ' || *c->at == '\t' || *c->at == ',')) ++c->at;
    if (c->at == c->end) return 1;
    name = c->at;
    if (!(name_length = read_token(c))) return 0;
    deflate = is_name(name, name_length, "permessage-deflate");
    memset(&o, 0, sizeof o);
    o.valid = 1;
    for (;;) {
      param p;
      skip_space(c);
      if (c->at == c->end || *c->at == ',') break;
      if (*c->at != ';') return 0;
      ++c->at;
      if (!read_param(c, &p)) return 0;
      if (deflate) apply_param(&o, &p);
    }
    if (deflate && o.valid && !chosen->valid) *chosen = o;
  }
}

void ws_deflate_negotiate(const char *header, size_t length, ws_deflate_agreement *out) {
  cursor c;
  offer chosen;
  memset(out, 0, sizeof *out);
  if (!header) return;
  c.at = header;
  c.end = header + length;
  memset(&chosen, 0, sizeof chosen);
  if (!read_offers(&c, &chosen) || !chosen.valid) return;
  accept_offer(&chosen, out);
}
