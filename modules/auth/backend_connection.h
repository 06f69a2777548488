/*
 * One TCP connection to the backend, for backend_client.c: connect without blocking, send one
 * request, read its answer into a backend_answer, then wait idle for the next. It decides
 * nothing: what happens to it is told to its owner through three events, each the last thing
 * its io or timer callback does (the owner may close it there):
 *   answered  the answer is complete (conn->answer: DONE, keep_alive says if it can be reused)
 *   failed    connect refused or timed out, reset, closed before the end, bytes that are not an
 *             answer: `why` is static. conn->reused && conn->answer.received == 0 tells the stale
 *             keep-alive race apart.
 *   lost      an idle connection was closed by the backend, sent something unasked, or passed
 *             its idle timeout
 */
#ifndef TETHER_AUTH_BACKEND_CONNECTION_H
#define TETHER_AUTH_BACKEND_CONNECTION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/list.h"
#include "auth_loop.h"
#include "backend_answer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum backend_connection_state {
  BACKEND_CONNECTING, /* connect() under way; the request waits */
  BACKEND_SENDING,
  BACKEND_WAITING,    /* sent; reading the answer */
  BACKEND_IDLE,
} backend_connection_state;

typedef struct backend_connection backend_connection;

typedef struct backend_connection_events {
  void (*answered)(backend_connection *conn);
  void (*failed)(backend_connection *conn, const char *why);
  void (*lost)(backend_connection *conn);
} backend_connection_events;

struct backend_connection {
  list_link link;  /* the owner's: its idle or busy list */
  void *owner;
  void *call;      /* the owner's question on it, NULL when idle */
  int reused;      /* it carried a complete exchange before this one */
  backend_connection_state state;
  backend_answer answer;
  /* below: its own */
  const auth_loop *loop;
  const backend_connection_events *events;
  int fd;
  int early_error; /* socket() or connect() failed at once: reported from a 0 ms timer */
  auth_io *io;
  auth_event io_event;
  auth_timer *timer; /* connect or idle timeout */
  auth_event timer_event;
  const char *request; /* borrowed from the owner's question until answered or failed */
  size_t request_length, sent;
};

/* Starts connecting to `address` and will send `request` (borrowed until an event) once
 * connected. NULL only when out of memory: a connect that fails at once is reported as `failed`
 * from the loop, never inside this call. */
backend_connection *backend_connection_open(const auth_loop *loop, const struct sockaddr *address,
                                            socklen_t address_length, uint64_t connect_timeout_ms,
                                            const backend_connection_events *events, void *owner,
                                            const char *request, size_t request_length);
/* Sends `request` on an idle connection. */
void backend_connection_send(backend_connection *conn, const char *request, size_t length);
/* After `answered`, keeps the connection for the next request, at most idle_timeout_ms. 0, or
 * -1 when no timer could be started (close it then). */
int backend_connection_idle(backend_connection *conn, uint64_t idle_timeout_ms);
/* Closes the socket, stops its io and timer, frees it. */
void backend_connection_close(backend_connection *conn);

#ifdef __cplusplus
}
#endif

#endif
