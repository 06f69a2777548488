// A broker for unit tests of what uses one (the hub, the publish endpoint): it records every
// request and lets the test answer them and deliver messages, as a real broker would on a later
// turn of the loop.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/pubsub/broker.h"

namespace tether::test {

class FakeBroker final : public Broker {
 public:
  struct Published {
    std::string channel;
    std::string data;
    Request request;  // 0: no reply wanted
  };
  struct HistoryAsked {
    std::string channel;
    MessageId since;
    Request request;
  };

  Request publish(std::string_view channel, std::string_view data, PublishReply on_reply) override {
    Request request = on_reply ? next_request_++ : 0;
    if (on_reply) publish_replies_.emplace(request, std::move(on_reply));
    published.push_back({std::string(channel), std::string(data), request});
    return request;
  }
  Request history(std::string_view channel, MessageId since, HistoryReply on_reply) override {
    Request request = next_request_++;
    history_replies_.emplace(request, std::move(on_reply));
    history_asked.push_back({std::string(channel), since, request});
    return request;
  }
  Request info(std::string_view channel, InfoReply on_reply) override {
    Request request = next_request_++;
    info_replies_.emplace(request, std::move(on_reply));
    info_asked.emplace_back(channel);
    return request;
  }
  void cancel(Request request) override {
    cancelled.push_back(request);
    publish_replies_.erase(request);
    history_replies_.erase(request);
    info_replies_.erase(request);
  }
  void set_subscribers(std::string_view channel, std::uint64_t count) override {
    subscriber_counts.emplace_back(std::string(channel), count);
  }
  void close() override { closed = true; }

  // The test plays the broker's side. Each returns false when no such request waits (it was
  // answered or cancelled).
  bool answer_publish(Request request, const PublishResult& result) { return answer(publish_replies_, request, result); }
  bool answer_history(Request request, const HistoryResult& result) { return answer(history_replies_, request, result); }
  bool answer_info(Request request, const ChannelInfo& result) { return answer(info_replies_, request, result); }
  // Where the broker would relay messages (the hub).
  Delivery* delivery() const { return delivery_; }
  // Relays one message to the Delivery, as one read of the broker's connection would; the
  // views live only during the call, as a real broker's do.
  void deliver(std::string_view channel, MessageId id, std::string_view data, std::uint64_t time_ms = 0) {
    std::string channel_copy(channel), data_copy(data);
    delivery_->deliver(BrokerMessage{channel_copy, id, time_ms, data_copy});
  }
  // The end of that read: the Delivery writes what the batch queued.
  void end_batch() { delivery_->batch_end(); }
  // Whether a history request still waits for its answer (not answered, not cancelled).
  bool history_pending(Request request) const { return history_replies_.count(request) != 0; }

  std::vector<Published> published;
  std::vector<HistoryAsked> history_asked;
  std::vector<std::string> info_asked;
  std::vector<std::pair<std::string, std::uint64_t>> subscriber_counts;
  std::vector<Request> cancelled;
  bool closed = false;

 private:
  template <typename Replies, typename Result>
  static bool answer(Replies& replies, Request request, const Result& result) {
    auto it = replies.find(request);
    if (it == replies.end()) return false;
    auto reply = std::move(it->second);
    replies.erase(it);
    reply(result);
    return true;
  }

  Request next_request_ = 1;
  std::map<Request, PublishReply> publish_replies_;
  std::map<Request, HistoryReply> history_replies_;
  std::map<Request, InfoReply> info_replies_;
};

}  // namespace tether::test
