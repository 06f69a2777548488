// The wall clock in unix milliseconds: the time a message was published, which the master's
// broker and the Redis broker (the publishing node's clock) both stamp on it.
#pragma once

#include <chrono>
#include <cstdint>

namespace tether {

inline std::uint64_t unix_time_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace tether
