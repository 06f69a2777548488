// Streamed responses and protocol upgrades through the module API (the probe test module).
#include <gtest/gtest.h>

#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {
const std::string kProbe = "[modules.probe]\npath = \"" + std::string(TETHER_TEST_MODULES_DIR) + "/probe_v1.so\"\n"
                           "[[route]]\npath = \"/stream\"\nhandler = \"probe\"\n[route.probe]\naction = \"stream\"\n"
                           "[[route]]\npath = \"/flood\"\nhandler = \"probe\"\n[route.probe]\naction = \"flood\"\n"
                           "[[route]]\npath = \"/echo\"\nhandler = \"probe\"\n[route.probe]\naction = \"echo\"\n"
                           "[[route]]\npath = \"/version\"\nhandler = \"probe\"\n";
}

TEST(Streaming, ChunksArriveOverTimeAndPipelinedRequestsFollow) {
  TetherServer server(2, kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\nGET /version HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto streamed = client.read_response();
  ASSERT_TRUE(streamed);
  EXPECT_EQ(streamed->header("transfer-encoding"), "chunked");
  EXPECT_EQ(streamed->header("content-length"), "");
  EXPECT_EQ(streamed->body, "chunk 1\nchunk 2\nchunk 3\nchunk 4\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 180ms);
  auto next = client.read_response();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->body, "probe 1\n");
}

TEST(Streaming, CurlReadsTheWholeStream) {
  TetherServer server(1, kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string output;
  EXPECT_EQ(run_command("curl -sS http://127.0.0.1:" + std::to_string(server.port()) + "/stream", &output), 0);
  EXPECT_EQ(output, "chunk 1\nchunk 2\nchunk 3\nchunk 4\n");
}

TEST(Streaming, BackpressureDeliversEveryByteToASlowReader) {
  TetherServer server(1, kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient slow;
  slow.set_receive_buffer(64 * 1024);
  ASSERT_TRUE(slow.connect(server.port()));
  ASSERT_TRUE(slow.send("GET /flood HTTP/1.1\r\nHost: t\r\n\r\n"));
  // Not reading for a while is the behaviour under test: 32 MiB cannot fit in the socket buffers.
  std::this_thread::sleep_for(300ms);
  auto response = slow.read_response(20s);
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body.size(), 32u * 1024 * 1024);
  EXPECT_EQ(response->body.find_first_not_of('x'), std::string::npos);
  ASSERT_TRUE(server.wait_for_log("flood done after", 2s)) << server.error_log();
  std::string log = server.error_log();
  int waits = std::stoi(log.substr(log.find("flood done after ") + 17));
  EXPECT_GT(waits, 0) << log;
}

// header_timeout bounds a write that makes no progress, not a long answer to a client that reads
// it steadily: 32 MiB read at ~10 MB/s keep writes in flight for seconds, past a 500 ms timeout.
TEST(Streaming, AReaderThatIsSlowButSteadyIsNotCutOffByTheSendTimeout) {
  TetherServer server(1, "[limits]\nheader_timeout = \"500ms\"\n" + kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient slow;
  slow.set_receive_buffer(32 * 1024);
  ASSERT_TRUE(slow.connect(server.port()));
  ASSERT_TRUE(slow.send("GET /flood HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::string received;
  bool closed = false;
  auto start = std::chrono::steady_clock::now();
  while (!closed && received.size() < 32u * 1024 * 1024 && std::chrono::steady_clock::now() - start < 20s) {
    receive_some(slow.fd(), std::chrono::steady_clock::now() + 2s, &received, &closed);
    std::this_thread::sleep_for(std::chrono::microseconds(2500));
  }
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GT(received.size(), 32u * 1024 * 1024) << "cut off after " << received.size() << " bytes";
  EXPECT_GT(took, 1s) << "the reader was not slow enough to test anything";
}

// And a client that stops reading altogether is closed once header_timeout passes without progress.
TEST(Streaming, AReaderThatStopsIsClosedAfterTheSendTimeout) {
  TetherServer server(1, "[limits]\nheader_timeout = \"500ms\"\n" + kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient stuck;
  stuck.set_receive_buffer(32 * 1024);
  ASSERT_TRUE(stuck.connect(server.port()));
  ASSERT_TRUE(stuck.send("GET /flood HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::this_thread::sleep_for(1500ms);  // not reading
  EXPECT_TRUE(stuck.wait_closed(5s)) << "a client that reads nothing kept its stream";
}

TEST(Streaming, AClientLeavingMidStreamIsNoticed) {
  std::string config = kProbe;
  config.insert(config.find("[[route]]"), "log_closed = true\n");
  TetherServer server(1, config);
  ASSERT_TRUE(server.start()) << server.error_log();
  for (int i = 0; i < 5; ++i) {
    HttpClient leaver;
    ASSERT_TRUE(leaver.connect(server.port()));
    ASSERT_TRUE(leaver.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
    std::string received;
    bool closed = false;
    auto deadline = std::chrono::steady_clock::now() + 2s;
    while (received.find("chunk 1\n") == std::string::npos && receive_some(leaver.fd(), deadline, &received, &closed)) {
    }
    ASSERT_NE(received.find("chunk 1\n"), std::string::npos) << "the head and a chunk are not out: " << received;
  }  // each closes mid-stream: the module's on_close frees its timer and state
  // start() made a connection too; every one of the five is noticed.
  ASSERT_TRUE(server.wait_for_log("[probe] closed 127.0.0.1", 3s, 6)) << server.error_log();
  auto version = http_get(server.port(), "/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->body, "probe 1\n");
}

TEST(Upgrade, TheModuleGetsTheRawBytesIncludingThoseSentWithTheRequest) {
  TetherServer server(2, kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.send("GET /echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: probe-echo\r\n\r\nhello"));
  auto switched = client.read_response();
  ASSERT_TRUE(switched);
  EXPECT_EQ(switched->status, 101);
  EXPECT_EQ(switched->header("upgrade"), "probe-echo");
  EXPECT_EQ(switched->header("connection"), "Upgrade");
  EXPECT_EQ(client.read_bytes(5), "hello");
  ASSERT_TRUE(client.send("GET / HTTP/1.1\r\n\r\n"));  // not HTTP any more: echoed as bytes
  EXPECT_EQ(client.read_bytes(18), "GET / HTTP/1.1\r\n\r\n");
  ASSERT_TRUE(client.send("bye"));
  EXPECT_EQ(client.read_bytes(3), "bye");
  EXPECT_TRUE(client.wait_closed(3s));
}

TEST(Upgrade, WithoutTheUpgradeHeaderTheModuleAnswersNormally) {
  TetherServer server(1, kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto answer = http_get(server.port(), "/echo");
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->status, 426);
}

// A stream whose client is cut off for flooding (more pipelined input than a request in progress
// may keep) still ends when its module says so: the module frees its state after stream_end(),
// and no on_close may follow (under ASan, one would be a use after free that kills the worker).
TEST(Streaming, AStreamWhoseClientWasCutOffEndsWhenItsModuleEndsIt) {
  TetherServer server(1, "[limits]\nmax_header_size = \"1KiB\"\nmax_body_size = \"1KiB\"\n" + kProbe);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto workers = server.worker_pids();
  HttpClient flooder;
  ASSERT_TRUE(flooder.connect(server.port()));
  ASSERT_TRUE(flooder.send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(flooder.read_bytes(9, 2s).rfind("HTTP/1.1 ", 0) == 0);  // streaming
  ASSERT_TRUE(flooder.send(std::string(8192, 'x')));
  std::this_thread::sleep_for(600ms);  // the probe ended its stream after four 50 ms ticks
  flooder.close();
  std::this_thread::sleep_for(200ms);
  auto version = http_get(server.port(), "/version");
  ASSERT_TRUE(version) << server.error_log();
  EXPECT_EQ(version->status, 200);
  EXPECT_EQ(server.worker_pids(), workers) << server.error_log();
}
