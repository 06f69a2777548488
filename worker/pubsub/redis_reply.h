// Reading what Redis answers the broker (redis_broker.*): typed views of hiredis replies, valid
// while the reply is, and the history script's answer (redis_scripts.h, kHistory).
#pragma once

#include <hiredis/hiredis.h>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "worker/pubsub/broker.h"

namespace tether {

inline std::string_view text_of(const redisReply* reply) {
  if (!reply || !reply->str) return {};
  return {reply->str, reply->len};
}

template <typename T>
inline std::optional<T> number_in(std::string_view text) {
  T value{};
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// An integer reply, or a string holding one (Lua returns both).
inline std::optional<std::uint64_t> number_of(const redisReply* reply) {
  if (!reply) return std::nullopt;
  if (reply->type == REDIS_REPLY_INTEGER) return reply->integer < 0 ? std::nullopt : std::optional<std::uint64_t>(reply->integer);
  if (reply->type == REDIS_REPLY_STRING) return number_in<std::uint64_t>(text_of(reply));
  return std::nullopt;
}

inline const redisReply* element(const redisReply* reply, std::size_t i) {
  return reply && reply->type == REDIS_REPLY_ARRAY && i < reply->elements ? reply->element[i] : nullptr;
}

inline bool is_error(const redisReply* reply) { return !reply || reply->type == REDIS_REPLY_ERROR; }

// The history script's answer: {epoch, top, first, entries}, views into the reply.
struct RedisStreamRead {
  bool exists = false;  // the channel has a hash
  std::uint32_t epoch = 0;
  std::uint64_t top = 0;
  std::uint64_t first = 0;  // oldest offset the stream holds, 0 when empty
  std::vector<BrokerMessage> entries;

  // False when the reply is not the script's (an error, or Redis changed under us, or someone
  // impersonates it). The script never answers epoch 0 (the hub's "no epoch"), entries for a
  // channel without a hash, entries other than increasing offsets from first to top (XRANGE's
  // order, HINCRBY's offsets: the broker's delivery relies on that order), or a first above top
  // (a resume would be told it is complete).
  bool parse(std::string_view channel, const redisReply* reply);
};

inline bool RedisStreamRead::parse(std::string_view channel, const redisReply* reply) {
  if (is_error(reply) || reply->type != REDIS_REPLY_ARRAY || reply->elements != 4) return false;
  std::string_view epoch_text = text_of(element(reply, 0));
  exists = !epoch_text.empty();
  if (exists) {
    auto e = number_in<std::uint32_t>(epoch_text);
    if (!e || *e == 0) return false;
    epoch = *e;
  }
  auto t = number_of(element(reply, 1)), f = number_of(element(reply, 2));
  const redisReply* list = element(reply, 3);
  if (!t || !f || !list || list->type != REDIS_REPLY_ARRAY || (!exists && list->elements > 0)) return false;
  top = *t;
  first = *f;
  if (first > top || (first == 0 && list->elements > 0)) return false;
  entries.reserve(list->elements);
  std::uint64_t previous = first > 0 ? first - 1 : 0;  // offsets from first on
  for (std::size_t i = 0; i < list->elements; ++i) {
    const redisReply* entry = list->element[i];
    std::string_view id = text_of(element(entry, 0));
    auto offset = number_in<std::uint64_t>(id.substr(0, id.find('-')));
    const redisReply* fields = element(entry, 1);
    if (!offset || *offset <= previous || *offset > top || !fields || fields->type != REDIS_REPLY_ARRAY) return false;
    previous = *offset;
    BrokerMessage m{channel, MessageId{epoch, *offset}, 0, {}};
    for (std::size_t k = 0; k + 1 < fields->elements; k += 2) {
      std::string_view name = text_of(fields->element[k]), value = text_of(fields->element[k + 1]);
      if (name == "t") m.time_ms = number_in<std::uint64_t>(value).value_or(0);
      if (name == "d") m.data = value;
    }
    entries.push_back(m);
  }
  return true;
}

// The info script's answer: {epoch or '' (no such channel: epoch 0), top, stream length}.
struct RedisChannelState {
  std::uint32_t epoch = 0;
  std::uint64_t top = 0;
  std::uint64_t length = 0;
};

inline std::optional<RedisChannelState> parse_channel_state(const redisReply* reply) {
  if (is_error(reply) || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return std::nullopt;
  std::string_view epoch_text = text_of(element(reply, 0));
  auto epoch = epoch_text.empty() ? std::optional<std::uint32_t>(0) : number_in<std::uint32_t>(epoch_text);
  auto top = number_of(element(reply, 1)), length = number_of(element(reply, 2));
  if (!epoch || !top || !length) return std::nullopt;
  return RedisChannelState{*epoch, *top, *length};
}

// A message as the publish script PUBLISHes it: "<epoch>:<offset>:<time_ms>:<data>". Anyone who
// can PUBLISH on the Redis can send anything: all three separators and numbers, or nothing (a
// missing separator must not make the next search start over from the beginning). Neither the
// epoch nor the offset is ever 0 (redis_scripts.h).
struct RedisRelayed {
  MessageId id;
  std::uint64_t time_ms = 0;
  std::string_view data;  // a view into the payload
};

inline std::optional<RedisRelayed> parse_relayed(std::string_view payload) {
  std::size_t a = payload.find(':');
  std::size_t b = a == std::string_view::npos ? a : payload.find(':', a + 1);
  std::size_t c = b == std::string_view::npos ? b : payload.find(':', b + 1);
  if (c == std::string_view::npos) return std::nullopt;
  auto epoch = number_in<std::uint32_t>(payload.substr(0, a));
  auto offset = number_in<std::uint64_t>(payload.substr(a + 1, b - a - 1));
  auto time_ms = number_in<std::uint64_t>(payload.substr(b + 1, c - b - 1));
  if (!epoch || !offset || !time_ms || *epoch == 0 || *offset == 0) return std::nullopt;
  return RedisRelayed{MessageId{*epoch, *offset}, *time_ms, payload.substr(c + 1)};
}

// The publish script's answer "<epoch>:<offset>" (both decimal, neither 0).
inline std::optional<MessageId> parse_published(const redisReply* reply) {
  if (!reply || reply->type != REDIS_REPLY_STRING) return std::nullopt;
  std::string_view text = text_of(reply);
  std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto epoch = number_in<std::uint32_t>(text.substr(0, colon));
  auto offset = number_in<std::uint64_t>(text.substr(colon + 1));
  if (!epoch || !offset || *epoch == 0 || *offset == 0) return std::nullopt;
  return MessageId{*epoch, *offset};
}

// The channel's name in its pub/sub channel "<prefix>:{<name>}", or nullopt for any other.
inline std::optional<std::string_view> channel_in(std::string_view prefix, std::string_view full) {
  if (full.size() < prefix.size() + 3 || !full.starts_with(prefix) || full.substr(prefix.size(), 2) != ":{" ||
      !full.ends_with('}'))
    return std::nullopt;
  return full.substr(prefix.size() + 2, full.size() - prefix.size() - 3);
}

}  // namespace tether
