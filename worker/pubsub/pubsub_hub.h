// The worker's pub/sub hub: which of this worker's connections subscribe to which channel, and
// delivery of the messages the broker relays. A message is encoded once per feed (wire format,
// created by a module) and the same frame is queued on every subscriber using that feed; the
// connections touched by a batch of messages are flushed together once the batch is handled.
// A worker saturated with deliveries (flush rounds take most of its time) lets the next batch
// gather for a millisecond first, so that each subscriber gets several messages per syscall.
//
// The hub does not know which broker it talks to (worker/pubsub/broker.h): it tells it its
// subscriber counts, asks it for history and gets its deliveries.
//
// Resume: a subscriber with `since` waits for the broker's history reply and skips live
// messages until then; the broker sequenced those before answering, so the reply holds them
// and nothing is delivered twice. A broker that cannot answer gets the subscriber a GAP notice.
#pragma once

#include <tether/module.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/config.h"
#include "core/intrusive_list.h"
#include "core/status_board.h"
#include "worker/host/abi_handles.h"  // tether_feed: modules' handle for a Feed
#include "worker/pubsub/broker.h"
#include "worker/pubsub/frame_sink.h"
#include "worker/pubsub/shared_frame.h"

namespace tether {

struct Feed final : tether_feed {
  tether_feed_format format{};
  std::size_t index = 0;  // in the hub's feeds
};

struct HubChannel;

// One sink's subscription to one channel: in the channel's list of subscribers, and in the
// sink's list of subscriptions (which only ever empties whole, when the stream closes: one link).
struct Subscription : ListLink<HubChannel>, ForwardLink<FrameSink> {
  HubChannel* channel = nullptr;
  FrameSink* sink = nullptr;
  Feed* feed = nullptr;
  std::uint64_t history_request = 0;  // non-zero: waiting for history, live messages skipped
};

struct HubChannel {
  std::string name;
  IntrusiveList<Subscription, HubChannel> subscribers;  // newest first; its size is this worker's count
  std::uint64_t messages = 0;  // delivered here since the channel got its first subscriber
};

// Whether a publish reached the broker, and if not why.
struct PublishCheck {
  enum Outcome { accepted, invalid_channel, too_large };
  Outcome outcome;
  const char* problem = nullptr;  // invalid_channel: channel_name_problem's text, for the publisher
  bool operator==(Outcome other) const { return outcome == other; }
};

class PubsubHub final : private Broker::Delivery {
 public:
  PubsubHub(uv_loop_t* loop, std::unique_ptr<Broker> broker, const PubsubConfig& config, unsigned slot,
            std::size_t metrics_slot);
  PubsubHub(const PubsubHub&) = delete;
  PubsubHub& operator=(const PubsubHub&) = delete;
  ~PubsubHub();

  Feed* create_feed(const tether_feed_format& format);
  // TETHER_OK, or TETHER_ERROR (invalid channel, no sink: the connection is not streamed/upgraded).
  int subscribe(FrameSink* sink, Feed& feed, std::string_view channel, std::optional<std::string_view> since);
  // Sends `data` to the broker unless the channel name or the size is invalid; `on_reply` (may be
  // empty: no answer wanted) gets the broker's answer, `*request` the request to cancel it with.
  PublishCheck publish(std::string_view channel, std::string_view data, Broker::PublishReply on_reply = {},
                       Broker::Request* request = nullptr);
  // The sink takes no more messages (closing, overflowed, stream ended, saying goodbye): the
  // hub forgets it. Nothing is known of a sink after this (a new subscribe starts afresh).
  void stream_closed(FrameSink& sink);
  // The DROPPED notice for a sink's feed, framed for it (chunked or not); empty if the feed
  // sends no notices.
  FrameRef dropped_notice(const FrameSink& sink, std::uint64_t count);

  // The host function encoders append with (tether_host.buffer_append).
  static void buffer_append(tether_buffer* out, const void* data, std::size_t length);

  // This worker's `limit` channels with the most subscribers (then the most messages), for the
  // status page (worker/pubsub/channel_report.h).
  std::vector<ChannelLoad> busiest_channels(std::size_t limit) const;

  Broker& broker() { return *broker_; }
  // Worker exit: closes the broker and the flush timer.
  void close();
  const PubsubConfig& config() const { return config_; }

 private:
  // Broker::Delivery
  void deliver(const BrokerMessage& message) override;
  void gap(std::string_view channel, MessageId since) override;
  void batch_end() override;

  void resume(Subscription& subscription, MessageId since, const HistoryResult& reply);
  void touch(FrameSink& sink);
  void flush();
  void unlink(Subscription* subscription);
  FrameRef encode(Feed& feed, const tether_message& message, bool chunked);
  FrameRef encode_notice(Feed& feed, const tether_notice& notice, bool chunked);
  // Queues a GAP notice (messages after `since` are lost) on `sink`; false once it takes no more.
  FrameRef gap_notice(Feed& feed, std::string_view channel, MessageId since, bool chunked);
  bool queue_gap(FrameSink& sink, Feed& feed, std::string_view channel, MessageId since);

  const PubsubConfig& config_;
  std::unique_ptr<Broker> broker_;
  std::vector<std::unique_ptr<Feed>> feeds_;
  std::unordered_map<std::string, std::unique_ptr<HubChannel>> channels_;
  std::vector<FrameSink*> to_flush_;  // null: closed since it was touched
  uv_timer_t* flush_timer_;  // freed in its close callback
  bool saturated_ = false;   // flush rounds take most of the time: coalesce the next batch
  std::uint64_t last_flush_start_ = 0;  // uv_hrtime()
  std::size_t metrics_slot_;
  std::uint32_t subscribers_metric_ = 0;
};

}  // namespace tether
