// Small helpers around the one libuv loop of tether-bench.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>

namespace bench {

// Runs the loop until `done` holds, checking every 10 ms.
void run_until(uv_loop_t* loop, const std::function<bool()>& done);
double seconds_since(std::uint64_t start_ns);

}  // namespace bench
