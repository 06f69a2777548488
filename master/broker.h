// The local broker: the one place message ids are assigned. Workers send it what is published
// (POST /pub/{channel}, modules' publish()); it gives each message the next id, keeps it in the
// channel's history and relays it to every worker of every generation, which deliver it to their
// own subscribers. Workers ask it for history to resume a subscriber, and report their
// subscriber counts so that GET /pub/{channel} can answer for all of them.
//
// Ids: one sequence for all channels (so an id is never reused, even for a channel that was
// forgotten and comes back) under an epoch drawn when the master starts. A client resuming
// with an id of another epoch, or from before what the history still holds, is told it missed
// messages (HistoryStatus::gap).
//
// Memory: history is bounded per channel ([pubsub] history_size, history_ttl) and in total
// (history_memory, oldest message evicted first). What history_memory counts is what a kept
// message costs: its data, its bookkeeping (kEntryOverhead, so that empty messages count too)
// and, once per channel holding history, the channel's name.
//
// Channels: those that hold messages (published to at least once since they were last
// forgotten) and those that exist only for their subscribers' counts (GET /pub/{channel}) are
// counted apart, each kind up to max_channels. A subscriber-only channel is forgotten as soon
// as its last subscriber leaves, and subscribing never takes room from publishing: a publish
// to a new channel is refused (503) only when max_channels channels hold messages. Past
// max_channels subscriber-only channels, further names are simply not counted (info reports 0
// subscribers for them; delivery does not depend on the broker knowing them).
//
// Workers are not trusted: every frame is checked (channel names with the workers' own rule,
// frame types) and handle() says why one breaks the protocol.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/pubsub_wire.h"
#include "core/wall_clock.h"

namespace tether {

class LocalBroker {
 public:
  explicit LocalBroker(const PubsubConfig& config);
  LocalBroker(const LocalBroker&) = delete;
  LocalBroker& operator=(const LocalBroker&) = delete;

  // New limits from a reload apply from now on (history is trimmed to them at once).
  void configure(const PubsubConfig& config);
  std::uint32_t epoch() const { return epoch_; }

  // A frame from the worker at `from`; answers go to from->output(), relayed messages to every
  // link in `links` (which includes `from`). Null, or why the frame breaks the protocol (the
  // frame is then ignored and the worker should be replaced).
  const char* handle(PubsubLink& from, const PubsubFrame& frame, const std::vector<PubsubLink*>& links);
  // The worker at `link` is gone: its subscribers no longer count.
  void forget_link(const PubsubLink& link);
  // Drops history older than history_ttl at `now_ms` (unix time, the clock messages are stamped
  // with). Returns milliseconds until the next entry expires (-1: nothing to expire): the caller
  // waits for that on its steady clock.
  std::int64_t expire(std::uint64_t now_ms);

  std::size_t channel_count() const { return channels_.size(); }
  std::size_t message_channel_count() const { return message_channels_; }
  std::uint64_t history_bytes() const { return history_bytes_; }

  // What one kept message costs beyond its data: its Entry, its share of the deque's blocks
  // and its place in the eviction order.
  static constexpr std::uint64_t kEntryOverhead = 64;
  // What a channel holding history costs beyond its name (map node, Channel).
  static constexpr std::uint64_t kChannelOverhead = 160;

 private:
  struct Entry {
    std::uint64_t sequence;
    std::uint64_t time_ms;
    std::string data;
    std::uint64_t cost() const { return kEntryOverhead + data.size(); }
  };
  struct Channel {
    std::uint64_t last_sequence = 0;
    std::uint64_t evicted_up_to = 0;  // messages up to this sequence may have existed and are gone
    bool holds_messages = false;      // else it exists only for its subscribers' counts
    std::deque<Entry> history;
    std::vector<std::pair<const PubsubLink*, std::uint64_t>> subscribers;  // per worker
    std::uint64_t subscriber_total() const;
    std::uint64_t name_cost = 0;  // counted in history_bytes_ while history is not empty
  };

  void publish(PubsubLink& from, const PubsubFrame& frame, const std::vector<PubsubLink*>& links);
  void history(PubsubLink& from, const PubsubFrame& frame);
  void set_subscribers(const PubsubLink& from, const PubsubFrame& frame);
  void info(PubsubLink& from, const PubsubFrame& frame);
  Channel* channel_for_publish(std::string_view name);
  bool make_room_for_messages();
  Channel* add_channel(std::string_view name);
  void remove_channel(std::unordered_map<std::string, Channel>::iterator it);
  void keep(Channel& channel, std::string_view name, Entry entry);
  void evict_oldest(Channel& channel);
  void enforce_limits(std::uint64_t now_ms);
  void compact_order();

  PubsubConfig config_;
  std::uint32_t epoch_;
  std::uint64_t sequence_ = 0;          // the last id given, over all channels
  std::uint64_t forgotten_up_to_ = 0;   // the sequence when channels were last forgotten
  std::unordered_map<std::string, Channel> channels_;
  std::size_t message_channels_ = 0;     // channels_ that hold messages
  std::size_t subscriber_channels_ = 0;  // the others
  // Every kept message in publish order, for age and memory eviction; entries whose message a
  // per-channel count limit already evicted are skipped (and compacted away).
  std::deque<std::pair<Channel*, std::uint64_t>> order_;
  std::uint64_t history_bytes_ = 0;
  std::uint64_t history_entries_ = 0;
};

}  // namespace tether
