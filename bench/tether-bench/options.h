// The command line of tether-bench, parsed (the modes are described in main.cpp).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "subscriber.h"

namespace bench {

struct Options {
  std::string mode;
  Target target;
  std::string publish_path;
  int publish_port = 0;
  std::size_t connections = 100;
  std::uint64_t messages = 100;
  std::size_t size = 64;
  double rate = 0;
  unsigned sources = 4;
  unsigned source_base = 1;
  double timeout = 60;
  unsigned window = 16;  // publish requests in flight (per publisher)
  unsigned publishers = 1;  // publish mode: keep-alive connections, one channel each
  std::size_t concurrency = 1000;
  double hold = 0;
  double duration = 10;
  std::string label = "tether";
  // storm mode
  double leave_at = -1;      // seconds into publishing when every subscriber leaves (<0: never)
  double leave_spread = 5;   // and comes back at a uniformly random time within this many seconds
  pid_t reload_pid = 0;      // sent SIGHUP at reload_at seconds into publishing
  double reload_at = 1;
  double grace = 10;         // after the last publish, how long subscribers may take to catch up
};

}  // namespace bench
