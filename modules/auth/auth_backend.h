/* Backend authorization for the auth module: each route with require = "backend" gets, in each
 * worker, one backend client (backend_client.h) on the worker's loop (the host's ABI 1.4 I/O and
 * timers, adapted to auth_loop.h), made on the route's first request and destroyed at
 * worker_exit. A question that waits keeps its request (the access hook returned TETHER_AGAIN);
 * its verdict is handed to the module's `decided` callback, which answers or lets it through. */
#ifndef TETHER_AUTH_BACKEND_H
#define TETHER_AUTH_BACKEND_H

#include <tether/module.h>

#include "auth_config.h"
#include "backend_client.h"

/* What the module does with a verdict (from the hook itself, or later from the loop):
 * `waited` says which (then the request waits in access: respond() or request_continue()). */
typedef int (*auth_backend_decided_fn)(tether_request *request, const auth_route *route, const backend_verdict *verdict,
                                       int waited);

void auth_backend_init(const tether_host *host, tether_worker *worker, auth_backend_decided_fn decided);
/* Asks `route`'s backend about `request`. Returns what the access hook returns: TETHER_AGAIN
 * while the backend is asked, else what `decided` returned for an answer known at once. */
int auth_backend_ask(tether_request *request, auth_route *route, const backend_question *question);
/* Worker exit: questions still waiting are answered 503 (nothing will decide them), then every
 * route's client is destroyed. */
void auth_backend_exit(void);

#endif
