#include "worker/pubsub/pubsub_hub.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "core/log.h"
#include "core/shared_metrics.h"

namespace tether {
namespace {

// The worker counts as saturated with deliveries when its flush rounds take more than a quarter of
// the time between them (and are not trivially short); the next batch then gathers for
// kCoalesceMs before it goes out. Below that load every batch goes out at once.
constexpr std::uint64_t kMinBusyNs = 200'000;
constexpr std::uint64_t kCoalesceMs = 1;

tether_message message_view(std::string_view channel, const std::string& id, std::string_view data, std::uint64_t time_ms) {
  tether_message m{};
  m.size = sizeof m;
  m.channel = channel.data();
  m.channel_length = channel.size();
  m.id = id.data();
  m.id_length = id.size();
  m.data = data.data();
  m.data_length = data.size();
  m.published_ms = time_ms;
  return m;
}

}  // namespace

PubsubHub::PubsubHub(uv_loop_t* loop, std::unique_ptr<Broker> broker, const PubsubConfig& config, unsigned slot,
                     std::size_t metrics_slot)
    : config_(config), broker_(std::move(broker)), metrics_slot_(metrics_slot) {
  broker_->set_delivery(this);
  flush_timer_ = new uv_timer_t;
  uv_timer_init(loop, flush_timer_);
  flush_timer_->data = this;
  subscribers_metric_ = shared_metrics().register_metric("tether_subscribers", "worker=\"" + std::to_string(slot) + "\"",
                                                         "Channel subscriptions held, by worker slot.", MetricType::gauge);
}

PubsubHub::~PubsubHub() {
  close();
  broker_->set_delivery(nullptr);
}

void PubsubHub::close() {
  broker_->close();
  if (!flush_timer_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(flush_timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  flush_timer_ = nullptr;
}

Feed* PubsubHub::create_feed(const tether_feed_format& format) {
  auto feed = std::make_unique<Feed>();
  std::memcpy(&feed->format, &format, std::min(format.size, sizeof(tether_feed_format)));
  feed->format.size = sizeof(tether_feed_format);
  if (!feed->format.encode_message) return nullptr;
  feed->index = feeds_.size();
  feeds_.push_back(std::move(feed));
  return feeds_.back().get();
}

PublishCheck PubsubHub::publish(std::string_view channel, std::string_view data, Broker::PublishReply on_reply,
                                Broker::Request* request) {
  if (const char* problem = channel_name_problem(channel)) return {PublishCheck::invalid_channel, problem};
  if (data.size() > config_.max_message_size) return {PublishCheck::too_large};
  shared_metrics().add(metrics_slot_, core_metrics().messages_published, 1);
  Broker::Request sent = broker_->publish(channel, data, std::move(on_reply));
  if (request) *request = sent;
  return {PublishCheck::accepted};
}

int PubsubHub::subscribe(FrameSink* sink, Feed& feed, std::string_view name, std::optional<std::string_view> since) {
  if (!sink || channel_name_problem(name) || !sink->takes_frames()) return TETHER_ERROR;
  std::uint64_t held = 0;
  for (const Subscription& s : sink->subscriptions_) {
    if (s.channel->name == name) return TETHER_OK;  // already subscribed
    ++held;
  }
  // Whatever module asks: one connection cannot make the worker (and the broker) keep channels
  // without bound.
  if (held >= config_.max_subscriptions) return TETHER_ERROR;
  auto& slot = channels_[std::string(name)];
  if (!slot) {
    slot = std::make_unique<HubChannel>();
    slot->name = std::string(name);
  }
  HubChannel& channel = *slot;
  auto* s = new Subscription;
  s->channel = &channel;
  s->sink = sink;
  s->feed = &feed;
  channel.subscribers.push_front(*s);
  sink->subscriptions_.push_front(*s);
  broker_->set_subscribers(channel.name, channel.subscribers.size());
  shared_metrics().add(metrics_slot_, subscribers_metric_, 1);
  if (since) {
    // An id we cannot read is from no epoch of ours: the broker answers with a gap.
    MessageId from = MessageId::parse(*since).value_or(MessageId{});
    s->history_request = broker_->history(name, from, [this, s, from](const HistoryResult& reply) { resume(*s, from, reply); });
  }
  return TETHER_OK;
}

void PubsubHub::stream_closed(FrameSink& sink) {
  while (Subscription* s = sink.subscriptions_.pop_front()) unlink(s);
  if (sink.flush_scheduled_) {
    sink.flush_scheduled_ = false;
    std::replace(to_flush_.begin(), to_flush_.end(), &sink, static_cast<FrameSink*>(nullptr));
  }
}

void PubsubHub::unlink(Subscription* s) {
  HubChannel& channel = *s->channel;
  channel.subscribers.remove(*s);
  if (s->history_request) broker_->cancel(s->history_request);
  shared_metrics().add(metrics_slot_, subscribers_metric_, -1);
  broker_->set_subscribers(channel.name, channel.subscribers.size());
  delete s;
  if (channel.subscribers.empty()) channels_.erase(channel.name);
}

// A message relayed by the broker: encoded once per feed, the same frame for every subscriber.
void PubsubHub::deliver(const BrokerMessage& m) {
  auto it = channels_.find(std::string(m.channel));
  if (it == channels_.end()) return;
  std::string id = m.id.to_string();
  tether_message message = message_view(m.channel, id, m.data, m.time_ms);
  struct Encoded {
    FrameRef raw;
    FrameRef chunked;
    bool tried = false;
  };
  std::vector<Encoded> encoded(feeds_.size());
  HubChannel& channel = *it->second;
  ++channel.messages;
  std::int64_t queued = 0;
  // A queue overflow may end the stream, unsubscribing `s` (and, with the channel's last
  // subscriber, freeing the channel): for_each holds the next one first.
  channel.subscribers.for_each([&](Subscription& s) {
    if (s.history_request != 0) return;
    Encoded& e = encoded[s.feed->index];
    if (!e.tried) {
      e.tried = true;
      e.raw = encode(*s.feed, message, false);
    }
    bool chunked = s.sink->chunked();
    if (chunked && !e.chunked && e.raw) e.chunked = chunk_frame(e.raw.view());
    const FrameRef& f = chunked ? e.chunked : e.raw;
    if (f) {
      FrameSink& sink = *s.sink;
      if (sink.queue_frame(f)) touch(sink);
      ++queued;
    }
  });
  shared_metrics().add(metrics_slot_, core_metrics().messages_out, queued);
}

// The history a resuming subscriber asked for: a GAP notice if some is lost (or the broker
// cannot say), then the messages.
void PubsubHub::resume(Subscription& s, MessageId since_id, const HistoryResult& reply) {
  s.history_request = 0;
  // A queue overflow below may end the stream, freeing `s` and the sink: keep what is needed,
  // and touch the sink no more once it said it takes no more frames.
  FrameSink& sink = *s.sink;
  Feed& feed = *s.feed;
  std::string channel = s.channel->name;
  bool chunked = sink.chunked();
  bool open = true;
  if (reply.status != HistoryResult::Status::complete) open = queue_gap(sink, feed, channel, since_id);
  std::int64_t queued = 0;
  for (const BrokerMessage& m : reply.messages) {
    if (!open) break;
    std::string id = m.id.to_string();
    if (FrameRef f = encode(feed, message_view(channel, id, m.data, m.time_ms), chunked)) {
      open = sink.queue_frame(f);
      ++queued;
    }
  }
  shared_metrics().add(metrics_slot_, core_metrics().messages_out, queued);
  if (open) touch(sink);
}

FrameRef PubsubHub::gap_notice(Feed& feed, std::string_view channel, MessageId since, bool chunked) {
  std::string id = since.to_string();
  tether_notice notice{};
  notice.size = sizeof notice;
  notice.kind = TETHER_NOTICE_GAP;
  notice.channel = channel.data();
  notice.channel_length = channel.size();
  notice.since = id.data();
  notice.since_length = id.size();
  return encode_notice(feed, notice, chunked);
}

bool PubsubHub::queue_gap(FrameSink& sink, Feed& feed, std::string_view channel, MessageId since) {
  FrameRef f = gap_notice(feed, channel, since, sink.chunked());
  return !f || sink.queue_frame(f);
}

// Live subscribers hear of the loss; those waiting for history learn it from their reply.
void PubsubHub::gap(std::string_view channel_name, MessageId since) {
  auto it = channels_.find(std::string(channel_name));
  if (it == channels_.end()) return;
  // Encoded once per feed (and framing), as deliver() encodes a message: the notice is the same
  // for every subscriber, and a feed's encoder may be costly (a compressing one).
  struct Encoded {
    FrameRef raw;
    FrameRef chunked;
    bool tried_raw = false;
    bool tried_chunked = false;
  };
  std::vector<Encoded> encoded(feeds_.size());
  it->second->subscribers.for_each([&](Subscription& s) {
    if (s.history_request != 0) return;
    FrameSink& sink = *s.sink;
    Encoded& e = encoded[s.feed->index];
    bool chunked = sink.chunked();
    bool& tried = chunked ? e.tried_chunked : e.tried_raw;
    FrameRef& f = chunked ? e.chunked : e.raw;
    if (!tried) {
      tried = true;
      f = gap_notice(*s.feed, channel_name, since, chunked);
    }
    if (!f || sink.queue_frame(f)) touch(sink);
  });
}

// A pass over the channels with a bounded heap: a second's work for a status page costs this
// worker O(channels) once a second, whatever the number of subscribers.
std::vector<ChannelLoad> PubsubHub::busiest_channels(std::size_t limit) const {
  auto busier = [](const HubChannel* a, const HubChannel* b) {
    return tether::busier(a->subscribers.size(), a->messages, a->name, b->subscribers.size(), b->messages, b->name);
  };
  std::vector<const HubChannel*> heap;  // the `limit` busiest so far, the least busy on top
  if (limit == 0) return {};
  for (const auto& [name, channel] : channels_) {
    if (heap.size() == limit && !busier(channel.get(), heap.front())) continue;
    if (heap.size() == limit) {
      std::pop_heap(heap.begin(), heap.end(), busier);
      heap.pop_back();
    }
    heap.push_back(channel.get());
    std::push_heap(heap.begin(), heap.end(), busier);
  }
  std::sort_heap(heap.begin(), heap.end(), busier);
  std::vector<ChannelLoad> busiest;
  for (const HubChannel* c : heap) busiest.push_back(ChannelLoad{c->name, c->subscribers.size(), c->messages});
  return busiest;
}

FrameRef PubsubHub::dropped_notice(const FrameSink& sink, std::uint64_t count) {
  Subscription* s = sink.subscriptions_.front();
  if (!s) return {};
  tether_notice notice{};
  notice.size = sizeof notice;
  notice.kind = TETHER_NOTICE_DROPPED;
  notice.channel = "";
  notice.since = "";
  notice.count = count;
  return encode_notice(*s->feed, notice, sink.chunked());
}

FrameRef PubsubHub::encode(Feed& feed, const tether_message& message, bool chunked) {
  tether_buffer out;
  if (feed.format.encode_message(feed.format.user, &message, &out) != TETHER_OK || out.failed || out.bytes.empty())
    return {};
  return chunked ? chunk_frame(out.bytes) : FrameRef::copy_of(out.bytes);
}

FrameRef PubsubHub::encode_notice(Feed& feed, const tether_notice& notice, bool chunked) {
  if (!feed.format.encode_notice) return {};
  tether_buffer out;
  if (feed.format.encode_notice(feed.format.user, &notice, &out) != TETHER_OK || out.failed || out.bytes.empty())
    return {};
  return chunked ? chunk_frame(out.bytes) : FrameRef::copy_of(out.bytes);
}

void PubsubHub::touch(FrameSink& sink) {
  if (sink.flush_scheduled_) return;
  sink.flush_scheduled_ = true;
  to_flush_.push_back(&sink);
}

void PubsubHub::batch_end() {
  if (to_flush_.empty()) return;
  if (!saturated_ || !flush_timer_) {
    flush();
    return;
  }
  if (!uv_is_active(reinterpret_cast<uv_handle_t*>(flush_timer_)))
    uv_timer_start(flush_timer_, [](uv_timer_t* t) { static_cast<PubsubHub*>(t->data)->flush(); }, kCoalesceMs, 0);
}

// One write per touched connection for all it got since the last flush.
void PubsubHub::flush() {
  std::uint64_t start = uv_hrtime();
  std::uint64_t since_last = start - last_flush_start_;
  last_flush_start_ = start;
  std::vector<FrameSink*> batch;
  batch.swap(to_flush_);
  for (FrameSink* sink : batch) {
    if (!sink) continue;
    sink->flush_scheduled_ = false;
    sink->flush_frames();
  }
  std::uint64_t busy = uv_hrtime() - start;
  saturated_ = busy > kMinBusyNs && 4 * busy > since_last;
}

// Called by a module's encoder (C): out of memory may not throw into it.
void PubsubHub::buffer_append(tether_buffer* out, const void* data, std::size_t length) {
  if (out->failed) return;
  try {
    out->bytes.append(static_cast<const char*>(data), length);
  } catch (const std::bad_alloc&) {
    out->failed = true;
  }
}

}  // namespace tether
