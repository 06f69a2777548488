#include "worker/pubsub/redis_broker.h"

#include <hiredis/hiredis.h>

#include <charconv>
#include <optional>

#include "core/log.h"
#include "core/shared_metrics.h"
#include "core/wall_clock.h"
#include "worker/pubsub/redis_reply.h"
#include "worker/pubsub/redis_scripts.h"
#include "worker/pubsub/redis_shard.h"

namespace tether {

namespace {

constexpr const char* kScriptText[] = {redis_script::kPublish, redis_script::kHistory, redis_script::kInfo};

}  // namespace

RedisBrokerConfig RedisBrokerConfig::from(const PubsubConfig& pubsub) {
  const RedisConfig& r = pubsub.redis;
  return RedisBrokerConfig{r.addresses,         r.prefix,           r.username,        r.password,
                           r.db,                r.connect_timeout,  r.command_timeout, pubsub.history_size,
                           pubsub.history_ttl, pubsub.max_message_size};
}

RedisBroker::RedisBroker(uv_loop_t* loop, RedisBrokerConfig config, std::size_t metrics_slot)
    : loop_(loop),
      config_(std::move(config)),
      shards_(config_.addresses.size()),
      prepare_(new uv_prepare_t),
      check_(new uv_check_t),
      heartbeat_(new uv_timer_t),
      heartbeat_channel_(config_.prefix + ":~heartbeat~" + std::to_string(uv_hrtime()) + "-" + std::to_string(uv_os_getpid())),
      metrics_slot_(metrics_slot) {
  uv_prepare_init(loop_, prepare_);
  prepare_->data = this;
  uv_prepare_start(prepare_, on_prepare);
  uv_unref(reinterpret_cast<uv_handle_t*>(prepare_));
  uv_check_init(loop_, check_);
  check_->data = this;
  uv_check_start(check_, on_check);
  uv_unref(reinterpret_cast<uv_handle_t*>(check_));
  uv_timer_init(loop_, heartbeat_);
  heartbeat_->data = this;
  uv_timer_start(heartbeat_, on_heartbeat, kHeartbeatMs, kHeartbeatMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(heartbeat_));
  for (std::size_t i = 0; i < shards_.size(); ++i) {
    Shard& shard = shards_[i];
    RedisConnectionOptions options{config_.addresses[i], config_.username, config_.password, config_.db,
                                   config_.connect_timeout, config_.command_timeout, "command connection"};
    shard.commands = std::make_unique<RedisConnection>(
        loop_, options,
        RedisConnection::Events{[this, &shard] { on_commands_up(shard); }, [this] { connections_changed(); }, nullptr});
    options.name = "subscriber connection";
    shard.subscriber = std::make_unique<RedisConnection>(
        loop_, options,
        RedisConnection::Events{[this, &shard] { on_subscriber_up(shard); }, [this, &shard] { on_subscriber_lost(shard); },
                                [this, &shard](const redisReply* reply) { on_push(shard, reply); }});
  }
  // Started once all exist: a connect that fails inside the call reports at once, and the
  // report looks at every shard.
  for (Shard& shard : shards_) {
    shard.commands->start();
    shard.subscriber->start();
  }
}

RedisBroker::~RedisBroker() { close(); }

void RedisBroker::close() {
  if (closed_) return;
  closed_ = true;
  waiting_.clear();
  later_.clear();
  for (Shard& shard : shards_) {
    shard.publishes.clear();  // their callers are gone with waiting_
    shard.commands->close();
    shard.subscriber->close();
  }
  uv_close(reinterpret_cast<uv_handle_t*>(prepare_), [](uv_handle_t* h) { delete reinterpret_cast<uv_prepare_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(check_), [](uv_handle_t* h) { delete reinterpret_cast<uv_check_t*>(h); });
  uv_close(reinterpret_cast<uv_handle_t*>(heartbeat_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

bool RedisBroker::up() const {
  for (const Shard& shard : shards_)
    if (!shard.commands->up() || !shard.subscriber->up()) return false;
  return !shards_.empty();
}

std::string RedisBroker::problem() const {
  for (const Shard& shard : shards_)
    for (const RedisConnection* c : {shard.commands.get(), shard.subscriber.get()})
      if (!c->up()) return "redis " + c->address().to_string() + ": " + (c->last_error().empty() ? "connecting" : c->last_error());
  return {};
}

// One log line per change of the whole broker's availability (not per connection or attempt),
// and the worker's tether_broker_up.
void RedisBroker::connections_changed() {
  if (closed_) return;
  std::uint64_t reconnected = reconnects();
  shared_metrics().add(metrics_slot_, core_metrics().broker_reconnects, static_cast<std::int64_t>(reconnected - reconnects_counted_));
  reconnects_counted_ = reconnected;
  std::string why = problem();
  Availability now = why.empty() ? Availability::up : Availability::down;
  if (now == availability_) return;
  if (now == Availability::down && availability_ == Availability::starting) {
    for (const Shard& shard : shards_)  // a first connect still under way is no failure yet
      if (shard.commands->first_attempt_pending() || shard.subscriber->first_attempt_pending()) return;
  }
  if (now == Availability::up)
    LOG_NOTICE("redis broker: available (%zu shard%s)", shards_.size(), shards_.size() == 1 ? "" : "s");
  else
    LOG_WARN("redis broker: unavailable: %s", why.c_str());
  availability_ = now;
  shared_metrics().set(metrics_slot_, core_metrics().broker_up, now == Availability::up ? 1 : 0);
}

// Every publish answered (or failed) by Redis: its round trip, into the latency histogram.
void RedisBroker::observe_publish(std::uint64_t started_ns) {
  const CoreMetrics& m = core_metrics();
  std::uint64_t us = (uv_hrtime() - started_ns) / 1000;
  std::size_t bucket = 0;
  while (bucket < std::size(CoreMetrics::kPublishBucketsUs) && us > CoreMetrics::kPublishBucketsUs[bucket]) ++bucket;
  for (std::size_t i = bucket; i < CoreMetrics::kPublishBuckets; ++i) shared_metrics().add(metrics_slot_, m.broker_publish_seconds[i], 1);
  shared_metrics().add(metrics_slot_, m.broker_publish_seconds_count, 1);
}

void RedisBroker::count(std::uint64_t Counters::*counter, std::uint32_t metric, std::uint64_t n) {
  counters_.*counter += n;
  shared_metrics().add(metrics_slot_, metric, static_cast<std::int64_t>(n));
}

std::uint64_t RedisBroker::reconnects() const {
  std::uint64_t n = 0;
  for (const Shard& shard : shards_) n += shard.commands->reconnects() + shard.subscriber->reconnects();
  return n;
}

RedisBroker::Shard& RedisBroker::shard_of(std::string_view channel) {
  return shards_[redis_shard_of(channel, static_cast<std::uint32_t>(shards_.size()))];
}

// "{channel}" is a hash tag: a Redis Cluster would keep a channel's keys on one node.
std::string RedisBroker::meta_key(std::string_view channel) const {
  return config_.prefix + ":{" + std::string(channel) + "}:meta";
}
std::string RedisBroker::stream_key(std::string_view channel) const {
  return config_.prefix + ":{" + std::string(channel) + "}:history";
}
std::string RedisBroker::pubsub_channel(std::string_view channel) const {
  return config_.prefix + ":{" + std::string(channel) + "}";
}

// ---- scripts ----

void RedisBroker::on_commands_up(Shard& shard) {
  shard.heartbeat_sent_ms = 0;  // one sent on the lost connection never went out
  connections_changed();
  load_scripts(shard);
  for (auto& [name, feed] : feeds_)
    if (feed.fill_failed && &shards_[feed.shard] == &shard && !feed.filling) retry_read(name, feed);
}

void RedisBroker::load_scripts(Shard& shard) {
  for (int s = 0; s < 3; ++s) {
    std::string_view load[] = {"SCRIPT", "LOAD", kScriptText[s]};
    shard.commands->command(load, [&shard, s](const redisReply* reply) {
      if (!is_error(reply) && reply->type == REDIS_REPLY_STRING) shard.sha[s] = std::string(text_of(reply));
    });
  }
}

// EVALSHA once the script is loaded (EVAL before); a NOSCRIPT answer (SCRIPT FLUSH, a restarted
// Redis) runs it again with EVAL, which caches it on the server, and reloads its sha.
bool RedisBroker::run_script(Shard& shard, Script script, std::string_view channel, std::vector<std::string> args,
                             Reply on_reply) {
  auto call = std::make_shared<ScriptCall>(ScriptCall{script, {meta_key(channel), stream_key(channel)}});
  call->arguments.insert(call->arguments.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
  return send_script(shard, std::move(call), std::move(on_reply));
}

bool RedisBroker::send_script(Shard& shard, std::shared_ptr<const ScriptCall> call, Reply on_reply) {
  const std::string& sha = shard.sha[call->script];
  std::string keys = std::to_string(call->keys);
  std::vector<std::string_view> argv{sha.empty() ? "EVAL" : "EVALSHA", sha.empty() ? std::string_view(kScriptText[call->script]) : std::string_view(sha), keys};
  argv.insert(argv.end(), call->arguments.begin(), call->arguments.end());
  if (sha.empty()) return shard.commands->command(argv, std::move(on_reply));
  return shard.commands->command(argv, [this, &shard, call, on_reply = std::move(on_reply)](const redisReply* reply) {
    if (reply && reply->type == REDIS_REPLY_ERROR && text_of(reply).starts_with("NOSCRIPT")) {
      shard.sha[call->script].clear();
      load_scripts(shard);
      if (send_script(shard, call, on_reply)) return;
      reply = nullptr;
    }
    on_reply(reply);
  });
}

// ---- requests ----

void RedisBroker::later(std::function<void()> work) { later_.push_back(std::move(work)); }

// Redis cannot be asked now: the caller hears it on the next loop turn, never inside its call.
void RedisBroker::fail_later(Request request) {
  count(&Counters::errors, core_metrics().broker_errors);
  if (request == 0) return;
  later([this, request] {
    auto it = waiting_.find(request);
    if (it == waiting_.end()) return;
    Waiting waiting = std::move(it->second);
    waiting_.erase(it);
    batch_open_ = true;
    if (auto* p = std::get_if<PublishReply>(&waiting)) (*p)(PublishResult{BrokerError::unavailable, {}});
    else if (auto* h = std::get_if<HistoryReply>(&waiting)) (*h)(HistoryResult{HistoryResult::Status::unavailable, {}});
    else std::get<InfoReply>(waiting)(ChannelInfo{BrokerError::unavailable, 0, {}, 0});
  });
}

// Publishes go out once per loop turn and shard, as one script (send_publishes): a turn's
// publishes cost Redis one command, not one each.
RedisBroker::Request RedisBroker::publish(std::string_view channel, std::string_view data, PublishReply on_reply) {
  if (closed_) return 0;
  Request request = 0;
  if (on_reply) waiting_.emplace(request = next_request_++, std::move(on_reply));
  Shard& shard = shard_of(channel);
  shard.publishes.push_back(PendingPublish{request, std::string(channel), std::string(data), uv_hrtime()});
  shard.publish_bytes += channel.size() + data.size();
  if (shard.publishes.size() >= kMaxBatch || shard.publish_bytes >= kMaxBatchBytes) send_publishes(shard);
  return request;
}

void RedisBroker::send_all_publishes() {
  for (Shard& shard : shards_)
    if (!shard.publishes.empty()) send_publishes(shard);
}

void RedisBroker::send_publishes(Shard& shard) {
  std::vector<PendingPublish> batch;
  batch.swap(shard.publishes);
  shard.publish_bytes = 0;
  // history_ttl 0 keeps no history, as in the local broker; the hash outlives the stream by a day.
  std::uint64_t ttl = static_cast<std::uint64_t>(config_.history_ttl.count());
  std::uint64_t kept = ttl == 0 ? 0 : config_.history_size;
  std::uint64_t meta_ttl = ttl + kMetaTtlExtraMs;
  auto call = std::make_shared<ScriptCall>();
  call->script = kPublishScript;
  call->keys = 2 * batch.size();
  call->arguments.reserve(4 + 4 * batch.size());
  for (const PendingPublish& p : batch) {
    call->arguments.push_back(meta_key(p.channel));
    call->arguments.push_back(stream_key(p.channel));
  }
  for (std::uint64_t n : {kept, ttl == 0 ? meta_ttl : ttl, meta_ttl, unix_time_ms()}) call->arguments.push_back(std::to_string(n));
  for (PendingPublish& p : batch) {
    call->arguments.push_back(pubsub_channel(p.channel));
    call->arguments.push_back(std::move(p.data));
  }
  std::vector<std::pair<Request, std::uint64_t>> requests;
  requests.reserve(batch.size());
  for (const PendingPublish& p : batch) requests.emplace_back(p.request, p.started_ns);
  bool sent = send_script(shard, std::move(call), [this, requests](const redisReply* reply) {
    if (closed_) return;
    if (reply && reply->type == REDIS_REPLY_ERROR) LOG_ERROR("redis publish refused: %s", reply->str);
    for (std::size_t i = 0; i < requests.size(); ++i) {
      auto [request, started_ns] = requests[i];
      observe_publish(started_ns);
      const redisReply* answer = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == requests.size()
                                     ? element(reply, i) : nullptr;
      std::optional<MessageId> id = parse_published(answer);
      if (!id) {
        if (answer && text_of(answer).starts_with("!"))
          LOG_ERROR("redis publish refused: %.*s", static_cast<int>(text_of(answer).size() - 1), text_of(answer).data() + 1);
        fail_later(request);
        continue;
      }
      count(&Counters::published, core_metrics().broker_published);
      auto it = waiting_.find(request);
      if (it == waiting_.end()) continue;
      PublishReply on_reply = std::move(std::get<PublishReply>(it->second));
      waiting_.erase(it);
      batch_open_ = true;
      on_reply(PublishResult{BrokerError::none, *id});
    }
  });
  if (!sent)
    for (auto [request, started_ns] : requests) fail_later(request);
}

RedisBroker::Request RedisBroker::history(std::string_view channel, MessageId since, HistoryReply on_reply) {
  if (closed_) return 0;
  Request request = next_request_++;
  waiting_.emplace(request, std::move(on_reply));
  // The read starts early enough to also catch this worker up to the reply (on_history): at the
  // last offset it delivered when that is before `since`, at the start when `since` is from
  // another epoch.
  MessageId after = since;
  auto feed = feeds_.find(channel);
  if (feed != feeds_.end()) {
    ++feed->second.resumes;
    const MessageId& delivered = feed->second.delivered;
    if (feed->second.known)
      after = MessageId{delivered.epoch, since.epoch == delivered.epoch ? std::min(since.sequence, delivered.sequence) : 0};
  }
  read_history(request, std::string(channel), since, after);
  return request;
}

// One read of the stream for a resume, after `after` (on_history may read again from lower).
void RedisBroker::read_history(Request request, const std::string& channel, MessageId since, MessageId after) {
  bool sent = run_script(shard_of(channel), kHistoryScript, channel,
                         {std::to_string(after.epoch), std::to_string(after.sequence), "0"},
                         [this, request, channel, since, after](const redisReply* reply) {
                           on_history(request, channel, since, after, reply);
                         });
  if (!sent) {
    // As if Redis had answered with nothing: the feed stops holding on the next turn.
    later([this, request, channel, since, after] { on_history(request, channel, since, after, nullptr); });
  }
}

// Answers a resume. First this worker delivers, from the same read, whatever it had not yet
// delivered up to the read's end (the resuming subscriber still waits, so it skips them), so
// that the answer can hold everything after `since`: what was relayed before the answer is in
// it, and every live message after it is newer (held ones up to there are dropped as had).
void RedisBroker::on_history(Request request, const std::string& channel, MessageId since, MessageId after,
                             const redisReply* reply) {
  if (closed_) return;
  auto feed_it = feeds_.find(channel);
  Feed* feed = feed_it == feeds_.end() ? nullptr : &feed_it->second;
  if (feed && feed->resumes > 0) --feed->resumes;
  RedisStreamRead read;
  bool ok = read.parse(channel, reply);
  // The read started at `since`, nothing being delivered here then, but another resume's answer
  // has since made the feed known below that: what lies between would come live after this
  // answer, a second time for this resumer. Read again from the last delivered offset.
  if (ok && feed && feed->known && read.exists && feed->delivered.epoch == read.epoch && after.epoch == read.epoch &&
      after.sequence > feed->delivered.sequence) {
    ++feed->resumes;
    read_history(request, channel, since, feed->delivered);
    return;
  }
  bool same_epoch = ok && read.exists && since.epoch == read.epoch;
  HistoryResult result{HistoryResult::Status::unavailable, {}};
  if (ok) {
    if (feed && read.exists && feed->known && feed->delivered.epoch != read.epoch) {
      // Live subscribers here had an older epoch (or were told of a loss): all of this one is
      // new to them (the read, from another epoch, holds all of it).
      start_epoch(feed_it->first, *feed, read.epoch);
    } else if (feed && read.exists && !feed->known) {
      // Nothing delivered here yet: live subscribers are owed what came after the channel's
      // position (or the first held live message's predecessor), else after the read's top. A
      // read that started above that (at `since`) is made again from there.
      std::uint64_t base = read.top;
      if (feed->positioned && feed->delivered.epoch == read.epoch) base = std::min(base, feed->delivered.sequence);
      if (!feed->held.empty() && feed->held.front().id.epoch == read.epoch)
        base = std::min(base, feed->held.front().id.sequence - 1);
      if (after.epoch == read.epoch && base < after.sequence) {
        ++feed->resumes;
        read_history(request, channel, since, MessageId{read.epoch, base});
        return;
      }
      feed->known = true;
      feed->delivered = MessageId{read.epoch, base};
    }
    if (feed && feed->known) catch_up(feed_it->first, *feed, read.entries, false);
    std::span<const BrokerMessage> messages(read.entries);
    if (same_epoch) {
      std::size_t skip = 0;
      while (skip < messages.size() && messages[skip].id.sequence <= since.sequence) ++skip;
      messages = messages.subspan(skip);
    }
    // Complete when nothing after `since` is missing from the stream: all of it was kept.
    bool complete = same_epoch && since.sequence <= read.top &&
                    (since.sequence == read.top || (read.first != 0 && read.first <= since.sequence + 1));
    result = HistoryResult{complete ? HistoryResult::Status::complete : HistoryResult::Status::gap, messages};
  } else {
    if (reply && reply->type == REDIS_REPLY_ERROR) LOG_ERROR("redis history refused: %s", reply->str);
    count(&Counters::errors, core_metrics().broker_errors);
  }
  auto it = waiting_.find(request);
  if (it != waiting_.end()) {
    HistoryReply answer = std::move(std::get<HistoryReply>(it->second));
    waiting_.erase(it);
    batch_open_ = true;
    answer(result);
  }
  feed_it = feeds_.find(channel);  // the answer may have changed the feeds
  if (feed_it != feeds_.end()) release_held(feed_it->first, feed_it->second);
}

RedisBroker::Request RedisBroker::info(std::string_view channel, InfoReply on_reply) {
  if (closed_) return 0;
  Request request = next_request_++;
  waiting_.emplace(request, std::move(on_reply));
  std::string name(channel);
  bool sent = run_script(shard_of(channel), kInfoScript, channel, {}, [this, request, name](const redisReply* reply) {
    if (closed_) return;
    std::optional<RedisChannelState> state = parse_channel_state(reply);
    if (!state) {
      fail_later(request);
      return;
    }
    auto it = waiting_.find(request);
    if (it == waiting_.end()) return;
    InfoReply answer = std::move(std::get<InfoReply>(it->second));
    waiting_.erase(it);
    auto feed = feeds_.find(name);
    // Subscribers: this worker's only (the other workers and nodes do not report theirs).
    std::uint64_t subscribers = feed == feeds_.end() ? 0 : feed->second.subscribers;
    batch_open_ = true;
    answer(ChannelInfo{BrokerError::none, subscribers, MessageId{state->epoch, state->top}, state->length});
  });
  if (!sent) fail_later(request);
  return request;
}

// ---- subscriptions ----

void RedisBroker::set_subscribers(std::string_view channel, std::uint64_t count) {
  if (closed_) return;
  auto it = feeds_.find(channel);
  if (it == feeds_.end()) {
    if (count == 0) return;
    it = feeds_.emplace(std::string(channel), Feed{}).first;
    it->second.shard = redis_shard_of(channel, static_cast<std::uint32_t>(shards_.size()));
  }
  bool was_wanted = it->second.subscribers > 0;
  it->second.subscribers = count;
  if (was_wanted != (count > 0)) subscriptions_dirty_ = true;
}

// Once per loop turn: one SUBSCRIBE and one UNSUBSCRIBE per shard for every change of interest;
// feeds nobody wants any more are forgotten once nothing waits on them.
void RedisBroker::flush_subscriptions() {
  subscriptions_dirty_ = false;
  std::vector<std::vector<std::string>> subscribe(shards_.size()), unsubscribe(shards_.size());
  for (auto it = feeds_.begin(); it != feeds_.end();) {
    Feed& feed = it->second;
    bool wanted = feed.subscribers > 0;
    if (wanted && !feed.subscribe_sent) subscribe[feed.shard].push_back(pubsub_channel(it->first));
    if (!wanted && feed.subscribe_sent) unsubscribe[feed.shard].push_back(pubsub_channel(it->first));
    feed.subscribe_sent = wanted;  // corrected below if it cannot be sent
    if (!wanted && feed.resumes == 0 && !feed.filling) it = feeds_.erase(it);
    else ++it;
  }
  for (std::size_t s = 0; s < shards_.size(); ++s) {
    for (auto* names : {&subscribe[s], &unsubscribe[s]}) {
      if (names->empty()) continue;
      std::vector<std::string_view> argv{names == &subscribe[s] ? "SUBSCRIBE" : "UNSUBSCRIBE"};
      argv.insert(argv.end(), names->begin(), names->end());
      if (shards_[s].subscriber->subscription(argv) || names != &subscribe[s]) continue;
      for (auto& [name, feed] : feeds_)  // sent again when the connection is up
        if (feed.shard == static_cast<std::uint32_t>(s)) feed.subscribe_sent = false;
    }
  }
}

// A lost subscriber connection took its subscriptions along: the next one (flushed once it is
// up) subscribes again to every channel wanted on this shard, and each confirmation then reads
// what was missed meanwhile (on_subscribed).
void RedisBroker::on_subscriber_up(Shard& shard) {
  std::string_view subscribe[] = {"SUBSCRIBE", heartbeat_channel_};
  shard.subscriber->subscription(subscribe);
  shard.heartbeat_sent_ms = 0;
  subscriptions_dirty_ = true;
  connections_changed();
}

void RedisBroker::on_subscriber_lost(Shard& shard) {
  shard.heartbeat_sent_ms = 0;
  connections_changed();
  for (auto& [name, feed] : feeds_)
    if (&shards_[feed.shard] == &shard) feed.subscribe_sent = false;
  subscriptions_dirty_ = true;
}

// Subscribed in Redis: from here on pub/sub relays the channel. A channel this worker already
// followed reads what it missed meanwhile; a new one first learns where the channel stands, so
// that a message lost from now on (an offset jump, a Redis that lost the channel) is noticed.
void RedisBroker::on_subscribed(std::string_view channel) {
  auto it = feeds_.find(channel);
  if (it == feeds_.end() || it->second.subscribers == 0) return;
  Feed& feed = it->second;
  if (feed.filling) {  // that read may have run before what was missed: read again after it
    feed.read_again = true;
    return;
  }
  if (!feed.known && feed.positioned) feed.known = true;  // resubscribed: read on from the position
  if (feed.known) start_fill(it->first, feed);
  else start_position(it->first, feed);
}

// Pushes of the subscriber connection: ["message", channel, payload], ["subscribe", channel, n],
// ["unsubscribe", channel, n].
void RedisBroker::on_push(Shard& shard, const redisReply* reply) {
  if (closed_) return;
  std::string_view kind = text_of(element(reply, 0));
  if (kind == "message" && text_of(element(reply, 1)) == heartbeat_channel_) {
    shard.heartbeat_sent_ms = 0;
    return;
  }
  std::optional<std::string_view> channel = channel_in(config_.prefix, text_of(element(reply, 1)));
  if (!channel) return;
  if (kind == "subscribe") {
    on_subscribed(*channel);
    return;
  }
  if (kind != "message") return;
  std::optional<RedisRelayed> m = parse_relayed(text_of(element(reply, 2)));
  if (!m || m->data.size() > config_.max_message_size) {
    count(&Counters::refused, core_metrics().broker_refused);
    return;
  }
  count(&Counters::received, core_metrics().broker_received);
  auto it = feeds_.find(*channel);
  if (it == feeds_.end() || it->second.subscribers == 0) return;
  accept(it->first, it->second, m->id, m->time_ms, m->data);
}

// Each shard's heartbeat: the last one must have come back through pub/sub within
// command_timeout, else the subscriber connection is made again; then the next one goes out.
void RedisBroker::on_heartbeat(uv_timer_t* timer) {
  auto& self = *static_cast<RedisBroker*>(timer->data);
  std::uint64_t now = uv_now(self.loop_);
  auto timeout = static_cast<std::uint64_t>(self.config_.command_timeout.count());
  for (Shard& shard : self.shards_) {
    if (!shard.subscriber->up() || !shard.commands->up()) continue;
    if (shard.heartbeat_sent_ms != 0) {
      if (now - shard.heartbeat_sent_ms >= timeout) shard.subscriber->reset("no heartbeat through pub/sub");
      continue;  // a slow one: give it until the next tick
    }
    std::string_view publish[] = {"PUBLISH", self.heartbeat_channel_, "1"};
    if (shard.commands->command(publish, [](const redisReply*) {})) shard.heartbeat_sent_ms = now;
  }
}

// After the loop's I/O of a turn: the end of the batch its replies and messages made.
// What this turn asked of Redis goes out first, so that a long flush to subscribers does not
// hold it back (publish answers would wait a turn longer, and fewer publishes be in flight).
void RedisBroker::on_check(uv_check_t* check) {
  auto& self = *static_cast<RedisBroker*>(check->data);
  self.send_all_publishes();
  for (Shard& shard : self.shards_) {
    shard.commands->send_now();
    shard.subscriber->send_now();
  }
  if (self.batch_open_) {
    self.batch_open_ = false;
    if (self.delivery_) self.delivery_->batch_end();
  }
}

// Before the loop waits: what was deferred to a later turn, and the subscription changes.
void RedisBroker::on_prepare(uv_prepare_t* prepare) {
  auto& self = *static_cast<RedisBroker*>(prepare->data);
  while (!self.later_.empty()) {
    std::vector<std::function<void()>> work;
    work.swap(self.later_);
    for (auto& w : work) w();
  }
  if (self.subscriptions_dirty_) self.flush_subscriptions();
  self.send_all_publishes();  // made by this turn's timers and deferred work
  if (self.batch_open_) {
    self.batch_open_ = false;
    if (self.delivery_) self.delivery_->batch_end();
  }
}

}  // namespace tether
