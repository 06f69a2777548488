// What the Redis broker reads from Redis (worker/pubsub/redis_reply.h), from replies made by
// hiredis' own reader out of RESP bytes, as they come off the wire.
#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "worker/pubsub/redis_reply.h"

using namespace tether;

namespace {

struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// One reply parsed from `resp`; null if the bytes are not one whole reply.
Reply reply_of(const std::string& resp) {
  redisReader* reader = redisReaderCreate();
  void* out = nullptr;
  if (redisReaderFeed(reader, resp.data(), resp.size()) != REDIS_OK || redisReaderGetReply(reader, &out) != REDIS_OK) out = nullptr;
  redisReaderFree(reader);
  return Reply(static_cast<redisReply*>(out));
}

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }

// The history script's answer: {epoch, top, first, entries [[id, [t, ms, d, data]]...]}.
std::string history_answer(const std::string& epoch, int top, int first, const std::string& entries, int count) {
  return "*4\r\n" + bulk(epoch) + ":" + std::to_string(top) + "\r\n:" + std::to_string(first) + "\r\n*" +
         std::to_string(count) + "\r\n" + entries;
}
std::string entry(const std::string& id, const std::string& ms, const std::string& data) {
  return "*2\r\n" + bulk(id) + "*4\r\n" + bulk("t") + bulk(ms) + bulk("d") + bulk(data);
}

}  // namespace

TEST(RedisReply, ARelayedMessageNeedsAllThreeNumbersAndKeepsColonsInItsData) {
  auto m = parse_relayed("195939070:7:1700000000000:a:b:c");  // the epoch in decimal, as Lua writes it
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id.to_string(), "0badcafe-7");
  EXPECT_EQ(m->time_ms, 1700000000000u);
  EXPECT_EQ(m->data, "a:b:c");
  EXPECT_EQ(parse_relayed("195939070:1:5:")->data, "");
}

TEST(RedisReply, AMalformedRelayedMessageIsRefusedWhole) {
  for (const char* bad : {"", "1:2:3", "1:2", "x:1:2:d", "1:x:2:d", "1:2:x:d", "1:0:2:d", "4294967296:1:2:d",
                          "-1:1:2:d", "1:18446744073709551616:2:d", ":1:2:d", "1::2:d", "1:2::d"})
    EXPECT_FALSE(parse_relayed(bad)) << bad;
}

TEST(RedisReply, OnlyThisPrefixsChannelsAreOurs) {
  EXPECT_EQ(channel_in("tether", "tether:{news}"), "news");
  EXPECT_EQ(channel_in("tether", "tether:{a:{b}}"), "a:{b}");
  for (const char* other : {"tether:{}", "tether:news", "other:{news}", "tether:{news", "tetherx:{news}", "tether", ""})
    EXPECT_FALSE(channel_in("tether", other) && !channel_in("tether", other)->empty()) << other;
}

TEST(RedisReply, AHistoryAnswerGivesEntriesWithTheirOffsetsTimesAndData) {
  Reply r = reply_of(history_answer("3735928559", 9, 8, entry("8-0", "1000", "eight") + entry("9-0", "1001", "nine"), 2));
  ASSERT_TRUE(r);
  RedisStreamRead read;
  ASSERT_TRUE(read.parse("news", r.get()));
  EXPECT_TRUE(read.exists);
  EXPECT_EQ(read.epoch, 3735928559u);
  EXPECT_EQ(read.top, 9u);
  EXPECT_EQ(read.first, 8u);
  ASSERT_EQ(read.entries.size(), 2u);
  EXPECT_EQ(read.entries[1].id.to_string(), "deadbeef-9");
  EXPECT_EQ(read.entries[1].time_ms, 1001u);
  EXPECT_EQ(read.entries[1].data, "nine");
  EXPECT_EQ(read.entries[1].channel, "news");
}

TEST(RedisReply, AChannelWithoutItsHashExistsNot) {
  Reply r = reply_of(history_answer("", 0, 0, "", 0));
  RedisStreamRead read;
  ASSERT_TRUE(read.parse("news", r.get()));
  EXPECT_FALSE(read.exists);
  EXPECT_TRUE(read.entries.empty());
}

TEST(RedisReply, AnAnswerThatIsNotTheScriptsIsRefused) {
  for (const std::string& resp : {std::string("-ERR no\r\n"), std::string(":1\r\n"), std::string("*3\r\n:1\r\n:1\r\n:1\r\n"),
                                  history_answer("epoch", 1, 1, "", 0), history_answer("1", -1, 1, "", 0),
                                  history_answer("1", 1, 1, entry("x-0", "1", "d"), 1),
                                  history_answer("1", 1, 1, "*1\r\n" + bulk("1-0"), 1),
                                  history_answer("1", 1, 1, ":5\r\n", 1)}) {
    Reply r = reply_of(resp);
    ASSERT_TRUE(r) << resp;
    RedisStreamRead read;
    EXPECT_FALSE(read.parse("news", r.get())) << resp;
  }
  RedisStreamRead read;
  EXPECT_FALSE(read.parse("news", nullptr));
}

TEST(RedisReply, APublishAnswerIsTheEpochAndTheOffsetNeitherZero) {
  Reply r = reply_of(bulk("3735928559:42"));
  std::optional<MessageId> id = parse_published(r.get());
  ASSERT_TRUE(id);
  EXPECT_EQ(id->epoch, 3735928559u);
  EXPECT_EQ(id->sequence, 42u);
  for (const std::string& resp : {bulk("0:1"), bulk("1:0"), bulk("4294967296:1"), bulk("1:"), bulk(":1"), bulk("1-1"),
                                  bulk("1:1:1"), bulk("-1:1"), std::string(":1\r\n"), std::string("-ERR no\r\n"),
                                  std::string("*2\r\n:1\r\n:1\r\n")}) {
    Reply bad = reply_of(resp);
    ASSERT_TRUE(bad) << resp;
    EXPECT_FALSE(parse_published(bad.get())) << resp;
  }
  EXPECT_FALSE(parse_published(nullptr));
}
