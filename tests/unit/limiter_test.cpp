// The rate limiter's shared state (modules/common/limiter.c): bucket math and eviction,
// connection counts per address over many processes, and what a dead process leaves behind.
#include "modules/common/limiter.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "support/wait_until.h"

namespace {

struct SharedState {
  SharedState(uint32_t keys, uint32_t addresses) : size(rl_state_size(keys, addresses)) {
    memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    state = rl_state_attach(memory, keys, addresses);
  }
  ~SharedState() { munmap(memory, size); }
  std::size_t size;
  void* memory;
  rl_state* state;
};

constexpr uint64_t kSecond = 1'000'000;

}  // namespace

TEST(Limiter, ABurstIsAllowedThenTheRateApplies) {
  SharedState s(64, 8);
  uint64_t key = rl_hash("10.0.0.1", 8, 1);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rl_take(s.state, key, 2.0, 5.0, 0).allowed) << i;
  rl_verdict over = rl_take(s.state, key, 2.0, 5.0, 0);
  EXPECT_FALSE(over.allowed);
  EXPECT_DOUBLE_EQ(over.retry_after, 0.5);  // one token at 2/s
  EXPECT_FALSE(rl_take(s.state, key, 2.0, 5.0, kSecond / 4).allowed);  // half a token
  EXPECT_TRUE(rl_take(s.state, key, 2.0, 5.0, kSecond / 2).allowed);
  // Ten idle seconds refill only up to the burst.
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += rl_take(s.state, key, 2.0, 5.0, 11 * kSecond).allowed;
  EXPECT_EQ(allowed, 5);
}

TEST(Limiter, KeysAreIndependent) {
  SharedState s(64, 8);
  uint64_t a = rl_hash("a", 1, 1), b = rl_hash("b", 1, 1);
  EXPECT_TRUE(rl_take(s.state, a, 1.0, 1.0, 0).allowed);
  EXPECT_FALSE(rl_take(s.state, a, 1.0, 1.0, 0).allowed);
  EXPECT_TRUE(rl_take(s.state, b, 1.0, 1.0, 0).allowed);
  EXPECT_NE(rl_hash("a", 1, 1), rl_hash("a", 1, 2));  // routes (seeds) separate the same key
}

TEST(Limiter, MemoryIsBoundedByEvictingTheLeastRecentlyUsed) {
  SharedState s(8, 8);  // one group of 8 buckets
  std::vector<uint64_t> keys;
  for (int i = 0; i < 9; ++i) keys.push_back(rl_hash(&i, sizeof i, 1));
  for (int i = 0; i < 8; ++i) EXPECT_TRUE(rl_take(s.state, keys[i], 0.001, 1.0, 100 + i).allowed);
  EXPECT_EQ(rl_bucket_count(s.state), 8u);
  rl_take(s.state, keys[0], 0.001, 1.0, 200);  // key 0 used again: key 1 is now the oldest
  EXPECT_TRUE(rl_take(s.state, keys[8], 0.001, 1.0, 300).allowed);  // evicts key 1
  EXPECT_EQ(rl_bucket_count(s.state), 8u);
  EXPECT_FALSE(rl_take(s.state, keys[2], 0.001, 1.0, 301).allowed);  // still remembered: empty
  EXPECT_TRUE(rl_take(s.state, keys[1], 0.001, 1.0, 302).allowed);   // forgotten: a full bucket again
}

// A child that counts `n` connections for `address`, then waits until the test closes `release`.
pid_t count_in_child(rl_state* state, uint64_t address, uint32_t limit, int n, int* release) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t child = fork();
  if (child == 0) {
    ::close(fds[1]);
    int ok = 0;
    rl_owner_start(state, (uint32_t)getpid());
    for (int i = 0; i < n; ++i) ok += rl_connection_acquire(state, address, (uint32_t)getpid(), limit) == RL_COUNTED;
    char byte;
    if (read(fds[0], &byte, 1) < 0) _exit(2);
    _exit(ok == n ? 0 : 1);
  }
  ::close(fds[0]);
  *release = fds[1];
  return child;
}

// Waits (at most 10 s) until the child of count_in_child has counted `n` connections for
// `address`. If it never does (it was refused, or died), it is killed and reaped and its
// `release` closed, so that the failing test leaves nothing behind.
bool child_counted(pid_t child, rl_state* state, uint64_t address, uint64_t n, int release) {
  if (tether::test::wait_until([&] { return rl_connection_count(state, address) >= n; }, std::chrono::seconds(10), std::chrono::milliseconds(1)))
    return true;
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ::close(release);
  return false;
}

TEST(Limiter, ConnectionCountsHoldAcrossProcesses) {
  SharedState s(8, 64);
  uint64_t address = rl_hash("127.0.0.3", 9, 0);
  auto self = static_cast<uint32_t>(getpid());
  int release = -1;
  pid_t child = count_in_child(s.state, address, 3, 2, &release);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(child_counted(child, s.state, address, 2, release)) << "the child did not count its 2 connections within 10 s";
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 3), RL_COUNTED);
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 3), RL_AT_LIMIT);  // the child's count while it lives
  rl_connection_release(s.state, address, self);
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 3), RL_COUNTED);
  ::close(release);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(Limiter, AKilledProcessesConnectionsStopCounting) {
  SharedState s(8, 64);
  uint64_t address = rl_hash("127.0.0.4", 9, 0);
  auto self = static_cast<uint32_t>(getpid());
  int release = -1;
  pid_t child = count_in_child(s.state, address, 2, 2, &release);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(child_counted(child, s.state, address, 2, release)) << "the child did not count its 2 connections within 10 s";
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 2), RL_AT_LIMIT);
  kill(child, SIGKILL);  // never releases what it counted
  waitpid(child, nullptr, 0);
  ::close(release);
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 2), RL_COUNTED);
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 2), RL_COUNTED);
  EXPECT_EQ(rl_connection_count(s.state, address), 2u);
}

TEST(Limiter, ANewProcessForgetsCountsLeftUnderItsPid) {
  SharedState s(8, 64);
  uint64_t address = rl_hash("127.0.0.5", 9, 0);
  EXPECT_EQ(rl_owner_start(s.state, 4242), 1);
  EXPECT_EQ(rl_connection_acquire(s.state, address, 4242, 1), RL_COUNTED);  // a process long gone...
  EXPECT_EQ(rl_owner_start(s.state, 4242), 1);  // ...whose pid the next one got
  EXPECT_EQ(rl_connection_count(s.state, address), 0u);
  EXPECT_EQ(rl_connection_acquire(s.state, address, 4242, 1), RL_COUNTED);
}

TEST(Limiter, ALockLeftByADeadProcessIsTakenOver) {
  SharedState s(8, 8);
  pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  // The lock word of the first bucket group, right after the state's 16-byte header, as a
  // process killed inside rl_take leaves it: holding its pid.
  auto* lock = reinterpret_cast<std::atomic<uint32_t>*>(static_cast<char*>(s.memory) + 16);
  lock->store(static_cast<uint32_t>(dead));
  pid_t child = fork();
  if (child == 0) {
    alarm(10);  // a lock held forever freezes this process: SIGALRM fails the test
    _exit(rl_take(s.state, rl_hash("k", 1, 1), 1.0, 1.0, 0).allowed ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// Processes that live until the test ends: their pids are owners that exist, as workers do.
struct LiveOwners {
  explicit LiveOwners(int n) {
    for (int i = 0; i < n; ++i) {
      pid_t child = fork();
      if (child == 0) {
        for (;;) pause();
      }
      pids.push_back(static_cast<uint32_t>(child));
    }
  }
  ~LiveOwners() {
    for (uint32_t pid : pids)
      if (pid) end(pid);
  }
  static void end(uint32_t pid) {
    kill(static_cast<pid_t>(pid), SIGKILL);
    waitpid(static_cast<pid_t>(pid), nullptr, 0);
  }
  std::vector<uint32_t> pids;
};

void start_owner(rl_state* state, uint32_t owner) { ASSERT_EQ(rl_owner_start(state, owner), 1); }

// SO_REUSEPORT spreads one client's connections over every worker, twice as many during a reload.
TEST(Limiter, TheLimitHoldsForAnAddressCountedByMoreOwnersThanAGroupHasEntries) {
  SharedState s(8, 64);
  LiveOwners owners(12);
  for (uint32_t owner : owners.pids) start_owner(s.state, owner);
  uint64_t address = rl_hash("127.0.0.6", 9, 0);
  int counted = 0;
  for (int round = 0; round < 3; ++round)
    for (uint32_t owner : owners.pids) counted += rl_connection_acquire(s.state, address, owner, 10) == RL_COUNTED;
  EXPECT_EQ(counted, 10);
  EXPECT_EQ(rl_connection_count(s.state, address), 10u);
}

TEST(Limiter, ANeighbourKeepsItsLimitBesideAnAddressWithManyOwners) {
  SharedState s(8, 8);  // one group: every address is a neighbour
  LiveOwners owners(12);
  auto self = static_cast<uint32_t>(getpid());
  start_owner(s.state, self);
  for (uint32_t owner : owners.pids) start_owner(s.state, owner);
  uint64_t busy = rl_hash("127.0.0.7", 9, 0), neighbour = rl_hash("127.0.0.8", 9, 0);
  for (uint32_t owner : owners.pids) EXPECT_EQ(rl_connection_acquire(s.state, busy, owner, 100), RL_COUNTED);
  EXPECT_EQ(rl_connection_count(s.state, busy), 12u);
  EXPECT_EQ(rl_connection_acquire(s.state, neighbour, self, 1), RL_COUNTED);
  EXPECT_EQ(rl_connection_acquire(s.state, neighbour, self, 1), RL_AT_LIMIT);
  EXPECT_EQ(rl_connection_count(s.state, neighbour), 1u);
}

TEST(Limiter, AKilledOwnerAmongManyStopsCounting) {
  SharedState s(8, 64);
  LiveOwners owners(12);
  auto self = static_cast<uint32_t>(getpid());
  start_owner(s.state, self);
  for (uint32_t owner : owners.pids) start_owner(s.state, owner);
  uint64_t address = rl_hash("127.0.0.9", 9, 0);
  for (uint32_t owner : owners.pids) EXPECT_EQ(rl_connection_acquire(s.state, address, owner, 12), RL_COUNTED);
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 12), RL_AT_LIMIT);  // at the limit while all twelve live
  for (int i = 0; i < 3; ++i) {
    LiveOwners::end(owners.pids[i]);  // killed: never releases what it counted
    owners.pids[i] = 0;
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(rl_connection_acquire(s.state, address, self, 12), RL_COUNTED) << i;
  EXPECT_EQ(rl_connection_acquire(s.state, address, self, 12), RL_AT_LIMIT);
  EXPECT_EQ(rl_connection_count(s.state, address), 12u);
}

// A worker killed below its addresses' limits: its counts go when the master starts its successor.
TEST(Limiter, ADeadOwnersCountsAreDroppedWhenTheNextProcessStarts) {
  SharedState s(8, 64);
  uint64_t address = rl_hash("127.0.0.10", 10, 0);
  int release = -1;
  pid_t child = count_in_child(s.state, address, 5, 2, &release);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(child_counted(child, s.state, address, 2, release)) << "the child did not count its 2 connections within 10 s";
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  ::close(release);
  EXPECT_EQ(rl_connection_count(s.state, address), 2u);  // below the limit: nothing asked yet
  start_owner(s.state, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(rl_connection_count(s.state, address), 0u);
}

// Refusing is the safe answer: letting the connection through uncounted would lift the limit.
TEST(Limiter, AFullAddressGroupRefusesRatherThanLetsThrough) {
  SharedState s(8, 8);  // one group of 8 addresses
  auto self = static_cast<uint32_t>(getpid());
  start_owner(s.state, self);
  for (uint64_t a = 1; a <= 8; ++a) EXPECT_EQ(rl_connection_acquire(s.state, a * 1000003, self, 1), RL_COUNTED);
  EXPECT_EQ(rl_connection_acquire(s.state, 42, self, 1), RL_NO_ROOM);
  EXPECT_EQ(rl_connection_count(s.state, 42), 0u);
  rl_connection_release(s.state, 1000003, self);
  EXPECT_EQ(rl_connection_acquire(s.state, 42, self, 1), RL_COUNTED);
}
