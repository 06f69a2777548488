#include "worker/pubsub/broker_client.h"

#include <unistd.h>

#include "core/log.h"

namespace tether {

BrokerClient::BrokerClient(uv_loop_t* loop, int fd, FrameHandler on_message, std::function<void()> on_batch_end)
    : link_(fd), poll_(new uv_poll_t), prepare_(new uv_prepare_t), on_message_(std::move(on_message)),
      on_batch_end_(std::move(on_batch_end)) {
  uv_poll_init(loop, poll_, fd);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_poll);
  uv_prepare_init(loop, prepare_);
  prepare_->data = this;
  uv_prepare_start(prepare_, [](uv_prepare_t* prepare) {
    auto& self = *static_cast<BrokerClient*>(prepare->data);
    if (self.link_.wants_write()) self.schedule_write();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
}

BrokerClient::~BrokerClient() { close(); }

void BrokerClient::close() {
  if (closed_) return;
  closed_ = true;
  if (!broken_ && link_.wants_write()) link_.write();  // last words (subscriber counts)
  broken_ = true;
  replies_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(prepare_), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
  ::close(link_.fd());
}

std::uint64_t BrokerClient::publish(std::string_view channel, std::string_view data, FrameHandler on_reply) {
  if (closed_) return 0;
  std::uint64_t request = on_reply ? next_request_++ : 0;
  if (on_reply) replies_.emplace(request, std::move(on_reply));
  pubsub_frame::publish(link_.output(), request, channel, data);
  return request;
}

std::uint64_t BrokerClient::history(std::string_view channel, MessageId since, FrameHandler on_reply) {
  if (closed_) return 0;
  std::uint64_t request = next_request_++;
  replies_.emplace(request, std::move(on_reply));
  pubsub_frame::history(link_.output(), request, channel, since);
  return request;
}

std::uint64_t BrokerClient::info(std::string_view channel, FrameHandler on_reply) {
  if (closed_) return 0;
  std::uint64_t request = next_request_++;
  replies_.emplace(request, std::move(on_reply));
  pubsub_frame::info(link_.output(), request, channel);
  return request;
}

void BrokerClient::set_subscribers(std::string_view channel, std::uint64_t count) {
  if (closed_) return;
  pubsub_frame::subscribers(link_.output(), channel, count);
}

// Sends now; what the socket does not take waits for it to become writable.
void BrokerClient::schedule_write() {
  if (broken_) {
    link_.output().clear();
    return;
  }
  if (!link_.write()) {
    broken_ = true;
    LOG_ERROR("pub/sub link to the master failed: messages are no longer published or delivered");
    uv_poll_stop(poll_);
    return;
  }
  bool want = link_.wants_write();
  if (want != polling_writable_) {
    polling_writable_ = want;
    uv_poll_start(poll_, UV_READABLE | (want ? UV_WRITABLE : 0), on_poll);
  }
}

void BrokerClient::on_poll(uv_poll_t* poll, int status, int events) {
  auto& self = *static_cast<BrokerClient*>(poll->data);
  if (status < 0) return;
  if (events & UV_WRITABLE) self.schedule_write();
  if (!(events & UV_READABLE)) return;
  auto result = self.link_.read([&](const PubsubFrame& frame) -> const char* {
    self.handle(frame);
    return nullptr;
  });
  self.on_batch_end_();
  if (result != PubsubLink::ReadResult::open && !self.broken_) {
    self.broken_ = true;
    uv_poll_stop(poll);  // the master is gone or broke the link: the control channel ends the worker
  }
}

void BrokerClient::handle(const PubsubFrame& frame) {
  if (frame.type == PubsubType::message) {
    on_message_(frame);
    return;
  }
  auto it = replies_.find(frame.request);
  if (it == replies_.end()) return;  // cancelled
  FrameHandler handler = std::move(it->second);
  replies_.erase(it);
  handler(frame);
}

}  // namespace tether
