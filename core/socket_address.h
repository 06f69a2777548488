// A listen address: "127.0.0.1:8080", "[::1]:8080", "*:8080" (all IPv4) or "[::]:8080".
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <optional>
#include <string>
#include <string_view>

namespace tether {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  // Canonical text form ("127.0.0.1:8080", "[::1]:8080"): the identity of a listener across reloads.
  std::string to_string() const;
  bool operator==(const SocketAddress& other) const { return to_string() == other.to_string(); }
};

// Parses the forms above; on failure returns nullopt and sets *why to a short reason.
std::optional<SocketAddress> parse_socket_address(std::string_view text, std::string* why);

}  // namespace tether
