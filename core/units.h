// Parsing of the human units used in tether.toml: durations ("30s", "250ms") and sizes ("64KiB").
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tether {

// "250ms", "30s", "5m", "1h", "1d"; a bare "0" is zero. Returns nullopt on anything else.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// "512", "512B", "64KiB", "16MiB", "1GiB" (powers of 1024) and "64KB", "1MB" (powers of 1000).
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace tether
