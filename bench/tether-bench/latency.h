// Latency samples (microseconds) and their percentiles, for the JSON results.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace bench {

class Latency {
 public:
  void add(std::uint64_t us) { samples_.push_back(static_cast<std::uint32_t>(std::min<std::uint64_t>(us, UINT32_MAX))); }
  void merge(const Latency& other) { samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end()); }
  std::size_t count() const { return samples_.size(); }
  // The p-th percentile (0..100) in microseconds; 0 without samples.
  std::uint64_t percentile(double p) {
    if (samples_.empty()) return 0;
    std::size_t rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(samples_.size() - 1) + 0.5);
    std::nth_element(samples_.begin(), samples_.begin() + static_cast<std::ptrdiff_t>(rank), samples_.end());
    return samples_[rank];
  }
  std::uint64_t max() const { return samples_.empty() ? 0 : *std::max_element(samples_.begin(), samples_.end()); }

 private:
  std::vector<std::uint32_t> samples_;
};

}  // namespace bench
