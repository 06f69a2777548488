// Bytes ready for the wire, shared by every connection they are queued on: a published message
// is encoded once per format and the same frame is queued on every subscriber. Reference counted
// without atomics: a frame never leaves its worker's loop thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <string_view>
#include <utility>

namespace tether {

class FrameRef {
 public:
  FrameRef() = default;
  // A new frame holding a copy of `bytes`.
  static FrameRef copy_of(std::string_view bytes) {
    FrameRef ref;
    auto* frame = static_cast<Frame*>(std::malloc(sizeof(Frame) + bytes.size()));
    if (!frame) throw std::bad_alloc();
    frame->refs = 1;
    frame->size = bytes.size();
    if (!bytes.empty()) std::memcpy(frame->bytes(), bytes.data(), bytes.size());
    ref.frame_ = frame;
    return ref;
  }

  FrameRef(const FrameRef& other) : frame_(other.frame_) {
    if (frame_) ++frame_->refs;
  }
  FrameRef(FrameRef&& other) noexcept : frame_(std::exchange(other.frame_, nullptr)) {}
  FrameRef& operator=(FrameRef other) noexcept {
    std::swap(frame_, other.frame_);
    return *this;
  }
  ~FrameRef() {
    if (frame_ && --frame_->refs == 0) std::free(frame_);
  }

  explicit operator bool() const { return frame_ != nullptr; }
  const char* data() const { return frame_->bytes(); }
  std::size_t size() const { return frame_ ? frame_->size : 0; }
  std::string_view view() const { return frame_ ? std::string_view(frame_->bytes(), frame_->size) : std::string_view(); }

 private:
  // The header; the bytes follow it in the same allocation.
  struct Frame {
    std::size_t refs;
    std::size_t size;
    char* bytes() { return reinterpret_cast<char*>(this + 1); }
  };
  Frame* frame_ = nullptr;
};

// "<hex length>\r\n<data>\r\n": `data` as one chunk of a chunked HTTP body.
inline FrameRef chunk_frame(std::string_view data) {
  char head[24];
  int n = std::snprintf(head, sizeof head, "%zx\r\n", data.size());
  std::string chunk;
  chunk.reserve(static_cast<std::size_t>(n) + data.size() + 2);
  chunk.append(head, static_cast<std::size_t>(n)).append(data).append("\r\n");
  return FrameRef::copy_of(chunk);
}

}  // namespace tether
