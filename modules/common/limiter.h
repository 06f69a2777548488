/*
 * The rate limiter's shared state: token buckets and connection counts in one block of memory
 * shared by every worker (a tether shared zone). Pure C with no dependency on the host, so that
 * it can be unit-tested on its own. The ratelimit module counts connections per client address
 * with it, the auth module per user (the "address" below is then the user's hash).
 *
 * Memory is bounded: every table is set-associative, groups of 8 entries chosen by the key's
 * hash. A full bucket group evicts its least recently used entry; each group has its own spin
 * lock, held only for a few arithmetic operations (never across I/O). A connection count takes
 * the lock of its address's group, then that of a share's group, never the other way round.
 *
 * A worker can die at any moment (SIGKILL, a crash), so nothing it leaves behind may stay stuck:
 * - a lock holds its holder's pid; a process that spins on a lock whose holder is gone takes it
 *   over (the memory is zero until touched, which rules out pthread mutexes needing an init);
 * - an address has one total, the only number its limit is checked against, however many
 *   processes its connections are spread over (SO_REUSEPORT spreads them over every worker, of
 *   two generations during a reload). Beside it, each owning process's share of that total is
 *   kept in a table of its own, keyed by (address, owner), used only to take a dead owner's
 *   share off the total: when the address is at its limit, and for every address when a
 *   process starts (a killed worker's successor). Owners are found through a list of the
 *   processes that count (rl_owner_start).
 * - when an address cannot be counted (its groups are full of live counts), its connection is
 *   refused: letting it through uncounted would lift the limit. Address hashes take a secret
 *   made when the state is set up (rl_state_secret), so that nobody can choose addresses that
 *   fill the group of someone else's.
 */
#ifndef TETHER_MODULES_COMMON_LIMITER_H
#define TETHER_MODULES_COMMON_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rl_state rl_state;

/* Bytes needed for room for at least `keys` buckets and `addresses` connection counters. */
size_t rl_state_size(uint32_t keys, uint32_t addresses);
/* Prepares zeroed memory of rl_state_size() bytes; safe to call from every process at once. */
rl_state *rl_state_attach(void *memory, uint32_t keys, uint32_t addresses);

typedef struct {
  int allowed;          /* 1: take the request; 0: over the limit */
  double retry_after;   /* when not allowed: seconds until a token is available */
} rl_verdict;

/* Takes one token from the bucket `key` (rate tokens/s, at most `burst` saved) at time now_us. */
rl_verdict rl_take(rl_state *state, uint64_t key, double rate, double burst, uint64_t now_us);

/* Most processes that count connections at once (workers of every generation alive). */
#define RL_MAX_OWNERS 4096

/* A process calls it once with its own pid before it counts connections: drops the counts of
 * owners that are gone and whatever is recorded under `owner` (a dead process may have had the
 * same pid), then lists `owner` among the processes that count. 0: more than RL_MAX_OWNERS
 * processes count, and `owner` must not count (its connections could never be reclaimed). */
int rl_owner_start(rl_state *state, uint32_t owner);

enum { RL_NO_ROOM = -1, RL_AT_LIMIT = 0, RL_COUNTED = 1 };
/* Counts a connection from `address` for `owner` (a pid given to rl_owner_start) if the address
 * holds fewer than `limit` over all processes alive: RL_COUNTED. Otherwise it is not counted and
 * must be refused: RL_AT_LIMIT, or RL_NO_ROOM when the tables have no room for it. */
int rl_connection_acquire(rl_state *state, uint64_t address, uint32_t owner, uint32_t limit);
void rl_connection_release(rl_state *state, uint64_t address, uint32_t owner);
/* Connections counted for `address`, over all owners (dead ones until they are reclaimed). */
uint32_t rl_connection_count(rl_state *state, uint64_t address);

/* 64-bit FNV-1a, never 0 (0 marks an empty entry). `seed` separates key spaces (routes). */
uint64_t rl_hash(const void *data, size_t length, uint64_t seed);

/* The secret to seed address hashes with: random, the same for every process of the server. */
uint64_t rl_state_secret(rl_state *state);

/* Buckets currently held, for tests and metrics. */
uint32_t rl_bucket_count(rl_state *state);

#ifdef __cplusplus
}
#endif

#endif
