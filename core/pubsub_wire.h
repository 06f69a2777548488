// The pub/sub link between the master (the local broker) and one worker: a SOCK_STREAM
// socketpair carrying length-prefixed frames, so messages of any size up to
// [pubsub] max_message_size travel whole. Both ends are non-blocking; PubsubLink buffers what
// the peer cannot take yet.
//
// Frame: u32 body length, u8 type, body. Integers are in host order (both ends are the same
// binary on the same machine); strings are u32 length + bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tether {

// A message id: the broker's epoch (drawn when the master starts) and the channel's sequence
// number. Written "<epoch in 8 hex digits>-<sequence>", the same on every worker.
struct MessageId {
  std::uint32_t epoch = 0;
  std::uint64_t sequence = 0;

  std::string to_string() const;
  static std::optional<MessageId> parse(std::string_view text);
};

// Channel names: 1..128 bytes of [A-Za-z0-9_.:@-]. Returns null when `name` is valid, else
// why not (a static string, for a 400 answer).
const char* channel_name_problem(std::string_view name);

enum class PubsubType : std::uint8_t {
  // worker -> master
  publish = 1,        // request, channel, data                 -> published
  history = 2,        // request, channel, since (epoch, seq)   -> history_reply
  subscribers = 3,    // channel, this worker's subscriber count
  info = 4,           // request, channel                       -> info_reply
  // master -> worker
  message = 10,       // channel, id, time, data: to every worker
  published = 11,
  history_reply = 12,
  info_reply = 13,
};

enum class PublishStatus : std::uint32_t { ok = 0, too_many_channels = 1 };
// Resume: `complete` when every message after `since` is in the reply; `gap` when some are
// gone (history limits, or `since` is from another epoch: the server restarted).
enum class HistoryStatus : std::uint32_t { complete = 0, gap = 1 };

struct StoredMessage {
  std::uint64_t sequence = 0;
  std::uint64_t time_ms = 0;  // unix time when the broker sequenced it
  std::string_view data;
};

// A decoded frame; string_views point into the link's input buffer and are valid only inside
// the frame callback.
struct PubsubFrame {
  PubsubType type{};
  std::uint64_t request = 0;
  std::string_view channel;
  std::string_view data;
  MessageId id;                 // message/published: its id; history: since; info_reply: last
  std::uint64_t time_ms = 0;
  std::uint64_t count = 0;      // subscribers: count; info_reply: subscribers
  std::uint64_t history_length = 0;
  std::uint32_t status = 0;     // PublishStatus or HistoryStatus
  std::vector<StoredMessage> history;
};

// Appends one frame of each kind to `out`.
namespace pubsub_frame {
void publish(std::string& out, std::uint64_t request, std::string_view channel, std::string_view data);
void history(std::string& out, std::uint64_t request, std::string_view channel, MessageId since);
void subscribers(std::string& out, std::string_view channel, std::uint64_t count);
void info(std::string& out, std::uint64_t request, std::string_view channel);
void message(std::string& out, std::string_view channel, MessageId id, std::uint64_t time_ms, std::string_view data);
void published(std::string& out, std::uint64_t request, PublishStatus status, MessageId id);
// Call history_reply_begin, then history_reply_entry per message, then history_reply_end.
std::size_t history_reply_begin(std::string& out, std::uint64_t request, HistoryStatus status, std::uint32_t epoch,
                                std::uint32_t count);
void history_reply_entry(std::string& out, const StoredMessage& message);
void history_reply_end(std::string& out, std::size_t begin);
void info_reply(std::string& out, std::uint64_t request, std::uint64_t subscribers, MessageId last,
                std::uint64_t history_length);
}  // namespace pubsub_frame

// Decodes one frame body. False if it is malformed (a bug or a foreign peer: drop the link).
bool decode_pubsub_frame(PubsubType type, std::string_view body, PubsubFrame* frame);

// One end of a link: buffers output, splits input into frames.
class PubsubLink {
 public:
  using FrameHandler = std::function<void(const PubsubFrame&)>;

  explicit PubsubLink(int fd) : fd_(fd) {}
  int fd() const { return fd_; }

  // Frames to send are appended here, then write() sends what the socket takes.
  std::string& output() { return output_; }
  bool wants_write() const { return !output_.empty(); }
  // False when the peer is gone or the socket failed.
  bool write();
  // Reads what is available and calls `handler` per frame. False when the peer hung up, the
  // socket failed or a frame was malformed.
  bool read(const FrameHandler& handler);

 private:
  int fd_;
  std::string output_;
  std::string input_;
  std::size_t input_start_ = 0;  // parsed up to here
};

}  // namespace tether
