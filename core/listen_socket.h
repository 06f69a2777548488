// A listening socket handed from the master to a worker, and which [[listen]] entry it belongs to.
#pragma once

#include <cstddef>

namespace tether {

struct ListenSocket {
  int fd = -1;
  std::size_t listen_index = 0;
};

}  // namespace tether
