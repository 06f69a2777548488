#include "core/shared_zones.h"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "core/robust_mutex.h"

namespace tether {

struct SharedZones::Directory {
  struct Entry {
    char name[64];
    std::size_t size;
    std::size_t offset;
  };
  RobustMutex lock;
  std::uint32_t count;  // entries[0..count) are complete: an entry is written before it is counted
  std::size_t used;
  Entry entries[kMaxZones];
};

bool SharedZones::create(std::size_t arena_bytes, std::string* why) {
  std::size_t total = sizeof(Directory) + arena_bytes;
  void* memory = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (memory == MAP_FAILED) {
    *why = std::string("cannot map ") + std::to_string(arena_bytes) + " bytes of shared memory: " + std::strerror(errno);
    return false;
  }
  directory_ = new (memory) Directory{};
  arena_ = static_cast<char*>(memory) + sizeof(Directory);
  capacity_ = arena_bytes;
  return directory_->lock.init(why);
}

// Whether [offset, offset + size) lies in the arena, without overflowing.
bool SharedZones::fits(std::size_t offset, std::size_t size) const {
  return offset <= capacity_ && size <= capacity_ - offset;
}

void* SharedZones::zone(std::string_view name, std::size_t size) {
  if (!directory_ || name.empty() || name.size() >= sizeof(Directory::Entry::name) || size == 0) return nullptr;
  RobustMutex::Hold hold(directory_->lock);
  std::uint32_t count = std::min<std::uint32_t>(directory_->count, kMaxZones);
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto& e = directory_->entries[i];
    if (name == std::string_view(e.name, strnlen(e.name, sizeof e.name)) && e.size == size)
      return fits(e.offset, e.size) ? arena_ + e.offset : nullptr;
  }
  constexpr std::size_t kAlign = 64;  // a cache line
  std::size_t used = std::min(directory_->used, capacity_);
  std::size_t offset = std::min(capacity_, (used + kAlign - 1) / kAlign * kAlign);
  if (count == kMaxZones || !fits(offset, size)) return nullptr;
  auto& e = directory_->entries[count];
  std::memcpy(e.name, name.data(), name.size());
  e.name[name.size()] = '\0';
  e.size = size;
  e.offset = offset;
  directory_->used = offset + size;
  directory_->count = count + 1;
  return arena_ + offset;  // zero: fresh anonymous pages
}

SharedZones& shared_zones() {
  static SharedZones instance;
  return instance;
}

}  // namespace tether
