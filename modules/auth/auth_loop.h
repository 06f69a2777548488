/*
 * The event loop the backend client runs on, as a struct of function pointers the caller fills.
 *
 * The client (backend_client.h) knows neither libuv nor the tether host: the auth module maps
 * these one to one onto the host's io_start/io_update/io_stop and timer_start/timer_stop (ABI
 * 1.4), the unit tests onto libuv. Every callback goes through an auth_event the client embeds
 * in its own structs, so that an adapter needs no allocation and no cast of function types:
 *
 *   static void io_fired(tether_io *io, int events, void *user) {
 *     auth_event *event = user;
 *     event->fire(event, events);
 *   }
 *   static auth_io *io_start(void *worker, int fd, int events, auth_event *event) {
 *     return (auth_io *)host->io_start(worker, fd, events, io_fired, event);
 *   }
 *
 * and timers alike: host->timer_start(worker, timeout_ms, 0, timer_fired, event), whose
 * timer_fired(timer, user) calls event->fire(event, 0).
 *
 * Rules the client relies on (both the host and libuv keep them):
 *   - io_stop never closes the fd and may be called inside the io's own callback; no callback
 *     of a stopped io or timer runs afterwards.
 *   - A timer fires once; timer_stop must then still be called (it frees the timer), and may be
 *     called inside the timer's own callback.
 *   - No callback runs inside the call that started, updated or stopped it.
 */
#ifndef TETHER_AUTH_AUTH_LOOP_H
#define TETHER_AUTH_AUTH_LOOP_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
  AUTH_IO_READ = 1,
  AUTH_IO_WRITE = 2,
  AUTH_IO_ERROR = 4, /* only in callbacks: the fd has an error or was hung up */
};

typedef struct auth_io auth_io;       /* opaque: what io_start returned */
typedef struct auth_timer auth_timer; /* opaque: what timer_start returned */

/* What a callback calls: `events` is AUTH_IO_* for an io, 0 for a timer. */
typedef struct auth_event {
  void (*fire)(struct auth_event *event, int events);
} auth_event;

typedef struct auth_loop {
  void *context; /* the worker; passed back to io_start, timer_start and now_ms */
  /* Watches `fd` for `events` (AUTH_IO_READ | AUTH_IO_WRITE). NULL on failure. */
  auth_io *(*io_start)(void *context, int fd, int events, auth_event *event);
  /* Changes what is watched; 0 or -1. */
  int (*io_update)(auth_io *io, int events);
  void (*io_stop)(auth_io *io);
  /* Fires once after timeout_ms. NULL on failure. */
  auth_timer *(*timer_start)(void *context, uint64_t timeout_ms, auth_event *event);
  void (*timer_stop)(auth_timer *timer);
  /* A monotonic clock in milliseconds (the loop's time is fine). */
  uint64_t (*now_ms)(void *context);
} auth_loop;

#ifdef __cplusplus
}
#endif

#endif
