// [pubsub] broker and [pubsub.redis]: what `tether -t` accepts and where it points at mistakes.
#include <gtest/gtest.h>

#include "core/config_parser.h"
#include "core/redis_address.h"

using namespace std::chrono_literals;
using tether::BrokerKind;
using tether::ConfigLoadResult;
using tether::RedisAddress;

namespace {

constexpr const char* kListen = "[[listen]]\naddress = \"127.0.0.1:8080\"\n";

ConfigLoadResult parse(const std::string& pubsub) {
  return tether::parse_config_text(std::string(kListen) + pubsub, "t.toml");
}

// Exactly one error, at line:col of the whole text (the [[listen]] table is lines 1-2).
void expect_error(const std::string& pubsub, unsigned line, unsigned column, const std::string& needle) {
  ConfigLoadResult result = parse(pubsub);
  ASSERT_EQ(result.errors.size(), 1u) << pubsub;
  const auto& error = result.errors.front();
  EXPECT_EQ(error.where.line, line) << error.to_string();
  EXPECT_EQ(error.where.column, column) << error.to_string();
  EXPECT_NE(error.message.find(needle), std::string::npos) << error.to_string();
}

}  // namespace

TEST(RedisConfig, TheLocalBrokerIsTheDefault) {
  ConfigLoadResult result = parse("");
  ASSERT_TRUE(result.config);
  EXPECT_EQ(result.config->pubsub.broker, BrokerKind::local);
}

TEST(RedisConfig, TheDocumentedShapeParsesIntoTypedValues) {
  ConfigLoadResult result = parse(R"(
[pubsub]
broker = "redis"
history_size = 50
[pubsub.redis]
addresses = ["127.0.0.1:6379", "[::1]:6380", "unix:/run/redis/redis.sock"]
prefix = "app-1:prod"
username = "tether"
password = "secret"
db = 3
connect_timeout = "250ms"
command_timeout = "2s"
)");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  const tether::PubsubConfig& p = result.config->pubsub;
  EXPECT_EQ(p.broker, BrokerKind::redis);
  ASSERT_EQ(p.redis.addresses.size(), 3u);
  EXPECT_EQ(p.redis.addresses[0].host, "127.0.0.1");
  EXPECT_EQ(p.redis.addresses[0].port, 6379);
  EXPECT_EQ(p.redis.addresses[1].host, "::1");
  EXPECT_EQ(p.redis.addresses[1].to_string(), "[::1]:6380");
  EXPECT_EQ(p.redis.addresses[2].path, "/run/redis/redis.sock");
  EXPECT_EQ(p.redis.prefix, "app-1:prod");
  EXPECT_EQ(p.redis.username, "tether");
  EXPECT_EQ(p.redis.password, "secret");
  EXPECT_EQ(p.redis.db, 3);
  EXPECT_EQ(p.redis.connect_timeout, 250ms);
  EXPECT_EQ(p.redis.command_timeout, 2000ms);
  EXPECT_EQ(p.history_size, 50u);
}

TEST(RedisConfig, AnUnknownBrokerIsAnErrorAtItsValue) {
  expect_error("[pubsub]\nbroker = \"kafka\"\n", 4, 10, "\"broker\" must be \"local\" or \"redis\"");
  expect_error("[pubsub]\nbroker = 1\n", 4, 10, "\"broker\" must be");
}

TEST(RedisConfig, TheRedisBrokerNeedsAnAddress) {
  expect_error("[pubsub]\nbroker = \"redis\"\n", 4, 10, "needs [pubsub.redis] addresses");
  expect_error("[pubsub]\nbroker = \"redis\"\n[pubsub.redis]\nprefix = \"x\"\n", 5, 1, "needs [pubsub.redis] addresses");
  expect_error("[pubsub]\nbroker = \"redis\"\n[pubsub.redis]\naddresses = []\n", 6, 13, "non-empty array");
}

// -t checks the table even while the local broker is in use, so that switching is safe.
TEST(RedisConfig, TheTableIsCheckedWhileTheLocalBrokerServes) {
  expect_error("[pubsub.redis]\naddresses = [\"127.0.0.1\"]\n", 4, 14, "redis address must be");
  expect_error("[pubsub.redis]\nadresses = [\"127.0.0.1:6379\"]\n", 4, 1, "unknown key \"adresses\" in [pubsub.redis]");
}

TEST(RedisConfig, EachBadAddressIsAnErrorAtTheAddress) {
  expect_error("[pubsub.redis]\naddresses = [\"127.0.0.1:6379\", \"host:0\"]\n", 4, 32, "port must be a number from 1 to 65535");
  expect_error("[pubsub.redis]\naddresses = [\"::1:6379\"]\n", 4, 14, "IPv6 address needs brackets");
  expect_error("[pubsub.redis]\naddresses = [\"unix:redis.sock\"]\n", 4, 14, "absolute path");
  expect_error("[pubsub.redis]\naddresses = [\"a b:1\"]\n", 4, 14, "without spaces");
  expect_error("[pubsub.redis]\naddresses = [6379]\n", 4, 14, "must be a string");
  expect_error("[pubsub.redis]\naddresses = [\"h:1\", \"h:1\"]\n", 4, 21, "listed twice");
}

TEST(RedisConfig, ThePrefixIsAPlainName) {
  expect_error("[pubsub.redis]\nprefix = \"a{b}\"\n", 4, 10, "\"prefix\" must be 1 to 64");
  expect_error("[pubsub.redis]\nprefix = \"\"\n", 4, 10, "\"prefix\" must be 1 to 64");
  expect_error("[pubsub.redis]\nprefix = \"" + std::string(65, 'p') + "\"\n", 4, 10, "\"prefix\" must be 1 to 64");
}

TEST(RedisConfig, AUsernameNeedsAPasswordAndTheDatabaseIsBounded) {
  expect_error("[pubsub.redis]\nusername = \"u\"\n", 4, 12, "needs a \"password\"");
  expect_error("[pubsub.redis]\ndb = -1\n", 4, 6, "between 0 and 65535");
}

TEST(RedisAddress, FormsRoundTripThroughTheirTextForm) {
  for (const char* text : {"127.0.0.1:6379", "redis.internal:7000", "[::1]:6379", "unix:/tmp/r.sock"}) {
    auto a = RedisAddress::parse(text);
    ASSERT_TRUE(a) << text;
    EXPECT_EQ(a->to_string(), text);
  }
}

TEST(RedisAddress, RefusesWhatHiredisWouldMisread) {
  std::vector<std::string> bad{"", ":6379", "host:", "host:65536", "host:6379x", "[::1:6379", "unix:", "unix:rel",
                           std::string("ho\0st:1", 7), std::string("unix:/a\0b", 9), "unix:/" + std::string(120, 'p')};
  for (const std::string& text : bad) EXPECT_FALSE(RedisAddress::parse(text)) << text;
}
