// Which of several Redis shards holds a channel: a jump consistent hash (Lamping & Veach, 2014)
// of a stable 64-bit hash of the name (FNV-1a, the same on every node and every build, unlike
// std::hash). Every node computes the same shard for a channel, and growing from n to n+1
// shards moves only about 1/(n+1) of the channels, all of them to the new shard.
#pragma once

#include <cstdint>
#include <string_view>

namespace tether {

std::uint64_t stable_name_hash(std::string_view name);
// A bucket in [0, buckets) for `key`; buckets >= 1.
std::uint32_t jump_consistent_hash(std::uint64_t key, std::uint32_t buckets);
inline std::uint32_t redis_shard_of(std::string_view channel, std::uint32_t shards) {
  return jump_consistent_hash(stable_name_hash(channel), shards);
}

}  // namespace tether
