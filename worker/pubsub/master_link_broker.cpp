#include "worker/pubsub/master_link_broker.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "core/log.h"

namespace tether {

MasterLinkBroker::MasterLinkBroker(uv_loop_t* loop, int fd) : link_(fd), poll_(new uv_poll_t), prepare_(new uv_prepare_t) {
  uv_poll_init(loop, poll_, fd);
  poll_->data = this;
  uv_poll_start(poll_, UV_READABLE, on_poll);
  uv_prepare_init(loop, prepare_);
  prepare_->data = this;
  uv_prepare_start(prepare_, [](uv_prepare_t* prepare) {
    auto& self = *static_cast<MasterLinkBroker*>(prepare->data);
    if (self.link_.wants_write()) self.schedule_write();
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
}

MasterLinkBroker::~MasterLinkBroker() { close(); }

void MasterLinkBroker::close() {
  if (closed_) return;
  closed_ = true;
  if (!broken_ && link_.wants_write()) link_.write();  // last words (subscriber counts)
  broken_ = true;
  replies_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(prepare_), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
  ::close(link_.fd());
}

MasterLinkBroker::Request MasterLinkBroker::expect_reply(Pending pending) {
  Request request = next_request_++;
  replies_.emplace(request, std::move(pending));
  return request;
}

MasterLinkBroker::Request MasterLinkBroker::publish(std::string_view channel, std::string_view data, PublishReply on_reply) {
  if (closed_) return 0;
  Request request = on_reply ? expect_reply(Pending{std::move(on_reply), {}}) : 0;
  pubsub_frame::publish(link_.output(), request, channel, data);
  return request;
}

MasterLinkBroker::Request MasterLinkBroker::history(std::string_view channel, MessageId since, HistoryReply on_reply) {
  if (closed_) return 0;
  Request request = expect_reply(Pending{std::move(on_reply), std::string(channel)});
  pubsub_frame::history(link_.output(), request, channel, since);
  return request;
}

MasterLinkBroker::Request MasterLinkBroker::info(std::string_view channel, InfoReply on_reply) {
  if (closed_) return 0;
  Request request = expect_reply(Pending{std::move(on_reply), {}});
  pubsub_frame::info(link_.output(), request, channel);
  return request;
}

void MasterLinkBroker::set_subscribers(std::string_view channel, std::uint64_t count) {
  if (closed_) return;
  pubsub_frame::subscribers(link_.output(), channel, count);
}

// Sends now; what the socket does not take waits for it to become writable.
void MasterLinkBroker::schedule_write() {
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

void MasterLinkBroker::on_poll(uv_poll_t* poll, int status, int events) {
  auto& self = *static_cast<MasterLinkBroker*>(poll->data);
  if (status < 0) return;
  if (events & UV_WRITABLE) self.schedule_write();
  if (!(events & UV_READABLE)) return;
  auto result = self.link_.read([&](const PubsubFrame& frame) -> const char* {
    self.handle(frame);
    return nullptr;
  });
  if (self.delivery_) self.delivery_->batch_end();
  if (result != PubsubLink::ReadResult::open && !self.broken_) {
    self.broken_ = true;
    uv_poll_stop(poll);  // the master is gone or broke the link: the control channel ends the worker
  }
}

void MasterLinkBroker::handle(const PubsubFrame& frame) {
  if (frame.type == PubsubType::message) {
    if (delivery_) delivery_->deliver(BrokerMessage{frame.channel, frame.id, frame.time_ms, frame.data});
    return;
  }
  auto it = replies_.find(frame.request);
  if (it == replies_.end()) return;  // cancelled
  Pending pending = std::move(it->second);
  replies_.erase(it);
  answer(pending, frame);
}

// The master answers each request with the frame of its kind (published, history_reply,
// info_reply): the one that fits the callback waiting for it.
void MasterLinkBroker::answer(Pending& pending, const PubsubFrame& frame) {
  if (auto* on_published = std::get_if<PublishReply>(&pending.reply)) {
    bool full = frame.status == static_cast<std::uint32_t>(PublishStatus::too_many_channels);
    (*on_published)(PublishResult{full ? BrokerError::too_many_channels : BrokerError::none, frame.id});
  } else if (auto* on_history = std::get_if<HistoryReply>(&pending.reply)) {
    std::vector<BrokerMessage> messages;
    messages.reserve(frame.history.size());
    for (const StoredMessage& m : frame.history)
      messages.push_back(BrokerMessage{pending.channel, MessageId{frame.id.epoch, m.sequence}, m.time_ms, m.data});
    bool gap = frame.status == static_cast<std::uint32_t>(HistoryStatus::gap);
    (*on_history)(HistoryResult{gap ? HistoryResult::Status::gap : HistoryResult::Status::complete, messages});
  } else {
    std::get<InfoReply>(pending.reply)(ChannelInfo{BrokerError::none, frame.count, frame.id, frame.history_length});
  }
}

}  // namespace tether
