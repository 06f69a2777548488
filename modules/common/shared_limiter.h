/* A limiter table (limiter.h) in a shared zone that every generation counts in.
 *
 * Zones live as long as the master, and a zone is found by its name and size: were a reload to
 * ask for a table of other dimensions, it would get a second one, the old and new generations
 * would count apart while the old drains, and the first table would never be freed. So the first
 * worker to ask records the dimensions (in a zone "<name>.dimensions"), and a worker of a reload that
 * asks for others is refused: changing them needs a restart, as in nginx. */
#pragma once

#include <stdint.h>

#include <tether/module.h>

#include "limiter.h"

typedef struct {
  uint32_t keys, addresses;
} rl_dimensions;

/* The table `name` with room for `wanted`, or NULL: then *had holds the dimensions the server's
 * table already has, or zeros when shared memory ran out. Call in worker_init. */
rl_state *rl_shared_state(const tether_host *host, const char *name, rl_dimensions wanted, rl_dimensions *had);
