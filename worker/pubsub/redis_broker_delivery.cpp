// In-order delivery per channel for the Redis broker (redis_broker.h): live messages from
// pub/sub go to the hub in offset order; an offset jump, or a resubscription, reads what is
// missing from the channel's stream first, holding the live messages that arrive meanwhile.
#include <hiredis/hiredis.h>

#include <algorithm>

#include "core/log.h"
#include "core/shared_metrics.h"
#include "worker/pubsub/redis_broker.h"
#include "worker/pubsub/redis_reply.h"

namespace tether {

// One live message: delivered if it is the next offset, skipped if already delivered, held if
// a hole is being filled or a resume answered. An offset jump, or another epoch, is a hole: the
// stream's read decides what it was (anyone who can PUBLISH on the Redis can send anything, so
// a message is never taken on its word alone to move a channel on).
void RedisBroker::accept(std::string_view channel, Feed& feed, MessageId id, std::uint64_t time_ms, std::string_view data) {
  if (feed.resumes > 0 || feed.filling || feed.fill_failed) {
    hold(feed, id, time_ms, data);
    if (feed.fill_failed && !feed.filling) retry_read(std::string(channel), feed);
    return;
  }
  if ((!feed.known && !start_from(feed, id)) || id.epoch != feed.delivered.epoch ||
      (id.sequence > feed.delivered.sequence && id.sequence - feed.delivered.sequence > 1)) {
    hold(feed, id, time_ms, data);
    start_fill(std::string(channel), feed);
    return;
  }
  if (id.sequence <= feed.delivered.sequence) return;  // had it (from a fill or a resume)
  feed.delivered = id;
  deliver(channel, id, time_ms, data);
}

// A read that got no usable answer, again: where the channel stands if that is still unknown,
// else the hole.
void RedisBroker::retry_read(const std::string& channel, Feed& feed) {
  if (feed.known) start_fill(channel, feed);
  else start_position(channel, feed);
}

// Where delivery starts at the first live message of a newly followed channel. Everything
// pub/sub relays after the SUBSCRIBE is owed, so the message itself starts it if it fits where
// the channel stood (the position read after the SUBSCRIBE). One that does not (past it, or of
// another epoch) is forged, or pub/sub lost what came before it: false, and the stream's read
// from the position settles which (on_fill).
bool RedisBroker::start_from(Feed& feed, MessageId first) {
  const MessageId floor = feed.delivered;  // with `positioned`
  bool fits = !feed.positioned || (floor.epoch == 0 ? first.sequence == 1
                                                     : first.epoch == floor.epoch && first.sequence <= floor.sequence + 1);
  if (!fits) {
    feed.unfit = first;
    return false;
  }
  feed.known = true;
  feed.delivered = MessageId{first.epoch, first.sequence - 1};
  return true;
}

// Bounded: past the bound the oldest held messages go, and the fill reads them from the stream
// (it starts at the last delivered offset and ends before the first held one).
void RedisBroker::hold(Feed& feed, MessageId id, std::uint64_t time_ms, std::string_view data) {
  feed.held.push_back(HeldMessage{id, time_ms, std::string(data)});
  if (feed.held.size() <= kMaxHeld) return;
  feed.held.pop_front();
  if (feed.held_before_read > 0) --feed.held_before_read;
}

void RedisBroker::start_fill(const std::string& channel, Feed& feed) {
  feed.filling = true;
  feed.fill_failed = false;
  feed.held_before_read = feed.held.size();
  // A hole ends before the first held message; after a resubscription nothing bounds it.
  MessageId after = feed.delivered;
  std::uint64_t last = feed.held.empty() ? 0 : feed.held.front().id.sequence - 1;
  feed.fill_end = last;
  bool sent = run_script(shards_[feed.shard], kHistoryScript, channel,
                         {std::to_string(after.epoch), std::to_string(after.sequence), std::to_string(last)},
                         [this, channel](const redisReply* reply) { on_fill(channel, reply); });
  if (!sent) later([this, channel] { on_fill(channel, nullptr); });
}

// Where a newly followed channel stands (the info script: epoch, top), read once its SUBSCRIBE
// is confirmed; live messages are held meanwhile. It bounds where the first message may start
// delivery (start_from), and serves a channel that had no message yet when the subscriber
// connection is lost: the resubscription reads from it, so a loss (a Redis restarted without
// its data) is noticed and said.
void RedisBroker::start_position(const std::string& channel, Feed& feed) {
  feed.filling = true;
  feed.fill_failed = false;
  feed.held_before_read = feed.held.size();
  bool sent = run_script(shards_[feed.shard], kInfoScript, channel, {},
                         [this, channel](const redisReply* reply) { on_position(channel, reply); });
  if (!sent) later([this, channel] { on_position(channel, nullptr); });
}

// Without an answer live messages keep waiting (no first message is taken on its word), and
// the read is made again when the command connection is back or the next message comes.
void RedisBroker::on_position(const std::string& channel, const redisReply* reply) {
  if (closed_) return;
  auto it = feeds_.find(channel);
  if (it == feeds_.end()) return;
  Feed& feed = it->second;
  feed.filling = false;
  std::optional<RedisChannelState> state = parse_channel_state(reply);
  if (feed.known) {
    // A resume's answer placed the channel meanwhile, from a read that may have run before the
    // SUBSCRIBE took effect: what was published between the two never comes through pub/sub.
    // Unless the position shows nothing past the last delivered offset, the stream is read
    // from there (and without a position, it is read to be sure).
    if (!state || state->epoch != feed.delivered.epoch || state->top > feed.delivered.sequence) {
      start_fill(it->first, feed);
      return;
    }
  } else if (!state) {
    feed.fill_failed = true;
    return;
  } else {
    // Epoch 0: no such channel yet, so every offset of the epoch that starts it is owed.
    feed.positioned = true;
    feed.delivered = MessageId{state->epoch, state->epoch == 0 ? 0 : state->top};
  }
  if (read_again_after(it->first, feed)) return;
  release_held(it->first, feed);
}

// A resubscription came while a read was in flight: that read may have run before what the
// subscriber connection missed, so the hole is read again (live messages keep waiting).
bool RedisBroker::read_again_after(const std::string& channel, Feed& feed) {
  if (!feed.read_again || feed.subscribers == 0) return false;
  feed.read_again = false;
  if (!feed.known && feed.positioned) feed.known = true;
  if (!feed.known) return false;
  start_fill(channel, feed);
  return true;
}

// The stream's answer for a hole: deliver what follows the last delivered offset, then the
// held live messages. Without an answer the held ones wait for the command connection.
void RedisBroker::on_fill(const std::string& channel, const redisReply* reply) {
  if (closed_) return;
  auto it = feeds_.find(channel);
  if (it == feeds_.end()) return;
  Feed& feed = it->second;
  feed.filling = false;
  RedisStreamRead read;
  if (!read.parse(it->first, reply)) {
    // No answer (the connection is down: retried when it is back), or one no script makes (the
    // keys were written by someone else): live messages wait, and each retries the read.
    if (reply && !feed.fill_failed)
      LOG_WARN("redis channel %s: the stream's answer is not the history script's (%s): its messages wait", channel.c_str(),
               is_error(reply) ? reply->str : "keys written by another program?");
    feed.fill_failed = true;
    return;
  }
  // Redis lost the channel (restarted without persistence, flushed, expired): the read, if
  // any, is of its next epoch, all of it new here.
  drop_forged(it->first, feed, read);
  // A first message that did not fit and is no forgery: pub/sub lost what came before it, and
  // everything after the position is owed.
  if (!feed.known && !feed.held.empty() && feed.held.front().id.epoch == feed.unfit.epoch &&
      feed.held.front().id.sequence == feed.unfit.sequence)
    feed.known = true;
  if (feed.known) {
    if (!read.exists || read.epoch != feed.delivered.epoch) start_epoch(it->first, feed, read.exists ? read.epoch : 0);
    catch_up(it->first, feed, read.entries, true);
    // What the hole spanned and the stream no longer has (none kept, trimmed, expired) is lost:
    // said once, and delivery goes on after it.
    std::uint64_t end = feed.fill_end == 0 ? read.top : std::min(read.top, feed.fill_end);
    if (read.exists && read.epoch == feed.delivered.epoch && feed.delivered.sequence < end) {
      lose(it->first, feed, end);
      feed.delivered.sequence = end;
    }
  }
  if (read_again_after(it->first, feed)) return;
  release_held(it->first, feed);
}

// A live message that came before the read was sent was published before it ran: the publish
// script raises the channel's top, in its epoch, before it PUBLISHes. One that the read does
// not account for (another epoch, beyond the top, a channel Redis does not have) never came
// from the script: it is dropped, rather than filled as a hole again and again.
void RedisBroker::drop_forged(std::string_view channel, Feed& feed, const RedisStreamRead& read) {
  std::size_t before = std::min(feed.held_before_read, feed.held.size());
  feed.held_before_read = 0;
  auto is_forged = [&](const HeldMessage& m) {
    return !read.exists || m.id.epoch != read.epoch || m.id.sequence > read.top;
  };
  auto end = feed.held.begin() + static_cast<std::ptrdiff_t>(before);
  auto kept_end = std::remove_if(feed.held.begin(), end, is_forged);
  auto forged = static_cast<std::size_t>(end - kept_end);
  if (forged == 0) return;
  feed.held.erase(kept_end, end);
  count(&Counters::refused, core_metrics().broker_refused, forged);
  LOG_WARN("redis channel %.*s: %zu relayed message%s no publish made (another epoch, or past the top): dropped",
           static_cast<int>(channel.size()), channel.data(), forged, forged == 1 ? "" : "s");
}

// Delivers what a stream read holds after the last delivered offset, saying so when some of
// it is no longer there. `recovered`: the read fills a hole pub/sub left.
void RedisBroker::catch_up(std::string_view channel, Feed& feed, std::span<const BrokerMessage> entries, bool recovered) {
  for (const BrokerMessage& m : entries) {
    if (m.id.epoch != feed.delivered.epoch || m.id.sequence <= feed.delivered.sequence) continue;
    if (m.id.sequence != feed.delivered.sequence + 1) lose(channel, feed, m.id.sequence - 1);
    if (recovered) count(&Counters::recovered, core_metrics().broker_recovered);
    feed.delivered = m.id;
    deliver(channel, m.id, m.time_ms, m.data);
  }
}

// The channel's state in Redis is gone and `epoch` (0: not yet known) follows: the live
// subscribers hear of the loss once, unless this worker never delivered anything of it.
void RedisBroker::start_epoch(std::string_view channel, Feed& feed, std::uint32_t epoch) {
  MessageId last = feed.delivered;
  feed.delivered = MessageId{epoch, 0};
  if (last.epoch == 0) return;  // nothing delivered since the last loss: already told
  LOG_WARN("redis channel %.*s: Redis lost its messages after %s (new epoch %08x)", static_cast<int>(channel.size()),
           channel.data(), last.to_string().c_str(), epoch);
  if (delivery_) delivery_->gap(channel, last);
  batch_open_ = true;
}

// Offsets after the last delivered up to `last_lost` are in neither pub/sub nor the stream.
void RedisBroker::lose(std::string_view channel, Feed& feed, std::uint64_t last_lost) {
  count(&Counters::lost, core_metrics().broker_lost, last_lost - feed.delivered.sequence);
  LOG_WARN("redis channel %.*s: offsets %llu to %llu are lost (the stream no longer holds them)",
           static_cast<int>(channel.size()), channel.data(), static_cast<unsigned long long>(feed.delivered.sequence + 1),
           static_cast<unsigned long long>(last_lost));
  if (delivery_) delivery_->gap(channel, feed.delivered);
  batch_open_ = true;
}

void RedisBroker::release_held(std::string_view channel, Feed& feed) {
  if (feed.resumes > 0 || feed.filling || feed.fill_failed) return;
  if (feed.subscribers == 0) {  // kept only for a read that is over: forgotten on the next turn
    feed.held.clear();
    subscriptions_dirty_ = true;
    return;
  }
  std::deque<HeldMessage> held;
  held.swap(feed.held);
  while (!held.empty()) {
    HeldMessage m = std::move(held.front());
    held.pop_front();
    accept(channel, feed, m.id, m.time_ms, m.data);
    if (feed.filling) {  // another hole: the rest waits behind it, in order
      feed.held.insert(feed.held.end(), std::make_move_iterator(held.begin()), std::make_move_iterator(held.end()));
      return;
    }
  }
}

void RedisBroker::deliver(std::string_view channel, MessageId id, std::uint64_t time_ms, std::string_view data) {
  batch_open_ = true;
  if (delivery_) delivery_->deliver(BrokerMessage{channel, id, time_ms, data});
}

}  // namespace tether
