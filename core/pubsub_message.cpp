#include "core/pubsub_message.h"

#include <charconv>
#include <cstdio>

namespace tether {

std::string MessageId::to_string() const {
  char text[32];
  int n = std::snprintf(text, sizeof text, "%08x-%llu", epoch, static_cast<unsigned long long>(sequence));
  return std::string(text, static_cast<std::size_t>(n));
}

std::optional<MessageId> MessageId::parse(std::string_view text) {
  std::size_t dash = text.find('-');
  if (dash != 8) return std::nullopt;
  MessageId id;
  const char* end = text.data() + text.size();
  auto [p1, e1] = std::from_chars(text.data(), text.data() + 8, id.epoch, 16);
  if (e1 != std::errc() || p1 != text.data() + 8) return std::nullopt;
  if (dash + 1 == text.size()) return std::nullopt;
  auto [p2, e2] = std::from_chars(text.data() + dash + 1, end, id.sequence, 10);
  if (e2 != std::errc() || p2 != end) return std::nullopt;
  return id;
}

const char* channel_name_problem(std::string_view name) {
  if (name.empty()) return "the channel name is empty";
  if (name.size() > kMaxChannelName) return "the channel name is longer than 128 bytes";
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
              c == '.' || c == ':' || c == '@';
    if (!ok) return "the channel name may only contain letters, digits and _ - . : @";
  }
  return nullptr;
}

}  // namespace tether
