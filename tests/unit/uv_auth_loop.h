// The auth module's event interface (modules/auth/auth_loop.h) over a libuv loop, for the unit
// tests of the backend client; the module maps the same interface onto the host's io and timer
// functions. Owns the loop: the destructor runs it until every handle is closed and checks that
// none was left (a client that forgot a timer or an io fails the test there).
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>

#include "../../modules/auth/auth_loop.h"

namespace tether::test {

class UvAuthLoop {
 public:
  UvAuthLoop();
  ~UvAuthLoop();
  UvAuthLoop(const UvAuthLoop&) = delete;
  UvAuthLoop& operator=(const UvAuthLoop&) = delete;

  const auth_loop* loop() const { return &interface_; }
  uv_loop_t* uv() { return &loop_; }

  // Runs the loop until `condition` holds or `timeout` passed; true if it held.
  bool run_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout);
  // Runs the loop for `duration`.
  void run_for(std::chrono::milliseconds duration);
  // Closes every handle and checks the loop had nothing else left; false if it had.
  bool close();

 private:
  uv_loop_t loop_;
  auth_loop interface_;
  bool closed_ = false;
};

}  // namespace tether::test
