// Connection on a real libuv loop, with a host that keeps its live connections the way the
// worker does (an IntrusiveList it alone links and unlinks).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <memory>
#include <vector>

#include "core/config.h"
#include "core/intrusive_list.h"
#include "worker/http/access_log.h"
#include "worker/http/router.h"
#include "worker/transport/connection.h"

using tether::Connection;
using tether::IntrusiveList;

namespace {

class ListingHost final : public tether::ConnectionHost {
 public:
  ListingHost() : router_(std::vector<tether::RouteConfig>{}) { uv_loop_init(&loop_); }
  ~ListingHost() override {
    connections.for_each([](Connection& c) { c.close_now(); });
    run_until([this] { return connections.empty(); });
    uv_run(&loop_, UV_RUN_DEFAULT);
    uv_loop_close(&loop_);
  }

  // Starts a connection and, as the worker does, lists it if start() hands it over.
  Connection* start(int fd) {
    Connection* c = Connection::start(*this, fd, listener_, nullptr, 0);
    if (c) connections.push_front(*c);
    return c;
  }
  // Runs the loop until `done` holds (false after many turns without it).
  bool run_until(const std::function<bool()>& done) {
    for (int turn = 0; turn < 1000 && !done(); ++turn) uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }

  uv_loop_t* loop() override { return &loop_; }
  const tether::LimitsConfig& limits() const override { return limits_; }
  const tether::HttpLimits& http_limits() const override { return http_limits_; }
  const tether::Router& router() const override { return router_; }
  tether::AccessLog& access_log() override { return access_log_; }
  tether::RequestDispatcher* dispatcher() override { return nullptr; }
  tether::PubsubHub& hub() override { std::abort(); }  // no module streams here
  std::size_t metrics_slot() const override { return 0; }
  void after_late_answer(Connection&) override {}  // no dispatcher: nothing is answered late
  void on_connection_closed(Connection& c) override {
    ++closes_reported;
    connections.remove(c);
  }

  IntrusiveList<Connection> connections;
  int closes_reported = 0;

 private:
  uv_loop_t loop_;
  tether::LimitsConfig limits_;
  tether::HttpLimits http_limits_;
  tether::Router router_;
  tether::AccessLog access_log_;
  tether::Listener listener_;
};

struct SocketPair {
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  ~SocketPair() { ::close(fds[1]); }  // fds[0] belongs to the connection
  int fds[2] = {-1, -1};
};

}  // namespace

// uv_tcp_open refuses a descriptor that is not open: start() returns null, and the connection's
// close callback must leave the host's list (and its count) of the live connections alone.
TEST(Connection, ThatLibuvRefusesIsNeverReportedAndLeavesTheLiveOnesListed) {
  ListingHost host;
  SocketPair first, second;
  Connection* a = host.start(first.fds[0]);
  Connection* b = host.start(second.fds[0]);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);

  int closed_fd = dup(first.fds[1]);
  ASSERT_GE(closed_fd, 0);
  ::close(closed_fd);
  EXPECT_EQ(host.start(closed_fd), nullptr);

  // Its close callback runs on a later turn; a live connection closing shows the turn has come.
  b->close_now();
  ASSERT_TRUE(host.run_until([&] { return host.closes_reported == 1; }));
  for (int turn = 0; turn < 3; ++turn) uv_run(host.loop(), UV_RUN_NOWAIT);
  EXPECT_EQ(host.closes_reported, 1);
  ASSERT_EQ(host.connections.size(), 1u);
  EXPECT_EQ(host.connections.front(), a);
}
