/* One connection to the backend (backend_connection.h): a small state machine driven by fd
 * readiness and one timer. */
#include "backend_connection.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_OF(event, field) ((backend_connection *)((char *)(event) - offsetof(backend_connection, field)))

static void stop_timer(backend_connection *conn) {
  if (conn->timer) conn->loop->timer_stop(conn->timer);
  conn->timer = NULL;
}

static void watch(backend_connection *conn, int events) {
  if (conn->io) conn->loop->io_update(conn->io, events);
}

/* The last thing a callback does: the owner may close the connection. */
static void fail(backend_connection *conn, const char *why) {
  stop_timer(conn);
  conn->events->failed(conn, why);
}

static void start_sending(backend_connection *conn) {
  conn->state = BACKEND_SENDING;
  conn->sent = 0;
  backend_answer_init(&conn->answer);
  /* READ too: a connection the backend closed shows it as EOF before the write fails. */
  watch(conn, AUTH_IO_READ | AUTH_IO_WRITE);
}

static int is_broken(int error) {
  return error == EPIPE || error == ECONNRESET || error == ECONNREFUSED || error == ENOTCONN || error == ETIMEDOUT ||
         error == EHOSTUNREACH || error == ENETUNREACH;
}

/* Writes what it can; 0, or -1 after `failed`. */
static int send_some(backend_connection *conn) {
  while (conn->sent < conn->request_length) {
    ssize_t n = send(conn->fd, conn->request + conn->sent, conn->request_length - conn->sent, MSG_NOSIGNAL);
    if (n > 0) {
      conn->sent += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    fail(conn, is_broken(errno) ? "the backend closed the connection" : "could not send to the backend");
    return -1;
  }
  conn->state = BACKEND_WAITING;
  watch(conn, AUTH_IO_READ);
  return 0;
}

/* Reads until the socket has nothing more, the answer is complete or the connection failed: a
 * host stops watching a descriptor once its peer hung up (AUTH_IO_ERROR), so what is left, and
 * the end of an answer delimited by the close, must be read now. Bounded by the answer's own
 * limits (backend_answer.h: past them the feed is BAD). 1 when it told the owner something (the
 * connection may be gone), else 0. */
static int receive(backend_connection *conn) {
  char buffer[16384];
  backend_feed feed;
  ssize_t n;
  for (;;) {
    do {
      n = recv(conn->fd, buffer, sizeof buffer, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
    if (n < 0) {
      fail(conn, is_broken(errno) ? "the backend reset the connection" : "could not read from the backend");
      return 1;
    }
    feed = n == 0 ? backend_answer_eof(&conn->answer) : backend_answer_feed(&conn->answer, buffer, (size_t)n);
    if (feed == BACKEND_FEED_MORE && n > 0) continue;
    if (feed != BACKEND_FEED_DONE) {
      fail(conn, feed == BACKEND_FEED_BAD ? conn->answer.why : "the backend closed the connection");
      return 1;
    }
    conn->request = NULL;
    conn->events->answered(conn);
    return 1;
  }
}

static const char *connect_problem(int error) {
  if (error == ECONNREFUSED) return "the backend refused the connection";
  if (error == ETIMEDOUT) return "connecting to the backend timed out";
  return "could not connect to the backend";
}

static void connected(backend_connection *conn) {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0) error = errno;
  if (error == EINPROGRESS || error == EALREADY) return;
  if (error) {
    fail(conn, connect_problem(error));
    return;
  }
  stop_timer(conn);
  start_sending(conn);
  send_some(conn);
}

static void on_io(auth_event *event, int events) {
  backend_connection *conn = CONN_OF(event, io_event);
  switch (conn->state) {
    case BACKEND_CONNECTING:
      if (events & (AUTH_IO_WRITE | AUTH_IO_ERROR)) connected(conn);
      return;
    case BACKEND_SENDING:
      /* An answer (or EOF) before the request is out: read it first, it says why. */
      if ((events & (AUTH_IO_READ | AUTH_IO_ERROR)) && receive(conn)) return;
      if (events & (AUTH_IO_WRITE | AUTH_IO_ERROR)) send_some(conn);
      return;
    case BACKEND_WAITING:
      receive(conn);
      return;
    case BACKEND_IDLE:
      /* EOF, a reset or bytes nobody asked for: the connection is not reusable. */
      stop_timer(conn);
      conn->events->lost(conn);
      return;
  }
}

static void on_timer(auth_event *event, int events) {
  backend_connection *conn = CONN_OF(event, timer_event);
  (void)events;
  stop_timer(conn);
  if (conn->state == BACKEND_IDLE) {
    conn->events->lost(conn);
  } else if (conn->early_error) {
    fail(conn, connect_problem(conn->early_error));
  } else {
    fail(conn, "connecting to the backend timed out");
  }
}

static int start_connect(backend_connection *conn, const struct sockaddr *address, socklen_t length) {
  int one = 1;
  conn->fd = socket(address->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (conn->fd < 0) return errno;
  setsockopt(conn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(conn->fd, address, length) != 0 && errno != EINPROGRESS) return errno;
  conn->io = conn->loop->io_start(conn->loop->context, conn->fd, AUTH_IO_WRITE, &conn->io_event);
  return conn->io ? 0 : ENOMEM;
}

backend_connection *backend_connection_open(const auth_loop *loop, const struct sockaddr *address,
                                            socklen_t address_length, uint64_t connect_timeout_ms,
                                            const backend_connection_events *events, void *owner,
                                            const char *request, size_t request_length) {
  backend_connection *conn = calloc(1, sizeof *conn);
  if (!conn) return NULL;
  list_init(&conn->link);
  conn->loop = loop;
  conn->events = events;
  conn->owner = owner;
  conn->fd = -1;
  conn->io_event.fire = on_io;
  conn->timer_event.fire = on_timer;
  conn->state = BACKEND_CONNECTING;
  conn->request = request;
  conn->request_length = request_length;
  backend_answer_init(&conn->answer);
  conn->early_error = start_connect(conn, address, address_length);
  /* The connect timeout, or at once for a connect that already failed: never an event inside
   * this call. */
  conn->timer = loop->timer_start(loop->context, conn->early_error ? 0 : connect_timeout_ms, &conn->timer_event);
  if (!conn->timer) {
    backend_connection_close(conn);
    return NULL;
  }
  return conn;
}

void backend_connection_send(backend_connection *conn, const char *request, size_t length) {
  stop_timer(conn);
  conn->request = request;
  conn->request_length = length;
  start_sending(conn);
}

int backend_connection_idle(backend_connection *conn, uint64_t idle_timeout_ms) {
  conn->state = BACKEND_IDLE;
  conn->reused = 1;
  conn->request = NULL;
  watch(conn, AUTH_IO_READ);
  stop_timer(conn);
  conn->timer = conn->loop->timer_start(conn->loop->context, idle_timeout_ms, &conn->timer_event);
  return conn->timer ? 0 : -1;
}

void backend_connection_close(backend_connection *conn) {
  stop_timer(conn);
  if (conn->io) conn->loop->io_stop(conn->io);
  if (conn->fd >= 0) close(conn->fd);
  list_remove(&conn->link);
  free(conn);
}
