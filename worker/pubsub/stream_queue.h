// Whole frames waiting to be handed to the socket, for a connection whose output a module
// streams (pub/sub messages, WebSocket frames, SSE events). Frames stay whole until they are
// handed over, so a slow consumer's oldest messages can be dropped without cutting one in half.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/pubsub/shared_frame.h"

namespace tether {

class StreamQueue {
 public:
  bool empty() const { return head_ == frames_.size(); }
  std::size_t bytes() const { return bytes_; }
  std::size_t frames() const { return frames_.size() - head_; }

  void push_back(FrameRef frame) {
    bytes_ += frame.size();
    frames_.push_back(std::move(frame));
  }
  void push_front(FrameRef frame) {
    bytes_ += frame.size();
    if (head_ > 0) frames_[--head_] = std::move(frame);
    else frames_.insert(frames_.begin(), std::move(frame));
  }
  // Drops the oldest frames until at most `limit` bytes remain or one frame is left (the newest
  // is kept: it is the one the client most wants). Returns how many were dropped.
  std::uint64_t drop_oldest(std::size_t limit) {
    std::uint64_t dropped = 0;
    while (bytes_ > limit && frames() > 1) {
      bytes_ -= frames_[head_].size();
      frames_[head_++] = FrameRef();
      ++dropped;
    }
    return dropped;
  }
  // The queued frames, oldest first.
  const FrameRef* begin() const { return frames_.data() + head_; }
  const FrameRef* end() const { return frames_.data() + frames_.size(); }
  // Forgets the `count` oldest frames (they were written).
  void consume(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
      bytes_ -= frames_[head_].size();
      frames_[head_++] = FrameRef();
    }
    if (head_ == frames_.size()) clear();
  }
  // Hands every queued frame over (in order) and leaves the queue empty.
  std::vector<FrameRef> take_all() {
    std::vector<FrameRef> taken;
    if (head_ == 0) taken.swap(frames_);
    else taken.assign(std::make_move_iterator(frames_.begin() + static_cast<std::ptrdiff_t>(head_)),
                      std::make_move_iterator(frames_.end()));
    clear();
    return taken;
  }
  // Empties the queue; a small buffer is kept for the next batch (a busy subscriber gets one
  // every loop turn), a large one given back.
  void clear() {
    frames_.clear();
    if (frames_.capacity() > 64) std::vector<FrameRef>().swap(frames_);
    head_ = 0;
    bytes_ = 0;
  }

 private:
  std::vector<FrameRef> frames_;
  std::size_t bytes_ = 0;     // what frames_[head_..] hold
  std::uint32_t head_ = 0;    // frames_[0..head_) were dropped (a queue under 4 GiB holds fewer frames)
};

}  // namespace tether
