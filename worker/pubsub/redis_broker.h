// The broker of several machines ("nodes"): Redis holds every channel's ids and history, and
// relays messages between nodes. Each worker holds, per shard, a command connection (publish,
// history, info: Lua scripts, redis_scripts.h) and a subscriber connection (SUBSCRIBE only to
// the channels with subscribers in this worker, batched once per loop turn).
//
// Per channel, on the shard redis_shard_of() picks: a hash {epoch, top}, a stream (history,
// MAXLEN ~history_size, expiry history_ttl) and a pub/sub channel, all named under `prefix`.
// A message id is MessageId{epoch, offset} ("<epoch in 8 hex>-<offset>"): the epoch is the
// channel's, kept in Redis, and changes only when Redis lost the channel's hash.
//
// Delivery is in offset order per channel. Redis pub/sub is at-most-once, so an offset jump
// (or a resubscription after a reconnect) makes the broker read the hole from the stream
// before it delivers further; live messages that arrive meanwhile are held. While a history
// (resume) request for a channel is in flight, live messages of that channel are held too; the
// broker then delivers from the same read what it had not yet delivered, and answers: what was
// relayed before the answer is in it, and what comes after is newer (the hub's no-duplicate
// rule, broker.h), even on a node that lags behind the one where the client saw `since`.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/config.h"
#include "worker/pubsub/broker.h"
#include "worker/pubsub/redis_connection.h"

struct redisReply;

namespace tether {
struct RedisStreamRead;
}

namespace tether {

struct RedisBrokerConfig {
  std::vector<RedisAddress> addresses;  // shards; at least one
  std::string prefix = "tether";
  std::string username;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  std::uint64_t history_size = 100;               // stream MAXLEN ~ (0: none kept)
  std::chrono::milliseconds history_ttl{300'000};  // stream expiry, refreshed by each publish; 0: none kept
  std::uint64_t max_message_size = 64 * 1024;     // a relayed message larger than this is refused

  static RedisBrokerConfig from(const PubsubConfig& pubsub);
};

class RedisBroker final : public Broker {
 public:
  struct Counters {
    std::uint64_t published = 0;  // publishes Redis acknowledged
    std::uint64_t received = 0;   // messages from Redis pub/sub
    std::uint64_t recovered = 0;  // messages read from a stream to fill a hole
    std::uint64_t lost = 0;       // offsets neither pub/sub nor the stream still had
    std::uint64_t errors = 0;     // requests answered `unavailable`
    std::uint64_t refused = 0;    // relayed messages malformed, forged or over max_message_size
  };

  // Counts into shared metrics slot `metrics_slot` (the worker's).
  RedisBroker(uv_loop_t* loop, RedisBrokerConfig config, std::size_t metrics_slot = 0);
  ~RedisBroker() override;

  Request publish(std::string_view channel, std::string_view data, PublishReply on_reply) override;
  Request history(std::string_view channel, MessageId since, HistoryReply on_reply) override;
  Request info(std::string_view channel, InfoReply on_reply) override;
  void cancel(Request request) override { waiting_.erase(request); }
  void set_subscribers(std::string_view channel, std::uint64_t count) override;
  std::string problem() const override;
  void close() override;

  // Every shard's connections are up (readiness).
  bool up() const;
  const Counters& counters() const { return counters_; }
  std::uint64_t reconnects() const;

 private:
  struct NameHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view name) const { return std::hash<std::string_view>{}(name); }
  };
  // A live message kept while a hole is filled or a resume is answered.
  struct HeldMessage {
    MessageId id;
    std::uint64_t time_ms;
    std::string data;
  };
  // One channel with (or just without) subscribers in this worker.
  struct Feed {
    std::uint32_t shard = 0;
    std::uint64_t subscribers = 0;
    bool subscribe_sent = false;  // SUBSCRIBE sent on the current subscriber connection (or attempt)
    bool known = false;           // `delivered` is set (a first message or a resume fixed it)
    MessageId delivered;          // the last offset handed to the hub, in the channel's epoch
    bool positioned = false;      // !known, and `delivered` holds where the channel stood at SUBSCRIBE
    MessageId unfit;              // !known: a first message that did not fit the position, being checked
    unsigned resumes = 0;         // history requests in flight: live messages are held
    bool filling = false;         // a hole is being read from the stream
    bool fill_failed = false;     // retried when the command connection is back
    std::deque<HeldMessage> held;
    std::size_t held_before_read = 0;  // of `held`, those that came before the read in flight was sent
    std::uint64_t fill_end = 0;        // the last offset the fill in flight asks for (0: up to the top)
    bool read_again = false;           // resubscribed while a read was in flight
  };
  // A publish waiting for the end of the loop turn, to go out with the turn's others.
  struct PendingPublish {
    Request request;
    std::string channel;
    std::string data;
    std::uint64_t started_ns;
  };
  struct Shard {
    std::vector<PendingPublish> publishes;  // this turn's, in order; one EVALSHA at its end
    std::size_t publish_bytes = 0;
    std::unique_ptr<RedisConnection> commands;
    std::unique_ptr<RedisConnection> subscriber;
    std::string sha[3];  // SCRIPT LOAD results, empty until known
    std::uint64_t heartbeat_sent_ms = 0;  // a heartbeat is on its way through pub/sub (0: none)
  };
  enum Script { kPublishScript, kHistoryScript, kInfoScript };
  static constexpr std::size_t kMaxHeld = 1024;  // live messages held per channel
  // A subscriber connection that answers nothing (a Redis stopped, a peer gone without a reset)
  // looks idle, not lost: every kHeartbeatMs each shard's command connection PUBLISHes to this
  // broker's heartbeat channel, and a subscriber connection that has not relayed it within
  // command_timeout is dropped and made again.
  static constexpr std::uint64_t kHeartbeatMs = 2000;
  static constexpr std::uint64_t kMetaTtlExtraMs = 24 * 3600 * 1000;  // a channel's epoch outlives its history
  using Waiting = std::variant<PublishReply, HistoryReply, InfoReply>;
  using Reply = RedisConnection::Reply;

  Shard& shard_of(std::string_view channel);
  std::string meta_key(std::string_view channel) const;
  std::string stream_key(std::string_view channel) const;
  std::string pubsub_channel(std::string_view channel) const;

  // A script's keys (the channel's hash and stream) and arguments, kept for a NOSCRIPT retry.
  struct ScriptCall {
    Script script;
    std::vector<std::string> arguments;  // the keys first
    std::size_t keys = 2;
  };
  // A batch goes out early past this many publishes or bytes (a script's arguments are held
  // whole in Redis's memory, and one script runs alone on the shard).
  static constexpr std::size_t kMaxBatch = 64;
  static constexpr std::size_t kMaxBatchBytes = 1 << 20;
  void send_publishes(Shard& shard);
  void send_all_publishes();
  bool run_script(Shard& shard, Script script, std::string_view channel, std::vector<std::string> args, Reply on_reply);
  bool send_script(Shard& shard, std::shared_ptr<const ScriptCall> call, Reply on_reply);
  void load_scripts(Shard& shard);
  void on_commands_up(Shard& shard);
  void on_subscriber_lost(Shard& shard);
  void on_push(Shard& shard, const redisReply* reply);
  void on_subscriber_up(Shard& shard);
  static void on_heartbeat(uv_timer_t* timer);
  void on_subscribed(std::string_view channel);
  void read_history(Request request, const std::string& channel, MessageId since, MessageId after);
  void on_history(Request request, const std::string& channel, MessageId since, MessageId after, const redisReply* reply);

  void accept(std::string_view channel, Feed& feed, MessageId id, std::uint64_t time_ms, std::string_view data);
  void catch_up(std::string_view channel, Feed& feed, std::span<const BrokerMessage> entries, bool recovered);
  void start_epoch(std::string_view channel, Feed& feed, std::uint32_t epoch);
  bool start_from(Feed& feed, MessageId first);
  void retry_read(const std::string& channel, Feed& feed);
  bool read_again_after(const std::string& channel, Feed& feed);
  void drop_forged(std::string_view channel, Feed& feed, const RedisStreamRead& read);
  void lose(std::string_view channel, Feed& feed, std::uint64_t last_lost);
  void start_position(const std::string& channel, Feed& feed);
  void on_position(const std::string& channel, const redisReply* reply);
  void start_fill(const std::string& channel, Feed& feed);
  void on_fill(const std::string& channel, const redisReply* reply);
  void release_held(std::string_view channel, Feed& feed);
  void hold(Feed& feed, MessageId id, std::uint64_t time_ms, std::string_view data);
  void deliver(std::string_view channel, MessageId id, std::uint64_t time_ms, std::string_view data);

  void count(std::uint64_t Counters::*counter, std::uint32_t metric, std::uint64_t n = 1);
  void observe_publish(std::uint64_t started_ns);
  void connections_changed();

  void later(std::function<void()> work);
  void fail_later(Request request);
  void flush_subscriptions();
  static void on_prepare(uv_prepare_t* prepare);
  static void on_check(uv_check_t* check);

  uv_loop_t* loop_;
  RedisBrokerConfig config_;
  std::vector<Shard> shards_;
  std::unordered_map<std::string, Feed, NameHash, std::equal_to<>> feeds_;
  std::unordered_map<Request, Waiting> waiting_;
  std::vector<std::function<void()>> later_;  // run on the next prepare: never inside the call
  bool subscriptions_dirty_ = false;
  bool batch_open_ = false;  // something was delivered or answered since the last batch_end()
  uv_prepare_t* prepare_;    // deferred work, subscriptions; freed in its close callback
  uv_check_t* check_;        // batch_end(); freed in its close callback
  uv_timer_t* heartbeat_;    // every kHeartbeatMs; freed in its close callback
  std::string heartbeat_channel_;  // this broker's own pub/sub channel, outside the channels' namespace
  Request next_request_ = 1;
  Counters counters_;
  std::size_t metrics_slot_;
  std::uint64_t reconnects_counted_ = 0;
  enum class Availability { starting, up, down } availability_ = Availability::starting;
  bool closed_ = false;
};

}  // namespace tether
