#include "core/shared_metrics.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/robust_mutex.h"

namespace tether {

struct SharedMetrics::Entry {
  char name[96];
  char labels[96];
  char help[160];
  MetricType type;
  MetricAggregate aggregate;
};

struct SharedMetrics::Registry {
  RobustMutex lock;                       // held only while registering
  std::atomic<std::uint32_t> count;       // entries[0..count) are complete
  std::atomic<std::uint32_t> slot_limit;  // slots [slot_limit, kMaxSlots) are free (set by the master)
  std::atomic<std::uint8_t> slot_used[kMaxSlots];
  Entry entries[kMaxMetrics];
};

namespace {

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() >= 96) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

// A text field of the mapping, up to its terminator or its size, whichever comes first.
template <std::size_t N>
std::string_view text_of(const char (&field)[N]) {
  return std::string_view(field, strnlen(field, N));
}

void copy_text(char* to, std::size_t capacity, std::string_view from) {
  std::size_t n = std::min(capacity - 1, from.size());
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

}  // namespace

bool SharedMetrics::create(std::string* why) {
  std::size_t values_bytes = sizeof(std::atomic<std::int64_t>) * kMaxSlots * kMaxMetrics;
  std::size_t total = sizeof(Registry) + values_bytes;
  void* memory = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    *why = std::string("cannot map shared memory for metrics: ") + std::strerror(errno);
    return false;
  }
  registry_ = new (memory) Registry{};  // zero pages: every atomic starts at 0
  values_ = reinterpret_cast<std::atomic<std::int64_t>*>(static_cast<char*>(memory) + sizeof(Registry));
  if (!registry_->lock.init(why)) return false;
  registry_->slot_used[0] = 1;
  registry_->slot_limit = 1;
  return true;
}

std::atomic<std::int64_t>* SharedMetrics::value(std::size_t slot, std::uint32_t metric) const {
  return &values_[slot * kMaxMetrics + (metric - 1)];
}

std::uint32_t SharedMetrics::register_metric(std::string_view name, std::string_view labels, std::string_view help,
                                             MetricType type, MetricAggregate aggregate) {
  if (!registry_ || !valid_name(name) || labels.size() >= 96) return kNoMetric;
  RobustMutex::Hold hold(registry_->lock);
  auto n = static_cast<std::uint32_t>(count());
  std::uint32_t found = kNoMetric;
  for (std::uint32_t i = 0; i < n && found == kNoMetric; ++i)
    if (name == registry_->entries[i].name && labels == registry_->entries[i].labels) found = i + 1;
  if (found == kNoMetric && n < kMaxMetrics) {
    Entry& e = registry_->entries[n];
    copy_text(e.name, sizeof e.name, name);
    copy_text(e.labels, sizeof e.labels, labels);
    copy_text(e.help, sizeof e.help, help);
    e.type = type;
    e.aggregate = aggregate;
    registry_->count.store(n + 1, std::memory_order_release);
    found = n + 1;
  }
  return found;
}

void SharedMetrics::add(std::size_t slot, std::uint32_t metric, std::int64_t delta) {
  if (!registry_ || metric == kNoMetric || metric > kMaxMetrics || slot >= kMaxSlots) return;
  value(slot, metric)->fetch_add(delta, std::memory_order_relaxed);
}

void SharedMetrics::set(std::size_t slot, std::uint32_t metric, std::int64_t v) {
  if (!registry_ || metric == kNoMetric || metric > kMaxMetrics || slot >= kMaxSlots) return;
  value(slot, metric)->store(v, std::memory_order_relaxed);
}

std::size_t SharedMetrics::count() const {
  return registry_ ? std::min<std::size_t>(registry_->count.load(std::memory_order_acquire), kMaxMetrics) : 0;
}

std::atomic<std::uint32_t>& SharedMetrics::shared_count_for_tests() const { return registry_->count; }

std::size_t SharedMetrics::slot_limit() const {
  return std::min<std::size_t>(registry_->slot_limit.load(std::memory_order_acquire), kMaxSlots);
}

bool SharedMetrics::read(std::size_t index, MetricSample* sample) const {
  if (index >= count()) return false;
  const Entry& e = registry_->entries[index];
  std::int64_t sum = 0, lowest = 0;
  bool any_worker = false;
  auto metric = static_cast<std::uint32_t>(index + 1);
  for (std::size_t slot = 0, end = slot_limit(); slot < end; ++slot) {
    if (!registry_->slot_used[slot].load(std::memory_order_relaxed)) continue;
    std::int64_t v = value(slot, metric)->load(std::memory_order_relaxed);
    sum += v;
    if (slot == 0) continue;
    lowest = any_worker ? std::min(lowest, v) : v;
    any_worker = true;
  }
  std::int64_t total = e.aggregate == MetricAggregate::lowest_worker ? lowest : sum;
  *sample = MetricSample{text_of(e.name), text_of(e.labels), text_of(e.help), e.type, total};
  return true;
}

// The lowest free slot keeps slot_limit, and so every reader's loop, as short as the workers.
std::size_t SharedMetrics::acquire_slot() {
  if (!registry_) return 0;
  for (std::size_t slot = 1; slot < kMaxSlots; ++slot) {
    if (registry_->slot_used[slot].load(std::memory_order_relaxed)) continue;
    registry_->slot_used[slot].store(1, std::memory_order_relaxed);
    if (slot >= registry_->slot_limit.load(std::memory_order_relaxed))
      registry_->slot_limit.store(static_cast<std::uint32_t>(slot + 1), std::memory_order_release);
    return slot;
  }
  return 0;
}

void SharedMetrics::release_slot(std::size_t slot) {
  if (!registry_ || slot == 0 || slot >= kMaxSlots) return;
  std::size_t n = count();
  for (std::uint32_t metric = 1; metric <= n; ++metric) {
    std::int64_t v = value(slot, metric)->exchange(0, std::memory_order_relaxed);
    if (registry_->entries[metric - 1].type == MetricType::counter) add(0, metric, v);
  }
  registry_->slot_used[slot].store(0, std::memory_order_relaxed);
  std::size_t limit = slot_limit();
  while (limit > 1 && !registry_->slot_used[limit - 1].load(std::memory_order_relaxed)) --limit;
  registry_->slot_limit.store(static_cast<std::uint32_t>(limit), std::memory_order_release);
}

SharedMetrics& shared_metrics() {
  static SharedMetrics instance;
  return instance;
}

void CoreMetrics::register_all(SharedMetrics& m) {
  connections_open = m.register_metric("tether_connections_open", "kind=\"http\"", "Open client connections by kind.",
                                       MetricType::gauge);
  connections_accepted = m.register_metric("tether_connections_accepted_total", "", "Connections accepted.",
                                           MetricType::counter);
  connections_over_accept_rate = m.register_metric(
      "tether_connections_over_accept_rate_total", "",
      "Connections accepted over max_accept_rate: their requests were answered 503 with Retry-After.", MetricType::counter);
  const char* classes[] = {"code=\"1xx\"", "code=\"2xx\"", "code=\"3xx\"", "code=\"4xx\"", "code=\"5xx\""};
  for (int i = 0; i < 5; ++i)
    requests[i] = m.register_metric("tether_http_requests_total", classes[i], "HTTP requests answered, by status class.",
                                    MetricType::counter);
  bytes_received = m.register_metric("tether_received_bytes_total", "", "Bytes read from clients.", MetricType::counter);
  bytes_sent = m.register_metric("tether_sent_bytes_total", "", "Bytes written to clients.", MetricType::counter);
  reloads = m.register_metric("tether_reloads_total", "", "Successful configuration reloads.", MetricType::counter);
  generation = m.register_metric("tether_generation", "", "The generation of workers currently serving.",
                                 MetricType::gauge);
  worker_restarts = m.register_metric("tether_worker_restarts_total", "", "Workers respawned after a crash.",
                                      MetricType::counter);
  messages_published = m.register_metric("tether_messages_published_total", "", "Messages published to the broker.",
                                         MetricType::counter);
  messages_out = m.register_metric("tether_messages_delivered_total", "",
                                   "Messages queued to subscribers (one per subscriber and message).", MetricType::counter);
  messages_dropped = m.register_metric("tether_messages_dropped_total", "",
                                       "Messages discarded for slow subscribers.", MetricType::counter);
  slow_disconnects = m.register_metric("tether_slow_disconnects_total", "",
                                       "Subscribers disconnected for not reading their messages.", MetricType::counter);
  broker_up = m.register_metric("tether_broker_up", "", "1 while every worker reaches its broker ([pubsub] broker).",
                                MetricType::gauge, MetricAggregate::lowest_worker);
  broker_published = m.register_metric("tether_broker_published_total", "", "Publishes the Redis broker acknowledged.",
                                       MetricType::counter);
  broker_received = m.register_metric("tether_broker_received_total", "", "Messages received from Redis pub/sub.",
                                      MetricType::counter);
  broker_recovered = m.register_metric("tether_broker_recovered_total", "",
                                       "Messages read from a Redis stream to fill a hole pub/sub left.", MetricType::counter);
  broker_lost = m.register_metric("tether_broker_lost_total", "", "Message offsets Redis no longer held when needed.",
                                  MetricType::counter);
  broker_errors = m.register_metric("tether_broker_errors_total", "", "Broker requests that failed (answered 503).",
                                    MetricType::counter);
  broker_refused = m.register_metric("tether_broker_refused_total", "",
                                     "Messages from Redis pub/sub refused: malformed, forged or over max_message_size.",
                                     MetricType::counter);
  broker_reconnects = m.register_metric("tether_broker_reconnects_total", "", "Redis connections made again after a loss.",
                                        MetricType::counter);
  const char* help = "Publish round trips to Redis (cumulative histogram buckets).";
  for (std::size_t i = 0; i < kPublishBuckets; ++i) {
    char le[32] = "+Inf";
    if (i + 1 < kPublishBuckets) std::snprintf(le, sizeof le, "%g", static_cast<double>(kPublishBucketsUs[i]) / 1e6);
    broker_publish_seconds[i] = m.register_metric("tether_broker_publish_seconds_bucket", std::string("le=\"") + le + "\"", help, MetricType::counter);
  }
  broker_publish_seconds_count = m.register_metric("tether_broker_publish_seconds_count", "", help, MetricType::counter);
}

CoreMetrics& core_metrics() {
  static CoreMetrics instance;
  return instance;
}

}  // namespace tether
