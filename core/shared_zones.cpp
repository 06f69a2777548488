#include "core/shared_zones.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace tether {

struct SharedZones::Directory {
  struct Entry {
    char name[64];
    std::size_t size;
    std::size_t offset;
  };
  std::atomic<std::uint32_t> lock;
  std::uint32_t count;
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
  return true;
}

void* SharedZones::zone(std::string_view name, std::size_t size) {
  if (!directory_ || name.empty() || name.size() >= sizeof(Directory::Entry::name) || size == 0) return nullptr;
  while (directory_->lock.exchange(1, std::memory_order_acquire) != 0) std::this_thread::yield();
  void* found = nullptr;
  for (std::uint32_t i = 0; i < directory_->count && !found; ++i) {
    const auto& e = directory_->entries[i];
    if (name == e.name && e.size == size) found = arena_ + e.offset;
  }
  constexpr std::size_t kAlign = 64;  // a cache line
  std::size_t offset = (directory_->used + kAlign - 1) / kAlign * kAlign;
  if (!found && directory_->count < kMaxZones && offset + size <= capacity_) {
    auto& e = directory_->entries[directory_->count++];
    std::memcpy(e.name, name.data(), name.size());
    e.name[name.size()] = '\0';
    e.size = size;
    e.offset = offset;
    directory_->used = offset + size;
    found = arena_ + offset;  // zero: fresh anonymous pages
  }
  directory_->lock.store(0, std::memory_order_release);
  return found;
}

SharedZones& shared_zones() {
  static SharedZones instance;
  return instance;
}

}  // namespace tether
