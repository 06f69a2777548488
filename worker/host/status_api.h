// The status host functions of ABI 1.5 (include/tether/module.h): a snapshot of the status
// board (core/status_board.h), checked as it is copied, and read through size-checked structs.
#pragma once

#include <tether/module.h>

#include <cstddef>

namespace tether::status_api {

tether_status* take(tether_worker* worker, size_t max_channels);
void release(tether_status* status);
size_t generation_count(const tether_status* status);
int generation(const tether_status* status, size_t index, tether_generation_info* info);
int reload(const tether_status* status, tether_reload_info* info);
size_t channel_count(const tether_status* status);
int channel(const tether_status* status, size_t index, tether_channel_info* info);

}  // namespace tether::status_api
