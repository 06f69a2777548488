#include "core/shared_metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <sys/mman.h>
#include <unistd.h>

#include <new>

#include "core/robust_mutex.h"
#include "core/shared_zones.h"

using tether::MetricSample;
using tether::MetricType;
using tether::SharedMetrics;

TEST(SharedMetrics, RegistrationIsIdempotentPerNameAndLabels) {
  SharedMetrics m;
  std::string why;
  ASSERT_TRUE(m.create(&why)) << why;
  auto a = m.register_metric("t_requests_total", "code=\"2xx\"", "help", MetricType::counter);
  auto b = m.register_metric("t_requests_total", "code=\"4xx\"", "help", MetricType::counter);
  EXPECT_NE(a, SharedMetrics::kNoMetric);
  EXPECT_NE(a, b);
  EXPECT_EQ(m.register_metric("t_requests_total", "code=\"2xx\"", "other help", MetricType::counter), a);
  EXPECT_EQ(m.register_metric("9starts_with_digit", "", "", MetricType::counter), SharedMetrics::kNoMetric);
  EXPECT_EQ(m.register_metric("has space", "", "", MetricType::counter), SharedMetrics::kNoMetric);
  EXPECT_EQ(m.count(), 2u);
}

TEST(SharedMetrics, ValuesAreSummedOverSlotsAndSharedWithChildren) {
  SharedMetrics m;
  std::string why;
  ASSERT_TRUE(m.create(&why)) << why;
  auto c = m.register_metric("t_total", "", "h", MetricType::counter);
  std::size_t s1 = m.acquire_slot(), s2 = m.acquire_slot();
  ASSERT_NE(s1, 0u);
  ASSERT_NE(s1, s2);
  m.add(s1, c, 5);
  pid_t child = fork();
  if (child == 0) {
    m.add(s2, c, 7);  // another process, same mapping
    _exit(0);
  }
  int status;
  waitpid(child, &status, 0);
  MetricSample sample;
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 12);
  EXPECT_EQ(sample.name, "t_total");
}

// tether_broker_up: 1 only while every worker says 1; the master's slot does not count.
TEST(SharedMetrics, ALowestWorkerGaugeIsTheLowestOfTheWorkerSlots) {
  SharedMetrics m;
  std::string why;
  ASSERT_TRUE(m.create(&why)) << why;
  auto up = m.register_metric("t_up", "", "h", MetricType::gauge, tether::MetricAggregate::lowest_worker);
  MetricSample sample;
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 0);  // no worker yet
  std::size_t s1 = m.acquire_slot(), s2 = m.acquire_slot();
  m.set(s1, up, 1);
  m.set(s2, up, 1);
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 1);
  m.set(s2, up, 0);
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 0);
  m.release_slot(s2);  // that worker exited
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 1);
}

TEST(SharedMetrics, ReleasingASlotKeepsCountersAndDropsGauges) {
  SharedMetrics m;
  std::string why;
  ASSERT_TRUE(m.create(&why)) << why;
  auto counter = m.register_metric("t_total", "", "h", MetricType::counter);
  auto gauge = m.register_metric("t_open", "", "h", MetricType::gauge);
  std::size_t slot = m.acquire_slot();
  m.add(slot, counter, 3);
  m.add(slot, gauge, 4);
  m.release_slot(slot);
  MetricSample sample;
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 3);
  ASSERT_TRUE(m.read(1, &sample));
  EXPECT_EQ(sample.value, 0);
  EXPECT_EQ(m.acquire_slot() != 0, true);
}

TEST(SharedMetrics, ACountCorruptedInSharedMemoryIsClampedBeforeItIndexes) {
  SharedMetrics m;
  std::string why;
  ASSERT_TRUE(m.create(&why)) << why;
  auto counter = m.register_metric("t_total", "", "h", MetricType::counter);
  std::size_t slot = m.acquire_slot();
  m.add(slot, counter, 3);
  m.shared_count_for_tests().store(0xffffffffu);  // what any worker could write
  EXPECT_EQ(m.count(), SharedMetrics::kMaxMetrics);
  MetricSample sample;
  EXPECT_FALSE(m.read(SharedMetrics::kMaxMetrics, &sample));
  m.release_slot(slot);  // the master folds the slot without reading past the registry
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 3);
}

TEST(SharedMetrics, ReadsCoverOnlyTheSlotsHandedOut) {
  SharedMetrics m;
  std::string why;
  ASSERT_TRUE(m.create(&why)) << why;
  auto gauge = m.register_metric("t_open", "", "h", MetricType::gauge);
  std::size_t a = m.acquire_slot(), b = m.acquire_slot();
  EXPECT_EQ(a, 1u);
  EXPECT_EQ(b, 2u);
  m.add(b, gauge, 5);
  m.release_slot(a);
  EXPECT_EQ(m.acquire_slot(), 1u);  // the lowest free slot again: readers stay short
  MetricSample sample;
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 5);
  m.release_slot(b);
  ASSERT_TRUE(m.read(0, &sample));
  EXPECT_EQ(sample.value, 0);
}

// The lock of the metrics registry and of the zone directory.
TEST(RobustMutex, AProcessThatDiesHoldingItDoesNotFreezeTheOthers) {
  void* memory = mmap(nullptr, sizeof(tether::RobustMutex), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  auto* mutex = new (memory) tether::RobustMutex;
  std::string why;
  ASSERT_TRUE(mutex->init(&why)) << why;
  pid_t holder = fork();
  if (holder == 0) {
    mutex->lock();
    _exit(0);  // dies holding it, as a worker killed inside a critical section
  }
  int status = 0;
  waitpid(holder, &status, 0);
  pid_t child = fork();
  if (child == 0) {
    alarm(10);  // a lock left held freezes this process: SIGALRM fails the test
    for (int i = 0; i < 2; ++i) {
      tether::RobustMutex::Hold hold(*mutex);
    }
    _exit(0);
  }
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  munmap(memory, sizeof(tether::RobustMutex));
}

TEST(SharedZones, ASizePastTheArenaIsRefusedNotWrappedAround) {
  tether::SharedZones zones;
  std::string why;
  ASSERT_TRUE(zones.create(1 << 20, &why)) << why;
  char* a = static_cast<char*>(zones.zone("a", 100));
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(zones.zone("huge", SIZE_MAX - 64), nullptr);  // offset 128 + size wraps around
  EXPECT_EQ(zones.zone("big", (1 << 20) - 127), nullptr);  // one byte past the arena
  char* b = static_cast<char*>(zones.zone("b", 100));
  ASSERT_NE(b, nullptr);
  EXPECT_GE(b, a + 100);  // no zone overlaps another
  EXPECT_EQ(zones.zone("a", 100), a);
}
