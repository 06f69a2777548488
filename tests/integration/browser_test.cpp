// tether and a real browser: headless Chromium (Debian's chromium, driven by puppeteer-core from
// npm, both installed by scripts/install-deps.sh) runs the scenarios in tests/browser/ against the
// real binary. Nobody here wrote the browser's WebSocket client, its permessage-deflate or its
// fetch.
#include <gtest/gtest.h>

#include <string>

#include "support/publisher.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {

const std::string kServerExtra = "modules_dir = \"" + std::string(TETHER_MODULES_BUILD_DIR) + "\"\n";
const std::string kBrowserDir = std::string(TETHER_SOURCE_DIR) + "/tests/browser";

// Runs tests/browser/<scenario> in Chromium with `args` (a JSON object); its JSON result into
// *result. False, with the reason in *result, if it failed or the tools are missing.
bool run_in_chromium(const std::string& scenario, const std::string& args, std::string* result) {
  std::string output;
  int status = run_command("cd " + kBrowserDir + " && node run_in_page.mjs " + scenario + " '" + args + "' 2>&1", &output);
  *result = output;
  if (status != 0 && output.find("Cannot find package 'puppeteer-core'") != std::string::npos)
    *result += "\n(puppeteer-core is not installed: run scripts/install-deps.sh)";
  return status == 0;
}

std::string indices(int count) {
  std::string list = "[";
  for (int i = 0; i < count; ++i) list += (i ? "," : "") + std::to_string(i);
  return list + "]";
}

}  // namespace

// Chromium offers permessage-deflate on every WebSocket: tether takes it, each published message
// reaches the page compressed and intact, and what the page sends (compressed by Chromium) is
// inflated and published to the room.
TEST(Browser, ChromiumNegotiatesPermessageDeflateAndEveryMessageArrivesIntactBothWays) {
  TetherServer server(2,
                      "[modules.health]\n[modules.websocket]\n\n"
                      "[[route]]\npath = \"/metrics\"\nhandler = \"health\"\n\n"
                      "[[route]]\npath = \"/pub/*\"\nhandler = \"publish\"\n\n"
                      "[[route]]\npath = \"/room/*\"\nhandler = \"websocket\"\n[route.websocket]\nclient_messages = \"publish\"\n",
                      kServerExtra);
  ASSERT_TRUE(server.start()) << server.error_log();
  constexpr int kSaid = 20, kPublished = 20;
  std::string port = std::to_string(server.port());
  std::string result;
  ASSERT_TRUE(run_in_chromium("deflate_room.js",
                              "{\"port\":" + port + ",\"pageUrl\":\"http://127.0.0.1:" + port + "/\",\"channel\":\"lobby\","
                              "\"said\":" + std::to_string(kSaid) + ",\"published\":" + std::to_string(kPublished) + "}",
                              &result))
      << result << server.error_log();
  EXPECT_NE(result.find("\"extensions\":\"permessage-deflate"), std::string::npos) << result;
  EXPECT_NE(result.find("\"said\":" + indices(kSaid)), std::string::npos) << "what the page said, in order: " << result;
  EXPECT_NE(result.find("\"published\":" + indices(kPublished)), std::string::npos) << result;
  EXPECT_NE(result.find("\"intact\":true"), std::string::npos) << result;
  // Every message went out compressed, once each (one subscriber: the page).
  EXPECT_GE(metrics(server.port())["tether_websocket_compressed_messages_total"], kSaid + kPublished);
}
