// Named zones of memory shared by every worker of every generation, for modules whose state
// must be global (rate limits, connection counts). The master maps one arena before it forks
// anything ([server] shared_memory, reserved lazily: untouched pages cost nothing); a worker
// asks for a zone by name and size, the first request carves it out zeroed, later ones, in any
// worker or generation, get the same memory. Zones live as long as the master.
//
// Every worker can write the directory, so zone() checks what it reads there (the count, each
// zone's place in the arena) before it hands memory out, and its lock survives a worker that
// dies holding it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tether {

class SharedZones {
 public:
  static constexpr std::size_t kMaxZones = 64;

  bool create(std::size_t arena_bytes, std::string* why);
  // The zone (name, size), created on first use. Null if the arena or the directory is full,
  // or `size` does not fit in what is left of the arena.
  void* zone(std::string_view name, std::size_t size);
  std::size_t capacity() const { return capacity_; }

 private:
  struct Directory;
  bool fits(std::size_t offset, std::size_t size) const;

  Directory* directory_ = nullptr;
  char* arena_ = nullptr;  // after the directory
  std::size_t capacity_ = 0;
};

SharedZones& shared_zones();

}  // namespace tether
