#include "worker/pubsub/redis_shard.h"

namespace tether {

std::uint64_t stable_name_hash(std::string_view name) {
  std::uint64_t hash = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : name) {
    hash ^= c;
    hash *= 1099511628211ull;  // FNV prime
  }
  return hash;
}

// Jumps forward from bucket to bucket with a pseudo-random sequence seeded by the key; the last
// bucket below `buckets` is the answer. The constants are the paper's (a 64-bit LCG).
std::uint32_t jump_consistent_hash(std::uint64_t key, std::uint32_t buckets) {
  std::int64_t bucket = -1;
  std::int64_t jump = 0;
  while (jump < static_cast<std::int64_t>(buckets)) {
    bucket = jump;
    key = key * 2862933555777941757ull + 1;
    jump = static_cast<std::int64_t>(static_cast<double>(bucket + 1) *
                                     (static_cast<double>(1ll << 31) / static_cast<double>((key >> 33) + 1)));
  }
  return static_cast<std::uint32_t>(bucket);
}

}  // namespace tether
