// max_accept_rate: a token bucket of new connections per second for one worker, one second's
// worth deep, refilled evenly. A connection over the rate is still accepted (a listener that
// stopped accepting would stall the clients in its backlog, and the kernel's queue would
// overflow): its requests are answered 503 with Retry-After (HttpSession::refuse_requests).
#pragma once

#include <algorithm>
#include <cstdint>

namespace tether {

class AcceptRate {
 public:
  // 0: no limit.
  explicit AcceptRate(std::uint64_t per_second)
      : per_second_(per_second), millitokens_(per_second * 1000) {}

  // Whether a connection accepted at `now_ms` (a monotonic clock) is within the rate.
  bool take(std::uint64_t now_ms) {
    if (per_second_ == 0) return true;
    if (now_ms > last_ms_) {
      // per_second tokens a second are per_second millitokens a millisecond.
      std::uint64_t elapsed = std::min<std::uint64_t>(now_ms - last_ms_, 1000);
      millitokens_ = std::min(millitokens_ + elapsed * per_second_, per_second_ * 1000);
      last_ms_ = now_ms;
    }
    if (millitokens_ < 1000) return false;
    millitokens_ -= 1000;
    return true;
  }

 private:
  std::uint64_t per_second_;
  std::uint64_t millitokens_;
  std::uint64_t last_ms_ = 0;
};

}  // namespace tether
