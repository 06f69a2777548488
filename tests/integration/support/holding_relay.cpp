#include "support/holding_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

namespace tether::test {

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  return address;
}

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

HoldingRelay::HoldingRelay(int redis_port) : redis_port_(redis_port) {
  listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address = loopback(0);
  socklen_t length = sizeof address;
  if (listener_ < 0 || ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(listener_, 16) != 0 || ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      ::pipe2(wake_, O_CLOEXEC) != 0)
    throw std::runtime_error("holding relay: cannot listen on loopback");
  port_ = ntohs(address.sin_port);
  thread_ = std::thread([this] { run(); });
}

HoldingRelay::~HoldingRelay() {
  stop_ = true;
  char byte = 0;
  (void)!::write(wake_[1], &byte, 1);
  thread_.join();
  for (Pair& pair : pairs_) {
    ::close(pair.client);
    ::close(pair.redis);
  }
  ::close(listener_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

void HoldingRelay::hold(Kind kind, Way way, bool held) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    held_[static_cast<int>(kind)][static_cast<int>(way)] = held;
  }
  char byte = 0;
  (void)!::write(wake_[1], &byte, 1);
}

void HoldingRelay::run() {
  while (!stop_) {
    std::vector<pollfd> fds{{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const Pair& pair : pairs_) {
        fds.push_back({pair.client, POLLIN, 0});
        fds.push_back({pair.redis, POLLIN, 0});
      }
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    if (fds[1].revents & POLLIN) {
      char bytes[64];
      (void)!::read(wake_[0], bytes, sizeof bytes);
    }
    if (fds[0].revents & POLLIN) {
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      int redis = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_in address = loopback(redis_port_);
      if (client >= 0 && redis >= 0 && ::connect(redis, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
        pairs_.push_back(Pair{client, redis, Kind::commands, {}});
      } else {
        if (client >= 0) ::close(client);
        if (redis >= 0) ::close(redis);
      }
    }
    // The pairs polled are the first ones of pairs_ (an accepted one comes after them).
    std::size_t polled = (fds.size() - 2) / 2;
    std::vector<bool> gone(pairs_.size(), false);
    for (std::size_t i = 0; i < polled; ++i) {
      if ((fds[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) && !relay(pairs_[i], Way::to_redis)) gone[i] = true;
      if (!gone[i] && (fds[3 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) && !relay(pairs_[i], Way::to_client))
        gone[i] = true;
    }
    for (std::size_t i = 0; i < pairs_.size(); ++i)
      if (!gone[i]) {
        flush(pairs_[i], Way::to_redis);
        flush(pairs_[i], Way::to_client);
      }
    for (std::size_t i = pairs_.size(); i-- > 0;) {
      if (!gone[i]) continue;
      ::close(pairs_[i].client);
      ::close(pairs_[i].redis);
      pairs_.erase(pairs_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
}

// Reads what one side sent and keeps it for the other; false once that side is gone.
bool HoldingRelay::relay(Pair& pair, Way way) {
  char bytes[16384];
  ssize_t n = ::read(way == Way::to_redis ? pair.client : pair.redis, bytes, sizeof bytes);
  if (n <= 0) return false;
  std::string& kept = pair.kept[static_cast<int>(way)];
  kept.append(bytes, static_cast<std::size_t>(n));
  if (way == Way::to_redis && kept.find("SUBSCRIBE") != std::string::npos) pair.kind = Kind::subscriber;
  return true;
}

void HoldingRelay::flush(Pair& pair, Way way) {
  std::string& kept = pair.kept[static_cast<int>(way)];
  if (kept.empty() || held(pair.kind, way)) return;
  send_all(way == Way::to_redis ? pair.redis : pair.client, kept);
  kept.clear();
}

}  // namespace tether::test
