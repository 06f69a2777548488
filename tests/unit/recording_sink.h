// A FrameSink for unit tests of the hub: it keeps every frame queued on it (the FrameRef itself,
// so a test can tell the same frame from an equal copy), counts the hub's calls, and can be told
// to overflow: past `room` frames it refuses every frame, and `on_overflow` may end its stream as
// a connection with the disconnect policy does (the hub then hears stream_closed from inside
// queue_frame).
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "worker/pubsub/frame_sink.h"

namespace tether::test {

class RecordingSink final : public FrameSink {
 public:
  explicit RecordingSink(bool chunked = false) : chunked_(chunked) {}

  bool queue_frame(FrameRef frame) override {
    ++offered;
    if (!open_) return false;
    if (frames.size() >= room) {
      open_ = false;
      if (on_overflow) on_overflow(*this);
      return false;
    }
    frames.push_back(std::move(frame));
    return true;
  }
  void flush_frames() override { ++flushes; }
  bool takes_frames() const override { return open_; }
  bool chunked() const override { return chunked_; }

  // The queued frames' bytes, in order.
  std::vector<std::string> texts() const {
    std::vector<std::string> out;
    for (const FrameRef& f : frames) out.emplace_back(f.view());
    return out;
  }

  std::size_t room = std::numeric_limits<std::size_t>::max();  // frames it takes before it overflows
  std::function<void(RecordingSink&)> on_overflow;              // e.g. the hub's stream_closed
  std::vector<FrameRef> frames;
  std::size_t offered = 0;  // queue_frame calls, refused ones too
  std::size_t flushes = 0;

 private:
  bool chunked_;
  bool open_ = true;
};

}  // namespace tether::test
