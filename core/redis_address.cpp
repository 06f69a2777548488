#include "core/redis_address.h"

#include <charconv>

namespace tether {

namespace {

std::optional<RedisAddress> refuse(std::string* why, const char* reason) {
  if (why) *why = reason;
  return std::nullopt;
}

// Host names and addresses as hiredis hands them to getaddrinfo: printable, no spaces.
bool plain_host(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (char c : host)
    if (c <= ' ' || c >= 0x7f || c == '/' || c == '[' || c == ']') return false;
  return true;
}

}  // namespace

std::optional<RedisAddress> RedisAddress::parse(std::string_view text, std::string* why) {
  RedisAddress address;
  if (text.starts_with("unix:")) {
    address.path = std::string(text.substr(5));
    if (address.path.empty() || address.path.front() != '/')
      return refuse(why, "a unix socket address needs an absolute path: \"unix:/run/redis/redis.sock\"");
    if (address.path.find('\0') != std::string::npos) return refuse(why, "the path must not contain a NUL character");
    if (address.path.size() >= 108) return refuse(why, "the socket path is longer than a unix socket allows (107 bytes)");
    return address;
  }
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return refuse(why, "must be \"host:port\", \"[ipv6]:port\" or \"unix:/path\"");
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  else if (host.find(':') != std::string_view::npos) return refuse(why, "an IPv6 address needs brackets: \"[::1]:6379\"");
  if (!plain_host(host)) return refuse(why, "the host must be a name or an address without spaces");
  auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), address.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || address.port < 1 || address.port > 65535)
    return refuse(why, "the port must be a number from 1 to 65535");
  address.host = std::string(host);
  return address;
}

std::string RedisAddress::to_string() const {
  if (!path.empty()) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

}  // namespace tether
