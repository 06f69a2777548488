// The auth module's `backend` setting (modules/auth/backend_url.h): what is taken, what the
// config check refuses and with which message.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>

#include "../../modules/auth/backend_url.h"

namespace {

std::string problem(const std::string& text) {
  backend_url url;
  const char* why = backend_url_parse(text.data(), text.size(), &url);
  return why ? why : "ok";
}

backend_url parsed(const std::string& text) {
  backend_url url;
  const char* why = backend_url_parse(text.data(), text.size(), &url);
  EXPECT_EQ(why, nullptr) << text << ": " << why;
  return url;
}

int port_of(const backend_url& url) {
  return ntohs(url.address.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&url.address)->sin_port
                                                : reinterpret_cast<const sockaddr_in6*>(&url.address)->sin6_port);
}

TEST(BackendUrl, TakesAnIpv4HostWithPortAndPath) {
  backend_url url = parsed("http://127.0.0.1:9000/auth");
  EXPECT_EQ(url.address.ss_family, AF_INET);
  EXPECT_EQ(url.address_length, sizeof(sockaddr_in));
  EXPECT_EQ(port_of(url), 9000);
  EXPECT_STREQ(url.host, "127.0.0.1:9000");
  EXPECT_STREQ(url.path, "/auth");
}

TEST(BackendUrl, DefaultsToPort80AndPathSlash) {
  backend_url url = parsed("http://10.1.2.3");
  EXPECT_EQ(port_of(url), 80);
  EXPECT_STREQ(url.host, "10.1.2.3");
  EXPECT_STREQ(url.path, "/");
}

TEST(BackendUrl, TakesABracketedIpv6Host) {
  backend_url url = parsed("http://[::1]:8080/a/b?realm=ws");
  EXPECT_EQ(url.address.ss_family, AF_INET6);
  EXPECT_EQ(port_of(url), 8080);
  EXPECT_STREQ(url.host, "[::1]:8080");
  EXPECT_STREQ(url.path, "/a/b?realm=ws");
  EXPECT_EQ(port_of(parsed("http://[2001:db8::1]/")), 80);
}

TEST(BackendUrl, TakesLocalhostAsTheLoopbackAddress) {
  backend_url url = parsed("http://LocalHost:81/x");
  ASSERT_EQ(url.address.ss_family, AF_INET);
  EXPECT_EQ(reinterpret_cast<const sockaddr_in*>(&url.address)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_STREQ(url.host, "LocalHost:81");
}

TEST(BackendUrl, TheSchemeIsCaseInsensitive) { EXPECT_EQ(problem("HTTP://127.0.0.1/"), "ok"); }

TEST(BackendUrl, RefusesOtherSchemes) {
  EXPECT_EQ(problem("https://127.0.0.1/auth"),
            "the backend URL must be http:// (https is not supported: keep the backend on a trusted network)");
  EXPECT_EQ(problem("ftp://127.0.0.1/"), "the backend URL must start with http://");
  EXPECT_EQ(problem("127.0.0.1:9000/auth"), "the backend URL must start with http://");
  EXPECT_EQ(problem(""), "the backend URL is empty");
}

TEST(BackendUrl, RefusesHostNamesBecauseNothingIsResolvedAtRequestTime) {
  const std::string no_dns =
      "the backend URL's host must be an IPv4 address, an [IPv6] address or localhost (no DNS)";
  EXPECT_EQ(problem("http://auth.internal/"), no_dns);
  EXPECT_EQ(problem("http://127.1/"), no_dns);
  EXPECT_EQ(problem("http://0177.0.0.1/"), no_dns);
  EXPECT_EQ(problem("http://256.0.0.1/"), no_dns);
  EXPECT_EQ(problem("http:///auth"), "the backend URL has no host");
  EXPECT_EQ(problem("http://:80/auth"), "the backend URL has no host");
}

TEST(BackendUrl, RefusesBadIpv6Literals) {
  EXPECT_EQ(problem("http://[::1/"), "the backend URL's [IPv6] host has no ']'");
  EXPECT_EQ(problem("http://[zz::1]/"), "the backend URL's [IPv6] host is not an IPv6 address");
  EXPECT_EQ(problem("http://[fe80::1%25eth0]/"),
            "the backend URL's [IPv6] host is not an IPv6 address (zone ids are not supported)");
  EXPECT_EQ(problem("http://[::1]x/"), "the backend URL's host must be followed by ':port', '/' or nothing");
  EXPECT_EQ(problem("http://::1/"), "the backend URL's port must be a number");
}

TEST(BackendUrl, RefusesBadPorts) {
  EXPECT_EQ(problem("http://127.0.0.1:/"), "the backend URL's port is missing after ':'");
  EXPECT_EQ(problem("http://127.0.0.1:0/"), "the backend URL's port must be 1..65535");
  EXPECT_EQ(problem("http://127.0.0.1:65536/"), "the backend URL's port must be 1..65535");
  EXPECT_EQ(problem("http://127.0.0.1:1234567/"), "the backend URL's port must be 1..65535");
  EXPECT_EQ(problem("http://127.0.0.1:8o/"), "the backend URL's port must be a number");
  EXPECT_EQ(problem("http://127.0.0.1:-1/"), "the backend URL's port must be a number");
  EXPECT_EQ(port_of(parsed("http://127.0.0.1:65535/")), 65535);
}

TEST(BackendUrl, RefusesUserInfoFragmentsAndAQueryWithoutPath) {
  EXPECT_EQ(problem("http://user:pw@127.0.0.1/"), "the backend URL must not hold user info ('user@')");
  EXPECT_EQ(problem("http://127.0.0.1/auth#x"), "the backend URL must not have a fragment ('#')");
  EXPECT_EQ(problem("http://127.0.0.1?x=1"), "the backend URL needs a '/' before its query");
}

TEST(BackendUrl, RefusesBytesThatCannotGoInARequestLine) {
  const std::string printable = "the backend URL may only hold printable ASCII without spaces (%-escape the rest)";
  EXPECT_EQ(problem("http://127.0.0.1/a b"), printable);
  EXPECT_EQ(problem("http://127.0.0.1/a\r\nHost: x"), printable);
  EXPECT_EQ(problem("http://127.0.0.1/caf\xc3\xa9"), printable);
  EXPECT_EQ(problem(std::string("http://127.0.0.1/a\0b", 20)), "the backend URL holds a NUL byte");
  EXPECT_EQ(problem("http://127.0.0.1/a\\b"), "the backend URL must not hold a backslash");
  EXPECT_EQ(problem("http://127.0.0.1/a%2"),
            "the backend URL has a bad %-escape (a '%' must be followed by two hex digits)");
  EXPECT_EQ(problem("http://127.0.0.1/a%zz"),
            "the backend URL has a bad %-escape (a '%' must be followed by two hex digits)");
  EXPECT_EQ(problem("http://127.0.0.1/a%2F"), "ok");
}

TEST(BackendUrl, RefusesAnOverlongUrl) {
  EXPECT_EQ(problem("http://127.0.0.1/" + std::string(BACKEND_URL_MAX, 'a')), "the backend URL is longer than 1023 bytes");
  EXPECT_EQ(problem("http://127.0.0.1/" + std::string(BACKEND_URL_MAX - 18, 'a')), "ok");
}

}  // namespace
