#include "limiter.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>

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
  uint64_t key;         /* 0: empty */
  uint32_t count;
  uint32_t pad;
} counter;

typedef struct {
  atomic_uint lock;
  uint32_t pad;
  counter entries[GROUP];
} counter_group;

struct rl_state {
  atomic_uint ready;    /* 0 untouched, 1 being set up, 2 ready */
  uint32_t bucket_groups;
  uint32_t counter_groups;
  uint32_t pad;
  /* bucket_group[bucket_groups], then counter_group[counter_groups] */
};

static uint32_t groups_for(uint32_t n) { return n < GROUP ? 1 : (n + GROUP - 1) / GROUP; }

static bucket_group *buckets(rl_state *s) { return (bucket_group *)(s + 1); }
static counter_group *counters(rl_state *s) { return (counter_group *)(buckets(s) + s->bucket_groups); }

static void lock(atomic_uint *l) {
  unsigned spins = 0;
  while (atomic_exchange_explicit(l, 1u, memory_order_acquire) != 0u)
    if (++spins % 64 == 0) sched_yield();
}
static void unlock(atomic_uint *l) { atomic_store_explicit(l, 0u, memory_order_release); }

size_t rl_state_size(uint32_t keys, uint32_t addresses) {
  return sizeof(rl_state) + groups_for(keys) * sizeof(bucket_group) + groups_for(addresses) * sizeof(counter_group);
}

rl_state *rl_state_attach(void *memory, uint32_t keys, uint32_t addresses) {
  rl_state *s = memory;
  unsigned expected = 0;
  if (atomic_compare_exchange_strong(&s->ready, &expected, 1u)) {
    s->bucket_groups = groups_for(keys);
    s->counter_groups = groups_for(addresses);
    atomic_store_explicit(&s->ready, 2u, memory_order_release);
  }
  while (atomic_load_explicit(&s->ready, memory_order_acquire) != 2u) sched_yield();
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

int rl_connection_acquire(rl_state *s, uint64_t address, uint32_t limit, int *untracked) {
  counter_group *g = &counters(s)[address % s->counter_groups];
  counter *c = NULL, *empty = NULL;
  int allowed = 1, i;
  *untracked = 0;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i) {
    counter *e = &g->entries[i];
    if (e->key == address && e->count > 0) c = e;
    else if (e->count == 0 && !empty) empty = e;
  }
  if (!c && empty) {
    c = empty;
    c->key = address;
    c->count = 0;
  }
  if (!c) *untracked = 1;
  else if (c->count >= limit) allowed = 0;
  else c->count++;
  unlock(&g->lock);
  return allowed;
}

void rl_connection_release(rl_state *s, uint64_t address) {
  counter_group *g = &counters(s)[address % s->counter_groups];
  int i;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i)
    if (g->entries[i].key == address && g->entries[i].count > 0) {
      g->entries[i].count--;
      break;
    }
  unlock(&g->lock);
}

uint32_t rl_connection_count(rl_state *s, uint64_t address) {
  counter_group *g = &counters(s)[address % s->counter_groups];
  uint32_t n = 0;
  int i;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i)
    if (g->entries[i].key == address) n = g->entries[i].count;
  unlock(&g->lock);
  return n;
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
