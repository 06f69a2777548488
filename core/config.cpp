#include "core/config.h"

#include <unistd.h>

namespace tether {

unsigned ServerConfig::resolved_workers() const {
  if (workers != 0) return workers;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  return cpus > 0 ? static_cast<unsigned>(cpus) : 1;
}

}  // namespace tether
