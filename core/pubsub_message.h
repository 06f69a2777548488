// What a pub/sub message and channel are, whichever broker carries them (the master's link in
// core/pubsub_wire.h, or another engine): the id every worker shows for a message and the rule
// for channel names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

// A message id: the broker's epoch (the local broker draws one when the master starts) and
// the channel's sequence number. Written "<epoch in 8 hex digits>-<sequence>", the same on
// every worker.
struct MessageId {
  std::uint32_t epoch = 0;
  std::uint64_t sequence = 0;

  std::string to_string() const;
  static std::optional<MessageId> parse(std::string_view text);
};

constexpr std::size_t kMaxChannelName = 128;

// Channel names: 1..128 bytes of [A-Za-z0-9_.:@-]. Returns null when `name` is valid, else
// why not (a static string, for a 400 answer).
const char* channel_name_problem(std::string_view name);

}  // namespace tether
