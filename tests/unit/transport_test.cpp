// The transport under a Connection on a real libuv loop, over a socketpair: what its one read
// callback and its one write path promise the connection above.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "worker/transport/transport.h"

using tether::Transport;
using tether::TransportEnd;

namespace {

class Recorder final : public tether::TransportEvents {
 public:
  void on_transport_read(std::string_view plaintext, bool) override { received.append(plaintext); }
  void on_transport_end(TransportEnd how) override { ends.push_back(how); }
  void on_transport_written(int status) override { written.push_back(status); }
  void on_transport_shut_down(int status) override { shut_down.push_back(status); }
  void on_transport_closed() override { closed = true; }

  std::string received;
  std::vector<TransportEnd> ends;
  std::vector<int> written;
  std::vector<int> shut_down;
  bool closed = false;
};

class TransportTest : public ::testing::Test {
 protected:
  TransportTest() : transport_(events_) {
    uv_loop_init(&loop_);
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds_), 0);
    int small = 4096;  // so that a large write cannot go out at once
    setsockopt(fds_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    setsockopt(fds_[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    EXPECT_TRUE(transport_.open(&loop_, fds_[0], nullptr, 0));
  }
  ~TransportTest() override {
    transport_.close();
    run_until([this] { return events_.closed; });
    ::close(fds_[1]);
    uv_loop_close(&loop_);
  }

  bool run_until(const std::function<bool()>& done) {
    for (int turn = 0; turn < 10000 && !done(); ++turn) uv_run(&loop_, UV_RUN_NOWAIT);
    return done();
  }
  // What the peer has been sent so far, read without blocking.
  void drain_peer(std::string* into) {
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(fds_[1], buffer, sizeof buffer)) > 0) into->append(buffer, static_cast<std::size_t>(n));
  }

  uv_loop_t loop_;
  Recorder events_;
  Transport transport_;
  int fds_[2] = {-1, -1};
};

}  // namespace

TEST_F(TransportTest, WhatTheKernelTakesAtOnceNeedsNoCallback) {
  ASSERT_TRUE(transport_.write("HTTP/1.1 200 OK\r\n\r\n"));
  EXPECT_EQ(transport_.writes_in_flight(), 0u);
  std::string peer;
  drain_peer(&peer);
  EXPECT_EQ(peer, "HTTP/1.1 200 OK\r\n\r\n");
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_TRUE(events_.written.empty());
}

TEST_F(TransportTest, AWriteTheKernelCannotTakeAtOnceArrivesWholeAndInOrder) {
  std::string big;
  for (int i = 0; big.size() < 1024 * 1024; ++i) big += std::to_string(i) + ",";
  std::string caller_copy = big;
  ASSERT_TRUE(transport_.write(caller_copy));
  caller_copy.assign(caller_copy.size(), 'x');  // the write kept its own copy of what waits
  EXPECT_EQ(transport_.writes_in_flight(), 1u);
  ASSERT_TRUE(transport_.write("after"));  // queued behind it, never ahead
  std::string peer;
  ASSERT_TRUE(run_until([&] {
    drain_peer(&peer);
    return peer.size() >= big.size() + 5 && transport_.writes_in_flight() == 0;
  }));
  EXPECT_EQ(peer, big + "after");
  EXPECT_EQ(events_.written, (std::vector<int>{0, 0}));
}

TEST_F(TransportTest, ReadsArriveAsTheyWereSentAndTheClientsCloseEndsTheStream) {
  transport_.set_reading(true);
  ASSERT_EQ(::write(fds_[1], "GET / HTTP/1.1\r\n", 16), 16);
  ASSERT_TRUE(run_until([&] { return events_.received.size() == 16; }));
  EXPECT_EQ(events_.received, "GET / HTTP/1.1\r\n");
  ::shutdown(fds_[1], SHUT_WR);
  ASSERT_TRUE(run_until([&] { return !events_.ends.empty(); }));
  EXPECT_EQ(events_.ends, (std::vector<TransportEnd>{TransportEnd::eof}));
}

TEST_F(TransportTest, AfterOurFinReadsAreDiscarded) {
  transport_.set_reading(true);
  ASSERT_TRUE(transport_.shutdown());
  ASSERT_TRUE(run_until([&] { return !events_.shut_down.empty(); }));
  EXPECT_EQ(events_.shut_down, (std::vector<int>{0}));
  std::string peer;
  drain_peer(&peer);
  char byte;
  EXPECT_EQ(::read(fds_[1], &byte, 1), 0);  // our FIN: the peer reads end of file
  ASSERT_EQ(::write(fds_[1], "late", 4), 4);
  ::shutdown(fds_[1], SHUT_WR);
  ASSERT_TRUE(run_until([&] { return !events_.ends.empty(); }));
  EXPECT_EQ(events_.received, "");  // lingering: what the client still sends is read and dropped
}
