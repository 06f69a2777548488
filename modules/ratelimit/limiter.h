/*
 * The rate limiter's shared state: token buckets and connection counts in one block of memory
 * shared by every worker (a tether shared zone). Pure C with no dependency on the host, so that
 * it can be unit-tested on its own.
 *
 * Memory is bounded: both tables are set-associative, groups of 8 entries chosen by the key's
 * hash. A full bucket group evicts its least recently used entry; each group has its own spin
 * lock, held only for a few arithmetic operations (never across I/O).
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

/* Counts a connection from `address` if it holds fewer than `limit`: returns 1 and counts it,
 * or 0 (not counted). A full counter group fails open (returns 1 without counting, *untracked
 * set to 1) rather than refusing clients it cannot count. */
int rl_connection_acquire(rl_state *state, uint64_t address, uint32_t limit, int *untracked);
void rl_connection_release(rl_state *state, uint64_t address);
uint32_t rl_connection_count(rl_state *state, uint64_t address);

/* 64-bit FNV-1a, never 0 (0 marks an empty entry). `seed` separates key spaces (routes). */
uint64_t rl_hash(const void *data, size_t length, uint64_t seed);

/* Buckets currently held, for tests and metrics. */
uint32_t rl_bucket_count(rl_state *state);

#ifdef __cplusplus
}
#endif

#endif
