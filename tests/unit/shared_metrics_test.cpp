#include "core/shared_metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

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
