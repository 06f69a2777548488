// Publish/subscribe through the real server: the publish API, delivery to WebSocket and SSE
// subscribers on every worker exactly once and in order, resume from history (and the gap
// notice when history is gone), slow consumers, heartbeats and the goodbye on drain.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/config_toml.h"
#include "support/http_client.h"
#include "support/publisher.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kModulesDir = built_modules_dir_toml();

const std::string kModules = modules_toml({"health", "websocket", "sse", "keepalive"});
const std::string kPubsub = kModules + route_toml("/metrics", "health") + route_toml("/pub/*", "publish") +
                            route_toml("/ws/*", "websocket") + route_toml("/sse/*", "sse");

// kPubsub with `settings` ([route.<module>] tables) for the /ws/* route.
std::string with_ws_route_settings(const std::string& settings) {
  return kModules + route_toml("/metrics", "health") + route_toml("/pub/*", "publish") +
         route_toml("/ws/*", "websocket", settings) + route_toml("/sse/*", "sse");
}

std::string data_of(const std::string& json) { return Publisher::json_field(json, "data"); }

// SSE text with the value of each "retry: <ms>" hint replaced by "N" (they are drawn at random
// in a range), the values appended to *values.
std::string retries_as_n(const std::string& text, std::vector<unsigned long>* values) {
  std::string out;
  std::size_t at = 0;
  for (std::size_t hint; (hint = text.find("retry: ", at)) != std::string::npos;) {
    std::size_t digits = hint + 7, end = digits;
    while (end < text.size() && std::isdigit(static_cast<unsigned char>(text[end]))) ++end;
    out += text.substr(at, digits - at) + "N";
    if (end > digits) values->push_back(std::stoul(text.substr(digits, end - digits)));
    at = end;
  }
  return out + text.substr(at);
}

}  // namespace

TEST(PublishApi, PublishingAnswersTheIdAndGetDescribesTheChannel) {
  TetherServer server(2, kPubsub, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto [status, body] = publish(server.port(), "news", "first");
  EXPECT_EQ(status, 200);
  std::string id = Publisher::json_field(body, "id");
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{8}-1"))) << body;
  auto second = publish(server.port(), "news", "second");
  std::string id2 = Publisher::json_field(second.second, "id");
  EXPECT_EQ(id2.substr(0, 9), id.substr(0, 9));  // same epoch, next number
  EXPECT_EQ(id2.substr(9), "2");
  auto info = http_get(server.port(), "/pub/news");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->status, 200);
  EXPECT_EQ(info->body, "{\"channel\":\"news\",\"subscribers\":0,\"last_id\":\"" + id2 + "\",\"history\":2}\n");
}

TEST(PublishApi, BadRequestsAreRefusedSayingWhy) {
  TetherServer server(1, kPubsub + "[pubsub]\nmax_message_size = 100\n", kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  auto bad = publish(server.port(), "with%20space", "x");
  EXPECT_EQ(bad.first, 400);
  auto r = http_get(server.port(), "/pub/with%20space");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "the channel name may only contain letters, digits and _ - . : @\n");
  EXPECT_EQ(publish(server.port(), std::string(129, 'c'), "x").first, 400);
  EXPECT_EQ(publish(server.port(), "big", std::string(101, 'x')).first, 413);
  EXPECT_EQ(publish(server.port(), "big", std::string(100, 'x')).first, 200);
  HttpClient c;
  ASSERT_TRUE(c.connect(server.port()));
  c.send("DELETE /pub/x HTTP/1.1\r\nHost: x\r\n\r\n");
  auto del = c.read_response();
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 405);
  EXPECT_EQ(del->header("allow"), "GET, HEAD, POST, PUT");
}

TEST(PublishApi, ABearerTokenProtectsPublishing) {
  TetherServer server(1, kPubsub + "[pubsub]\npublish_token = \"s3cret\"\n", kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  EXPECT_EQ(publish(server.port(), "news", "x").first, 401);
  EXPECT_EQ(publish(server.port(), "news", "x", "Authorization: Bearer wrong\r\n").first, 403);
  EXPECT_EQ(publish(server.port(), "news", "x", "Authorization: Bearer s3cret\r\n").first, 200);
}

TEST(PubSub, EverySubscriberOnEveryWorkerGetsEveryMessageOnceInOrder) {
  TetherServer server(2, kPubsub, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  constexpr int kSubscribers = 40, kMessages = 200;
  std::vector<std::unique_ptr<WsClient>> subscribers;
  for (int i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(std::make_unique<WsClient>());
    ASSERT_EQ(subscribers.back()->open(server.port(), "/ws/news"), 101);
  }
  // The subscribers are spread over both workers.
  auto m = metrics(server.port());
  EXPECT_GT(m["tether_subscribers{worker=\"0\"}"], 0);
  EXPECT_GT(m["tether_subscribers{worker=\"1\"}"], 0);
  EXPECT_EQ(m["tether_subscribers{worker=\"0\"}"] + m["tether_subscribers{worker=\"1\"}"], kSubscribers);
  EXPECT_EQ(m["tether_connections_open{kind=\"websocket\"}"], kSubscribers);
  auto info = http_get(server.port(), "/pub/news");
  ASSERT_TRUE(info);
  EXPECT_NE(info->body.find("\"subscribers\":40"), std::string::npos) << info->body;

  Publisher publisher(server.port());
  std::vector<std::string> ids;
  for (int i = 0; i < kMessages; ++i) ids.push_back(publisher.send("news", "m" + std::to_string(i)));
  for (auto& s : subscribers) {
    for (int i = 0; i < kMessages; ++i) {
      auto message = s->read_message();
      ASSERT_TRUE(message) << "message " << i;
      EXPECT_EQ(data_of(*message), "m" + std::to_string(i));
      EXPECT_EQ(Publisher::json_field(*message, "id"), ids[i]);
    }
    EXPECT_FALSE(s->read_message(std::chrono::milliseconds(50)));  // nothing twice
  }
}

TEST(PubSub, ResumeDeliversExactlyTheMissedMessages) {
  TetherServer server(2, kPubsub, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  Publisher publisher(server.port());
  WsClient first;
  ASSERT_EQ(first.open(server.port(), "/ws/feed"), 101);
  for (int i = 0; i < 3; ++i) publisher.send("feed", "a" + std::to_string(i));
  std::string last;
  for (int i = 0; i < 3; ++i) {
    auto m = first.read_message();
    ASSERT_TRUE(m);
    last = Publisher::json_field(*m, "id");
  }
  first.close();
  for (int i = 0; i < 4; ++i) publisher.send("feed", "b" + std::to_string(i));
  // Several times: the new connection lands on either worker; the ids mean the same on both.
  for (int attempt = 0; attempt < 4; ++attempt) {
    WsClient again;
    ASSERT_EQ(again.open(server.port(), "/ws/feed?since=" + last), 101);
    for (int i = 0; i < 4; ++i) {
      auto m = again.read_message();
      ASSERT_TRUE(m);
      EXPECT_EQ(data_of(*m), "b" + std::to_string(i)) << *m;
    }
    EXPECT_FALSE(again.read_message(std::chrono::milliseconds(100)));
  }
}

TEST(PubSub, ResumingFromAnotherEpochOrBeyondHistoryAnnouncesTheGap) {
  TetherServer server(1, kPubsub + "[pubsub]\nhistory_size = 5\n", kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  Publisher publisher(server.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(publisher.send("feed", "m" + std::to_string(i)));
  WsClient old;
  ASSERT_EQ(old.open(server.port(), "/ws/feed?since=" + ids[1]), 101);
  auto notice = old.read_message();
  ASSERT_TRUE(notice);
  EXPECT_EQ(*notice, "{\"event\":\"gap\",\"channel\":\"feed\",\"since\":\"" + ids[1] + "\"}");
  for (int i = 5; i < 10; ++i) {
    auto m = old.read_message();
    ASSERT_TRUE(m);
    EXPECT_EQ(data_of(*m), "m" + std::to_string(i));
  }
  WsClient restarted;  // an id from before a restart: another epoch
  ASSERT_EQ(restarted.open(server.port(), "/ws/feed?since=0badcafe-3"), 101);
  auto gap = restarted.read_message();
  ASSERT_TRUE(gap);
  EXPECT_NE(gap->find("\"event\":\"gap\""), std::string::npos);
  auto first_kept = restarted.read_message();
  ASSERT_TRUE(first_kept);
  EXPECT_EQ(data_of(*first_kept), "m5");
  WsClient current;  // from the last id: nothing missed, no notice
  ASSERT_EQ(current.open(server.port(), "/ws/feed?since=" + ids[9]), 101);
  EXPECT_FALSE(current.read_message(std::chrono::milliseconds(200)));
}

TEST(PubSub, CurlReadsServerSentEventsAndResumesWithLastEventId) {
  TetherServer server(2, kPubsub, kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string url = "http://127.0.0.1:" + std::to_string(server.port()) + "/sse/feed";
  std::string live;
  std::thread reader([&] { run_command("curl -sN --max-time 2 -D - " + url, &live); });
  EXPECT_TRUE(wait_for_subscribers(server.port(), "feed", 1)) << "curl did not subscribe";
  Publisher publisher(server.port());
  std::string id1 = publisher.send("feed", "one");
  std::string id2 = publisher.send("feed", "two\nlines\r\nthree");
  reader.join();
  EXPECT_NE(live.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << live;
  EXPECT_NE(live.find("Content-Type: text/event-stream\r\n"), std::string::npos) << live;
  EXPECT_NE(live.find("Cache-Control: no-cache\r\n"), std::string::npos) << live;
  std::vector<unsigned long> retries;  // each client is told a moment in [retry, 1.5 x retry]
  EXPECT_NE(retries_as_n(live, &retries).find("retry: N\n\nid: " + id1 + "\ndata: one\n\nid: " + id2 +
                                              "\ndata: two\ndata: lines\ndata: three\n\n"), std::string::npos) << live;
  std::string resumed;
  run_command("curl -sN --max-time 1 -H 'Last-Event-ID: " + id1 + "' " + url, &resumed);
  resumed = retries_as_n(resumed, &retries);
  EXPECT_EQ(resumed, "retry: N\n\nid: " + id2 + "\ndata: two\ndata: lines\ndata: three\n\n");
  std::string by_query;
  run_command("curl -sN --max-time 1 '" + url + "?lastEventId=" + id1 + "'", &by_query);
  by_query = retries_as_n(by_query, &retries);
  ASSERT_EQ(retries.size(), 3u);
  for (unsigned long r : retries) EXPECT_TRUE(r >= 2000 && r <= 3000) << r;
  EXPECT_EQ(by_query, resumed);
}

TEST(SlowConsumer, DisconnectPolicyClosesTheClientThatStopsReadingAndSparesTheOthers) {
  TetherServer server(1, with_ws_route_settings("[route.websocket]\nmax_queue = \"64KiB\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient slow, fast;
  slow.set_receive_buffer(4096);
  ASSERT_EQ(slow.open(server.port(), "/ws/flood"), 101);
  ASSERT_EQ(fast.open(server.port(), "/ws/flood"), 101);
  pid_t worker = server.worker_pids().at(0);
  std::size_t rss_before = resident_kib(worker);
  Publisher publisher(server.port());
  std::string payload(4096, 'x');
  constexpr int kMessages = 2000;  // 8 MiB in all, 128 times the queue limit
  std::thread reader([&] {
    for (int i = 0; i < kMessages; ++i) {
      auto m = fast.read_message();
      ASSERT_TRUE(m) << i;
    }
  });
  for (int i = 0; i < kMessages; ++i) ASSERT_FALSE(publisher.send("flood", payload + std::to_string(i)).empty());
  reader.join();
  // The slow client gets what fitted in its buffers, then the 1008 goodbye (if it reads).
  EXPECT_EQ(slow.read_close(std::chrono::seconds(5)), 1008);
  auto m = metrics(server.port());
  EXPECT_EQ(m["tether_slow_disconnects_total"], 1);
  EXPECT_GT(m["tether_messages_dropped_total"], 0);
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident on purpose
  EXPECT_LT(resident_kib(worker), rss_before + 8 * 1024) << "worker RSS grew from " << rss_before << " KiB";
#endif
}

TEST(SlowConsumer, AMaxQueueOutside1KiBTo4GiBIsReportedWithLineAndColumn) {
  auto check = [](const std::string& size, std::string* output) {
    TetherServer server(1, with_ws_route_settings("[route.websocket]\nmax_queue = \"" + size + "\"\n"), kModulesDir);
    int status = run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path() + " 2>&1", output);
    if (output->rfind(server.config_path(), 0) == 0) output->replace(0, server.config_path().size(), "tether.toml");
    return status;
  };
  std::string output;
  for (const char* size : {"1KiB", "4GiB"}) EXPECT_EQ(check(size, &output), 0) << size << "\n" << output;
  for (const char* size : {"1023", "4097MiB"}) {
    EXPECT_EQ(check(size, &output), 1) << size << "\n" << output;
    EXPECT_EQ(output.rfind("tether.toml:32:13: \"max_queue\": must be between 1KiB and 4GiB in [route.websocket]", 0), 0u)
        << size << "\n" << output;
  }
}

TEST(SlowConsumer, DropPolicyKeepsTheNewestAndTellsTheClientHowManyWereDropped) {
  TetherServer server(1, with_ws_route_settings("[route.websocket]\nmax_queue = \"16KiB\"\nslow_consumer = \"drop\"\n"),
                      kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient slow;
  slow.set_receive_buffer(4096);
  ASSERT_EQ(slow.open(server.port(), "/ws/flood"), 101);
  Publisher publisher(server.port());
  // 12 MiB: more than the kernel's socket buffers hold, so that the queue overflows.
  std::string payload(2048, 'y');
  for (int i = 0; i < 6000; ++i) ASSERT_FALSE(publisher.send("flood", payload + std::to_string(i)).empty());
  // Reads until the newest message. The generous timeout is for TCP, not for tether: a receiver
  // with a 4 KiB buffer never opens its window by a loopback MSS, so the kernel only resumes
  // sending on zero-window probes, which back off while the client does not read.
  bool saw_notice = false;
  std::string last;
  while (last != payload + "5999") {
    auto m = slow.read_message(std::chrono::seconds(10));
    if (!m) break;
    if (m->find("\"event\":\"dropped\"") != std::string::npos) saw_notice = true;
    else last = data_of(*m);
  }
  EXPECT_TRUE(saw_notice);
  EXPECT_EQ(last, payload + "5999");  // the newest message always arrives
  EXPECT_FALSE(slow.closed());
}

TEST(Heartbeat, AClientThatStopsAnsweringPingsIsClosed) {
  TetherServer server(1, with_ws_route_settings("[route.keepalive]\nheartbeat_interval = \"200ms\"\nheartbeat_timeout = \"800ms\"\n"),
                      kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient silent, alive;
  ASSERT_EQ(silent.open(server.port(), "/ws/hb"), 101);
  ASSERT_EQ(alive.open(server.port(), "/ws/hb"), 101);
  auto start = std::chrono::steady_clock::now();
  std::thread answering([&] {
    while (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000)) {
      auto frame = alive.read_frame(std::chrono::milliseconds(100));
      if (frame && frame->opcode == 0x9) alive.send_raw(ws_frame(0xA, frame->payload));
    }
  });
  auto ping = silent.read_frame(std::chrono::seconds(1));
  ASSERT_TRUE(ping);
  EXPECT_EQ(ping->opcode, 0x9);
  EXPECT_EQ(silent.read_close(std::chrono::seconds(2)), 1001);
  auto closed_after = std::chrono::steady_clock::now() - start;
  EXPECT_GE(closed_after, std::chrono::milliseconds(700));
  EXPECT_LT(closed_after, std::chrono::milliseconds(1600));
  answering.join();
  EXPECT_FALSE(alive.closed());  // answered every ping for 2 s: still open
  EXPECT_TRUE(alive.send_raw(ws_frame(0x9, "still there?")));
  std::optional<WsFrame> pong;
  do pong = alive.read_frame();  // the server's own pings may come first
  while (pong && pong->opcode == 0x9);
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->opcode, 0xA);
  EXPECT_EQ(pong->payload, "still there?");
}

// drain_spread = 0: every long-lived connection's goodbye comes at drain_timeout.
TEST(Drain, LongLivedConnectionsGetTheirGoodbyeAfterDrainTimeout) {
  TetherServer server(1, kPubsub, kModulesDir + "drain_timeout = \"500ms\"\ndrain_spread = \"0\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  WsClient ws;
  ASSERT_EQ(ws.open(server.port(), "/ws/d"), 101);
  std::string sse;
  std::thread reader([&] {
    run_command("curl -sN --max-time 5 http://127.0.0.1:" + std::to_string(server.port()) + "/sse/d", &sse);
  });
  EXPECT_TRUE(wait_for_subscribers(server.port(), "d", 2)) << "the WebSocket and curl did not both subscribe";
  auto start = std::chrono::steady_clock::now();
  server.signal(SIGHUP);
  EXPECT_EQ(ws.read_close(std::chrono::seconds(5)), 1001);
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, std::chrono::milliseconds(450));
  EXPECT_TRUE(ws.wait_tcp_closed(std::chrono::seconds(3)));
  reader.join();
  std::vector<unsigned long> retries;
  EXPECT_EQ(retries_as_n(sse, &retries), "retry: N\n\nretry: N\n\n");  // and the stream ended well before curl's 5 s
  ASSERT_EQ(retries.size(), 2u);
  EXPECT_TRUE(retries[0] >= 2000 && retries[0] <= 3000) << retries[0];
  EXPECT_TRUE(retries[1] >= 250 && retries[1] <= 1250) << "the goodbye's hint: " << retries[1];
  // The new generation serves subscribers.
  WsClient fresh;
  EXPECT_EQ(fresh.open(server.port(), "/ws/d"), 101);
}

// A reload's old workers say goodbye to their long-lived connections at random moments over the
// last drain_spread before drain_timeout, not all in one instant (a reconnect storm).
TEST(Drain, GoodbyesAreSpreadOverTheLastDrainSpreadBeforeDrainTimeout) {
  TetherServer server(1, kPubsub, kModulesDir + "drain_timeout = \"2s\"\ndrain_spread = \"1s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  constexpr int kClients = 20;
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<WsClient>());
    ASSERT_EQ(clients.back()->open(server.port(), "/ws/spread"), 101);
  }
  ASSERT_TRUE(wait_for_subscribers(server.port(), "spread", kClients));
  auto start = std::chrono::steady_clock::now();
  server.signal(SIGHUP);
  std::vector<std::chrono::milliseconds> closed(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i)
    readers.emplace_back([&, i] {
      EXPECT_EQ(clients[i]->read_close(std::chrono::seconds(6)), 1001) << "client " << i;
      closed[i] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    });
  for (auto& r : readers) r.join();
  auto [first, last] = std::minmax_element(closed.begin(), closed.end());
  // The drain starts once the new generation is ready, a little after the signal.
  EXPECT_GE(first->count(), 950) << "a goodbye before the last drain_spread of the drain";
  EXPECT_LE(last->count(), 3500) << "a goodbye long after drain_timeout";
  EXPECT_GE((*last - *first).count(), 300) << "20 goodbyes within " << (*last - *first).count() << " ms: not spread";
}

TEST(PubSubReload, TwoHundredSubscribersMissNothingAcrossThreeReloadsDuringPublishing) {
  // 100 WebSocket (python3-websockets) and 100 SSE subscribers; messages published at 100/s
  // while the master gets three SIGHUPs; every goodbye is followed by a resume.
  TetherServer server(2, kPubsub, kModulesDir + "drain_timeout = \"500ms\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<pid_t> first_workers = server.worker_pids();
  std::string output;
  int status = run_command("/usr/bin/python3 " + std::string(TETHER_SOURCE_DIR) +
                               "/tests/integration/scripts/reload_subscribers.py --port " + std::to_string(server.port()) +
                               " --master-pid " + std::to_string(server.master_pid()) + " --websocket 100 --sse 100 --reloads 3",
                           &output);
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("\"subscribers_with_errors\": 0"), std::string::npos) << output;
  EXPECT_NE(output.find("\"reloads\": 3"), std::string::npos) << output;
  // The goodbyes were spread over the drain (drain_spread is longer than drain_timeout here): each
  // old generation ends once its last client has left, at drain_timeout at the latest.
  EXPECT_TRUE(server.wait_for_log("is gone", std::chrono::seconds(5), 3)) << server.error_log();
  for (pid_t old : first_workers) EXPECT_FALSE(process_alive(old));
}

TEST(PubSub, ALibwebsocketsClientReceivesPublishedMessagesAndCanPublish) {
  // A chat room: what a client sends is published to the channel and comes back to everyone.
  TetherServer server(2, with_ws_route_settings("[route.websocket]\nclient_messages = \"publish\"\n"), kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string port = std::to_string(server.port());
  WsClient watcher;
  ASSERT_EQ(watcher.open(server.port(), "/ws/room"), 101);
  std::string output;
  std::thread client([&] { run_command(std::string(LWS_SUBSCRIBER) + " " + port + " /ws/room 3 'hello from lws'", &output); });
  auto from_lws = watcher.read_message();  // published by the lws client
  ASSERT_TRUE(from_lws);
  EXPECT_EQ(data_of(*from_lws), "hello from lws");
  Publisher publisher(server.port());
  publisher.send("room", "two");
  publisher.send("room", "three");
  client.join();
  EXPECT_NE(output.find("connected\n"), std::string::npos) << output;
  EXPECT_NE(output.find("\"data\":\"hello from lws\"}\n"), std::string::npos) << output;
  EXPECT_NE(output.find("\"data\":\"two\"}\n"), std::string::npos) << output;
  EXPECT_NE(output.find("\"data\":\"three\"}\n"), std::string::npos) << output;
}

TEST(PubSubLimits, AWorkerThatStopsReadingItsLinkIsReplacedInsteadOfGrowingTheMaster) {
  TetherServer server(2, kPubsub + "[pubsub]\nworker_backlog = \"64KiB\"\n", kModulesDir);
  ASSERT_TRUE(server.start()) << server.error_log();
  std::vector<pid_t> workers = server.worker_pids();
  ASSERT_EQ(workers.size(), 2u);
  pid_t stopped = workers[1];
  ::kill(stopped, SIGSTOP);
  // A keep-alive connection the other worker serves (one to the stopped worker gets no answer).
  std::unique_ptr<HttpClient> client;
  for (int attempt = 0; attempt < 40 && !client; ++attempt) {
    auto c = std::make_unique<HttpClient>();
    ASSERT_TRUE(c->connect(server.port()));
    c->send("GET /pub/big HTTP/1.1\r\nHost: x\r\n\r\n");
    if (c->read_response(std::chrono::milliseconds(300))) client = std::move(c);
  }
  ASSERT_TRUE(client) << "no connection reached the running worker";
  std::string data(50 * 1024, 'z');
  for (int i = 0; i < 40; ++i) {
    client->send("POST /pub/big HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(data.size()) + "\r\n\r\n" + data);
    auto r = client->read_response();
    ASSERT_TRUE(r) << i;
    EXPECT_EQ(r->status, 200);
  }
  EXPECT_TRUE(server.wait_for_log("stopped reading its pub/sub link", std::chrono::seconds(5))) << server.error_log();
  wait_until([&] { return !process_alive(stopped); }, std::chrono::seconds(5));
  EXPECT_FALSE(process_alive(stopped));
  ::kill(stopped, SIGCONT);  // in case it is still there
  EXPECT_TRUE(server.wait_for_workers(2, std::chrono::seconds(5)));
  std::vector<pid_t> now = server.worker_pids();
  EXPECT_EQ(std::count(now.begin(), now.end(), stopped), 0);
}
