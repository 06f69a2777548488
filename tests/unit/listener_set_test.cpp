// The master's listening sockets across reloads: what prepare() opens, and which addresses its
// probe for another process (item 13 of issue 11) must not take for someone else's.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "core/config_parser.h"
#include "master/listener_set.h"

using namespace tether;

namespace {

// A TCP port on 127.0.0.1 that is free right now.
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

Config config_listening_on(std::initializer_list<std::string> addresses) {
  std::string text;
  for (const std::string& address : addresses) text += "[[listen]]\naddress = \"" + address + "\"\n";
  ConfigLoadResult loaded = parse_config_text(text, "test.toml");
  EXPECT_TRUE(loaded.errors.empty()) << loaded.errors.front().to_string();
  return *loaded.config;
}

std::vector<int> fds_of(const std::vector<UniqueFd>& sockets) {
  std::vector<int> fds;
  for (const UniqueFd& fd : sockets) fds.push_back(fd.get());
  return fds;
}

}  // namespace

// A reload re-adding an address the previous one retired, while the old generation (still
// accepting) keeps the retired sockets open.
TEST(ListenerSet, AnAddressStillOpenAmongRetiredListenersIsReopenedNotRefused) {
  std::string kept = "127.0.0.1:" + std::to_string(free_port());
  std::string dropped = "127.0.0.1:" + std::to_string(free_port());
  ListenerSet listeners;
  std::string why;
  Config both = config_listening_on({kept, dropped});
  ASSERT_TRUE(listeners.prepare(both, 2, {}, &why)) << why;
  listeners.commit_staged();
  Config one = config_listening_on({kept});
  ASSERT_TRUE(listeners.prepare(one, 2, {}, &why)) << why;
  listeners.commit_staged();
  std::vector<UniqueFd> retired = listeners.retire_unlisted(one);
  ASSERT_EQ(retired.size(), 2u);
  EXPECT_TRUE(listeners.prepare(both, 2, fds_of(retired), &why)) << why;
}

TEST(ListenerSet, TheWildcardAndALoopbackAddressOfOnePortOpenTogether) {
  int port = free_port();
  ListenerSet listeners;
  std::string why;
  Config config = config_listening_on({"0.0.0.0:" + std::to_string(port), "127.0.0.1:" + std::to_string(port)});
  EXPECT_TRUE(listeners.prepare(config, 2, {}, &why)) << why;
  // Held by no one else: another process's socket on the port is still seen.
  int other_port = free_port();
  int holder = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(other_port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(holder, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(holder, 8), 0);
  EXPECT_FALSE(listeners.prepare(config_listening_on({"0.0.0.0:" + std::to_string(other_port)}), 2, {}, &why));
  EXPECT_NE(why.find("already in use by another process"), std::string::npos) << why;
  ::close(holder);
}
