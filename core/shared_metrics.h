// Counters and gauges in memory shared by the master and every worker (an anonymous MAP_SHARED
// mapping the master creates before it forks anything, so every generation inherits it).
//
// Each process writes only to its own slot (no cache-line contention, relaxed atomics); a
// reader sums a metric over all slots. The master gives each worker process a slot of its own
// and, when the process exits, folds the slot's counters into the master's slot 0 and clears it
// (gauges of a dead process, such as its open connections, simply vanish).
//
// Every process can write the whole mapping, so what is read from it is not trusted: the
// registry's count and slot bound are clamped before they index anything, names are read up to
// their field's size, and the registry lock survives a process that dies holding it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace tether {

enum class MetricType : std::uint32_t { counter = 0, gauge = 1 };
// How a metric's slots add up: their sum, or (for a 0/1 health gauge every worker sets) the
// lowest value of the worker slots, 0 while there is none.
enum class MetricAggregate : std::uint32_t { sum = 0, lowest_worker = 1 };

struct MetricSample {
  std::string_view name;
  std::string_view labels;
  std::string_view help;
  MetricType type;
  std::int64_t value;
};

class SharedMetrics {
 public:
  static constexpr std::size_t kMaxMetrics = 256;
  static constexpr std::size_t kMaxSlots = 4096;  // slot 0: the master and folded totals
  static constexpr std::uint32_t kNoMetric = 0;

  // Maps the shared memory. Call once, in the master, before forking.
  bool create(std::string* why);
  bool ready() const { return registry_ != nullptr; }

  // Finds or adds (name, labels). Returns a 1-based handle, kNoMetric if full or invalid.
  std::uint32_t register_metric(std::string_view name, std::string_view labels, std::string_view help, MetricType type,
                                MetricAggregate aggregate = MetricAggregate::sum);
  void add(std::size_t slot, std::uint32_t metric, std::int64_t delta);
  void set(std::size_t slot, std::uint32_t metric, std::int64_t value);

  // Registered metrics, at most kMaxMetrics.
  std::size_t count() const;
  // The metric at 0-based `index`, summed over the slots in use (a reader costs what the live
  // workers cost, not kMaxSlots).
  bool read(std::size_t index, MetricSample* sample) const;

  // Master side: slot bookkeeping for worker processes.
  std::size_t acquire_slot();            // the lowest free one; 0 when none is free
  void release_slot(std::size_t slot);   // folds counters into slot 0, clears the slot

  // For tests that write the mapping as a compromised worker could.
  std::atomic<std::uint32_t>& shared_count_for_tests() const;

 private:
  struct Entry;
  struct Registry;
  std::atomic<std::int64_t>* value(std::size_t slot, std::uint32_t metric) const;
  std::size_t slot_limit() const;

  Registry* registry_ = nullptr;
  std::atomic<std::int64_t>* values_ = nullptr;  // [kMaxSlots][kMaxMetrics]
};

// The process-wide instance (created by the master, inherited by workers).
SharedMetrics& shared_metrics();

// The metrics the core itself maintains, registered by the master at start.
struct CoreMetrics {
  std::uint32_t connections_open = 0;      // gauge {kind="http"}
  std::uint32_t connections_accepted = 0;
  std::uint32_t connections_over_accept_rate = 0;  // answered 503 (max_accept_rate)
  std::uint32_t requests[5] = {};          // by status class 1xx..5xx
  std::uint32_t bytes_received = 0;
  std::uint32_t bytes_sent = 0;
  std::uint32_t reloads = 0;
  std::uint32_t generation = 0;            // gauge, set by the master
  std::uint32_t worker_restarts = 0;
  std::uint32_t messages_published = 0;    // accepted by a worker for the broker
  std::uint32_t messages_out = 0;          // queued to a subscriber (one per subscriber and message)
  std::uint32_t messages_dropped = 0;      // discarded by the slow-consumer policy
  std::uint32_t slow_disconnects = 0;      // subscribers closed by the "disconnect" policy
  // The broker (every worker sets broker_up; the Redis broker counts the rest).
  std::uint32_t broker_up = 0;             // gauge: 1 while every worker's broker is reachable
  std::uint32_t broker_published = 0;      // publishes the broker acknowledged
  std::uint32_t broker_received = 0;       // messages relayed to this node by Redis pub/sub
  std::uint32_t broker_recovered = 0;      // messages read from a stream to fill a hole
  std::uint32_t broker_lost = 0;           // offsets neither pub/sub nor the stream still had
  std::uint32_t broker_errors = 0;         // requests answered "unavailable"
  std::uint32_t broker_refused = 0;        // relayed messages malformed, forged or too large
  std::uint32_t broker_reconnects = 0;
  // Publish round trips to Redis: cumulative buckets (le in microseconds below), and +Inf.
  static constexpr std::uint64_t kPublishBucketsUs[] = {250, 500, 1000, 2500, 5000, 10'000, 25'000, 100'000, 1'000'000};
  static constexpr std::size_t kPublishBuckets = std::size(kPublishBucketsUs) + 1;
  std::uint32_t broker_publish_seconds[kPublishBuckets] = {};
  std::uint32_t broker_publish_seconds_count = 0;

  void register_all(SharedMetrics& metrics);
};
CoreMetrics& core_metrics();

}  // namespace tether
