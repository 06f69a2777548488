// Waiting in a unit test for something another thread or process does: poll the condition
// against a deadline, never sleep and hope (the integration tests' wait_until, in
// tests/integration/support/tether_server.h, does the same for a server, every 10 ms).
#pragma once

#include <chrono>
#include <thread>

namespace tether::test {

// Polls `condition` every millisecond until it holds or `timeout` has passed; true if it held.
template <typename Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace tether::test
