/*
 * The `backend` setting of the auth module: where backend authorization asks.
 *
 *   backend = "http://127.0.0.1:9000/auth"
 *
 * Only http: the backend is the application next to tether (loopback or a private network), and
 * a TLS client is more than this needs. The host is an IPv4 literal, an [IPv6] literal or
 * `localhost` (taken as 127.0.0.1): the address is fixed when the config is read, so no request
 * ever waits for DNS. The port defaults to 80, the path to "/"; the path may carry a query
 * ("/auth?realm=ws") and is sent as it is written. Refused, each with a message for the config
 * check: another scheme, user info ("user@"), a fragment, a zone id, a port outside 1..65535, a
 * byte that is not printable ASCII, a bad %-escape, more than BACKEND_URL_MAX bytes.
 */
#ifndef TETHER_AUTH_BACKEND_URL_H
#define TETHER_AUTH_BACKEND_URL_H

#include <stddef.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  BACKEND_URL_MAX = 1024,    /* bytes of the whole setting */
  BACKEND_URL_MAX_HOST = 64, /* "[" IPv6 "]:" port, NUL included */
};

typedef struct backend_url {
  struct sockaddr_storage address; /* where to connect */
  socklen_t address_length;
  char host[BACKEND_URL_MAX_HOST]; /* the Host header: "127.0.0.1:9000", "[::1]:9000", "localhost" */
  char path[BACKEND_URL_MAX];      /* the request target: "/auth", "/" */
} backend_url;

/* Parses text[0..length) into *out. NULL on success, else a static message saying what is
 * wrong (for `tether -t`, which reports it at the setting's file:line:col). */
const char *backend_url_parse(const char *text, size_t length, backend_url *out);

#ifdef __cplusplus
}
#endif

#endif
