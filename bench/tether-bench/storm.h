// tether-bench storm: a reconnect storm, after the articles tether started from. N WebSocket
// subscribers (json format) receive messages published at a steady rate; then either every one of
// them leaves at once and comes back at a random time within --leave-spread seconds, or the
// server is reloaded (SIGHUP to --reload-pid) and its old generation says goodbye. Every
// subscriber comes back with ?since=<the last id it saw>; a refusal (503) is retried after its
// Retry-After. At the end every subscriber must hold every message exactly once: the line reports
// the missing ones, the refusals, and reconnects and server closes per 100 ms (their peak).
#pragma once

#include <uv.h>

#include "options.h"

namespace bench {

int storm_mode(uv_loop_t* loop, const Options& options);

}  // namespace bench
