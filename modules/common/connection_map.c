#include "connection_map.h"

#include <stdlib.h>

static size_t slot_of(const connection_map *map, const tether_connection *c) {
  return (size_t)(((uintptr_t)c >> 4) * 11400714819323198485ull) & (map->capacity - 1);
}

/* Places an entry known to be absent into a table with room. */
static void place(connection_map *map, const connection_entry *entry) {
  size_t i = slot_of(map, entry->connection);
  while (map->slots[i].connection) i = (i + 1) & (map->capacity - 1);
  map->slots[i] = *entry;
  map->used++;
}

static int grow(connection_map *map) {
  connection_map bigger = {NULL, map->capacity ? map->capacity * 2 : 1024, 0};
  size_t i;
  if (!(bigger.slots = calloc(bigger.capacity, sizeof *bigger.slots))) return 0;
  for (i = 0; i < map->capacity; ++i)
    if (map->slots[i].connection) place(&bigger, &map->slots[i]);
  free(map->slots);
  *map = bigger;
  return 1;
}

static connection_entry *find(connection_map *map, const tether_connection *c) {
  size_t i;
  if (!map->capacity) return NULL;
  for (i = slot_of(map, c); map->slots[i].connection; i = (i + 1) & (map->capacity - 1))
    if (map->slots[i].connection == c) return &map->slots[i];
  return NULL;
}

int connection_map_put(connection_map *map, const connection_entry *entry) {
  connection_entry *found = find(map, entry->connection);
  if (found) {
    *found = *entry;
    return 1;
  }
  if ((map->used + 1) * 2 > map->capacity && !grow(map)) return 0;
  place(map, entry);
  return 1;
}

int connection_map_get(connection_map *map, tether_connection *connection, int remove, connection_entry *out) {
  connection_entry *found = find(map, connection);
  size_t i, j;
  if (!found) return 0;
  if (out) *out = *found;
  if (!remove) return 1;
  /* backward-shift deletion keeps probe chains intact without tombstones */
  i = (size_t)(found - map->slots);
  map->slots[i].connection = NULL;
  map->used--;
  for (j = (i + 1) & (map->capacity - 1); map->slots[j].connection; j = (j + 1) & (map->capacity - 1)) {
    connection_entry moved = map->slots[j];
    map->slots[j].connection = NULL;
    map->used--;
    place(map, &moved);
  }
  return 1;
}

void connection_map_clear(connection_map *map) {
  free(map->slots);
  map->slots = NULL;
  map->capacity = map->used = 0;
}
