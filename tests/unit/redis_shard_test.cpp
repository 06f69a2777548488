// Shard choice for the Redis broker: every node must put a channel on the same shard, channels
// must spread over all shards, and adding a shard must move few channels (only to the new one).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "worker/pubsub/redis_shard.h"

using namespace tether;

TEST(RedisShard, TheNameHashIsFixedSoEveryNodeAndEveryBuildAgrees) {
  // FNV-1a 64 reference values: a change here would move channels between shards on upgrade.
  EXPECT_EQ(stable_name_hash(""), 14695981039346656037ull);
  EXPECT_EQ(stable_name_hash("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(stable_name_hash("foobar"), 0x85944171f73967e8ull);
}

TEST(RedisShard, OneShardHoldsEverything) {
  for (int i = 0; i < 100; ++i) EXPECT_EQ(redis_shard_of("room-" + std::to_string(i), 1), 0u);
}

TEST(RedisShard, AChannelAlwaysLandsOnTheSameShard) {
  for (int i = 0; i < 100; ++i) {
    std::string name = "room-" + std::to_string(i);
    std::uint32_t shard = redis_shard_of(name, 5);
    EXPECT_LT(shard, 5u);
    EXPECT_EQ(redis_shard_of(name, 5), shard);
  }
}

TEST(RedisShard, ChannelsSpreadOverAllShards) {
  std::vector<int> per_shard(4);
  for (int i = 0; i < 4000; ++i) ++per_shard.at(redis_shard_of("room-" + std::to_string(i), 4));
  for (int count : per_shard) {
    EXPECT_GT(count, 800);  // 1000 each on average
    EXPECT_LT(count, 1200);
  }
}

TEST(RedisShard, AddingAShardMovesFewChannelsAndOnlyToTheNewShard) {
  int moved = 0;
  for (int i = 0; i < 4000; ++i) {
    std::string name = "room-" + std::to_string(i);
    std::uint32_t before = redis_shard_of(name, 4), after = redis_shard_of(name, 5);
    if (before == after) continue;
    ++moved;
    EXPECT_EQ(after, 4u) << name;
  }
  EXPECT_GT(moved, 600);  // about a fifth: 800
  EXPECT_LT(moved, 1000);
}
