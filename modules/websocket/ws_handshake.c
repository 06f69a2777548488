#include "ws_handshake.h"

#include <stdint.h>
#include <string.h>

#include "../common/ascii.h"
#include "sha1.h"

/* Whether the comma-separated `list` (items trimmed of spaces and tabs) holds `token`. */
static int has_token(const char *list, size_t length, const char *token, size_t token_length) {
  size_t i = 0;
  while (i < length) {
    size_t start, end;
    while (i < length && (list[i] == ' ' || list[i] == '\t' || list[i] == ',')) ++i;
    start = i;
    while (i < length && list[i] != ',') ++i;
    end = i;
    while (end > start && (list[end - 1] == ' ' || list[end - 1] == '\t')) --end;
    if (end - start == token_length && ascii_equal_ignoring_case(list + start, token, token_length)) return 1;
  }
  return 0;
}

/* The first item of our comma-separated `preferred` list that the client offered, into out;
 * "" when none. Items longer than WS_MAX_SUBPROTOCOL cannot be chosen. */
static void pick_subprotocol(const char *preferred, const char *offered, size_t offered_length, char *out) {
  const char *p = preferred;
  out[0] = 0;
  while (p && *p) {
    const char *end = strchr(p, ',');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    while (n && (*p == ' ' || *p == '\t')) ++p, --n;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) --n;
    if (n && n <= WS_MAX_SUBPROTOCOL && has_token(offered, offered_length, p, n)) {
      memcpy(out, p, n);
      out[n] = 0;
      return;
    }
    p = end ? end + 1 : NULL;
  }
}

/* The number of bytes `s` encodes in base64 (with padding), -1 if it is not base64. */
static int base64_decoded_length(const char *s, size_t n) {
  size_t i, pad = 0;
  if (n == 0 || n % 4) return -1;
  for (i = 0; i < n; ++i) {
    char c = s[i];
    int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (c == '=' && i >= n - 2) ++pad;
    else if (!ok || pad) return -1;
  }
  return (int)(n / 4 * 3 - pad);
}

/* base64 of n bytes into out (4 * ceil(n / 3) characters and a NUL). */
static void base64(const uint8_t *in, size_t n, char *out) {
  static const char table[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i, o = 0;
  for (i = 0; i + 2 < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = table[v >> 18], out[o++] = table[(v >> 12) & 63], out[o++] = table[(v >> 6) & 63], out[o++] = table[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = table[v >> 18], out[o++] = table[(v >> 12) & 63], out[o++] = '=', out[o++] = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = table[v >> 18], out[o++] = table[(v >> 12) & 63], out[o++] = table[(v >> 6) & 63], out[o++] = '=';
  }
  out[o] = 0;
}

/* Sec-WebSocket-Accept: base64(SHA-1(key + the RFC's GUID)), for a key already checked to be
 * 24 characters (16 bytes in base64). */
static void accept_value(const char *key, char out[29]) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  char key_guid[24 + sizeof guid - 1];
  uint8_t digest[20];
  memcpy(key_guid, key, 24);
  memcpy(key_guid + 24, guid, sizeof guid - 1);
  ws_sha1(key_guid, sizeof key_guid, digest);
  base64(digest, sizeof digest, out);
}

static const subscription_id_source since_parameter = SUBSCRIPTION_ID_SOURCE("since");

static int refuse(ws_handshake *out, int status, const char *problem) {
  out->status = status;
  out->problem = problem;
  return 0;
}

/* The checks of RFC 6455 section 4.2.1, then ours (Origin, channels). 1 when accepted. */
static int check(ws_handshake *out, const ws_upgrade_request *r, const ws_handshake_policy *policy) {
  const char *problem;
  if (r->method_length != 3 || memcmp(r->method, "GET", 3) != 0) return refuse(out, 405, "WebSocket handshakes use GET");
  if (r->http_major != 1 || r->http_minor < 1 || !r->upgrade || !has_token(r->upgrade, r->upgrade_length, "websocket", 9) ||
      !r->connection || !has_token(r->connection, r->connection_length, "upgrade", 7))
    return refuse(out, 426, "this is a WebSocket endpoint: send an HTTP/1.1 Upgrade: websocket request");
  if (!r->version || r->version_length != 2 || memcmp(r->version, "13", 2) != 0)
    return refuse(out, 426, "unsupported Sec-WebSocket-Version: only 13 is");
  if (!r->key || r->key_length != 24 || base64_decoded_length(r->key, r->key_length) != 16)
    return refuse(out, 400, "Sec-WebSocket-Key must be 16 bytes in base64");
  if (policy->allowed_origins &&
      (!r->origin || !has_token(policy->allowed_origins, strlen(policy->allowed_origins), r->origin, r->origin_length)))
    return refuse(out, 403, "Origin not allowed");
  if ((problem = subscription_read(&out->channels, r->path, r->path_length, r->route_length, r->query, r->query_length,
                                   &since_parameter, policy->check_channel)))
    return refuse(out, 400, problem);
  return 1;
}

void ws_handshake_read(ws_handshake *out, const ws_upgrade_request *request, const ws_handshake_policy *policy) {
  out->status = 0;
  out->problem = NULL;
  out->accept[0] = 0;
  out->protocol[0] = 0;
  memset(&out->deflate, 0, sizeof out->deflate);
  if (!check(out, request, policy)) return;
  out->status = 101;
  accept_value(request->key, out->accept);
  if (policy->subprotocols && request->protocols)
    pick_subprotocol(policy->subprotocols, request->protocols, request->protocols_length, out->protocol);
  if (policy->compression) ws_deflate_negotiate(request->extensions, request->extensions_length, &out->deflate);
}
