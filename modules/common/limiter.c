#define _POSIX_C_SOURCE 200809L  /* kill(), getpid() even under a strict -std=c11 */
#include "limiter.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
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

/* An address's connections over all owners: the number its limit is checked against. */
typedef struct {
  uint64_t key;         /* 0 or total 0: empty */
  uint32_t total;
  uint32_t pad;
} address_count;

typedef struct {
  atomic_uint lock;
  uint32_t pad;
  address_count entries[GROUP];
} address_group;

/* One owner's part of an address's total. Changed only under the lock of the address's group
 * (then under its own group's lock too), so that the total is always the sum of the shares. */
typedef struct {
  uint64_t key;         /* the address */
  uint32_t owner;       /* the pid of the process that counted these connections */
  uint32_t count;       /* 0: empty */
} share;

typedef struct {
  atomic_uint lock;
  uint32_t pad;
  share entries[GROUP];
} share_group;

/* The processes that count connections, so that the shares of one address can be looked up;
 * and the secret of address hashes. */
typedef struct {
  uint64_t secret;
  atomic_uint used;     /* entries below this may be taken */
  atomic_uint pids[RL_MAX_OWNERS];  /* 0: free */
} owner_list;

struct rl_state {
  atomic_uint setup;    /* the lock taken to set the state up */
  uint32_t ready;       /* 1 once the sizes are set */
  uint32_t bucket_groups;
  uint32_t address_groups;
  /* bucket_group[bucket_groups], address_group[address_groups],
   * share_group[share_groups_for(address_groups)], owner_list */
};

static uint32_t groups_for(uint32_t n) { return n < GROUP ? 1 : (n + GROUP - 1) / GROUP; }
/* Twice as many shares as addresses, and at least 8 groups: the shares of one address spread
 * over groups by owner, so that even a small table has room for an address of many owners. */
static uint32_t share_groups_for(uint32_t address_groups) { return address_groups < 4 ? 8 : 2 * address_groups; }

static bucket_group *buckets(rl_state *s) { return (bucket_group *)(s + 1); }
static address_group *addresses(rl_state *s) { return (address_group *)(buckets(s) + s->bucket_groups); }
static share_group *shares(rl_state *s) { return (share_group *)(addresses(s) + s->address_groups); }
static owner_list *owners(rl_state *s) { return (owner_list *)(shares(s) + share_groups_for(s->address_groups)); }

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
  uint32_t a = groups_for(addresses);
  return sizeof(rl_state) + groups_for(keys) * sizeof(bucket_group) + a * sizeof(address_group) +
         share_groups_for(a) * sizeof(share_group) + sizeof(owner_list);
}

/* Unpredictable to clients: they must not be able to choose addresses that share a group. */
static uint64_t make_secret(void) {
  uint64_t secret = 0;
  struct timespec t;
  if (getrandom(&secret, sizeof secret, 0) == (ssize_t)sizeof secret && secret) return secret;
  clock_gettime(CLOCK_REALTIME, &t);  /* no entropy yet: still differs from one start to the next */
  return ((uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec) ^ ((uint64_t)getpid() << 40) ^ 1;
}

rl_state *rl_state_attach(void *memory, uint32_t keys, uint32_t addresses) {
  rl_state *s = memory;
  lock(&s->setup);
  if (!s->ready) {
    s->bucket_groups = groups_for(keys);
    s->address_groups = groups_for(addresses);
    owners(s)->secret = make_secret();
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

uint64_t rl_state_secret(rl_state *s) { return owners(s)->secret; }

static address_group *group_of(rl_state *s, uint64_t address) { return &addresses(s)[address % s->address_groups]; }

/* The shares of one address are spread over the share groups by owner. */
static share_group *share_group_of(rl_state *s, uint64_t address, uint32_t owner) {
  uint64_t h = (address ^ (uint64_t)owner * 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
  return &shares(s)[(h ^ (h >> 31)) % share_groups_for(s->address_groups)];
}

/* The share of (address, owner) in `g` (locked), or NULL. */
static share *share_in(share_group *g, uint64_t address, uint32_t owner) {
  int i;
  for (i = 0; i < GROUP; ++i)
    if (g->entries[i].count > 0 && g->entries[i].key == address && g->entries[i].owner == owner) return &g->entries[i];
  return NULL;
}

/* Adds `delta` (+1 or -1) to the share of (address, owner); 0 if it has no room or nothing to take. */
static int share_add(rl_state *s, uint64_t address, uint32_t owner, int delta) {
  share_group *g = share_group_of(s, address, owner);
  share *e;
  int i, done = 0;
  lock(&g->lock);
  e = share_in(g, address, owner);
  for (i = 0; !e && delta > 0 && i < GROUP; ++i)
    if (g->entries[i].count == 0) {
      e = &g->entries[i];
      e->key = address;
      e->owner = owner;
    }
  if (e) {
    e->count += (uint32_t)delta;
    done = 1;
  }
  unlock(&g->lock);
  return done;
}

/* The share of (address, owner), emptied if `take`. */
static uint32_t share_count(rl_state *s, uint64_t address, uint32_t owner, int take) {
  share_group *g = share_group_of(s, address, owner);
  share *e;
  uint32_t n = 0;
  lock(&g->lock);
  e = share_in(g, address, owner);
  if (e) {
    n = e->count;
    if (take) e->count = 0;
  }
  unlock(&g->lock);
  return n;
}

/* Takes `n` connections off the total of `c` (never below 0, whatever the memory holds). */
static void take_off(address_count *c, uint32_t n) { c->total -= n < c->total ? n : c->total; }

/* How many entries of the owner list may be taken; any process can write the shared memory,
 * so the count is clamped before it bounds a loop. */
static uint32_t owners_used(owner_list *o) {
  uint32_t used = atomic_load(&o->used);
  return used < RL_MAX_OWNERS ? used : RL_MAX_OWNERS;
}

/* Takes the shares of owners that no longer exist off the total of `c` (its group locked). The
 * existence of an owner is asked only of those holding a share, at most `total` of them. */
static void reclaim_dead(rl_state *s, address_count *c, uint32_t self) {
  owner_list *o = owners(s);
  uint32_t i, used = owners_used(o);
  for (i = 0; i < used && c->total > 0; ++i) {
    uint32_t pid = atomic_load(&o->pids[i]);
    if (pid && pid != self && share_count(s, c->key, pid, 0) && !alive(pid))
      take_off(c, share_count(s, c->key, pid, 1));
  }
}

/* The count of `address` in `g` (locked), or an empty one made so, or NULL if the group is full
 * of live counts. */
static address_count *count_for(rl_state *s, address_group *g, uint64_t address, uint32_t self) {
  address_count *empty = NULL;
  int i, round;
  for (round = 0; round < 2; ++round) {
    for (i = 0; i < GROUP; ++i) {
      address_count *c = &g->entries[i];
      if (c->total > 0 && c->key == address) return c;
      if (c->total == 0 && !empty) empty = c;
    }
    if (empty) {
      empty->key = address;
      return empty;
    }
    for (i = 0; i < GROUP; ++i) reclaim_dead(s, &g->entries[i], self);  /* full: make room */
  }
  return NULL;
}

int rl_connection_acquire(rl_state *s, uint64_t address, uint32_t owner, uint32_t limit) {
  address_group *g = group_of(s, address);
  address_count *c;
  int verdict = RL_COUNTED;
  lock(&g->lock);
  c = count_for(s, g, address, owner);
  if (c && c->total >= limit) reclaim_dead(s, c, owner);
  if (!c) verdict = RL_NO_ROOM;
  else if (c->total >= limit) verdict = RL_AT_LIMIT;
  else if (!share_add(s, address, owner, 1)) verdict = RL_NO_ROOM;
  else c->total++;
  unlock(&g->lock);
  return verdict;
}

void rl_connection_release(rl_state *s, uint64_t address, uint32_t owner) {
  address_group *g = group_of(s, address);
  int i;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i) {
    address_count *c = &g->entries[i];
    /* no share left: a successor took it (it believed this owner dead), and the total with it */
    if (c->total > 0 && c->key == address && share_add(s, address, owner, -1)) {
      c->total--;
      break;
    }
  }
  unlock(&g->lock);
}

uint32_t rl_connection_count(rl_state *s, uint64_t address) {
  address_group *g = group_of(s, address);
  uint32_t n = 0;
  int i;
  lock(&g->lock);
  for (i = 0; i < GROUP; ++i)
    if (g->entries[i].total > 0 && g->entries[i].key == address) n = g->entries[i].total;
  unlock(&g->lock);
  return n;
}

/* Takes the shares of `gone` (pids) off every address's total. */
static void forget_owners(rl_state *s, const uint32_t *gone, uint32_t n) {
  uint32_t gi, k;
  int i;
  for (gi = 0; gi < s->address_groups; ++gi) {
    address_group *g = &addresses(s)[gi];
    lock(&g->lock);
    for (i = 0; i < GROUP; ++i)
      for (k = 0; k < n && g->entries[i].total > 0; ++k)
        take_off(&g->entries[i], share_count(s, g->entries[i].key, gone[k], 1));
    unlock(&g->lock);
  }
}

int rl_owner_start(rl_state *s, uint32_t owner) {
  /* static: too large for a stack, and a process calls this once, on its loop's thread */
  static uint32_t gone[RL_MAX_OWNERS + 1], gone_at[RL_MAX_OWNERS + 1];
  owner_list *o = owners(s);
  uint32_t i, n = 0, used = owners_used(o);
  gone[n++] = owner;
  for (i = 0; i < used; ++i) {
    uint32_t pid = atomic_load(&o->pids[i]);
    if (pid && pid != owner && !alive(pid)) {
      gone_at[n] = i;
      gone[n++] = pid;
    }
  }
  forget_owners(s, gone, n);
  for (i = 1; i < n; ++i) {  /* their shares are gone: their entries may be taken again */
    unsigned pid = gone[i];
    atomic_compare_exchange_strong(&o->pids[gone_at[i]], &pid, 0u);
  }
  for (i = 0; i < RL_MAX_OWNERS; ++i) {
    unsigned pid = atomic_load(&o->pids[i]), free_entry = 0;
    if (pid == owner || (pid == 0 && atomic_compare_exchange_strong(&o->pids[i], &free_entry, owner))) {
      unsigned seen = atomic_load(&o->used);
      while (seen < i + 1 && !atomic_compare_exchange_weak(&o->used, &seen, i + 1)) {
      }
      return 1;
    }
  }
  return 0;
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
