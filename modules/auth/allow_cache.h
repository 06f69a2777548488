/*
 * The allow-cache: a short memory of the backend's ALLOW answers, so that a client that reconnects
 * (or opens several connections) with the same credentials is not asked about again within
 * `ttl_ms`. Only ALLOWs are kept: a denial or a failure is always asked again.
 *
 * The key is the question's method, target (path and query), Authorization, Cookie and channels, encoded without ambiguity (each
 * field with its length; an absent header differs from an empty one). Entries are found by a
 * seeded 64-bit hash and then compared on the whole key, so that two questions whose hashes
 * collide never share an answer. The backend's answer must therefore depend on nothing else of
 * the request (its path, the client's address): when it does, set cache_ttl = 0.
 *
 * Bounded: at most max_entries entries and max_bytes bytes (keys, answers and bookkeeping); when a
 * new entry does not fit, the oldest go first. Expired entries are dropped when met.
 */
#ifndef TETHER_AUTH_ALLOW_CACHE_H
#define TETHER_AUTH_ALLOW_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "backend_answer.h"
#include "backend_request.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct allow_cache allow_cache;

/* The hash the cache finds entries by; NULL = the default (FNV-1a, seeded per cache). A test
 * passes a constant one to make every key collide. */
typedef uint64_t (*allow_cache_hash_fn)(const char *key, size_t length, uint64_t seed);

/* NULL when out of memory, or when max_entries or ttl_ms is 0 (no cache: every call then finds
 * nothing and stores nothing, with a NULL cache). */
allow_cache *allow_cache_create(size_t max_entries, size_t max_bytes, uint64_t ttl_ms, allow_cache_hash_fn hash);
void allow_cache_destroy(allow_cache *cache);

/* The key of a question, malloc'd (the caller frees it); NULL when out of memory. */
char *allow_cache_key(const backend_question *q, size_t *length);

/* The ALLOW stored under the key and not expired at now_ms, or NULL. Valid until the next call
 * on the cache. */
const backend_verdict *allow_cache_find(allow_cache *cache, const char *key, size_t length, uint64_t now_ms);
/* Keeps a copy of an ALLOW (anything else is ignored) until now_ms + ttl. */
void allow_cache_store(allow_cache *cache, const char *key, size_t length, const backend_verdict *v, uint64_t now_ms);

size_t allow_cache_count(const allow_cache *cache);
size_t allow_cache_bytes(const allow_cache *cache);

#ifdef __cplusplus
}
#endif

#endif
