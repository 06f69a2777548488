#include "core/socket_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace tether {

std::string SocketAddress::to_string() const {
  char host[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  const auto* in4 = reinterpret_cast<const sockaddr_in*>(&storage);
  inet_ntop(AF_INET, &in4->sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(in4->sin_port));
}

namespace {
// inet_pton reads up to the first NUL: "127.0.0.1\0junk" must not pass as 127.0.0.1.
bool whole_c_string(const std::string& text) { return text.find('\0') == std::string::npos; }
}  // namespace

std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string* why) {
  std::string host;
  std::string_view port_text;
  bool v6 = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *why = "expected \"[IPv6]:port\"";
      return std::nullopt;
    }
    host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
    v6 = true;
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *why = "expected \"host:port\" (IPv6 as \"[addr]:port\")";
      return std::nullopt;
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host == "*") host = "0.0.0.0";
  }
  unsigned port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
    *why = "port must be a number from 1 to 65535";
    return std::nullopt;
  }
  SocketAddress address;
  if (v6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&address.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<uint16_t>(port));
    if (!whole_c_string(host) || inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) != 1) {
      *why = "\"" + host + "\" is not an IPv6 address";
      return std::nullopt;
    }
    address.length = sizeof(sockaddr_in6);
  } else {
    auto* in4 = reinterpret_cast<sockaddr_in*>(&address.storage);
    in4->sin_family = AF_INET;
    in4->sin_port = htons(static_cast<uint16_t>(port));
    if (!whole_c_string(host) || inet_pton(AF_INET, host.c_str(), &in4->sin_addr) != 1) {
      *why = "\"" + host + "\" is not an IPv4 address (names are not resolved)";
      return std::nullopt;
    }
    address.length = sizeof(sockaddr_in);
  }
  return address;
}

}  // namespace tether
