// The worker's end of the pub/sub link to the broker in the master (core/pubsub_wire.h):
// sends publishes, history and info requests and subscriber counts; hands relayed messages to
// the hub and replies to whoever asked. Frames produced during a loop turn are sent together
// at the end of it.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>

#include "core/pubsub_wire.h"

namespace tether {

class BrokerClient {
 public:
  using FrameHandler = std::function<void(const PubsubFrame&)>;

  // `on_message` gets every relayed message; `on_batch_end` runs after each read of the link
  // (the hub writes what it queued then).
  BrokerClient(uv_loop_t* loop, int fd, FrameHandler on_message, std::function<void()> on_batch_end);
  BrokerClient(const BrokerClient&) = delete;
  BrokerClient& operator=(const BrokerClient&) = delete;
  ~BrokerClient();

  // Each returns the request number; `on_reply` runs once with the broker's answer, unless the
  // request is cancelled first. A publish without on_reply asks for no answer.
  std::uint64_t publish(std::string_view channel, std::string_view data, FrameHandler on_reply);
  std::uint64_t history(std::string_view channel, MessageId since, FrameHandler on_reply);
  std::uint64_t info(std::string_view channel, FrameHandler on_reply);
  void set_subscribers(std::string_view channel, std::uint64_t count);
  void cancel(std::uint64_t request) { replies_.erase(request); }
  // Sends what is pending if the socket takes it, then closes the link (the worker exits).
  void close();

 private:
  static void on_poll(uv_poll_t* poll, int status, int events);
  void schedule_write();
  void handle(const PubsubFrame& frame);

  PubsubLink link_;
  uv_poll_t* poll_;   // freed in its close callback
  uv_prepare_t* prepare_; // sends what the last loop turn produced, before the loop blocks
  FrameHandler on_message_;
  std::function<void()> on_batch_end_;
  std::unordered_map<std::uint64_t, FrameHandler> replies_;
  std::uint64_t next_request_ = 1;
  bool broken_ = false;
  bool closed_ = false;
  bool polling_writable_ = false;
};

}  // namespace tether
