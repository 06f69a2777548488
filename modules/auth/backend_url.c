/* The backend URL (backend_url.h): split, then each part checked on its own. */
#include "backend_url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

/* A request target as written: printable ASCII without space, '#' or '\'; %-escapes whole. */
static const char *check_path(const char *path, size_t length) {
  size_t i;
  if (length == 0) return NULL;
  if (path[0] != '/') return "the backend URL's path must start with '/'";
  for (i = 0; i < length; ++i) {
    unsigned char c = (unsigned char)path[i];
    if (c <= 0x20 || c >= 0x7f) return "the backend URL may only hold printable ASCII without spaces (%-escape the rest)";
    if (c == '#') return "the backend URL must not have a fragment ('#')";
    if (c == '\\') return "the backend URL must not hold a backslash";
    if (c == '%' && (i + 2 >= length || !is_hex(path[i + 1]) || !is_hex(path[i + 2])))
      return "the backend URL has a bad %-escape (a '%' must be followed by two hex digits)";
  }
  return NULL;
}

/* "" (80) or ":digits" in 1..65535. */
static const char *parse_port(const char *text, size_t length, unsigned *port) {
  size_t i;
  unsigned value = 0;
  *port = 80;
  if (length == 0) return NULL;
  if (text[0] != ':') return "the backend URL's host must be followed by ':port', '/' or nothing";
  if (length == 1) return "the backend URL's port is missing after ':'";
  if (length > 6) return "the backend URL's port must be 1..65535";
  for (i = 1; i < length; ++i) {
    if (text[i] < '0' || text[i] > '9') return "the backend URL's port must be a number";
    value = value * 10 + (unsigned)(text[i] - '0');
  }
  if (value == 0 || value > 65535) return "the backend URL's port must be 1..65535";
  *port = value;
  return NULL;
}

/* host[0..length): [IPv6], IPv4 or localhost, into out->address with `port`. */
static const char *parse_host(const char *host, size_t length, unsigned port, backend_url *out) {
  char literal[64];
  memset(&out->address, 0, sizeof out->address);
  if (length >= 2 && host[0] == '[' && host[length - 1] == ']') {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->address;
    if (length - 2 >= sizeof literal || memchr(host, '%', length))
      return "the backend URL's [IPv6] host is not an IPv6 address (zone ids are not supported)";
    memcpy(literal, host + 1, length - 2);
    literal[length - 2] = '\0';
    if (inet_pton(AF_INET6, literal, &a->sin6_addr) != 1) return "the backend URL's [IPv6] host is not an IPv6 address";
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    out->address_length = sizeof *a;
    return NULL;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)&out->address;
  if (length == 9 && strncasecmp(host, "localhost", 9) == 0) {
    memcpy(literal, "127.0.0.1", 10);
  } else if (length > 0 && length < 16) {
    memcpy(literal, host, length);
    literal[length] = '\0';
  } else {
    literal[0] = '\0';
  }
  /* inet_pton takes only the dotted quad with four decimal parts: no "127.1", no octal. */
  if (inet_pton(AF_INET, literal, &a->sin_addr) != 1)
    return length == 0 ? "the backend URL has no host"
                       : "the backend URL's host must be an IPv4 address, an [IPv6] address or localhost (no DNS)";
  a->sin_family = AF_INET;
  a->sin_port = htons((uint16_t)port);
  out->address_length = sizeof *a;
  return NULL;
}

const char *backend_url_parse(const char *text, size_t length, backend_url *out) {
  static const char scheme[] = "http://";
  const char *authority, *end, *slash, *colon, *problem;
  size_t authority_length, host_length;
  unsigned port;
  memset(out, 0, sizeof *out);
  if (!text || length == 0) return "the backend URL is empty";
  if (length >= BACKEND_URL_MAX) return "the backend URL is longer than 1023 bytes";
  if (memchr(text, '\0', length)) return "the backend URL holds a NUL byte";
  if (length >= 8 && strncasecmp(text, "https://", 8) == 0)
    return "the backend URL must be http:// (https is not supported: keep the backend on a trusted network)";
  if (length < sizeof scheme - 1 || strncasecmp(text, scheme, sizeof scheme - 1) != 0)
    return "the backend URL must start with http://";
  authority = text + sizeof scheme - 1;
  end = text + length;
  slash = memchr(authority, '/', (size_t)(end - authority));
  authority_length = (size_t)((slash ? slash : end) - authority);
  if (memchr(authority, '@', authority_length)) return "the backend URL must not hold user info ('user@')";
  if (memchr(authority, '?', authority_length) || memchr(authority, '#', authority_length))
    return "the backend URL needs a '/' before its query";
  /* The port's colon is the last one after a closing ']' (IPv6 literals hold colons). */
  colon = NULL;
  if (authority_length > 0 && authority[0] == '[') {
    const char *close = memchr(authority, ']', authority_length);
    if (!close) return "the backend URL's [IPv6] host has no ']'";
    if (close + 1 < authority + authority_length) colon = close + 1;
  } else {
    colon = memchr(authority, ':', authority_length);
  }
  host_length = colon ? (size_t)(colon - authority) : authority_length;
  if ((problem = parse_port(authority + host_length, authority_length - host_length, &port))) return problem;
  if ((problem = parse_host(authority, host_length, port, out))) return problem;
  if (authority_length >= sizeof out->host) return "the backend URL's host is too long";
  memcpy(out->host, authority, authority_length);
  out->host[authority_length] = '\0';
  if ((problem = check_path(slash, slash ? (size_t)(end - slash) : 0))) return problem;
  if (slash) {
    memcpy(out->path, slash, (size_t)(end - slash));
    out->path[end - slash] = '\0';
  } else {
    memcpy(out->path, "/", 2);
  }
  return NULL;
}
