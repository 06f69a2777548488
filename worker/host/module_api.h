// The table of host functions handed to modules (include/tether/module.h); the opaque handles
// they take are in abi_handles.h.
#pragma once

#include <tether/module.h>

#include <cstddef>

#include "worker/host/abi_handles.h"

namespace tether {

// The host function table given to every module (ABI 1.5).
const tether_host& module_host_table();
// Stops and frees the timers modules left running on `worker` (at exit). Returns how many.
std::size_t close_module_timers(const tether_worker* worker);
// The same for the ios (io_start) modules left watched. Returns how many.
std::size_t close_module_ios(const tether_worker* worker);

}  // namespace tether
