#include "core/status_board.h"

#include <sched.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "core/pubsub_message.h"

namespace tether {

using namespace status_layout;

static_assert(kChannelNameBytes > kMaxChannelName, "a channel name and its NUL fit");

namespace {

// A record under a sequence lock: odd while its writer is in the middle of a write.
template <typename T>
struct Locked {
  std::atomic<std::uint32_t> sequence;
  T data;
};

// A reader gives up waiting for a quiet moment after this many tries: whatever it copies is
// checked before use, and a writer that never finishes (a compromised worker leaving every
// sequence odd) must not make each status.json read spin over every slot. An honest write is
// a memcpy of a few KB, so a few tries see it through, each after yielding the processor to a
// writer that was preempted mid-copy.
constexpr int kReadAttempts = 4;

template <typename T>
void locked_write(Locked<T>& record, const T& value) {
  std::uint32_t s = record.sequence.load(std::memory_order_relaxed);
  record.sequence.store(s | 1u, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  std::memcpy(&record.data, &value, sizeof value);
  record.sequence.store((s | 1u) + 1, std::memory_order_release);
}

// The record, or its last copy when no try saw a quiet moment (then *quiet is false).
template <typename T>
T locked_read(const Locked<T>& record, bool* quiet = nullptr) {
  T copy;
  bool settled = false;
  for (int attempt = 0; attempt < kReadAttempts && !settled; ++attempt) {
    if (attempt > 0) sched_yield();
    std::uint32_t before = record.sequence.load(std::memory_order_acquire);
    std::memcpy(&copy, &record.data, sizeof copy);
    std::atomic_thread_fence(std::memory_order_acquire);
    settled = (before & 1u) == 0 && record.sequence.load(std::memory_order_relaxed) == before;
  }
  if (quiet) *quiet = settled;
  return copy;
}

// A text field up to its NUL; false when the field has none (then nothing of it is used).
template <std::size_t N>
bool terminated_text(const char (&field)[N], std::string_view* text) {
  std::size_t length = strnlen(field, N);
  if (length == N) return false;
  *text = std::string_view(field, length);
  return true;
}

template <std::size_t N>
void copy_text(char (&field)[N], std::string_view text) {
  std::string_view kept = utf8_prefix(text, N - 1);
  std::memset(field, 0, N);
  std::memcpy(field, kept.data(), kept.size());
}

// The latest time a record may carry: JavaScript's Date ends at 8.64e15 ms (year 275760); a
// time beyond it (a worker's scribble) would make the page's date formatting throw. Read as 0,
// "unknown".
constexpr std::uint64_t kLatestTimeMs = 8'640'000'000'000'000;
std::uint64_t sane_time(std::uint64_t ms) { return ms > kLatestTimeMs ? 0 : ms; }

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return b > std::numeric_limits<std::uint64_t>::max() - a ? std::numeric_limits<std::uint64_t>::max() : a + b;
}

}  // namespace

struct StatusBoard::Shared {
  Locked<MasterArea> master;
  Locked<WorkerArea> workers[kWorkerSlots];
};

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  std::size_t n = max_bytes;
  // Back over continuation bytes (10xxxxxx) to the start of the sequence the cut falls in.
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  return text.substr(0, n);
}

const char* generation_state_name(GenerationState state) {
  switch (state) {
    case GenerationState::starting: return "starting";
    case GenerationState::serving: return "serving";
    case GenerationState::draining: return "draining";
    case GenerationState::stopping: return "stopping";
  }
  return "unknown";
}

MasterStatus read_master_status(const MasterArea& area) {
  MasterStatus status;
  std::size_t count = std::min<std::size_t>(area.generation_count, kMaxGenerations);
  for (std::size_t i = 0; i < count; ++i) {
    const GenerationRecord& r = area.generations[i];
    if (r.state > static_cast<std::uint32_t>(GenerationState::stopping)) continue;
    GenerationStatus g;
    g.number = r.number;
    g.state = static_cast<GenerationState>(r.state);
    g.since_ms = sane_time(r.since_ms);
    g.workers = r.workers;
    g.running = r.running;
    std::size_t pids = std::min<std::size_t>(r.pid_count, kMaxPids);
    for (std::size_t p = 0; p < pids; ++p)
      if (r.pids[p] > 0) g.pids.push_back(r.pids[p]);
    status.generations.push_back(std::move(g));
  }
  status.last_reload.time_ms = sane_time(area.reload_time_ms);
  status.last_reload.ok = area.reload_ok != 0;
  std::string_view message;
  if (!status.last_reload.ok && terminated_text(area.reload_message, &message)) status.last_reload.message = message;
  return status;
}

std::vector<ChannelLoad> merge_busiest_channels(const std::vector<WorkerArea>& areas, std::size_t limit) {
  std::unordered_map<std::string_view, ChannelLoad> merged;
  for (const WorkerArea& area : areas) {
    if (area.pid <= 0) continue;
    std::size_t count = std::min<std::size_t>(area.channel_count, kTopChannels);
    for (std::size_t i = 0; i < count; ++i) {
      const ChannelRecord& r = area.channels[i];
      std::string_view name;
      if (!terminated_text(r.name, &name) || channel_name_problem(name)) continue;
      ChannelLoad& load = merged[name];
      if (load.name.empty()) load.name = std::string(name);
      load.subscribers = saturating_add(load.subscribers, r.subscribers);
      load.messages = std::max(load.messages, r.messages);
    }
  }
  std::vector<ChannelLoad> busiest;
  busiest.reserve(merged.size());
  for (auto& [name, load] : merged) busiest.push_back(std::move(load));
  std::size_t kept = std::min(limit, busiest.size());
  std::partial_sort(busiest.begin(), busiest.begin() + static_cast<std::ptrdiff_t>(kept), busiest.end(),
                    [](const ChannelLoad& a, const ChannelLoad& b) { return busier(a, b); });
  busiest.resize(kept);
  return busiest;
}

bool StatusBoard::create(std::string* why) {
  void* memory = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (memory == MAP_FAILED) {
    *why = std::string("cannot map shared memory for the status page: ") + std::strerror(errno);
    return false;
  }
  shared_ = static_cast<Shared*>(memory);  // zero pages: every sequence and count starts at 0
  return true;
}

StatusBoard::~StatusBoard() {
  if (shared_) munmap(shared_, sizeof(Shared));
}

void StatusBoard::write_master(const MasterStatus& status, std::uint64_t now_ms) {
  if (!shared_) return;
  constexpr std::uint64_t kRewriteMs = 1000;
  if (written_ && status == last_status_ && shared_->master.sequence.load(std::memory_order_relaxed) == last_sequence_ &&
      now_ms >= last_write_ms_ && now_ms - last_write_ms_ < kRewriteMs)
    return;
  MasterArea area{};
  area.generation_count = static_cast<std::uint32_t>(std::min(status.generations.size(), kMaxGenerations));
  std::size_t first = status.generations.size() - area.generation_count;  // the newest are kept
  for (std::size_t i = 0; i < area.generation_count; ++i) {
    const GenerationStatus& g = status.generations[first + i];
    GenerationRecord& r = area.generations[i];
    r.number = g.number;
    r.state = static_cast<std::uint32_t>(g.state);
    r.workers = g.workers;
    r.since_ms = g.since_ms;
    r.pid_count = static_cast<std::uint32_t>(std::min(g.pids.size(), kMaxPids));
    std::copy_n(g.pids.begin(), r.pid_count, r.pids);
    r.running = g.running;
  }
  area.reload_time_ms = status.last_reload.time_ms;
  area.reload_ok = status.last_reload.ok ? 1 : 0;
  copy_text(area.reload_message, status.last_reload.message);
  locked_write(shared_->master, area);
  written_ = true;
  last_status_ = status;
  last_sequence_ = shared_->master.sequence.load(std::memory_order_relaxed);
  last_write_ms_ = now_ms;
}

void StatusBoard::write_channels(std::size_t slot, std::int32_t pid, const std::vector<ChannelLoad>& busiest) {
  if (!shared_ || !reports_channels(slot)) return;
  WorkerArea area{};
  area.pid = pid;
  area.channel_count = static_cast<std::uint32_t>(std::min(busiest.size(), kTopChannels));
  for (std::size_t i = 0; i < area.channel_count; ++i) {
    copy_text(area.channels[i].name, busiest[i].name);
    area.channels[i].subscribers = busiest[i].subscribers;
    area.channels[i].messages = busiest[i].messages;
  }
  locked_write(shared_->workers[slot], area);
}

void StatusBoard::clear_slot(std::size_t slot) {
  if (!shared_ || slot >= kWorkerSlots) return;
  locked_write(shared_->workers[slot], WorkerArea{});
}

// A copy no try saw quiet may mix two writes (a new generation count with old records): shown as
// nothing, for that read, rather than as a status that never was.
MasterArea StatusBoard::copy_master() const {
  if (!shared_) return MasterArea{};
  bool quiet = false;
  MasterArea area = locked_read(shared_->master, &quiet);
  return quiet ? area : MasterArea{};
}

std::vector<WorkerArea> StatusBoard::copy_workers() const {
  std::vector<WorkerArea> areas;
  if (!shared_) return areas;
  for (const Locked<WorkerArea>& slot : shared_->workers) {
    // A cheap look first: most slots are empty, and copying them all would cost 400 KB a read.
    if (slot.sequence.load(std::memory_order_relaxed) == 0) continue;
    bool quiet = false;
    WorkerArea area = locked_read(slot, &quiet);
    if (quiet && area.pid > 0) areas.push_back(area);  // a slot always mid-write is skipped
  }
  return areas;
}

std::size_t StatusBoard::mapping_bytes() { return sizeof(Shared); }

MasterArea& StatusBoard::master_area_for_tests() const { return shared_->master.data; }
WorkerArea& StatusBoard::worker_area_for_tests(std::size_t slot) const { return shared_->workers[slot].data; }
std::atomic<std::uint32_t>& StatusBoard::master_sequence_for_tests() const { return shared_->master.sequence; }
std::atomic<std::uint32_t>& StatusBoard::worker_sequence_for_tests(std::size_t slot) const {
  return shared_->workers[slot].sequence;
}

StatusBoard& status_board() {
  static StatusBoard* instance = new StatusBoard;  // never destroyed (see ~StatusBoard)
  return *instance;
}

}  // namespace tether
