// What the status page shows beyond the metrics, in memory shared by the master and every worker
// (an anonymous MAP_SHARED mapping the master creates before it forks anything, like
// shared_metrics()):
//   - the master's area: its generations (number, state, since when, worker pids) and the result
//     of the last reload. Only the master writes it.
//   - one area per worker process, indexed by its metrics slot: its busiest channels (name,
//     subscribers, messages), which the worker rewrites about once a second (worker/pubsub/
//     channel_report.h) and the master clears when the process exits.
// Each area is written under a sequence lock: the writer never waits, a reader copies the area
// and retries (a bounded number of times) if a write overlapped. No reader ever blocks a writer,
// so a compromised worker cannot stall the master.
//
// Every process can write the whole mapping: what a reader copies out is untrusted, and only
// read_master_status() / merge_busiest_channels() (which check every count, index and string)
// turn it into values.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

// The raw records, as they lie in shared memory (plain data: copied out, then checked).
namespace status_layout {
// Generations shown (the oldest first): as many as [server] max_draining_generations (at most
// 64) lets drain, plus the serving and a starting one. Should more exist (generations being
// stopped), the newest are kept: the serving and starting ones are what matter most.
inline constexpr std::size_t kMaxGenerations = 64 + 2;
inline constexpr std::size_t kMaxPids = 64;          // worker pids shown per generation
inline constexpr std::size_t kMessageBytes = 256;    // the last reload's message, NUL included
inline constexpr std::size_t kTopChannels = 10;      // channels each worker reports
inline constexpr std::size_t kChannelNameBytes = 136;  // a channel name (at most 128) and its NUL
inline constexpr std::size_t kWorkerSlots = 256;     // metrics slots that report channels

struct GenerationRecord {
  std::uint32_t number;
  std::uint32_t state;  // GenerationState
  std::uint32_t workers;  // configured
  std::uint32_t pid_count;
  std::uint64_t since_ms;  // unix time it entered this state
  std::int32_t pids[kMaxPids];
  std::uint32_t running;  // processes running: all of them, where pids holds at most kMaxPids
};

struct MasterArea {
  std::uint32_t generation_count;
  std::uint32_t reload_ok;       // the last reload: 1 succeeded, 0 failed
  std::uint64_t reload_time_ms;  // 0: no reload yet
  GenerationRecord generations[kMaxGenerations];
  char reload_message[kMessageBytes];  // why it failed
};

struct ChannelRecord {
  char name[kChannelNameBytes];
  std::uint64_t subscribers;
  std::uint64_t messages;
};

struct WorkerArea {
  std::int32_t pid;  // 0: the slot reports nothing
  std::uint32_t channel_count;
  ChannelRecord channels[kTopChannels];
};
}  // namespace status_layout

enum class GenerationState : std::uint32_t { starting = 0, serving = 1, draining = 2, stopping = 3 };
const char* generation_state_name(GenerationState state);

struct GenerationStatus {
  unsigned number = 0;
  GenerationState state = GenerationState::starting;
  std::uint64_t since_ms = 0;
  unsigned workers = 0;
  std::vector<std::int32_t> pids;  // the running processes (at most kMaxPids once read back)
  unsigned running = 0;            // how many run (more than pids holds past kMaxPids)
  bool operator==(const GenerationStatus&) const = default;
};

struct ReloadStatus {
  std::uint64_t time_ms = 0;  // 0: none yet
  bool ok = false;
  std::string message;  // why it failed; empty when it succeeded
  bool operator==(const ReloadStatus&) const = default;
};

struct MasterStatus {
  std::vector<GenerationStatus> generations;
  ReloadStatus last_reload;
  bool operator==(const MasterStatus&) const = default;
};

// A channel's load: on one worker, or summed over all of them.
struct ChannelLoad {
  std::string name;
  std::uint64_t subscribers = 0;
  std::uint64_t messages = 0;  // relayed to the channel since it last had no subscriber
  bool operator==(const ChannelLoad&) const = default;
};

// The order the busiest channels are listed in, by each worker and over all of them: more
// subscribers first, then more messages, then by name.
inline bool busier(std::uint64_t subscribers, std::uint64_t messages, std::string_view name,
                   std::uint64_t other_subscribers, std::uint64_t other_messages, std::string_view other_name) {
  if (subscribers != other_subscribers) return subscribers > other_subscribers;
  if (messages != other_messages) return messages > other_messages;
  return name < other_name;
}
inline bool busier(const ChannelLoad& a, const ChannelLoad& b) {
  return busier(a.subscribers, a.messages, a.name, b.subscribers, b.messages, b.name);
}

// Checked values out of the raw records. Counts are clamped to the arrays, strings end at their
// field (a name without its NUL, or not a valid channel name, is left out), states out of range
// and pids <= 0 are dropped, times beyond what JavaScript's Date can hold (8.64e15 ms) read as 0.
MasterStatus read_master_status(const status_layout::MasterArea& area);
// The workers' lists merged by name: subscribers summed (saturating), messages the highest any
// worker saw (each worker with subscribers gets every message). The `limit` busiest, most
// subscribers first (then most messages, then by name).
std::vector<ChannelLoad> merge_busiest_channels(const std::vector<status_layout::WorkerArea>& areas, std::size_t limit);

// The longest start of `text` of at most `max_bytes` that does not end inside a UTF-8 sequence
// (what a text field keeps of a longer text).
std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes);

class StatusBoard {
 public:
  StatusBoard() = default;
  StatusBoard(const StatusBoard&) = delete;
  StatusBoard& operator=(const StatusBoard&) = delete;
  // Unmaps (a test's board). The process-wide one is never destroyed: forked workers and exit
  // handlers may still read it.
  ~StatusBoard();

  // Maps the shared memory. Call once, in the master, before forking.
  bool create(std::string* why);
  bool ready() const { return shared_ != nullptr; }

  // Master: replaces its area (past kMaxGenerations, with the newest generations). It skips the
  // write (the master calls this on every turn of its loop) when the status is the one it
  // wrote last, the area's sequence is still the one it left and that write is less than a
  // second old (`now_ms`: the wall clock): a worker's scribble is repaired at once if it
  // touched the sequence, within a second if not.
  void write_master(const MasterStatus& status, std::uint64_t now_ms);
  // Worker: replaces its slot's channels (slot 0, shared by workers without a slot of their own,
  // and slots >= kWorkerSlots report nothing).
  void write_channels(std::size_t slot, std::int32_t pid, const std::vector<ChannelLoad>& busiest);
  // Master: the process of `slot` is gone.
  void clear_slot(std::size_t slot);

  // Whether a worker with metrics slot `slot` has a slot of the board (not 0, below kWorkerSlots).
  static bool reports_channels(std::size_t slot) { return slot != 0 && slot < status_layout::kWorkerSlots; }

  // Reader: copies (not yet checked). The master's area comes empty when no try found it between
  // writes (a writer preempted mid-copy, or a worker holding its sequence odd).
  status_layout::MasterArea copy_master() const;
  std::vector<status_layout::WorkerArea> copy_workers() const;  // the slots that report

  // The mapping's size, so that a test can find it as a compromised worker would.
  static std::size_t mapping_bytes();

  // For tests that write the mapping as a compromised worker could.
  status_layout::MasterArea& master_area_for_tests() const;
  status_layout::WorkerArea& worker_area_for_tests(std::size_t slot) const;
  std::atomic<std::uint32_t>& master_sequence_for_tests() const;
  std::atomic<std::uint32_t>& worker_sequence_for_tests(std::size_t slot) const;

 private:
  struct Shared;
  Shared* shared_ = nullptr;
  // The master's last write, to skip identical ones.
  bool written_ = false;
  MasterStatus last_status_;
  std::uint32_t last_sequence_ = 0;
  std::uint64_t last_write_ms_ = 0;
};

// The process-wide instance (created by the master, inherited by workers).
StatusBoard& status_board();

}  // namespace tether
