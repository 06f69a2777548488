// What the hub and the publish endpoint need from a broker, whichever one serves them: the
// master's local broker over the worker's link (MasterLinkBroker) or, later, a shared engine
// such as Redis. A broker gives every message its id, keeps history, answers resumes and
// relays every message published anywhere to the workers whose hub has interest in its channel.
//
// Rules every implementation keeps:
// - Replies are asynchronous: a reply callback never runs inside the call that made the request
//   (as libuv never runs a write callback inside uv_write), and runs at most once.
// - cancel() before the reply means the callback never runs (a subscriber that left, an HTTP
//   client that hung up).
// - Relayed messages go to the Delivery given to set_delivery(), in the order the broker
//   sequenced them per channel; batch_end() follows each batch, so the hub writes once per batch.
//   A broker that finds messages lost says so (Delivery::gap) rather than skipping them silently.
// - Message views (channel, data) point into the broker's own buffers and are valid only during
//   the callback that gets them: the hub encodes them before returning, so no copy is made.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "core/pubsub_message.h"

namespace tether {

// One message as a broker hands it out: its views are valid during the callback only.
struct BrokerMessage {
  std::string_view channel;
  MessageId id;
  std::uint64_t time_ms = 0;  // unix time when the broker sequenced it
  std::string_view data;
};

// Why a broker refused a request. `unavailable`: it cannot be reached or did not answer in
// time (the client gets a 503 and may retry).
enum class BrokerError { none, too_many_channels, unavailable };

struct PublishResult {
  BrokerError error = BrokerError::none;
  MessageId id;  // error == none
};

// What a resuming subscriber missed. `complete`: every message after `since` is in `messages`;
// `gap`: some are lost (history limits, or `since` is from another epoch); `unavailable`: the
// broker could not say (no messages).
struct HistoryResult {
  enum class Status { complete, gap, unavailable } status = Status::complete;
  std::span<const BrokerMessage> messages;
};

struct ChannelInfo {
  BrokerError error = BrokerError::none;
  std::uint64_t subscribers = 0;  // on every worker the broker serves
  MessageId last;                 // sequence 0: nothing published yet
  std::uint64_t history_length = 0;
};

class Broker {
 public:
  // 0 is no request (a publish that asked for no reply, or a broker that is closed).
  using Request = std::uint64_t;
  using PublishReply = std::function<void(const PublishResult&)>;
  using HistoryReply = std::function<void(const HistoryResult&)>;
  using InfoReply = std::function<void(const ChannelInfo&)>;

  // Where relayed messages go (the hub).
  class Delivery {
   public:
    virtual void deliver(const BrokerMessage& message) = 0;
    // Messages of `channel` after `since` (the last one delivered) are lost for good: the
    // broker's store lost the channel (a new epoch), or its history no longer holds them. Live
    // subscribers get a GAP notice; deliveries continue with what follows.
    virtual void gap(std::string_view channel, MessageId since) = 0;
    // The end of a batch of deliveries and replies (one read of the broker's connection).
    virtual void batch_end() = 0;

   protected:
    ~Delivery() = default;
  };

  Broker() = default;
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;
  virtual ~Broker() = default;

  void set_delivery(Delivery* delivery) { delivery_ = delivery; }

  // A publish without on_reply asks for no answer (and returns 0).
  virtual Request publish(std::string_view channel, std::string_view data, PublishReply on_reply) = 0;
  virtual Request history(std::string_view channel, MessageId since, HistoryReply on_reply) = 0;
  virtual Request info(std::string_view channel, InfoReply on_reply) = 0;
  virtual void cancel(Request request) = 0;
  // This worker's subscriber count for `channel`, sent on every change: the first subscriber
  // (count 1) is the start of its interest in the channel's messages, 0 is the end. A broker
  // may batch what it does with it (e.g. subscribe in Redis once per loop turn).
  virtual void set_subscribers(std::string_view channel, std::uint64_t count) = 0;
  // Why the broker cannot serve now, for /readyz ("redis 127.0.0.1:6379: Connection refused");
  // empty while it can.
  virtual std::string problem() const { return {}; }
  // The worker exits: sends what is pending if it can, then stops; later requests return 0.
  virtual void close() = 0;

 protected:
  Delivery* delivery_ = nullptr;
};

}  // namespace tether
