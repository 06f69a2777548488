#include "worker/transport/module_stream.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "core/shared_metrics.h"
#include "worker/pubsub/pubsub_hub.h"
#include "worker/transport/connection.h"

namespace tether {
namespace {

// Scratch iovecs over a batch of frames: one loop thread, used before the write returns.
std::vector<uv_buf_t>& scratch_buffers() {
  static std::vector<uv_buf_t> buffers;
  return buffers;
}

void append_buffers(const FrameRef* begin, const FrameRef* end, std::size_t offset, std::vector<uv_buf_t>* out) {
  for (const FrameRef* f = begin; f != end; ++f) {
    out->push_back(uv_buf_init(const_cast<char*>(f->data()) + offset, static_cast<unsigned>(f->size() - offset)));
    offset = 0;
  }
}

// A batch of queued frames, written from the frames themselves. What the kernel does not take
// moves into the write with its frames (references, not copies), which hold them until written.
class FrameBatch final : public WriteBatch {
 public:
  explicit FrameBatch(StreamQueue& queue) : queue_(queue) {
    std::vector<uv_buf_t>& buffers = scratch_buffers();
    buffers.clear();
    append_buffers(queue.begin(), queue.end(), 0, &buffers);
  }
  std::span<const uv_buf_t> buffers() override { return scratch_buffers(); }
  PendingWrite* keep_rest(std::size_t written, std::vector<uv_buf_t>* rest) override {
    std::size_t done = 0;
    for (const FrameRef& f : queue_) {
      if (written < f.size()) break;
      written -= f.size();
      ++done;
    }
    queue_.consume(done);
    auto* pending = new FramesWrite;
    pending->frames = queue_.take_all();
    append_buffers(pending->frames.data(), pending->frames.data() + pending->frames.size(), written, rest);
    return pending;
  }

 private:
  struct FramesWrite final : PendingWrite {
    std::vector<FrameRef> frames;
  };
  StreamQueue& queue_;
};

// The distinct (callback set, route) pairs modules handed over (one or two per module and
// route), so that a stream keeps a pointer instead of a copy. Callbacks are copied as the ABI
// promises: only the members the module's struct has (it may be older and smaller than ours),
// the rest NULL.
const StreamBinding* intern_binding(const tether_stream_callbacks* callbacks, const RouteConfig* route) {
  static std::vector<std::unique_ptr<StreamBinding>> known;
  StreamBinding copy{};
  if (callbacks) std::memcpy(&copy.callbacks, callbacks, std::min(callbacks->size, sizeof(tether_stream_callbacks)));
  copy.callbacks.size = sizeof(tether_stream_callbacks);
  copy.route = route;
  for (const auto& k : known)
    if (k->route == route && std::memcmp(&k->callbacks, &copy.callbacks, sizeof copy.callbacks) == 0) return k.get();
  known.push_back(std::make_unique<StreamBinding>(copy));
  return known.back().get();
}

}  // namespace

ModuleStream::ModuleStream(Connection& connection, const tether_stream_callbacks* callbacks, const RouteConfig* route,
                           void* user)
    : connection_(connection), binding_(intern_binding(callbacks, route)), user_(user) {}

// Every subscriber holds one: 88 bytes is a 96-byte allocation (glibc adds 8 and rounds to 16).
static_assert(sizeof(ModuleStream) <= 88, "a subscriber's stream outgrew its allocation size class");

void ModuleStream::set_queue_limit(std::uint64_t max_bytes, tether_slow_policy policy) {
  queue_limit_ = static_cast<std::uint32_t>(std::min<std::uint64_t>(max_bytes, UINT32_MAX));
  policy_ = static_cast<std::uint8_t>(policy);
}

bool ModuleStream::takes_frames() const { return connection_.takes_frames(); }
bool ModuleStream::chunked() const { return connection_.chunked_stream(); }

void ModuleStream::leave_hub() {
  if (known_to_hub()) connection_.host_.hub().stream_closed(*this);
}

std::int64_t ModuleStream::backlog() const {
  return static_cast<std::int64_t>(queue_.bytes() + connection_.transport_.unsent());
}

bool ModuleStream::queue_write(std::string_view bytes, bool chunked) {
  if (!bytes.empty()) queue_.push_back(chunked ? chunk_frame(bytes) : FrameRef::copy_of(bytes));
  flush();
  return !connection_.closed_;
}

bool ModuleStream::queue_frame(FrameRef frame) {
  if (!takes_frames()) return false;
  queue_.push_back(std::move(frame));
  return !backed_up() || handle_overflow();
}

// The slow-consumer policy: never more than queue_limit of unsent messages per client. True if
// this stream still takes frames (the oldest were dropped); false once it is disconnected, even
// if the connection takes frames again: the module's on_overflow may have ended this stream (and
// freed it) and a pipelined request attached a new one, which the hub must not take for this.
bool ModuleStream::handle_overflow() {
  Connection& c = connection_;
  std::size_t slot = c.host_.metrics_slot();
  if (policy_ == TETHER_SLOW_DROP) {
    std::size_t in_flight = c.transport_.unsent();
    std::size_t room = queue_limit_ > in_flight ? queue_limit_ - in_flight : 0;
    std::uint64_t dropped = queue_.drop_oldest(room);
    dropped_ += static_cast<std::uint32_t>(dropped);
    shared_metrics().add(slot, core_metrics().messages_dropped, static_cast<std::int64_t>(dropped));
    return true;
  }
  shared_metrics().add(slot, core_metrics().slow_disconnects, 1);
  shared_metrics().add(slot, core_metrics().messages_dropped, static_cast<std::int64_t>(queue_.frames()));
  queue_.clear();
  leave_hub();  // no more messages for it
  if (binding_->callbacks.on_overflow) binding_->callbacks.on_overflow(&c, user_);
  if (!c.closed_ && c.module_stream_ && c.phase() != HttpSession::Phase::closing) c.close_for_module();
  return false;
}

void ModuleStream::flush(bool force) {
  Connection& c = connection_;
  if (c.closed_) return;
  c.flush_output();  // the response head (101, stream headers) goes first
  if (c.closed_) return;
  if (c.transport_.writes_in_flight() != 0 && !force) return;  // on_written comes back here
  if (dropped_ != 0) {
    FrameRef notice = c.host_.hub().dropped_notice(*this, dropped_);
    dropped_ = 0;
    if (notice) queue_.push_front(std::move(notice));
  }
  if (queue_.empty()) return;
  FrameBatch batch(queue_);
  bool sent = c.transport_.write(batch);
  queue_.clear();  // written, or kept by the write
  if (!sent) {
    c.close_now();
    return;
  }
  if (c.transport_.writes_in_flight() == 0) c.note_activity();
}

void ModuleStream::on_written() {
  Connection& c = connection_;
  flush();
  if (c.closed_ || !wants_writable_ || backlog() >= TETHER_WRITE_BACKLOG) return;
  wants_writable_ = false;
  if (binding_->callbacks.on_writable) binding_->callbacks.on_writable(&c, user_);  // may end the stream: the last thing here
}

}  // namespace tether
