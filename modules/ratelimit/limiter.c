#define _POSIX_C_SOURCE 200809L  /* kill(), getpid() even under a strict -std=c11 */
#include "limiter.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#define GROUP 8

typedef struct {
  uint64_t key;         /* 0: empty */
  double tokens;
  uint64_t updated_us;  /* when tokens was computed; also the LRU stamp */
} bucket;

typedef struct {
  atomic_uint lock;
  uint32_t pad;
  bucket entries[GROUP];
} bucket_group;

typedef struct {
  uint64_t key;         /* 0 or count 0: empty */
  uint32_t owner;       /* the pid of the process that counted these connections */
  uint32_t count;
} counter;

typedef struct {
  atomic_uint lock;
  uint32_t pad;
  counter entries[GROUP];
} counter_group;

struct rl_state {
  atomic_uint setup;    /* the lock taken to set the state up */
  uint32_t ready;       /* 1 once the sizes are set */
  uint32_t bucket_groups;
  uint32_t counter_groups;
  /* bucket_group[bucket_groups], then counter_group[counter_groups] */
};

static uint32_t groups_for(uint32_t n) { return n < GROUP ? 1 : (n + GROUP - 1) / GROUP; }

static bucket_group *buckets(rl_state *s) { return (bucket_group *)(s + 1); }
static counter_group *counters(rl_state *s) { return (counter_group *)(buckets(s) + s->bucket_groups); }

/* Whether process `pid` exists (EPERM: it does, under another user). */
static int alive(uint32_t pid) { return kill((pid_t)pid, 0) == 0 || errno != ESRCH; }

/* The lock word is 0 or the holder's pid. Critical sections are a few instructions, so a
 * holder seen for a thousand rounds of spinning is checked: if it is gone, the lock is free. */
static void lock(atomic_uint *l) {
  unsigned self = (unsigned)getpid(), spins = 0;
  for (;;) {
    unsigned holder = 0;
    if (atomic_compare_exchange_weak_explicit(l, &holder, self, memory_order_acquire, memory_order_relaxed)) return;
    if (++spins % 64 != 0) continue;
    sched_yield();
    if (spins % 1024 == 0 && holder != 0 && !alive(holder))
      atomic_compare_exchange_strong_explicit(l, &holder, 0u, memory_order_relaxed, memory_order_relaxed);
  }
}
static void unlock(atomic_uint *l) { atomic_store_explicit(l, 0u, memory_order_release); }

size_t rl_state_size(uint32_t keys, uint32_t addresses) {
  return sizeof(rl_state) + groups_for(keys) * sizeof(bucket_group) + groups_for(addresses) * sizeof(counter_group);
}

rl_state *rl_state_attach(void *memory, uint32_t keys, uint32_t addresses) {
  rl_state *s = memory;
  lock(&s->setup);
  if (!s->ready) {
    s->bucket_groups = groups_for(keys);
    s->counter_groups = groups_for(addresses);
    s->ready = 1;
  }
  unlock(&s->setup);
  return s;
}

uint64_t rl_hash(const void *data, size_t length, uint64_t seed) {
  const unsigned char *p = data;
  uint64_t h = 1469598103934665603ULL ^ (seed * 1099511628211ULL);
  size_t i;
  for (i = 0; i < length; ++i) {
    h ^= p[i];
    h *= 1099511628211ULL;
  }
  h ^= h >> 33; /* spread the low bits, which choose the group */
  return h ? h : 1;
}

rl_verdict rl_take(rl_state *s, uint64_t key, double rate, double burst, uint64_t now_us) {
  bucket_group *g = &buckets(s)[key % s->bucket_groups];
  bucket *b = NULL, *empty = NULL, *oldest = NULL;
  rl_verdict v = {1, 0.0};
  int i;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i) {
    bucket *e = &g->entries[i];
    if (e->key == key) b = e;
    else if (e->key == 0 && !empty) empty = e;
    else if (e->key != 0 && (!oldest || e->updated_us < oldest->updated_us)) oldest = e;
  }
  if (!b) { /* a new key: a full bucket, from an empty entry or by evicting the least recently used */
    b = empty ? empty : oldest;
    b->key = key;
    b->tokens = burst;
    b->updated_us = now_us;
  }
  if (now_us > b->updated_us) {
    b->tokens += (double)(now_us - b->updated_us) / 1e6 * rate;
    if (b->tokens > burst) b->tokens = burst;
  }
  b->updated_us = now_us > b->updated_us ? now_us : b->updated_us;
  if (b->tokens >= 1.0) {
    b->tokens -= 1.0;
  } else {
    v.allowed = 0;
    v.retry_after = (1.0 - b->tokens) / rate;
  }
  unlock(&g->lock);
  return v;
}

/* Connections counted for `address` in group `g` (locked). */
static uint32_t address_total(const counter_group *g, uint64_t address) {
  uint32_t n = 0;
  int i;
  for (i = 0; i < GROUP; ++i)
    if (g->entries[i].key == address) n += g->entries[i].count;
  return n;
}

/* Drops the counts of owners that no longer exist, for `address` only or (0) for any. */
static void reclaim_dead(counter_group *g, uint64_t address, uint32_t self) {
  int i;
  for (i = 0; i < GROUP; ++i) {
    counter *e = &g->entries[i];
    if (e->count && e->owner != self && (!address || e->key == address) && !alive(e->owner)) e->count = 0;
  }
}

/* The entry of (address, owner), or an empty one made so, or NULL if the group is full. */
static counter *entry_for(counter_group *g, uint64_t address, uint32_t owner) {
  counter *empty = NULL;
  int i;
  for (i = 0; i < GROUP; ++i) {
    counter *e = &g->entries[i];
    if (e->count > 0 && e->key == address && e->owner == owner) return e;
    if (e->count == 0 && !empty) empty = e;
  }
  if (empty) {
    empty->key = address;
    empty->owner = owner;
  }
  return empty;
}

int rl_connection_acquire(rl_state *s, uint64_t address, uint32_t owner, uint32_t limit, int *untracked) {
  counter_group *g = &counters(s)[address % s->counter_groups];
  counter *c;
  int allowed = 1;
  *untracked = 0;
  lock(&g->lock);
  if (address_total(g, address) >= limit) reclaim_dead(g, address, owner);
  if (address_total(g, address) >= limit) {
    allowed = 0;
  } else {
    c = entry_for(g, address, owner);
    if (!c) {
      reclaim_dead(g, 0, owner);
      c = entry_for(g, address, owner);
    }
    if (c) c->count++;
    else *untracked = 1;
  }
  unlock(&g->lock);
  return allowed;
}

void rl_connection_release(rl_state *s, uint64_t address, uint32_t owner) {
  counter_group *g = &counters(s)[address % s->counter_groups];
  int i;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i)
    if (g->entries[i].key == address && g->entries[i].owner == owner && g->entries[i].count > 0) {
      g->entries[i].count--;
      break;
    }
  unlock(&g->lock);
}

uint32_t rl_connection_count(rl_state *s, uint64_t address) {
  counter_group *g = &counters(s)[address % s->counter_groups];
  uint32_t n;
  lock(&g->lock);
  n = address_total(g, address);
  unlock(&g->lock);
  return n;
}

void rl_forget_owner(rl_state *s, uint32_t owner) {
  uint32_t gi;
  int i;
  for (gi = 0; gi < s->counter_groups; ++gi) {
    counter_group *g = &counters(s)[gi];
    lock(&g->lock);
    for (i = 0; i < GROUP; ++i)
      if (g->entries[i].owner == owner) g->entries[i].count = 0;
    unlock(&g->lock);
  }
}

uint32_t rl_bucket_count(rl_state *s) {
  uint32_t n = 0, gi;
  int i;
  for (gi = 0; gi < s->bucket_groups; ++gi) {
    bucket_group *g = &buckets(s)[gi];
    lock(&g->lock);
    for (i = 0; i < GROUP; ++i) n += g->entries[i].key != 0;
    unlock(&g->lock);
  }
  return n;
}
