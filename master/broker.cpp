#include "master/broker.h"

#include <sys/random.h>

#include <algorithm>
#include <chrono>

#include "core/log.h"

namespace tether {
namespace {

std::uint32_t draw_epoch() {
  std::uint32_t epoch = 0;
  if (getrandom(&epoch, sizeof epoch, 0) != sizeof epoch || epoch == 0)
    epoch = static_cast<std::uint32_t>(std::chrono::system_clock::now().time_since_epoch().count()) | 1;
  return epoch;
}

}  // namespace

std::uint64_t unix_time_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

std::uint64_t LocalBroker::Channel::subscriber_total() const {
  std::uint64_t total = 0;
  for (const auto& [link, count] : subscribers) total += count;
  return total;
}

LocalBroker::LocalBroker(const PubsubConfig& config) : config_(config), epoch_(draw_epoch()) {}

void LocalBroker::configure(const PubsubConfig& config) {
  config_ = config;
  for (auto& [name, channel] : channels_)
    while (channel.history.size() > config_.history_size) evict_oldest(channel);
  enforce_limits(unix_time_ms());
}

void LocalBroker::handle(PubsubLink& from, const PubsubFrame& frame, const std::vector<PubsubLink*>& links) {
  switch (frame.type) {
    case PubsubType::publish: publish(from, frame, links); break;
    case PubsubType::history: history(from, frame); break;
    case PubsubType::subscribers: set_subscribers(from, frame); break;
    case PubsubType::info: info(from, frame); break;
    default: LOG_WARN("pub/sub: unexpected frame type %u from a worker", static_cast<unsigned>(frame.type));
  }
}

LocalBroker::Channel* LocalBroker::channel_for_publish(std::string_view name) {
  auto it = channels_.find(std::string(name));
  if (it != channels_.end()) return &it->second;
  if (channels_.size() >= config_.max_channels) {
    // Forget the channels nobody listens to and nothing is kept for; ids are never reused, so a
    // client resuming on one of them later is told it may have missed messages. Their entries in
    // order_ are all stale: compacting first leaves no pointer to them there.
    compact_order();
    std::erase_if(channels_, [](const auto& entry) {
      return entry.second.history.empty() && entry.second.subscriber_total() == 0;
    });
    forgotten_up_to_ = sequence_;
    if (channels_.size() >= config_.max_channels) return nullptr;
  }
  Channel& channel = channels_[std::string(name)];
  channel.evicted_up_to = sequence_;
  return &channel;
}

void LocalBroker::publish(PubsubLink& from, const PubsubFrame& frame, const std::vector<PubsubLink*>& links) {
  Channel* channel = channel_for_publish(frame.channel);
  if (!channel) {
    pubsub_frame::published(from.output(), frame.request, PublishStatus::too_many_channels, MessageId{epoch_, 0});
    return;
  }
  MessageId id{epoch_, ++sequence_};
  std::uint64_t now = unix_time_ms();
  channel->last_sequence = id.sequence;
  if (config_.history_size > 0) {
    channel->history.push_back(Entry{id.sequence, now, std::string(frame.data)});
    history_bytes_ += frame.data.size();
    ++history_entries_;
    order_.emplace_back(channel, id.sequence);
    while (channel->history.size() > config_.history_size) evict_oldest(*channel);
  } else {
    channel->evicted_up_to = id.sequence;
  }
  enforce_limits(now);
  if (frame.request != 0) pubsub_frame::published(from.output(), frame.request, PublishStatus::ok, id);
  for (PubsubLink* link : links) pubsub_frame::message(link->output(), frame.channel, id, now, frame.data);
}

void LocalBroker::history(PubsubLink& from, const PubsubFrame& frame) {
  enforce_limits(unix_time_ms());
  auto it = channels_.find(std::string(frame.channel));
  MessageId since = frame.id;
  bool same_epoch = since.epoch == epoch_;
  if (it == channels_.end()) {
    bool complete = same_epoch && since.sequence >= forgotten_up_to_;
    std::size_t begin = pubsub_frame::history_reply_begin(from.output(), frame.request,
                                                          complete ? HistoryStatus::complete : HistoryStatus::gap, epoch_, 0);
    pubsub_frame::history_reply_end(from.output(), begin);
    return;
  }
  const Channel& channel = it->second;
  // From another epoch every kept message is new to the client; else those after `since`.
  std::uint64_t after = same_epoch ? since.sequence : 0;
  bool complete = same_epoch && since.sequence >= channel.evicted_up_to;
  auto first = std::upper_bound(channel.history.begin(), channel.history.end(), after,
                                [](std::uint64_t s, const Entry& e) { return s < e.sequence; });
  auto count = static_cast<std::uint32_t>(channel.history.end() - first);
  std::size_t begin = pubsub_frame::history_reply_begin(from.output(), frame.request,
                                                        complete ? HistoryStatus::complete : HistoryStatus::gap, epoch_, count);
  for (auto e = first; e != channel.history.end(); ++e)
    pubsub_frame::history_reply_entry(from.output(), StoredMessage{e->sequence, e->time_ms, e->data});
  pubsub_frame::history_reply_end(from.output(), begin);
}

void LocalBroker::set_subscribers(const PubsubLink& from, const PubsubFrame& frame) {
  auto it = channels_.find(std::string(frame.channel));
  if (it == channels_.end()) {
    if (frame.count == 0) return;
    Channel* channel = channel_for_publish(frame.channel);
    if (!channel) return;  // counted only for info; a full broker does not block subscribing
    it = channels_.find(std::string(frame.channel));
  }
  auto& subscribers = it->second.subscribers;
  auto entry = std::find_if(subscribers.begin(), subscribers.end(), [&](const auto& e) { return e.first == &from; });
  if (frame.count == 0) {
    if (entry != subscribers.end()) subscribers.erase(entry);
  } else if (entry != subscribers.end()) {
    entry->second = frame.count;
  } else {
    subscribers.emplace_back(&from, frame.count);
  }
}

void LocalBroker::info(PubsubLink& from, const PubsubFrame& frame) {
  enforce_limits(unix_time_ms());
  auto it = channels_.find(std::string(frame.channel));
  if (it == channels_.end()) {
    pubsub_frame::info_reply(from.output(), frame.request, 0, MessageId{epoch_, 0}, 0);
    return;
  }
  const Channel& channel = it->second;
  pubsub_frame::info_reply(from.output(), frame.request, channel.subscriber_total(), MessageId{epoch_, channel.last_sequence},
                           channel.history.size());
}

void LocalBroker::forget_link(const PubsubLink& link) {
  for (auto& [name, channel] : channels_)
    std::erase_if(channel.subscribers, [&](const auto& e) { return e.first == &link; });
}

void LocalBroker::evict_oldest(Channel& channel) {
  Entry& oldest = channel.history.front();
  channel.evicted_up_to = oldest.sequence;
  history_bytes_ -= oldest.data.size();
  --history_entries_;
  channel.history.pop_front();
}

// Age and total memory, oldest message first over all channels.
void LocalBroker::enforce_limits(std::uint64_t now_ms) {
  auto ttl = static_cast<std::uint64_t>(config_.history_ttl.count());
  while (!order_.empty()) {
    auto [channel, sequence] = order_.front();
    bool live = !channel->history.empty() && channel->history.front().sequence == sequence;
    if (live) {
      bool too_old = now_ms - channel->history.front().time_ms >= ttl;
      if (!too_old && history_bytes_ <= config_.history_memory) break;
      evict_oldest(*channel);
    }
    order_.pop_front();
  }
  if (order_.size() > 2 * history_entries_ + 1024) compact_order();
}

void LocalBroker::compact_order() {
  std::deque<std::pair<Channel*, std::uint64_t>> kept;
  for (const auto& [channel, sequence] : order_) {
    const auto& h = channel->history;
    if (!h.empty() && sequence >= h.front().sequence) kept.emplace_back(channel, sequence);
  }
  order_.swap(kept);
}

std::int64_t LocalBroker::expire(std::uint64_t now_ms) {
  enforce_limits(now_ms);
  if (order_.empty()) return -1;
  auto [channel, sequence] = order_.front();
  if (channel->history.empty()) return 1000;  // a stale entry: look again soon
  auto ttl = static_cast<std::uint64_t>(config_.history_ttl.count());
  std::uint64_t age = now_ms - channel->history.front().time_ms;
  return age >= ttl ? 0 : static_cast<std::int64_t>(ttl - age);
}

}  // namespace tether
