#include "worker/host/status_api.h"

#include <memory>
#include <new>

#include "worker/host/abi_handles.h"

namespace tether::status_api {
namespace {

tether_generation_state abi_state(GenerationState state) {
  switch (state) {
    case GenerationState::starting: return TETHER_GENERATION_STARTING;
    case GenerationState::serving: return TETHER_GENERATION_SERVING;
    case GenerationState::draining: return TETHER_GENERATION_DRAINING;
    case GenerationState::stopping: return TETHER_GENERATION_STOPPING;
  }
  return TETHER_GENERATION_STOPPING;
}

}  // namespace

// Nothing may throw across the C boundary: out of memory is a NULL snapshot.
tether_status* take(tether_worker*, size_t max_channels) {
  try {
    auto status = std::make_unique<tether_status>();
    status->master = read_master_status(status_board().copy_master());
    status->channels = merge_busiest_channels(status_board().copy_workers(), max_channels);
    return status.release();
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}

void release(tether_status* status) { delete status; }

size_t generation_count(const tether_status* status) { return status ? status->master.generations.size() : 0; }

int generation(const tether_status* status, size_t index, tether_generation_info* info) {
  if (!status || !info || info->size < sizeof(tether_generation_info) || index >= status->master.generations.size())
    return TETHER_ERROR;
  const GenerationStatus& g = status->master.generations[index];
  info->number = g.number;
  info->state = abi_state(g.state);
  info->since_ms = g.since_ms;
  info->workers = g.workers;
  info->pids = g.pids.data();
  info->pid_count = g.pids.size();
  info->running = g.running;
  return TETHER_OK;
}

int reload(const tether_status* status, tether_reload_info* info) {
  if (!status || !info || info->size < sizeof(tether_reload_info)) return TETHER_ERROR;
  const ReloadStatus& r = status->master.last_reload;
  info->time_ms = r.time_ms;
  info->ok = r.ok ? 1 : 0;
  info->message = r.message.c_str();
  return TETHER_OK;
}

size_t channel_count(const tether_status* status) { return status ? status->channels.size() : 0; }

int channel(const tether_status* status, size_t index, tether_channel_info* info) {
  if (!status || !info || info->size < sizeof(tether_channel_info) || index >= status->channels.size())
    return TETHER_ERROR;
  const ChannelLoad& c = status->channels[index];
  info->name = c.name.c_str();
  info->name_length = c.name.size();
  info->subscribers = c.subscribers;
  info->messages = c.messages;
  return TETHER_OK;
}

}  // namespace tether::status_api
