/* What a module remembers per client connection, keyed by the connection's handle: an open
 * addressing table owned by one worker (no locks), grown as needed. The ratelimit module keeps
 * whether it counted a connection and under which address; the auth module under which user. */
#ifndef TETHER_MODULES_COMMON_CONNECTION_MAP_H
#define TETHER_MODULES_COMMON_CONNECTION_MAP_H

#include <stddef.h>
#include <stdint.h>

#include <tether/module.h>

typedef struct connection_entry {
  tether_connection *connection; /* NULL: an empty slot */
  int state;                     /* the module's */
  uint64_t hash;                 /* the module's (an address's or a user's hash) */
  void *data;                    /* the module's; never freed here */
} connection_entry;

typedef struct connection_map {
  connection_entry *slots;
  size_t capacity; /* a power of two, or 0 */
  size_t used;
} connection_map;

/* Adds or replaces the entry of entry->connection. 0 when out of memory (the map is unchanged). */
int connection_map_put(connection_map *map, const connection_entry *entry);
/* The entry of `connection` into *out (when out is not NULL), removed from the map if `remove`.
 * 0 when there is none. */
int connection_map_get(connection_map *map, tether_connection *connection, int remove, connection_entry *out);
/* Frees the table (not what entries point to). */
void connection_map_clear(connection_map *map);

#endif
