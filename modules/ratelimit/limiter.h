/*
 * The rate limiter's shared state: token buckets and connection counts in one block of memory
 * shared by every worker (a tether shared zone). Pure C with no dependency on the host, so that
 * it can be unit-tested on its own.
 *
 * Memory is bounded: both tables are set-associative, groups of 8 entries chosen by the key's
 * hash. A full bucket group evicts its least recently used entry; each group has its own spin
 * lock, held only for a few arithmetic operations (never across I/O).
 *
 * A worker can die at any moment (SIGKILL, a crash), so nothing it leaves behind may stay stuck:
 * - a lock holds its holder's pid; a process that spins on a lock whose holder is gone takes it
 *   over (the memory is zero until touched, which rules out pthread mutexes needing an init);
 * - connection counts are kept per owning process (its pid): when an address is at its limit,
 *   or its group is full, the counts of owners that no longer exist are dropped. A new process
 *   first forgets whatever is recorded under its own pid (a dead process's, as pids are reused).
 */
#ifndef TETHER_RATELIMIT_LIMITER_H
#define TETHER_RATELIMIT_LIMITER_H

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

/* Counts a connection from `address` for process `owner` (its pid) if the address holds fewer
 * than `limit` over all processes alive: returns 1 and counts it, or 0 (not counted). A full
 * counter group fails open (returns 1 without counting, *untracked set to 1) rather than
 * refusing clients it cannot count. */
int rl_connection_acquire(rl_state *state, uint64_t address, uint32_t owner, uint32_t limit, int *untracked);
void rl_connection_release(rl_state *state, uint64_t address, uint32_t owner);
/* Connections counted for `address`, over all owners (dead ones until they are reclaimed). */
uint32_t rl_connection_count(rl_state *state, uint64_t address);
/* Drops every count recorded under `owner`: a process calls it once with its own pid, before
 * it counts anything, since a dead process may have had the same pid. */
void rl_forget_owner(rl_state *state, uint32_t owner);

/* 64-bit FNV-1a, never 0 (0 marks an empty entry). `seed` separates key spaces (routes). */
uint64_t rl_hash(const void *data, size_t length, uint64_t seed);

/* Buckets currently held, for tests and metrics. */
uint32_t rl_bucket_count(rl_state *state);

#ifdef __cplusplus
}
#endif

#endif
