#include "master/listener_set.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tether {
namespace {

UniqueFd open_reuseport_socket(const ListenConfig& listen, std::string* error) {
  const SocketAddress& address = listen.address;
  UniqueFd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  int on = 1;
  auto fail = [&](const char* what) {
    *error = "cannot listen on " + address.to_string() + ": " + what + ": " + std::strerror(errno);
    return UniqueFd();
  };
  if (!fd) return fail("socket()");
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) return fail("SO_REUSEADDR");
  if (setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) return fail("SO_REUSEPORT");
  if (address.family() == AF_INET6 && setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0)
    return fail("IPV6_V6ONLY");
  if (::bind(fd.get(), address.get(), address.length) != 0) return fail("bind()");
  if (::listen(fd.get(), static_cast<int>(listen.backlog)) != 0) return fail("listen()");
  return fd;
}

// The port and whether the host is the wildcard (0.0.0.0, [::]) of an IPv4 or IPv6 address.
std::uint16_t port_of(const SocketAddress& address) {
  if (address.family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(address.get())->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(address.get())->sin6_port);
}

bool is_wildcard(const SocketAddress& address) {
  if (address.family() == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(address.get())->sin_addr.s_addr == htonl(INADDR_ANY);
  return IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(address.get())->sin6_addr);
}

// Two addresses a socket bound to one keeps the other's probe out of (IPV6_V6ONLY keeps the
// families apart): the same port, and the same host or either a wildcard.
bool overlaps(const SocketAddress& a, const SocketAddress& b) {
  if (a.family() != b.family() || port_of(a) != port_of(b)) return false;
  return is_wildcard(a) || is_wildcard(b) || a == b;
}

bool socket_overlaps(int fd, const SocketAddress& address) {
  SocketAddress bound;
  bound.length = sizeof bound.storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound.storage), &bound.length) != 0) return false;
  return (bound.family() == AF_INET || bound.family() == AF_INET6) && overlaps(bound, address);
}

// SO_REUSEPORT lets any process of the same user join an address and take a share of its
// connections: a second tether would start and serve a third of the requests with its own
// broker. So before the first socket of an address opens, a probe binds it without SO_REUSEPORT,
// which fails while anyone holds the address. (SO_REUSEADDR only lets it past connections in
// TIME_WAIT.) The probe is closed before the real sockets open, since it would keep them out
// too: a process that binds the address in those few system calls is not seen.
bool address_is_free(const SocketAddress& address, std::string* error) {
  UniqueFd probe(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  int on = 1;
  if (!probe || setsockopt(probe.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0 ||
      (address.family() == AF_INET6 && setsockopt(probe.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) != 0))
    return true;  // no probe: opening the real sockets reports what is wrong
  if (::bind(probe.get(), address.get(), address.length) == 0 || errno != EADDRINUSE) return true;
  *error = "cannot listen on " + address.to_string() + ": the address is already in use by another process" +
           " (another tether?)";
  return false;
}

}  // namespace

// The master's own sockets keep the probe out too: 127.0.0.1:P while it holds 0.0.0.0:P (a
// reload changing the host, or one config listing both), or an address a reload retired whose
// sockets stay open until the old generation stopped accepting. Such an address is not probed.
// (Another process sharing it with the master's sockets is then not seen, as before the probe.)
bool ListenerSet::holds_overlapping(const SocketAddress& address, const std::vector<int>& retired) const {
  for (const auto& [name, held] : addresses_)
    if (!held.slots.empty() && socket_overlaps(held.slots.front().get(), address)) return true;
  return std::any_of(retired.begin(), retired.end(), [&](int fd) { return socket_overlaps(fd, address); });
}

bool ListenerSet::prepare(const Config& config, unsigned workers, const std::vector<int>& retired, std::string* error) {
  for (const ListenConfig& listen : config.listen) {
    Address& address = addresses_[listen.address.to_string()];
    if (address.slots.empty() && !holds_overlapping(listen.address, retired) && !address_is_free(listen.address, error)) {
      rollback_staged();
      return false;
    }
    while (address.slots.size() < workers) {
      UniqueFd fd = open_reuseport_socket(listen, error);
      if (!fd) {
        rollback_staged();
        return false;
      }
      address.slots.push_back(std::move(fd));
    }
  }
  return true;
}

void ListenerSet::commit_staged() {
  for (auto& [name, address] : addresses_) address.committed = address.slots.size();
}

void ListenerSet::rollback_staged() {
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    it->second.slots.resize(it->second.committed);
    it = it->second.slots.empty() ? addresses_.erase(it) : std::next(it);
  }
}

std::vector<UniqueFd> ListenerSet::retire_unlisted(const Config& config) {
  std::vector<UniqueFd> retired;
  for (auto it = addresses_.begin(); it != addresses_.end();) {
    bool listed = false;
    for (const ListenConfig& listen : config.listen) listed = listed || listen.address.to_string() == it->first;
    if (listed) {
      ++it;
      continue;
    }
    for (UniqueFd& fd : it->second.slots) retired.push_back(std::move(fd));
    it = addresses_.erase(it);
  }
  return retired;
}

std::vector<ListenSocket> ListenerSet::fds_for_slot(const Config& config, unsigned slot, unsigned workers) const {
  std::vector<ListenSocket> sockets;
  for (std::size_t index = 0; index < config.listen.size(); ++index) {
    auto it = addresses_.find(config.listen[index].address.to_string());
    if (it == addresses_.end()) continue;
    for (std::size_t s = slot; s < it->second.slots.size(); s += workers)
      sockets.push_back(ListenSocket{it->second.slots[s].get(), index});
  }
  return sockets;
}

std::vector<int> ListenerSet::all_fds() const {
  std::vector<int> fds;
  for (const auto& [name, address] : addresses_)
    for (const UniqueFd& fd : address.slots) fds.push_back(fd.get());
  return fds;
}

}  // namespace tether
