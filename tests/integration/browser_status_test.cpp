// The status page (/status) in headless Chromium (tests/browser/status_page.mjs, puppeteer-core
// driving Debian's chromium, both installed by scripts/install-deps.sh): during a reload held
// open by subscribers on the old generation, the page renders, a screenshot is taken, and the
// figures read from its DOM agree with /metrics read at that moment.
#include <gtest/gtest.h>
#include <signal.h>

#include <string>

#include "support/browser.h"
#include "support/json_paths.h"
#include "support/status_routes.h"
#include "support/sse_client.h"
#include "support/tether_server.h"
#include "support/ws_client.h"

using namespace tether::test;

namespace {

const std::string kServerExtra = "modules_dir = \"" + std::string(TETHER_MODULES_BUILD_DIR) +
                                 "\"\ndrain_timeout = \"60s\"\ndrain_spread = \"0s\"\n";
const std::string kBrowserDir = std::string(TETHER_SOURCE_DIR) + "/tests/browser";

const std::string kRoutes = status_routes_toml();

}  // namespace

TEST(BrowserStatusPage, ShowsADrainingGenerationAndFiguresThatAgreeWithMetrics) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server(2, kRoutes, kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  // Generation 1 is held open by a WebSocket and an SSE subscriber; one more WebSocket
  // subscribes to generation 2 once it serves.
  WsClient old_ws, new_ws;
  SseClient old_sse;
  ASSERT_EQ(old_ws.open(server.port(), "/ws/news"), 101);
  ASSERT_EQ(old_sse.open(server.port(), "/sse/news"), 200);
  ASSERT_TRUE(wait_for_subscribers(server.port(), "news", 2));
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 10s)) << server.error_log();
  ASSERT_EQ(new_ws.open(server.port(), "/ws/sport"), 101);
  ASSERT_TRUE(wait_for_subscribers(server.port(), "sport", 1));

  std::string screenshot = server.dir() + "/status.png";
  std::string args = "{\"url\":\"http://127.0.0.1:" + std::to_string(server.port()) + "/status\",\"screenshot\":\"" +
                     screenshot + "\",\"expectDraining\":true}";
  std::string output;
  int exit_status = run_command("cd " + kBrowserDir + " && node status_page.mjs '" + args + "' 2>&1", &output);
  ASSERT_EQ(exit_status, 0) << output << server.error_log();

  // The screenshot is a real PNG of a rendered page, not an empty one.
  std::string png = read_file(screenshot);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_GT(png.size(), 20'000u) << "a blank page compresses to a few KB";

  std::size_t agreed = output.find("\"agreed\"");
  std::size_t start = agreed == std::string::npos ? agreed : output.rfind('{', agreed);
  if (start == std::string::npos) {
    ADD_FAILURE() << "no result line in the output of status_page.mjs:\n" << output;
    return;
  }
  std::string line = output.substr(start);
  line = line.substr(0, line.find('\n'));
  std::string problem;
  JsonPaths result = json_paths(line, server.dir(), &problem);
  ASSERT_FALSE(result.empty()) << problem << output;
  EXPECT_EQ(result["agreed"], "true") << output;
  EXPECT_EQ(result["stale"], json_quoted("false")) << output;
  // What the page showed, which /metrics confirmed.
  EXPECT_EQ(json_number(result, "figures.connections.websocket"), 2) << output;
  EXPECT_EQ(json_number(result, "figures.connections.sse"), 1) << output;
  EXPECT_EQ(json_number(result, "figures.subscribers"), 3) << output;
  EXPECT_EQ(json_number(result, "figures.workers.serving"), 2) << output;
  EXPECT_GE(json_number(result, "figures.workers.draining"), 1) << output;
  EXPECT_EQ(json_number(result, "figures.reloads"), 1) << output;
  EXPECT_EQ(result["figures.lastReloadOk"], json_quoted("true")) << output;
  ASSERT_EQ(json_number(result, "figures.generations.length"), 2) << output;
  EXPECT_EQ(json_number(result, "figures.generations.0.number"), 1) << output;
  EXPECT_EQ(result["figures.generations.0.state"], json_quoted("draining")) << output;
  EXPECT_EQ(json_number(result, "figures.generations.1.number"), 2) << output;
  EXPECT_EQ(result["figures.generations.1.state"], json_quoted("serving")) << output;
  EXPECT_EQ(result["figures.channels.0.name"], json_quoted("news")) << output;
  EXPECT_EQ(json_number(result, "figures.channels.0.subscribers"), 2) << output;
}

// A status.json valid as JSON but extreme in its values (a generation and a reload at
// UINT64_MAX ms, which no Date holds, the node's own time too) still renders: the page guards
// its dates and renders each section on its own, so one field cannot blank the page.
TEST(BrowserStatusPage, ExtremeValuesInStatusJsonNeitherThrowNorBlankThePage) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server(1, kRoutes, kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  const std::string json =
      R"({"version":1,"server":"x","time_ms":18446744073709551615,)"
      R"("generations":[{"number":1,"state":"serving","since_ms":18446744073709551615,"workers":2,"running":2,"pids":[1,2]}],)"
      R"("workers":{"starting":0,"serving":2,"draining":0,"stopping":0},"connections":{"http":1},"subscribers":7,)"
      R"("messages":{"published":18446744073709551615,"delivered":0,"dropped":0},)"
      R"("reloads":{"total":1,"failed":0,"last":{"time_ms":18446744073709551615,"ok":true,"message":""}},"channels":[]})";
  std::string escaped;  // as a JSON string (the document has no backslash)
  for (char c : json) escaped += c == '"' ? std::string("\\\"") : std::string(1, c);
  std::string args = "{\"url\":\"http://127.0.0.1:" + std::to_string(server.port()) + "/status\",\"json\":\"" +
                     escaped + "\"}";
  std::string output;
  int exit_status = run_command("cd " + kBrowserDir + " && node status_page_extremes.mjs '" + args + "' 2>&1", &output);
  EXPECT_EQ(exit_status, 0) << output;
  EXPECT_NE(output.find("\"stale\":\"false\""), std::string::npos) << output;
  EXPECT_NE(output.find("\"rows\":1"), std::string::npos) << output;
  EXPECT_NE(output.find("\"subscribers\":\"7\""), std::string::npos) << output;
}
