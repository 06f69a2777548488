// The chat example (examples/chat/) in headless Chromium against the real tether: the shipped
// chat.toml and index.html, copied into the test's directory in the layout their relative paths
// expect, with only the listen port, pid file, error log and modules_dir changed. Two people in
// browser contexts of their own join one room through the page's form and talk
// (tests/browser/chat_pages.mjs); each page must show every message exactly once, in order, with
// its author, and markup in a message as text. Needs node, puppeteer-core and Debian's chromium
// (scripts/install-deps.sh); the tests fail without them.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/browser.h"
#include "support/tether_server.h"

using tether::test::browser_available;

using tether::test::TetherServer;

namespace {

const std::string kSource = TETHER_SOURCE_DIR;
const std::string kExample = kSource + "/examples/chat";
const std::string kRunner = kSource + "/tests/browser/chat_pages.mjs";
const std::string kHostile = "<img src=x onerror=alert(1)>";

struct Line {
  std::string from;  // "A" or "B"; empty: published by a third party through POST /chat/pub/, as it is
  std::string text;
};

// Ada opens the room and speaks first; Bob joins after her first line, so he gets it from the
// room's history. The third party's line is not JSON.
const std::vector<Line> kConversation = {
    {"A", "Hello, is anyone here?"},
    {"B", "Hi Ada! Bob here."},
    {"A", kHostile},
    {"B", "That came through as text, good."},
    {"", "not json {"},
    {"A", "Someone published garbage. Bye!"},
    {"B", "Bye."},
};
const int kBobJoinsAfter = 1;
const char* kName[] = {"Ada", "Bob"};

std::string json_string(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Replaces the one occurrence of `from`; a shipped config that no longer has it fails the test.
void replace_once(std::string& text, const std::string& from, const std::string& to) {
  ASSERT_EQ(tether::test::count_occurrences(text, from), 1) << "examples/chat/chat.toml no longer has " << from;
  text.replace(text.find(from), from.size(), to);
}

// dir/examples/chat/{chat.toml,index.html,chat.js,chat.css} and dir/js/tether.js, as in the source tree.
void install_example(TetherServer& server) {
  namespace fs = std::filesystem;
  fs::create_directories(server.dir() + "/examples/chat");
  fs::create_directories(server.dir() + "/js");
  for (const char* file : {"index.html", "chat.js", "chat.css"})
    fs::copy_file(kExample + "/" + file, server.dir() + "/examples/chat/" + file);
  fs::copy_file(kSource + "/js/tether.js", server.dir() + "/js/tether.js");
  std::string config = tether::test::read_file(kExample + "/chat.toml");
  const std::string port = std::to_string(server.port());
  ASSERT_NO_FATAL_FAILURE(replace_once(config, "\"127.0.0.1:8090\"", "\"127.0.0.1:" + port + "\""));
  ASSERT_NO_FATAL_FAILURE(replace_once(config, "\"/tmp/tether-chat.pid\"", "\"" + server.pid_file() + "\""));
  ASSERT_NO_FATAL_FAILURE(replace_once(config, "\"stderr\"", "\"" + server.error_log_path() + "\""));
  ASSERT_NO_FATAL_FAILURE(replace_once(config, "\"../../build/modules\"", "\"" TETHER_MODULES_BUILD_DIR "\""));
  server.use_config_file(server.dir() + "/examples/chat/chat.toml");
  server.write_config(config);
}

// Runs the conversation (`options`: more members of chat_pages.mjs's ARGS, each after a comma); returns the runner's exit status, its JSON (stdout) and its stderr.
int chat(const TetherServer& server, const std::string& options, std::string& result, std::string& log) {
  std::string lines;
  for (const Line& line : kConversation) {
    if (!lines.empty()) lines += ",";
    lines += line.from.empty() ? "{\"raw\":" + json_string(line.text) + "}"
                               : "{\"from\":\"" + line.from + "\",\"text\":" + json_string(line.text) + "}";
  }
  std::string args = "{\"url\":\"http://127.0.0.1:" + std::to_string(server.port()) + "/\",\"room\":\"tea-room\"," +
                     "\"people\":{\"A\":\"" + kName[0] + "\",\"B\":\"" + kName[1] + "\"},\"bJoinsAfter\":" +
                     std::to_string(kBobJoinsAfter) + options + ",\"lines\":[" + lines + "]}";
  std::ofstream(server.dir() + "/chat.json") << args;
  std::string out = server.dir() + "/chat.out";
  int status = tether::test::run_command(
      "node '" + kRunner + "' '" + server.dir() + "/chat.json' >'" + out + "' 2>'" + out + ".err'", &log);
  result = tether::test::read_file(out);
  log += tether::test::read_file(out + ".err");
  return status;
}

// What `who` ("A" or "B") must show: every line once, in order, by its author; unreadable data
// shown as it came, by an unknown sender.
std::string expected_transcript(const std::string& who) {
  std::string out = "\"transcript\":[";
  for (std::size_t i = 0; i < kConversation.size(); ++i) {
    const Line& line = kConversation[i];
    if (i) out += ",";
    std::string author = line.from.empty() ? "unknown sender" : kName[line.from == "A" ? 0 : 1];
    std::string kind = line.from.empty() ? "unreadable" : line.from == who ? "mine" : "theirs";
    out += "[" + json_string(author) + "," + json_string(line.text) + ",\"" + kind + "\"]";
  }
  return out + "]";
}

void expect_every_message_once_in_order_as_text(const std::string& result) {
  for (const std::string who : {"A", "B"}) {
    // {"A":{...},"B":{...}}: A's part ends where B's begins.
    std::size_t at = result.find("\"" + who + "\":{"), b = result.find("\"B\":{");
    ASSERT_NE(at, std::string::npos) << result;
    ASSERT_NE(b, std::string::npos) << result;
    std::string page = who == "A" ? result.substr(at, b - at) : result.substr(at);
    EXPECT_NE(page.find(expected_transcript(who)), std::string::npos) << who << " shows " << page << "\nexpected "
                                                                       << expected_transcript(who);
    // The hostile line made no element and ran nothing; the sent text left the input; the join
    // form gave way to the room.
    EXPECT_NE(page.find("\"foreign\":[]"), std::string::npos) << page;
    EXPECT_NE(page.find("\"alerts\":0"), std::string::npos) << page;
    // Its own script and style load under its policy, which refuses anything inline.
    EXPECT_NE(page.find("\"csp\":[]"), std::string::npos) << page;
    EXPECT_NE(page.find("\"input\":\"\""), std::string::npos) << page;
    EXPECT_NE(page.find("\"joinShown\":false"), std::string::npos) << page;
  }
}

}  // namespace

TEST(ChatExample, TwoPagesInOneRoomSeeEveryMessageOnceInOrderByItsAuthorAndMarkupAsText) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server;
  ASSERT_NO_FATAL_FAILURE(install_example(server));
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string result, log;
  ASSERT_EQ(chat(server, "", result, log), 0) << result << log << server.error_log();
  expect_every_message_once_in_order_as_text(result);
  EXPECT_EQ(tether::test::count_occurrences(result, "\"state\":\"connected\""), 2) << result;
}

// Bob's browser gets no WebSocket through: his page receives over SSE and sends through the
// publish API, and the conversation is the same.
TEST(ChatExample, APageWithoutWebSocketChatsOverSseAndThePublishApi) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server;
  ASSERT_NO_FATAL_FAILURE(install_example(server));
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string result, log;
  ASSERT_EQ(chat(server, ",\"blockWebSocket\":[\"B\"]", result, log), 0) << result << log << server.error_log();
  expect_every_message_once_in_order_as_text(result);
  EXPECT_NE(result.find("\"state\":\"connected (SSE)\""), std::string::npos) << result;
}

// The workers die while the two talk (kill -9): both pages show "reconnecting", come back by
// themselves (the master starts new workers) and resume, missing and repeating nothing.
TEST(ChatExample, BothPagesShowReconnectingWhenTheWorkersDieAndMissNothing) {
  ASSERT_TRUE(browser_available()) << "node, chromium or puppeteer-core missing: run scripts/install-deps.sh";
  TetherServer server;
  ASSERT_NO_FATAL_FAILURE(install_example(server));
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string pids;
  for (pid_t pid : server.worker_pids()) pids += (pids.empty() ? "" : ",") + std::to_string(pid);
  ASSERT_FALSE(pids.empty());
  std::string result, log;
  std::string kill = ",\"killAfter\":3,\"workerPids\":[" + pids + "]";
  ASSERT_EQ(chat(server, kill, result, log), 0) << result << log << server.error_log();
  expect_every_message_once_in_order_as_text(result);
  EXPECT_EQ(tether::test::count_occurrences(result, "\"states\":[\"reconnecting\""), 2) << result;
  EXPECT_EQ(tether::test::count_occurrences(result, "\"state\":\"connected\""), 2) << result;
}
