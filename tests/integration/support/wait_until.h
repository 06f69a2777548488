// Waiting in a test for something another thread or process does: poll the condition against a
// deadline, never sleep and hope it happened meanwhile. One helper for the unit and the
// integration tests.
#pragma once

#include <chrono>
#include <thread>

namespace tether::test {

// Polls `condition` every `every` until it holds or `timeout` has passed; true if it held. The
// integration tests keep the default (their conditions ask a server); a unit test waiting for a
// thread may poll faster.
template <typename Condition>
bool wait_until(Condition&& condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(every);
  }
}

}  // namespace tether::test
