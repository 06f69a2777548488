#include "worker/pubsub/pubsub_hub.h"

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "core/shared_metrics.h"
#include "worker/transport/connection.h"

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
  if (channel_name_problem(channel)) return PublishCheck::invalid_channel;
  if (data.size() > config_.max_message_size) return PublishCheck::too_large;
  shared_metrics().add(metrics_slot_, core_metrics().messages_published, 1);
  Broker::Request sent = broker_->publish(channel, data, std::move(on_reply));
  if (request) *request = sent;
  return PublishCheck::accepted;
}

int PubsubHub::subscribe(Connection& connection, Feed& feed, std::string_view name, std::optional<std::string_view> since) {
  if (channel_name_problem(name) || !connection.takes_frames()) return TETHER_ERROR;
  std::uint64_t held = 0;
  for (Subscription* s = connection.subscriptions(); s; s = s->next_of_connection, ++held)
    if (s->channel->name == name) return TETHER_OK;  // already subscribed
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
  s->connection = &connection;
  s->feed = &feed;
  s->next_in_channel = channel.subscribers;
  if (channel.subscribers) channel.subscribers->prev_in_channel = s;
  channel.subscribers = s;
  s->next_of_connection = connection.subscriptions();
  connection.subscriptions() = s;
  ++channel.count;
  broker_->set_subscribers(channel.name, channel.count);
  shared_metrics().add(metrics_slot_, subscribers_metric_, 1);
  if (since) {
    // An id we cannot read is from no epoch of ours: the broker answers with a gap.
    MessageId from = MessageId::parse(*since).value_or(MessageId{});
    s->history_request = broker_->history(name, from, [this, s, from](const HistoryResult& reply) { resume(*s, from, reply); });
  }
  return TETHER_OK;
}

void PubsubHub::connection_closing(Connection& connection) {
  if (!connection.has_module_stream()) return;
  Subscription* s = connection.subscriptions();
  connection.subscriptions() = nullptr;
  while (s) {
    Subscription* next = s->next_of_connection;
    unlink(s);
    s = next;
  }
  if (connection.flush_scheduled()) {
    connection.flush_scheduled() = false;
    std::replace(to_flush_.begin(), to_flush_.end(), &connection, static_cast<Connection*>(nullptr));
  }
}

void PubsubHub::unlink(Subscription* s) {
  HubChannel& channel = *s->channel;
  if (s->prev_in_channel) s->prev_in_channel->next_in_channel = s->next_in_channel;
  else channel.subscribers = s->next_in_channel;
  if (s->next_in_channel) s->next_in_channel->prev_in_channel = s->prev_in_channel;
  if (s->history_request) broker_->cancel(s->history_request);
  shared_metrics().add(metrics_slot_, subscribers_metric_, -1);
  --channel.count;
  broker_->set_subscribers(channel.name, channel.count);
  delete s;
  if (channel.count == 0) channels_.erase(channel.name);
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
  std::int64_t queued = 0;
  for (Subscription* s = channel.subscribers; s;) {
    Subscription* next = s->next_in_channel;  // a queue overflow may unsubscribe `s`
    if (s->history_request == 0) {
      Encoded& e = encoded[s->feed->index];
      if (!e.tried) {
        e.tried = true;
        e.raw = encode(*s->feed, message, false);
      }
      bool chunked = s->connection->chunked_stream();
      if (chunked && !e.chunked && e.raw) e.chunked = chunk_frame(e.raw.view());
      const FrameRef& f = chunked ? e.chunked : e.raw;
      if (f) {
        Connection& c = *s->connection;
        if (c.queue_frame(f)) touch(c);
        ++queued;
      }
    }
    s = next;
  }
  shared_metrics().add(metrics_slot_, core_metrics().messages_out, queued);
}

// The history a resuming subscriber asked for: a GAP notice if some is lost (or the broker
// cannot say), then the messages.
void PubsubHub::resume(Subscription& s, MessageId since_id, const HistoryResult& reply) {
  s.history_request = 0;
  // A queue overflow below may close the connection and free `s`: keep what is needed.
  Connection& c = *s.connection;
  Feed& feed = *s.feed;
  std::string channel = s.channel->name;
  bool chunked = c.chunked_stream();
  if (reply.status != HistoryResult::Status::complete) {
    std::string since = since_id.to_string();
    tether_notice notice{};
    notice.size = sizeof notice;
    notice.kind = TETHER_NOTICE_GAP;
    notice.channel = channel.data();
    notice.channel_length = channel.size();
    notice.since = since.data();
    notice.since_length = since.size();
    if (FrameRef f = encode_notice(feed, notice, chunked)) c.queue_frame(f);
  }
  std::int64_t queued = 0;
  for (const BrokerMessage& m : reply.messages) {
    if (!c.takes_frames()) break;
    std::string id = m.id.to_string();
    if (FrameRef f = encode(feed, message_view(channel, id, m.data, m.time_ms), chunked)) {
      c.queue_frame(f);
      ++queued;
    }
  }
  shared_metrics().add(metrics_slot_, core_metrics().messages_out, queued);
  if (c.takes_frames()) touch(c);
}

FrameRef PubsubHub::dropped_notice(Connection& connection, std::uint64_t count) {
  Subscription* s = connection.subscriptions();
  if (!s) return {};
  tether_notice notice{};
  notice.size = sizeof notice;
  notice.kind = TETHER_NOTICE_DROPPED;
  notice.channel = "";
  notice.since = "";
  notice.count = count;
  return encode_notice(*s->feed, notice, connection.chunked_stream());
}

FrameRef PubsubHub::encode(Feed& feed, const tether_message& message, bool chunked) {
  tether_buffer out;
  if (feed.format.encode_message(feed.format.user, &message, &out) != TETHER_OK || out.bytes.empty()) return {};
  return chunked ? chunk_frame(out.bytes) : FrameRef::copy_of(out.bytes);
}

FrameRef PubsubHub::encode_notice(Feed& feed, const tether_notice& notice, bool chunked) {
  if (!feed.format.encode_notice) return {};
  tether_buffer out;
  if (feed.format.encode_notice(feed.format.user, &notice, &out) != TETHER_OK || out.bytes.empty()) return {};
  return chunked ? chunk_frame(out.bytes) : FrameRef::copy_of(out.bytes);
}

void PubsubHub::touch(Connection& connection) {
  if (connection.flush_scheduled()) return;
  connection.flush_scheduled() = true;
  to_flush_.push_back(&connection);
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
  std::vector<Connection*> batch;
  batch.swap(to_flush_);
  for (Connection* c : batch) {
    if (!c) continue;
    c->flush_scheduled() = false;
    c->flush_queue();
  }
  std::uint64_t busy = uv_hrtime() - start;
  saturated_ = busy > kMinBusyNs && 4 * busy > since_last;
}

void PubsubHub::buffer_append(tether_buffer* out, const void* data, std::size_t length) {
  out->bytes.append(static_cast<const char*>(data), length);
}

}  // namespace tether
