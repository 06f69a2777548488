// The pub/sub link between the master (the local broker) and one worker: a SOCK_STREAM
// socketpair carrying length-prefixed frames, so messages of any size up to
// [pubsub] max_message_size travel whole. Both ends are non-blocking; PubsubLink buffers what
// the peer cannot take yet.
//
// Frame: u32 body length, u8 type, body. Integers are in host order (both ends are the same
// binary on the same machine); strings are u32 length + bytes.
//
// The master does not trust its workers (one may be compromised through a module): it reads a
// bounded number of bytes per poll, refuses a frame longer than a worker can have a reason to
// send (max_worker_frame), and the broker validates every channel name. A link that breaks the
// protocol is reported as broken, and the master replaces the worker.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/pubsub_message.h"

namespace tether {

// The u32 length field: an encoder refuses a longer body.
constexpr std::size_t kMaxFrameBody = UINT32_MAX;

// The longest frame body a worker sends when its [pubsub] max_message_size is `max_message_size`:
// a publish of that size to the longest channel name, with its fixed fields, or (when that is
// shorter) a history request for the longest channel name.
std::size_t max_worker_frame(std::uint64_t max_message_size);

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

// Appends one frame of each kind to `out`. Frames whose body would pass kMaxFrameBody are not
// appended (history_reply_end then takes the partial frame back out and returns false).
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
bool history_reply_end(std::string& out, std::size_t begin, std::size_t max_body = kMaxFrameBody);
void info_reply(std::string& out, std::uint64_t request, std::uint64_t subscribers, MessageId last,
                std::uint64_t history_length);
}  // namespace pubsub_frame

// The next frame at the start of `input`, whose declared body length may not pass `max_body`.
// Pure, for the link and for the fuzz harness.
struct PubsubFrameSpan {
  enum class Result { need_more, frame, too_long } result = Result::need_more;
  PubsubType type{};
  std::string_view body;     // result == frame
  std::size_t size = 0;      // header and body: what the frame takes of `input`
  std::uint32_t length = 0;  // the declared body length (result frame or too_long)
};
PubsubFrameSpan next_pubsub_frame(std::string_view input, std::size_t max_body);

// Decodes one frame body. False if it is malformed (a bug or a foreign peer: drop the link).
bool decode_pubsub_frame(PubsubType type, std::string_view body, PubsubFrame* frame);

// One end of a link: buffers output, splits input into frames.
class PubsubLink {
 public:
  // Null, or why the frame breaks the protocol (the link is then broken).
  using FrameHandler = std::function<const char*(const PubsubFrame&)>;
  enum class ReadResult { open, closed, broken };
  // Bytes read per read() call at most, so that one busy peer cannot hold the caller's loop.
  static constexpr std::size_t kReadBudget = 1024 * 1024;

  // Frames from the peer longer than `max_body` break the link. Frames from the peer are
  // handled only while less than `pause_output` bytes wait to be sent to it: a peer that asks
  // for more than it reads (history replies are large) is not heard until it has read.
  explicit PubsubLink(int fd, std::size_t max_body = kMaxFrameBody, std::size_t pause_output = SIZE_MAX)
      : fd_(fd), max_body_(max_body), pause_output_(pause_output) {}
  int fd() const { return fd_; }

  // Frames to send are appended here, then write() sends what the socket takes.
  std::string& output() { return output_; }
  bool wants_write() const { return !output_.empty(); }
  bool wants_read() const { return output_.size() < pause_output_; }
  // A complete frame waits in the input (handling was paused): read() again once wants_read().
  bool has_buffered_frame() const;
  // False when the peer is gone or the socket failed.
  bool write();
  // Reads up to kReadBudget bytes and calls `handler` per complete frame, while wants_read()
  // (paused, it reads nothing, so the input stays bounded). `closed` when the
  // peer hung up or the socket failed, `broken` when a frame is too long, malformed or refused
  // by the handler (problem() says which).
  ReadResult read(const FrameHandler& handler);
  const std::string& problem() const { return problem_; }

 private:
  ReadResult parse(const FrameHandler& handler);

  int fd_;
  std::size_t max_body_;
  std::size_t pause_output_;
  std::string problem_;
  std::string output_;
  std::string input_;
  std::size_t input_start_ = 0;  // parsed up to here
};

}  // namespace tether
