/* The allow-cache (allow_cache.h): buckets of entries chained by hash, one list of all entries
 * from newest to oldest for eviction. Every TTL is the same, so the oldest also expires first. */
#include "allow_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "../common/list.h"

typedef struct cache_entry {
  list_link age;    /* all entries, newest first */
  list_link bucket; /* entries of the same bucket */
  uint64_t hash;
  uint64_t expires_ms;
  size_t bytes;     /* what it costs, counted against max_bytes */
  backend_verdict verdict;
  size_t key_length;
  char key[];
} cache_entry;

struct allow_cache {
  size_t max_entries, max_bytes, count, bytes;
  uint64_t ttl_ms, seed;
  allow_cache_hash_fn hash;
  list_link by_age;
  size_t bucket_mask;
  list_link *buckets;
};

static uint64_t fnv1a(const char *key, size_t length, uint64_t seed) {
  uint64_t h = 14695981039346656037ull ^ seed;
  size_t i;
  for (i = 0; i < length; ++i) {
    h ^= (unsigned char)key[i];
    h *= 1099511628211ull;
  }
  return h;
}

static uint64_t random_seed(void) {
  uint64_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    seed = (uint64_t)t.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&t;
  }
  return seed;
}

allow_cache *allow_cache_create(size_t max_entries, size_t max_bytes, uint64_t ttl_ms, allow_cache_hash_fn hash) {
  allow_cache *c;
  size_t buckets = 1, i;
  if (max_entries == 0 || ttl_ms == 0 || max_entries > ((size_t)1 << 24)) return NULL;
  while (buckets < max_entries) buckets <<= 1;
  if (!(c = calloc(1, sizeof *c))) return NULL;
  if (!(c->buckets = malloc(buckets * sizeof *c->buckets))) {
    free(c);
    return NULL;
  }
  for (i = 0; i < buckets; ++i) list_init(&c->buckets[i]);
  list_init(&c->by_age);
  c->bucket_mask = buckets - 1;
  c->max_entries = max_entries;
  c->max_bytes = max_bytes;
  c->ttl_ms = ttl_ms;
  c->hash = hash ? hash : fnv1a;
  c->seed = random_seed();
  return c;
}

static void drop(allow_cache *c, cache_entry *e) {
  list_remove(&e->age);
  list_remove(&e->bucket);
  c->count--;
  c->bytes -= e->bytes;
  backend_verdict_free(&e->verdict);
  free(e);
}

void allow_cache_destroy(allow_cache *c) {
  list_link *at, *next;
  if (!c) return;
  LIST_FOR_EACH_SAFE(at, next, &c->by_age) drop(c, LIST_ENTRY(at, cache_entry, age));
  free(c->buckets);
  free(c);
}

static char *put_length(char *at, uint64_t length) {
  memcpy(at, &length, sizeof length);
  return at + sizeof length;
}

/* One field of the key: a presence byte, its length as 8 bytes, then the bytes. */
static char *put_field(char *at, backend_string s) {
  *at++ = s.data ? 1 : 0;
  at = put_length(at, s.length);
  if (s.length) memcpy(at, s.data, s.length);
  return at + s.length;
}

char *allow_cache_key(const backend_question *q, size_t *length) {
  size_t bytes = 4 * 9 + 8 + q->method.length + q->uri.length + q->authorization.length + q->cookie.length, i;
  char *key, *at;
  for (i = 0; i < q->channel_count; ++i) bytes += 9 + q->channels[i].length;
  if (!(key = malloc(bytes))) return NULL;
  /* The method and the whole target too: a GET allowed is no POST allowed, and credentials may
   * be in the query (?token=), which neither header would show. */
  at = put_field(key, q->method);
  at = put_field(at, q->uri);
  at = put_field(at, q->authorization);
  at = put_field(at, q->cookie);
  at = put_length(at, q->channel_count);
  for (i = 0; i < q->channel_count; ++i) at = put_field(at, q->channels[i]);
  *length = (size_t)(at - key);
  return key;
}

static cache_entry *lookup(allow_cache *c, const char *key, size_t length, uint64_t hash) {
  list_link *head = &c->buckets[hash & c->bucket_mask], *at, *next;
  LIST_FOR_EACH_SAFE(at, next, head) {
    cache_entry *e = LIST_ENTRY(at, cache_entry, bucket);
    if (e->hash == hash && e->key_length == length && memcmp(e->key, key, length) == 0) return e;
  }
  return NULL;
}

const backend_verdict *allow_cache_find(allow_cache *c, const char *key, size_t length, uint64_t now_ms) {
  cache_entry *e;
  if (!c) return NULL;
  if (!(e = lookup(c, key, length, c->hash(key, length, c->seed)))) return NULL;
  if (now_ms >= e->expires_ms) {
    drop(c, e);
    return NULL;
  }
  return &e->verdict;
}

static size_t verdict_bytes(const backend_verdict *v) {
  size_t bytes = v->user.length + v->channel_count * sizeof(backend_string), i;
  for (i = 0; i < v->channel_count; ++i) bytes += v->channels[i].length;
  return bytes;
}

void allow_cache_store(allow_cache *c, const char *key, size_t length, const backend_verdict *v, uint64_t now_ms) {
  uint64_t hash;
  cache_entry *e;
  size_t bytes;
  if (!c || v->result != BACKEND_ALLOW) return;
  hash = c->hash(key, length, c->seed);
  if ((e = lookup(c, key, length, hash))) drop(c, e);
  bytes = sizeof *e + length + verdict_bytes(v);
  if (bytes > c->max_bytes) return;
  while (c->count && (c->count >= c->max_entries || c->bytes + bytes > c->max_bytes))
    drop(c, LIST_ENTRY(c->by_age.prev, cache_entry, age));
  if (!(e = malloc(sizeof *e + length))) return;
  if (backend_verdict_copy(v, &e->verdict) != 0) {
    free(e);
    return;
  }
  e->hash = hash;
  e->expires_ms = now_ms + c->ttl_ms;
  e->bytes = bytes;
  e->key_length = length;
  memcpy(e->key, key, length);
  list_insert_head(&c->by_age, &e->age);
  list_insert_head(&c->buckets[hash & c->bucket_mask], &e->bucket);
  c->count++;
  c->bytes += bytes;
}

size_t allow_cache_count(const allow_cache *c) { return c ? c->count : 0; }
size_t allow_cache_bytes(const allow_cache *c) { return c ? c->bytes : 0; }
