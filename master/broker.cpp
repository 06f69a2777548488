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

// Ages are wall-clock (a message's time is when it was published): a clock set back makes a
// message look younger than it is, never so old that all history would expire at once.
std::uint64_t age_ms(std::uint64_t now_ms, std::uint64_t then_ms) { return now_ms > then_ms ? now_ms - then_ms : 0; }

}  // namespace

// Saturating: the counts are the workers' word, and a sum that wraps would read as few.
std::uint64_t LocalBroker::Channel::subscriber_total() const {
  std::uint64_t total = 0;
  for (const auto& [link, count] : subscribers) total = count > UINT64_MAX - total ? UINT64_MAX : total + count;
  return total;
}

LocalBroker::LocalBroker(const PubsubConfig& config) : config_(config), epoch_(draw_epoch()) {}

void LocalBroker::configure(const PubsubConfig& config) {
  config_ = config;
  for (auto& [name, channel] : channels_)
    while (channel.history.size() > config_.history_size) evict_oldest(channel);
  enforce_limits(unix_time_ms());
}

const char* LocalBroker::handle(PubsubLink& from, const PubsubFrame& frame, const std::vector<PubsubLink*>& links) {
  switch (frame.type) {
    case PubsubType::publish:
    case PubsubType::history:
    case PubsubType::subscribers:
    case PubsubType::info: break;
    default: return "only the master sends";
  }
  // The workers' own rule (they answer 400 before asking): a name that breaks it is no client's.
  if (channel_name_problem(frame.channel)) return "names an invalid channel";
  switch (frame.type) {
    case PubsubType::publish: publish(from, frame, links); break;
    case PubsubType::history: history(from, frame); break;
    case PubsubType::subscribers: set_subscribers(from, frame); break;
    default: info(from, frame); break;
  }
  return nullptr;
}

// A channel that holds messages, made one if need be; null when max_channels channels hold
// messages and none of them can be forgotten.
LocalBroker::Channel* LocalBroker::channel_for_publish(std::string_view name) {
  auto it = channels_.find(std::string(name));
  if (it != channels_.end() && it->second.holds_messages) return &it->second;
  if (message_channels_ >= config_.max_channels) {
    if (!make_room_for_messages()) return nullptr;
    it = channels_.find(std::string(name));
  }
  Channel* channel = it != channels_.end() ? &it->second : add_channel(name);
  channel->holds_messages = true;
  --subscriber_channels_;
  ++message_channels_;
  return channel;
}

// Forgets the channels that hold messages but nobody listens to and nothing is kept for; ids
// are never reused, so a client resuming on one of them later is told it may have missed
// messages. Their entries in order_ are all stale: compacting first leaves no pointer to them.
bool LocalBroker::make_room_for_messages() {
  compact_order();
  for (auto it = channels_.begin(); it != channels_.end();) {
    const Channel& c = it->second;
    bool idle = c.holds_messages && c.history.empty() && c.subscriber_total() == 0;
    if (idle) --message_channels_;
    it = idle ? channels_.erase(it) : std::next(it);
  }
  forgotten_up_to_ = sequence_;
  return message_channels_ < config_.max_channels;
}

// A new channel, subscriber-only until something is published to it.
LocalBroker::Channel* LocalBroker::add_channel(std::string_view name) {
  Channel& channel = channels_[std::string(name)];
  channel.evicted_up_to = sequence_;
  ++subscriber_channels_;
  return &channel;
}

void LocalBroker::remove_channel(std::unordered_map<std::string, Channel>::iterator it) {
  if (it->second.holds_messages) --message_channels_;
  else --subscriber_channels_;
  channels_.erase(it);
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
    keep(*channel, frame.channel, Entry{id.sequence, now, std::string(frame.data)});
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
  if (pubsub_frame::history_reply_end(from.output(), begin)) return;
  // More than one frame carries ([pubsub] history_memory is bounded below it): all is lost to this client.
  begin = pubsub_frame::history_reply_begin(from.output(), frame.request, HistoryStatus::gap, epoch_, 0);
  pubsub_frame::history_reply_end(from.output(), begin);
}

void LocalBroker::set_subscribers(const PubsubLink& from, const PubsubFrame& frame) {
  auto it = channels_.find(std::string(frame.channel));
  if (it == channels_.end()) {
    // Past max_channels subscriber-only channels a name is not counted: it is only for info.
    if (frame.count == 0 || subscriber_channels_ >= config_.max_channels) return;
    add_channel(frame.channel);
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
  if (!it->second.holds_messages && subscribers.empty()) remove_channel(it);
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
  for (auto it = channels_.begin(); it != channels_.end();) {
    auto current = it++;
    std::erase_if(current->second.subscribers, [&](const auto& e) { return e.first == &link; });
    if (!current->second.holds_messages && current->second.subscribers.empty()) remove_channel(current);
  }
}

// A message enters a channel's history; the name is counted with the first one.
void LocalBroker::keep(Channel& channel, std::string_view name, Entry entry) {
  if (channel.history.empty()) {
    channel.name_cost = kChannelOverhead + name.size();
    history_bytes_ += channel.name_cost;
  }
  history_bytes_ += entry.cost();
  ++history_entries_;
  channel.history.push_back(std::move(entry));
}

void LocalBroker::evict_oldest(Channel& channel) {
  Entry& oldest = channel.history.front();
  channel.evicted_up_to = oldest.sequence;
  history_bytes_ -= oldest.cost();
  --history_entries_;
  channel.history.pop_front();
  if (channel.history.empty()) {
    history_bytes_ -= channel.name_cost;
    channel.name_cost = 0;
  }
}

// Age and total memory, oldest message first over all channels.
void LocalBroker::enforce_limits(std::uint64_t now_ms) {
  auto ttl = static_cast<std::uint64_t>(config_.history_ttl.count());
  while (!order_.empty()) {
    auto [channel, sequence] = order_.front();
    bool live = !channel->history.empty() && channel->history.front().sequence == sequence;
    if (live) {
      bool too_old = age_ms(now_ms, channel->history.front().time_ms) >= ttl;
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
  std::uint64_t age = age_ms(now_ms, channel->history.front().time_ms);
  return age >= ttl ? 0 : static_cast<std::int64_t>(ttl - age);
}

}  // namespace tether
