#include "core/units.h"

#include <charconv>
#include <limits>

namespace tether {
namespace {

struct NumberAndSuffix {
  std::uint64_t number;
  std::string_view suffix;
};

std::optional<NumberAndSuffix> split_number(std::string_view text) {
  std::uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc{} || end == text.data()) return std::nullopt;
  return NumberAndSuffix{number, text.substr(static_cast<std::size_t>(end - text.data()))};
}

std::optional<std::uint64_t> checked_multiply(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::nullopt;
  return a * b;
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  std::uint64_t scale = 0;
  if (parts->suffix == "ms") scale = 1;
  else if (parts->suffix == "s") scale = 1000;
  else if (parts->suffix == "m") scale = 60'000;
  else if (parts->suffix == "h") scale = 3'600'000;
  else if (parts->suffix == "d") scale = 86'400'000;
  else if (parts->suffix.empty() && parts->number == 0) scale = 1;
  else return std::nullopt;
  auto ms = checked_multiply(parts->number, scale);
  if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  std::uint64_t scale = 0;
  if (parts->suffix.empty() || parts->suffix == "B") scale = 1;
  else if (parts->suffix == "KiB") scale = 1ULL << 10;
  else if (parts->suffix == "MiB") scale = 1ULL << 20;
  else if (parts->suffix == "GiB") scale = 1ULL << 30;
  else if (parts->suffix == "KB") scale = 1000;
  else if (parts->suffix == "MB") scale = 1000 * 1000;
  else if (parts->suffix == "GB") scale = 1000 * 1000 * 1000;
  else return std::nullopt;
  return checked_multiply(parts->number, scale);
}

}  // namespace tether
