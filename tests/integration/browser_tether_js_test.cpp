// tether.js in headless Chromium against the real tether: a page loads the client from the server's
// /tether.js (a respond route with file =) and must receive every message exactly once, in order,
// through reloads and a killed worker, over EventSource where WebSocket does not open, and see a
// gap notice (tests/browser/tether_js_delivery.js). Needs node and Debian's chromium
// (scripts/install-deps.sh); they fail without them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include <fstream>

#include "support/browser.h"
#include "support/http_client.h"
#include "support/tether_server.h"

using namespace std::chrono_literals;
using tether::test::browser_available;
using tether::test::TetherServer;

namespace {

const std::string kSource = TETHER_SOURCE_DIR;
const std::string kDriver = kSource + "/tests/browser/run_in_page.mjs";
const std::string kScenario = kSource + "/tests/browser/tether_js_delivery.js";

std::string config(const std::string& history, bool websocket = true) {
  return "[modules.health]\n[modules.websocket]\n[modules.sse]\n[modules.keepalive]\n"
         "[pubsub]\n" + history +
         "\n[[route]]\npath = \"/tether.js\"\nrespond = { file = \"" + kSource + "/js/tether.js\" }\n"
         "[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n" +
         std::string(websocket ? "[[route]]\npath = \"/ws/*\"\nhandler = \"websocket\"\n" : "") +
         "[[route]]\npath = \"/sse/*\"\nhandler = \"sse\"\n";
}

const std::string kServer = "modules_dir = \"" TETHER_MODULES_BUILD_DIR "\"\ndrain_timeout = \"2s\"\ndrain_spread = \"1s\"\n";

// The driver, started in the background: its stdout (the scenario's JSON) goes to a file.
struct Page {
  pid_t pid = -1;
  std::string output;
  Page(const TetherServer& server, const std::string& args) : output(server.dir() + "/page.out") {
    std::string json = "{\"pageUrl\":\"http://127.0.0.1:" + std::to_string(server.port()) + "/\",\"timeoutMs\":25000," + args + "}";
    pid = fork();
    if (pid == 0) {
      std::string command = "exec node '" + kDriver + "' '" + kScenario + "' '" + json + "' >'" + output + "' 2>'" + output + ".err'";
      execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  // The driver's exit status (0: the scenario returned) and its output.
  int wait(std::string& result) {
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
    result = tether::test::read_file(output) + tether::test::read_file(output + ".err");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }
  ~Page() {
    if (pid > 0) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
};

void expect_exactly_once_in_order(const std::string& result) {
  EXPECT_NE(result.find("\"missing\":[]"), std::string::npos) << result;
  EXPECT_NE(result.find("\"duplicates\":[]"), std::string::npos) << result;
  EXPECT_NE(result.find("\"outOfOrder\":0"), std::string::npos) << result;
  EXPECT_NE(result.find("\"wrongChannel\":0"), std::string::npos) << result;
}

}  // namespace

// No browser needed: the respond route serves the file as JavaScript, and a reload reads it again.
TEST(RespondFile, TetherJsIsServedAsTheFileAndAReloadReadsItAgain) {
  TetherServer server(1, "[[route]]\npath = \"/tether.js\"\nrespond = { file = \"client/tether.js\" }\n", kServer);
  std::string original = tether::test::read_file(kSource + "/js/tether.js");
  ASSERT_FALSE(original.empty());
  std::filesystem::create_directories(server.dir() + "/client");
  std::ofstream(server.dir() + "/client/tether.js", std::ios::binary) << original;
  ASSERT_TRUE(server.start()) << server.error_log();
  auto response = tether::test::http_get(server.port(), "/tether.js");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(response->body, original);
  std::ofstream(server.dir() + "/client/tether.js", std::ios::binary | std::ios::trunc) << "export const v = 2;\n";
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  response = tether::test::http_get(server.port(), "/tether.js");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "export const v = 2;\n");
}

TEST(BrowserTetherJs, EveryMessageOnceInOrderThroughTwoReloadsAndAKilledWorker) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server(2, config("history_size = 1000"), kServer);
  ASSERT_TRUE(server.start()) << server.error_log();
  Page page(server, "\"channel\":\"news\",\"count\":500,\"intervalMs\":15");
  ASSERT_TRUE(tether::test::wait_for_subscribers(server.port(), "news", 1, 10s)) << server.error_log();
  std::this_thread::sleep_for(500ms);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  // The drain's goodbye comes within drain_timeout (2s): the page reconnects to generation 2.
  std::this_thread::sleep_for(2300ms);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 3", 5s)) << server.error_log();
  std::this_thread::sleep_for(2300ms);
  ASSERT_TRUE(server.wait_for_workers(2, 5s));
  for (pid_t worker : server.worker_pids()) kill(worker, SIGKILL);
  std::string result;
  ASSERT_EQ(page.wait(result), 0) << result << server.error_log();
  expect_exactly_once_in_order(result);
  EXPECT_NE(result.find("\"published\":500"), std::string::npos) << result;
  // It did reconnect: the drains closed it with 1001, at least twice, and the kill once more.
  EXPECT_GE(tether::test::count_occurrences(result, "1001"), 2) << result;
  EXPECT_NE(result.find("1006"), std::string::npos) << result;  // the killed worker's connection
}

TEST(BrowserTetherJs, FallsBackToEventSourceWhereWebSocketDoesNotOpenAndMissesNothingThroughAReload) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server(2, config("history_size = 1000"), kServer);
  ASSERT_TRUE(server.start()) << server.error_log();
  Page page(server, "\"channel\":\"feed\",\"count\":200,\"intervalMs\":15,\"blockWebSocket\":true");
  ASSERT_TRUE(tether::test::wait_for_subscribers(server.port(), "feed", 1, 10s)) << server.error_log();
  std::this_thread::sleep_for(300ms);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  std::string result;
  ASSERT_EQ(page.wait(result), 0) << result << server.error_log();
  expect_exactly_once_in_order(result);
  EXPECT_NE(result.find("\"opens\":[\"sse\""), std::string::npos) << result;
  EXPECT_EQ(result.find("\"websocket\""), std::string::npos) << result;
  // The reload's drain ended the stream and the client came back over SSE.
  EXPECT_NE(result.find("\"opens\":[\"sse\",\"sse\""), std::string::npos) << result;
}

// Blocked on the server's side this time: no /ws/ route, the handshake gets 404.
TEST(BrowserTetherJs, FallsBackToEventSourceWhereTheServerHasNoWebSocketRoute) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server(1, config("history_size = 1000", false), kServer);
  ASSERT_TRUE(server.start()) << server.error_log();
  Page page(server, "\"channel\":\"feed\",\"count\":50");
  std::string result;
  ASSERT_EQ(page.wait(result), 0) << result << server.error_log();
  expect_exactly_once_in_order(result);
  EXPECT_NE(result.find("\"opens\":[\"sse\"]"), std::string::npos) << result;
}

TEST(BrowserTetherJs, AGapNoticeReachesTheApplicationWhenTheHistoryLostWhatItMissed) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server(2, config("history_size = 5"), kServer);
  ASSERT_TRUE(server.start()) << server.error_log();
  // 10 while connected, 20 while away (the history keeps 5), then 10 more.
  Page page(server, "\"channel\":\"g\",\"count\":20,\"awayAfter\":10,\"awayCount\":20");
  std::string result;
  ASSERT_EQ(page.wait(result), 0) << result << server.error_log();
  EXPECT_NE(result.find("\"gaps\":[{\"channel\":\"g\",\"since\":\""), std::string::npos) << result;
  EXPECT_NE(result.find("\"duplicates\":[]"), std::string::npos) << result;
  EXPECT_NE(result.find("\"outOfOrder\":0"), std::string::npos) << result;
  // Nothing published while it was connected is missing, and the history's last 5 came back:
  // 10 + 5 of the 20 + 10 after (no message after the reopen can push one out of the history).
  EXPECT_NE(result.find("\"missingWhileConnected\":0"), std::string::npos) << result;
  EXPECT_NE(result.find("\"received\":25"), std::string::npos) << result;
}
