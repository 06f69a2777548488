#include "worker/http/router.h"

#include <gtest/gtest.h>

using tether::RouteConfig;
using tether::Router;

namespace {
RouteConfig route(std::string path, bool prefix, int status) {
  RouteConfig r;
  r.path = std::move(path);
  r.prefix = prefix;
  r.respond.status = status;
  return r;
}
}  // namespace

TEST(Router, ExactRouteMatchesOnlyItsPath) {
  std::vector<RouteConfig> routes{route("/", false, 200)};
  Router router(routes);
  ASSERT_NE(router.match("/"), nullptr);
  EXPECT_EQ(router.match("/x"), nullptr);
  EXPECT_EQ(router.match(""), nullptr);
}

TEST(Router, QueryStringAndFragmentAreIgnored) {
  std::vector<RouteConfig> routes{route("/a", false, 201)};
  Router router(routes);
  ASSERT_NE(router.match("/a?x=1"), nullptr);
  ASSERT_NE(router.match("/a#top"), nullptr);
  EXPECT_EQ(router.match("/a/b?x"), nullptr);
}

TEST(Router, ExactBeatsPrefixAndLongestPrefixWins) {
  std::vector<RouteConfig> routes{route("/", true, 1), route("/static/", true, 2), route("/static/img/", true, 3),
                                  route("/static/index", false, 4)};
  Router router(routes);
  EXPECT_EQ(router.match("/anything")->respond.status, 1);
  EXPECT_EQ(router.match("/static/app.js")->respond.status, 2);
  EXPECT_EQ(router.match("/static/img/a.png")->respond.status, 3);
  EXPECT_EQ(router.match("/static/index")->respond.status, 4);
  EXPECT_EQ(router.match("/static")->respond.status, 1);
}

TEST(Router, FirstOfEqualPrefixesWins) {
  std::vector<RouteConfig> routes{route("/a/", true, 1), route("/a/", true, 2)};
  Router router(routes);
  EXPECT_EQ(router.match("/a/b")->respond.status, 1);
}
