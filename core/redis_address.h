// Where a Redis server listens, as [pubsub.redis] addresses gives it: "host:port",
// "[ipv6]:port" or "unix:/absolute/path".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tether {

struct RedisAddress {
  std::string host;  // empty for a unix socket; an IPv6 address without its brackets
  int port = 0;
  std::string path;  // unix socket

  // nullopt, with *why set when given, for anything else.
  static std::optional<RedisAddress> parse(std::string_view text, std::string* why = nullptr);
  std::string to_string() const;
};

}  // namespace tether
