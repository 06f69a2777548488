/*
 * The HTTP/1.1 client of backend authorization: for each client connect the auth module asks
 * the application's backend (backend_request.h says what is sent, backend_answer.h what the
 * answer means) and gets ALLOW (with user and channels), DENY_401, DENY_403 or FAILURE.
 * It runs on the worker's loop through auth_loop.h and never blocks: no DNS (the address is
 * fixed in backend_url), non-blocking sockets, every wait bounded.
 *
 * One client per backend URL per worker holds:
 *   - a keep-alive pool: at most pool_size connections open (connecting, busy or idle), of which
 *     at most max_idle idle, each idle at most idle_timeout_ms. A connection is reused only after
 *     a complete answer that allows it; the most recently used idle one is taken first, so that
 *     the others age out when traffic falls. A question that finds no connection waits in a FIFO
 *     queue of at most queue_size; a full queue is a FAILURE at once.
 *   - timeouts: connect_timeout_ms per connection attempt, and timeout_ms (backend_timeout) per
 *     question from ask() to its answer, the time in the queue included. A question that times
 *     out on a connection closes that connection (a hung backend never gets it back).
 *   - one retry: a reused connection that turns out closed by the backend (EOF, reset, broken
 *     pipe) before a single byte of answer is the race every keep-alive client meets (the
 *     backend closed it as we took it); the question is sent once more on a fresh connection.
 *     A fresh connection that fails is a FAILURE: it is not retried.
 *   - a circuit breaker (breaker.h): after failure_threshold FAILUREs in a row it answers FAILURE
 *     at once, without a call, for cool_down_ms, then lets one probe through. Failures counted:
 *     every FAILURE of a call made (status, malformed, too big, refused, reset, timeout, also in
 *     the queue); not counted: a full queue and the breaker's own refusals.
 *   - the allow-cache (allow_cache.h): ALLOWs kept for cache_ttl_ms, keyed by method, target, Authorization,
 *     Cookie and channels; a hit is answered at once without a call.
 *
 * Callbacks. ask() answers at once (ANSWERED: a cache hit, the breaker open, a full queue) or
 * later (PENDING: `done` runs exactly once from the loop, never inside ask() or any other call of
 * this API). cancel() takes a pending question back: its `done` never runs. The exchange it
 * started, if any, runs to its end unseen (bounded by timeout_ms), so that the connection can be
 * reused and the breaker learns the outcome. `done` may call ask() and cancel() (of other
 * questions), never backend_client_destroy(). on_breaker runs in the middle of the client's
 * bookkeeping: it logs and counts, and calls nothing of the client.
 * destroy() closes every connection, stops every timer and frees every question; the pending
 * ones get no callback.
 */
#ifndef TETHER_AUTH_BACKEND_CLIENT_H
#define TETHER_AUTH_BACKEND_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "auth_loop.h"
#include "backend_answer.h"
#include "backend_request.h"
#include "backend_url.h"
#include "breaker.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct backend_settings {
  uint64_t connect_timeout_ms; /* default 1 s */
  uint64_t timeout_ms;         /* backend_timeout, default 3 s */
  uint32_t pool_size;          /* default 16 */
  uint32_t max_idle;           /* default 16 (at most pool_size) */
  uint64_t idle_timeout_ms;    /* default 4 s: below the 5 s after which Node.js closes idle keep-alive */
  uint32_t queue_size;         /* default 1024 */
  uint32_t failure_threshold;  /* default 5; 0 = no breaker */
  uint64_t cool_down_ms;       /* default 5 s */
  uint64_t cache_ttl_ms;       /* default 2 s; 0 = no allow-cache */
  uint32_t cache_entries;      /* default 1024 */
  size_t cache_bytes;          /* default 4 MiB */
  breaker_change_fn on_breaker; /* may be NULL: one call per change of the breaker's state */
  void *on_breaker_user;
} backend_settings;

void backend_settings_default(backend_settings *s);

/* The reason of the FAILURE a full queue gets: too many clients wait already, which a module
 * must not answer by letting them in (on_backend_error = "allow" is for a backend that fails). */
extern const char backend_queue_full[];

typedef struct backend_client backend_client;
typedef struct backend_call backend_call;

/* The answer; `verdict` and its strings are valid only during the call. */
typedef void (*backend_done_fn)(void *user, const backend_verdict *verdict);

/* NULL when out of memory. `loop` and `url` are copied. */
backend_client *backend_client_create(const auth_loop *loop, const backend_url *url, const backend_settings *s);
void backend_client_destroy(backend_client *client);

typedef enum backend_ask {
  BACKEND_ASK_ANSWERED = 0, /* *answer is the verdict, valid until the next call into the client or the loop */
  BACKEND_ASK_PENDING = 1,  /* *call is the question; done() follows */
  BACKEND_ASK_INVALID = 2,  /* the question was refused (a control byte, a bound): *answer's reason says why */
} backend_ask;

backend_ask backend_client_ask(backend_client *client, const backend_question *q, backend_done_fn done, void *user,
                               backend_call **call, const backend_verdict **answer);
/* A PENDING question whose done() has not run yet. */
void backend_client_cancel(backend_call *call);

breaker_state backend_client_breaker(const backend_client *client);

typedef struct backend_client_stats {
  uint64_t calls;          /* questions sent to the backend (a retry counts once more) */
  uint64_t connects;       /* connections opened */
  uint64_t reuses;         /* questions sent on an idle connection */
  uint64_t retries;        /* stale keep-alive connections retried on a fresh one */
  uint64_t cache_hits;
  uint64_t breaker_refusals;
  uint64_t queue_full;
  uint64_t timeouts;
  uint32_t open;           /* connections now: connecting, busy or idle */
  uint32_t idle;
  uint32_t queued;
} backend_client_stats;

void backend_client_stats_get(const backend_client *client, backend_client_stats *out);

#ifdef __cplusplus
}
#endif

#endif
