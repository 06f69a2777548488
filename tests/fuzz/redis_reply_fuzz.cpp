// What the Redis broker reads from Redis (worker/pubsub/redis_reply.h): the fuzz input is the
// bytes a Redis server (or whoever impersonates it, or PUBLISHes on it) sends, read by hiredis'
// own reader into redisReply trees as the broker's connections get them. Every reply, and every
// node inside it, goes through each parser: the history script's answer (RedisStreamRead), the
// subscriber push ["message", channel, payload] as RedisBroker::on_push reads it (channel_in,
// parse_relayed), the publish and info scripts' answers (parse_published, parse_channel_state),
// and the accessors (text_of, number_of, element). What a parser returns is
// checked against the reply: its views lie in the reply's strings, its numbers are the digits
// it was given, its answers are ones the scripts (redis_scripts.h) could have made.
//
// One limit is the harness's, not the broker's: hiredis 0.14 allocates an array's element
// vector when it reads the header ("*2147483647\r\n" asks for 16 GiB before any element
// arrives), so arrays over kMaxElements are refused here as if that allocation had failed.
#include <hiredis/hiredis.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "worker/pubsub/redis_reply.h"

namespace {

using tether::RedisStreamRead;

constexpr int kMaxElements = 1 << 16;
constexpr std::string_view kChannel = "news";
constexpr std::string_view kPrefixes[] = {"tether", ""};

[[noreturn]] void fail(const char* why, std::string_view text = {}) {
  std::fprintf(stderr, "redis_reply_fuzz: %s: \"%.*s\"\n", why, static_cast<int>(text.size()), text.data());
  std::abort();
}

void check(bool condition, const char* why, std::string_view text = {}) {
  if (!condition) fail(why, text);
}

bool inside(std::string_view part, std::string_view whole) {
  return part.empty() || (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

// Decimal digits only, into at most `max`: the independent reading the parsers must agree with.
std::optional<std::uint64_t> decimal(std::string_view text, std::uint64_t max) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    unsigned digit = static_cast<unsigned>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

void check_accessors(const redisReply* r) {
  std::string_view text = tether::text_of(r);
  if (r->str) check(text.data() == r->str && text.size() == r->len, "text_of is not the reply's string");
  else check(text.empty(), "text_of of a reply without a string is not empty");

  std::optional<std::uint64_t> expected;
  if (r->type == REDIS_REPLY_INTEGER && r->integer >= 0) expected = static_cast<std::uint64_t>(r->integer);
  if (r->type == REDIS_REPLY_STRING) expected = decimal(text, UINT64_MAX);
  check(tether::number_of(r) == expected, "number_of disagrees with the reply", text);

  std::size_t count = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
  for (std::size_t i = 0; i < count; ++i) check(tether::element(r, i) == r->element[i], "element is not the reply's");
  check(tether::element(r, count) == nullptr && tether::element(r, count + 7) == nullptr, "element past the end");
  check(tether::is_error(r) == (r->type == REDIS_REPLY_ERROR), "is_error");
}

// channel_in: "<prefix>:{<name>}" gives the name, a view into the full name; nothing else does.
void check_channel(std::string_view prefix, std::string_view full) {
  std::optional<std::string_view> name = tether::channel_in(prefix, full);
  bool shaped = full.size() >= prefix.size() + 3 && full.substr(0, prefix.size()) == prefix &&
                full.substr(prefix.size(), 2) == ":{" && full.back() == '}';
  check(name.has_value() == shaped, "channel_in accepts a name not shaped <prefix>:{<name>} or refuses one", full);
  if (!name) return;
  check(name->data() == full.data() + prefix.size() + 2 && name->size() == full.size() - prefix.size() - 3,
        "channel_in's name is not the part between the braces", full);
}

// parse_relayed: "<epoch>:<offset>:<time_ms>:<data>", the numbers decimal, epoch in 32 bits and
// neither it nor the offset 0 (the publish script makes neither); data is the rest, colons and all.
void check_relayed(std::string_view payload) {
  std::optional<tether::RedisRelayed> m = tether::parse_relayed(payload);
  std::size_t colon[3], found = 0;
  for (std::size_t i = 0; i < payload.size() && found < 3; ++i)
    if (payload[i] == ':') colon[found++] = i;
  std::optional<std::uint64_t> epoch, offset, time_ms;
  if (found == 3) {
    epoch = decimal(payload.substr(0, colon[0]), UINT32_MAX);
    offset = decimal(payload.substr(colon[0] + 1, colon[1] - colon[0] - 1), UINT64_MAX);
    time_ms = decimal(payload.substr(colon[1] + 1, colon[2] - colon[1] - 1), UINT64_MAX);
  }
  bool valid = epoch && offset && time_ms && *epoch != 0 && *offset != 0;
  check(m.has_value() == valid, valid ? "parse_relayed refuses a valid payload" : "parse_relayed accepts a bad payload", payload);
  if (!m) return;
  check(m->id.epoch == *epoch && m->id.sequence == *offset && m->time_ms == *time_ms, "parse_relayed's numbers", payload);
  check(m->data.data() == payload.data() + colon[2] + 1 && m->data.size() == payload.size() - colon[2] - 1,
        "parse_relayed's data is not the payload after the third colon", payload);
}

// parse_published: a string "<epoch>:<offset>", both decimal, epoch in 32 bits, neither 0.
void check_published(const redisReply* r) {
  std::optional<tether::MessageId> id = tether::parse_published(r);
  std::string_view text = tether::text_of(r);
  std::size_t colon = text.find(':');
  std::optional<std::uint64_t> epoch, offset;
  if (r->type == REDIS_REPLY_STRING && colon != std::string_view::npos) {
    epoch = decimal(text.substr(0, colon), UINT32_MAX);
    offset = decimal(text.substr(colon + 1), UINT64_MAX);
  }
  bool valid = epoch && offset && *epoch != 0 && *offset != 0;
  check(id.has_value() == valid, valid ? "parse_published refuses a valid answer" : "parse_published accepts a bad one", text);
  if (id) check(id->epoch == *epoch && id->sequence == *offset, "parse_published's numbers", text);
}

// parse_channel_state: {epoch or '', top, length}, the numbers the reply's.
void check_channel_state(const redisReply* r) {
  std::optional<tether::RedisChannelState> state = tether::parse_channel_state(r);
  if (!state) return;
  check(r->type == REDIS_REPLY_ARRAY && r->elements == 3, "a channel state of the wrong shape parsed");
  std::string_view epoch_text = tether::text_of(r->element[0]);
  check(epoch_text.empty() ? state->epoch == 0 : decimal(epoch_text, UINT32_MAX) == state->epoch, "the state's epoch", epoch_text);
  check(tether::number_of(r->element[1]) == state->top && tether::number_of(r->element[2]) == state->length,
        "the state's top or length");
}

// The subscriber connection's push, read as RedisBroker::on_push reads it.
void check_push(const redisReply* r) {
  std::string_view kind = tether::text_of(tether::element(r, 0));
  std::string_view full = tether::text_of(tether::element(r, 1));
  for (std::string_view prefix : kPrefixes) {
    std::optional<std::string_view> channel = tether::channel_in(prefix, full);
    if (!channel || kind != "message") continue;
    check(inside(*channel, full), "the push's channel is not inside the reply", full);
    std::string_view payload = tether::text_of(tether::element(r, 2));
    if (std::optional<tether::RedisRelayed> m = tether::parse_relayed(payload))
      check(inside(m->data, payload), "the push's data is not inside the reply", payload);
  }
}

// RedisStreamRead::parse: what it accepts is {epoch, top, first, entries} as the history script
// returns it (entries in increasing offsets from first to top), every entry read from the reply.
void check_stream_read(const redisReply* r) {
  RedisStreamRead read;
  if (!read.parse(kChannel, r)) return;
  check(r->type == REDIS_REPLY_ARRAY && r->elements == 4, "an answer of the wrong shape parsed");
  std::string_view epoch_text = tether::text_of(r->element[0]);
  check(read.exists == !epoch_text.empty(), "exists is not whether the answer has an epoch", epoch_text);
  if (read.exists) check(decimal(epoch_text, UINT32_MAX) == read.epoch && read.epoch != 0, "the epoch", epoch_text);
  check(tether::number_of(r->element[1]) == read.top && tether::number_of(r->element[2]) == read.first, "top or first");
  const redisReply* list = r->element[3];
  check(list->type == REDIS_REPLY_ARRAY && read.entries.size() == list->elements, "not one entry per stream entry");
  check(read.exists || read.entries.empty(), "entries of a channel without a hash");
  check(read.first <= read.top && (read.first > 0 || read.entries.empty()), "first above top, or entries without a first");
  std::uint64_t previous = 0;
  for (std::size_t i = 0; i < read.entries.size(); ++i) {
    const tether::BrokerMessage& m = read.entries[i];
    const redisReply* entry = list->element[i];
    check(m.channel.data() == kChannel.data() && m.channel.size() == kChannel.size(), "an entry's channel");
    check(m.id.epoch == read.epoch, "an entry outside the answer's epoch");
    check(m.id.sequence > previous && m.id.sequence >= read.first && m.id.sequence <= read.top,
          "entries not in increasing offsets from first to top");
    previous = m.id.sequence;
    std::string_view id = tether::text_of(entry->element[0]);
    check(decimal(id.substr(0, id.find('-')), UINT64_MAX) == m.id.sequence, "an entry's offset is not its id's", id);
    // The data is a "d" field's value, the time a "t" field's (0 when it is not a number).
    const redisReply* fields = entry->element[1];
    bool data_found = m.data.empty(), time_found = m.time_ms == 0;
    for (std::size_t k = 0; k + 1 < fields->elements; k += 2) {
      std::string_view name = tether::text_of(fields->element[k]), value = tether::text_of(fields->element[k + 1]);
      data_found = data_found || (name == "d" && value.data() == m.data.data() && value.size() == m.data.size());
      time_found = time_found || (name == "t" && decimal(value, UINT64_MAX) == m.time_ms);
    }
    check(data_found && time_found, "an entry's data or time is not one of its fields", id);
  }
}

// Every node of the tree (hiredis nests at most 7 deep) as if it were the whole reply.
void check_tree(const redisReply* r) {
  check_accessors(r);
  check_stream_read(r);
  check_push(r);
  check_published(r);
  check_channel_state(r);
  std::string_view text = tether::text_of(r);
  check_relayed(text);
  for (std::string_view prefix : kPrefixes) check_channel(prefix, text);
  if (r->type == REDIS_REPLY_ARRAY)
    for (std::size_t i = 0; i < r->elements; ++i) check_tree(r->element[i]);
}

// hiredis' own array constructor, refusing the allocations the harness cannot afford.
redisReplyObjectFunctions g_functions;
void* (*g_create_array)(const redisReadTask*, int) = nullptr;

void* create_bounded_array(const redisReadTask* task, int elements) {
  return elements > kMaxElements ? nullptr : g_create_array(task, elements);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  redisReader* reader = redisReaderCreate();
  if (!reader) fail("redisReaderCreate");
  if (!g_create_array) {
    g_functions = *reader->fn;
    g_create_array = g_functions.createArray;
    g_functions.createArray = create_bounded_array;
  }
  reader->fn = &g_functions;
  if (redisReaderFeed(reader, reinterpret_cast<const char*>(data), size) != REDIS_OK) fail("redisReaderFeed");
  // Replies until the input ends inside one or is no RESP (the broker then drops the connection).
  void* reply = nullptr;
  while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply) {
    check_tree(static_cast<const redisReply*>(reply));
    freeReplyObject(reply);
    reply = nullptr;
  }
  redisReaderFree(reader);
  return 0;
}
