// Arbitrary bytes as the status board's records (what a compromised worker can leave in the
// shared mapping): the master's area, then any number of worker areas. Whatever they hold, the
// checked values must keep their promises (core/status_board.h); a crash, or a value that
// breaks one, is a finding.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "core/pubsub_message.h"
#include "core/status_board.h"

namespace {

using namespace tether;
using namespace tether::status_layout;

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "status_board_fuzz: %s\n", why);
  std::abort();
}

// The next sizeof(T) bytes (zeros past the end).
template <typename T>
T take(const std::uint8_t*& data, std::size_t& size) {
  T record{};
  std::size_t n = std::min(size, sizeof record);
  std::memcpy(&record, data, n);
  data += n;
  size -= n;
  return record;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  MasterStatus master = read_master_status(take<MasterArea>(data, size));
  if (master.generations.size() > kMaxGenerations) fail("more generations than the area holds");
  for (const GenerationStatus& g : master.generations) {
    if (g.state > GenerationState::stopping) fail("a state out of range");
    if (g.since_ms > 8'640'000'000'000'000) fail("a time no JavaScript Date can hold");
    if (g.pids.size() > kMaxPids) fail("more pids than a record holds");
    for (std::int32_t pid : g.pids)
      if (pid <= 0) fail("a pid <= 0");
  }
  if (master.last_reload.time_ms > 8'640'000'000'000'000) fail("a reload time no JavaScript Date can hold");
  if (master.last_reload.message.size() >= kMessageBytes) fail("a message longer than its field");
  if (master.last_reload.ok && !master.last_reload.message.empty()) fail("a success with a message");

  std::vector<WorkerArea> workers;
  while (size > 0 && workers.size() < 8) workers.push_back(take<WorkerArea>(data, size));
  std::vector<ChannelLoad> busiest = merge_busiest_channels(workers, kTopChannels);
  if (busiest.size() > kTopChannels) fail("more channels than asked for");
  std::set<std::string> names;
  for (std::size_t i = 0; i < busiest.size(); ++i) {
    if (channel_name_problem(busiest[i].name)) fail("an invalid channel name");
    if (!names.insert(busiest[i].name).second) fail("a channel listed twice");
    if (i > 0 && busiest[i].subscribers > busiest[i - 1].subscribers) fail("not the most subscribed first");
  }
  return 0;
}
