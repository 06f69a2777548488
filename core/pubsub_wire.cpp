#include "core/pubsub_wire.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tether {
namespace {

constexpr std::size_t kHeaderSize = 5;  // u32 length + u8 type
constexpr std::size_t kReadChunk = 256 * 1024;

template <typename T>
void put(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

void put_string(std::string& out, std::string_view s) {
  put<std::uint32_t>(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

void put_id(std::string& out, MessageId id) {
  put(out, id.epoch);
  put(out, id.sequence);
}

// Reserves the frame header; end_frame() fills the length in.
std::size_t begin_frame(std::string& out, PubsubType type) {
  std::size_t begin = out.size();
  put<std::uint32_t>(out, 0);
  put(out, static_cast<std::uint8_t>(type));
  return begin;
}

// Fills the length in; a body longer than `max_body` (at most what the u32 field carries) is
// taken back out.
bool end_frame(std::string& out, std::size_t begin, std::size_t max_body = kMaxFrameBody) {
  std::size_t body = out.size() - begin - kHeaderSize;
  if (body > std::min(max_body, kMaxFrameBody)) {
    out.resize(begin);
    return false;
  }
  auto length = static_cast<std::uint32_t>(body);
  std::memcpy(out.data() + begin, &length, sizeof length);
  return true;
}

class Reader {
 public:
  explicit Reader(std::string_view body) : rest_(body) {}
  template <typename T>
  bool get(T* value) {
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(value, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return true;
  }
  bool get_string(std::string_view* s) {
    std::uint32_t length = 0;
    if (!get(&length) || rest_.size() < length) return false;
    *s = rest_.substr(0, length);
    rest_.remove_prefix(length);
    return true;
  }
  bool get_id(MessageId* id) { return get(&id->epoch) && get(&id->sequence); }
  bool done() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace

// The bodies of the frames a worker sends, at the longest channel name. A publish of fewer than
// 8 bytes is shorter than a history request, and max_message_size may be 1 byte.
std::size_t max_worker_frame(std::uint64_t max_message_size) {
  constexpr std::size_t kChannel = 4 + kMaxChannelName;        // u32 + name
  constexpr std::size_t kPublish = 8 + kChannel + 4;           // u64 request, channel, u32 + data
  constexpr std::size_t kHistory = 8 + kChannel + 4 + 8;       // u64 request, channel, u32 epoch, u64 sequence
  constexpr std::size_t kSubscribers = kChannel + 8;           // channel, u64 count
  constexpr std::size_t kInfo = 8 + kChannel;                  // u64 request, channel
  return std::max({kPublish + static_cast<std::size_t>(max_message_size), kHistory, kSubscribers, kInfo});
}

namespace pubsub_frame {

void publish(std::string& out, std::uint64_t request, std::string_view channel, std::string_view data) {
  std::size_t begin = begin_frame(out, PubsubType::publish);
  put(out, request);
  put_string(out, channel);
  put_string(out, data);
  end_frame(out, begin);
}

void history(std::string& out, std::uint64_t request, std::string_view channel, MessageId since) {
  std::size_t begin = begin_frame(out, PubsubType::history);
  put(out, request);
  put_string(out, channel);
  put_id(out, since);
  end_frame(out, begin);
}

void subscribers(std::string& out, std::string_view channel, std::uint64_t count) {
  std::size_t begin = begin_frame(out, PubsubType::subscribers);
  put_string(out, channel);
  put(out, count);
  end_frame(out, begin);
}

void info(std::string& out, std::uint64_t request, std::string_view channel) {
  std::size_t begin = begin_frame(out, PubsubType::info);
  put(out, request);
  put_string(out, channel);
  end_frame(out, begin);
}

void message(std::string& out, std::string_view channel, MessageId id, std::uint64_t time_ms, std::string_view data) {
  std::size_t begin = begin_frame(out, PubsubType::message);
  put_string(out, channel);
  put_id(out, id);
  put(out, time_ms);
  put_string(out, data);
  end_frame(out, begin);
}

void published(std::string& out, std::uint64_t request, PublishStatus status, MessageId id) {
  std::size_t begin = begin_frame(out, PubsubType::published);
  put(out, request);
  put(out, static_cast<std::uint32_t>(status));
  put_id(out, id);
  end_frame(out, begin);
}

std::size_t history_reply_begin(std::string& out, std::uint64_t request, HistoryStatus status, std::uint32_t epoch,
                                std::uint32_t count) {
  std::size_t begin = begin_frame(out, PubsubType::history_reply);
  put(out, request);
  put(out, static_cast<std::uint32_t>(status));
  put(out, epoch);
  put(out, count);
  return begin;
}

void history_reply_entry(std::string& out, const StoredMessage& message) {
  put(out, message.sequence);
  put(out, message.time_ms);
  put_string(out, message.data);
}

bool history_reply_end(std::string& out, std::size_t begin, std::size_t max_body) { return end_frame(out, begin, max_body); }

void info_reply(std::string& out, std::uint64_t request, std::uint64_t subscribers, MessageId last,
                std::uint64_t history_length) {
  std::size_t begin = begin_frame(out, PubsubType::info_reply);
  put(out, request);
  put(out, subscribers);
  put_id(out, last);
  put(out, history_length);
  end_frame(out, begin);
}

}  // namespace pubsub_frame

PubsubFrameSpan next_pubsub_frame(std::string_view input, std::size_t max_body) {
  PubsubFrameSpan span;
  if (input.size() < kHeaderSize) return span;
  std::memcpy(&span.length, input.data(), sizeof span.length);
  span.type = static_cast<PubsubType>(static_cast<std::uint8_t>(input[4]));
  // The length is checked before anything is buffered for it.
  if (span.length > max_body) {
    span.result = PubsubFrameSpan::Result::too_long;
    return span;
  }
  if (input.size() - kHeaderSize < span.length) return span;
  span.result = PubsubFrameSpan::Result::frame;
  span.body = input.substr(kHeaderSize, span.length);
  span.size = kHeaderSize + span.length;
  return span;
}

bool decode_pubsub_frame(PubsubType type, std::string_view body, PubsubFrame* f) {
  Reader r(body);
  f->type = type;
  f->history.clear();
  bool ok = false;
  switch (type) {
    case PubsubType::publish: ok = r.get(&f->request) && r.get_string(&f->channel) && r.get_string(&f->data); break;
    case PubsubType::history: ok = r.get(&f->request) && r.get_string(&f->channel) && r.get_id(&f->id); break;
    case PubsubType::subscribers: ok = r.get_string(&f->channel) && r.get(&f->count); break;
    case PubsubType::info: ok = r.get(&f->request) && r.get_string(&f->channel); break;
    case PubsubType::message:
      ok = r.get_string(&f->channel) && r.get_id(&f->id) && r.get(&f->time_ms) && r.get_string(&f->data);
      break;
    case PubsubType::published: ok = r.get(&f->request) && r.get(&f->status) && r.get_id(&f->id); break;
    case PubsubType::history_reply: {
      std::uint32_t count = 0;
      ok = r.get(&f->request) && r.get(&f->status) && r.get(&f->id.epoch) && r.get(&count);
      for (std::uint32_t i = 0; ok && i < count; ++i) {
        StoredMessage m;
        ok = r.get(&m.sequence) && r.get(&m.time_ms) && r.get_string(&m.data);
        if (ok) f->history.push_back(m);
      }
      break;
    }
    case PubsubType::info_reply:
      ok = r.get(&f->request) && r.get(&f->count) && r.get_id(&f->id) && r.get(&f->history_length);
      break;
  }
  return ok && r.done();
}

bool PubsubLink::write() {
  std::size_t sent = 0;
  while (sent < output_.size()) {
    ssize_t n = ::send(fd_, output_.data() + sent, output_.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    output_.erase(0, sent);
    return false;
  }
  output_.erase(0, sent);
  return true;
}

bool PubsubLink::has_buffered_frame() const {
  std::string_view rest(input_.data() + input_start_, input_.size() - input_start_);
  return next_pubsub_frame(rest, max_body_).result != PubsubFrameSpan::Result::need_more;
}

PubsubLink::ReadResult PubsubLink::read(const FrameHandler& handler) {
  if (!wants_read()) return ReadResult::open;
  bool open = true;
  // Frames left from a pause go first: the input holds at most one budget and one frame.
  std::size_t taken = has_buffered_frame() ? kReadBudget : 0;
  while (taken < kReadBudget) {
    std::size_t want = std::min(kReadChunk, kReadBudget - taken);
    std::size_t old_size = input_.size();
    input_.resize(old_size + want);
    ssize_t n = ::recv(fd_, input_.data() + old_size, want, MSG_DONTWAIT);
    input_.resize(old_size + static_cast<std::size_t>(n > 0 ? n : 0));
    if (n > 0) {
      taken += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || !(errno == EAGAIN || errno == EWOULDBLOCK)) open = false;
    break;
  }
  if (parse(handler) == ReadResult::broken) return ReadResult::broken;
  return open ? ReadResult::open : ReadResult::closed;
}

// Hands every complete frame in the input to `handler`. What is left (at most one partial
// frame, whose length was checked) waits for the next read.
PubsubLink::ReadResult PubsubLink::parse(const FrameHandler& handler) {
  PubsubFrame frame;
  while (wants_read()) {
    std::string_view rest(input_.data() + input_start_, input_.size() - input_start_);
    PubsubFrameSpan span = next_pubsub_frame(rest, max_body_);
    if (span.result == PubsubFrameSpan::Result::need_more) break;
    auto type = static_cast<unsigned>(span.type);
    if (span.result == PubsubFrameSpan::Result::too_long) {
      problem_ = "a frame of type " + std::to_string(type) + " and " + std::to_string(span.length) + " bytes (at most " +
                 std::to_string(max_body_) + ")";
      return ReadResult::broken;
    }
    if (!decode_pubsub_frame(span.type, span.body, &frame)) {
      problem_ = "a malformed frame of type " + std::to_string(type) + " and " + std::to_string(span.length) + " bytes";
      return ReadResult::broken;
    }
    input_start_ += span.size;
    if (const char* why = handler(frame)) {
      problem_ = std::string("a frame of type ") + std::to_string(type) + " that " + why;
      return ReadResult::broken;
    }
  }
  input_.erase(0, input_start_);
  input_start_ = 0;
  return ReadResult::open;
}

}  // namespace tether
