#include "core/socket_address.h"

#include <gtest/gtest.h>

using tether::parse_socket_address;

TEST(SocketAddress, ParsesIPv4AndIPv6WithPort) {
  std::string why;
  auto v4 = parse_socket_address("127.0.0.1:8080", &why);
  ASSERT_TRUE(v4) << why;
  EXPECT_EQ(v4->family(), AF_INET);
  EXPECT_EQ(v4->to_string(), "127.0.0.1:8080");
  auto v6 = parse_socket_address("[::1]:443", &why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->family(), AF_INET6);
  EXPECT_EQ(v6->to_string(), "[::1]:443");
  auto any = parse_socket_address("*:80", &why);
  ASSERT_TRUE(any) << why;
  EXPECT_EQ(any->to_string(), "0.0.0.0:80");
}

TEST(SocketAddress, RejectsWhatIsNotAnAddressWithAReason) {
  std::string why;
  EXPECT_FALSE(parse_socket_address("localhost:80", &why));
  EXPECT_NE(why.find("not an IPv4 address"), std::string::npos);
  EXPECT_FALSE(parse_socket_address("127.0.0.1", &why));
  EXPECT_FALSE(parse_socket_address("127.0.0.1:0", &why));
  EXPECT_NE(why.find("port"), std::string::npos);
  EXPECT_FALSE(parse_socket_address("127.0.0.1:70000", &why));
  EXPECT_FALSE(parse_socket_address("::1:80", &why));
  EXPECT_FALSE(parse_socket_address("[::1]80", &why));
  EXPECT_FALSE(parse_socket_address("[zz::1]:80", &why));
}

TEST(SocketAddress, RejectsAHostWithANulInsteadOfReadingUpToIt) {
  std::string why;
  using namespace std::string_view_literals;
  EXPECT_FALSE(parse_socket_address("127.0.0.1\0junk:80"sv, &why));
  EXPECT_NE(why.find("not an IPv4 address"), std::string::npos) << why;
  EXPECT_FALSE(parse_socket_address("[::1\0junk]:80"sv, &why));
  EXPECT_NE(why.find("not an IPv6 address"), std::string::npos) << why;
}
