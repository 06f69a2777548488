#include "core/config_parser.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

using namespace std::chrono_literals;
using tether::ConfigLoadResult;
using tether::parse_config_text;

namespace {

constexpr const char* kListen = "[[listen]]\naddress = \"127.0.0.1:8080\"\n";

ConfigLoadResult parse(const std::string& text) { return parse_config_text(text, "t.toml"); }

// Expects exactly one error, at line:col, whose message contains `needle`.
void expect_single_error(const std::string& text, unsigned line, unsigned column, const std::string& needle) {
  ConfigLoadResult result = parse(text);
  ASSERT_EQ(result.errors.size(), 1u) << text;
  EXPECT_EQ(result.config, nullptr);
  const auto& error = result.errors.front();
  EXPECT_EQ(error.where.line, line) << error.to_string();
  EXPECT_EQ(error.where.column, column) << error.to_string();
  EXPECT_NE(error.message.find(needle), std::string::npos) << error.to_string();
  EXPECT_EQ(error.to_string().rfind("t.toml:" + std::to_string(line) + ":" + std::to_string(column) + ": ", 0), 0u);
}

}  // namespace

TEST(ConfigParser, TheDocumentedShapeParsesIntoTypedValues) {
  ConfigLoadResult result = parse(R"(
[server]
workers = 3
pid_file = "/run/t.pid"
drain_timeout = "45s"
user = "tether"
error_log = "/var/log/tether/error.log"
log_level = "warn"
access_log = "/var/log/tether/access.log"

[limits]
max_connections = 500
header_timeout = "2500ms"
keepalive_timeout = "1m"
max_header_size = "8KiB"
max_body_size = "2MiB"

[[listen]]
address = "127.0.0.1:8080"
[[listen]]
address = "[::1]:8081"
backlog = 128

[[route]]
path = "/static/*"
respond = { status = 204 }
[[route]]
path = "/"
respond = { status = 200, body = "hi\n", content_type = "text/html" }
)");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  const auto& c = *result.config;
  EXPECT_EQ(c.server.workers, 3u);
  EXPECT_EQ(c.server.pid_file, "/run/t.pid");
  EXPECT_EQ(c.server.drain_timeout, 45s);
  EXPECT_EQ(c.server.user, "tether");
  EXPECT_EQ(c.server.log_level, tether::LogLevel::warn);
  EXPECT_EQ(c.limits.max_connections, 500u);
  EXPECT_EQ(c.limits.header_timeout, 2500ms);
  EXPECT_EQ(c.limits.keepalive_timeout, 60s);
  EXPECT_EQ(c.limits.max_header_size, 8192u);
  EXPECT_EQ(c.limits.max_body_size, 2u * 1024 * 1024);
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].address.to_string(), "[::1]:8081");
  EXPECT_EQ(c.listen[1].backlog, 128u);
  ASSERT_EQ(c.routes.size(), 2u);
  EXPECT_TRUE(c.routes[0].prefix);
  EXPECT_EQ(c.routes[0].path, "/static/");
  EXPECT_EQ(c.routes[0].respond.status, 204);
  EXPECT_EQ(c.routes[1].respond.body, "hi\n");
  EXPECT_EQ(c.routes[1].respond.content_type, "text/html");
}

TEST(ConfigParser, DefaultsApplyWhenSectionsAreLeftOut) {
  ConfigLoadResult result = parse(kListen);
  ASSERT_TRUE(result.errors.empty());
  EXPECT_EQ(result.config->server.workers, 0u);  // auto
  EXPECT_GE(result.config->server.resolved_workers(), 1u);
  EXPECT_EQ(result.config->server.drain_timeout, 30s);
  EXPECT_EQ(result.config->server.drain_spread, 5s);
  EXPECT_EQ(result.config->limits.max_header_size, 16u * 1024);
  EXPECT_EQ(result.config->server.access_log, "off");
}

TEST(ConfigParser, TomlSyntaxErrorsGiveLineAndColumn) {
  expect_single_error("[server]\nworkers = = 2\n", 2, 11, "");
}

TEST(ConfigParser, UnknownKeysAreErrorsAtTheKey) {
  expect_single_error(std::string(kListen) + "[server]\n  wrokers = 2\n", 4, 3, "unknown key \"wrokers\" in [server]");
  expect_single_error(std::string(kListen) + "[limits]\nmax_conns = 2\n", 4, 1, "unknown key \"max_conns\"");
  expect_single_error(std::string(kListen) + "[extra]\n", 3, 2, "unknown key \"extra\" in the top level");
  expect_single_error("[[listen]]\naddress = \"127.0.0.1:1\"\nport = 1\n", 3, 1, "unknown key \"port\" in [[listen]]");
  expect_single_error(std::string(kListen) + "[[route]]\npath = \"/\"\nrespond = { status = 200, bdy = \"x\" }\n", 5, 27,
                      "unknown key \"bdy\" in respond");
}

TEST(ConfigParser, WrongTypesAreErrorsAtTheValue) {
  expect_single_error(std::string(kListen) + "[server]\nworkers = \"many\"\n", 4, 11, "\"workers\" must be \"auto\" or an integer");
  expect_single_error(std::string(kListen) + "[server]\nworkers = 0\n", 4, 11, "\"workers\"");
  expect_single_error(std::string(kListen) + "[server]\npid_file = 5\n", 4, 12, "\"pid_file\" must be a string");
  expect_single_error(std::string(kListen) + "[server]\ndrain_timeout = 30\n", 4, 17, "duration");
  expect_single_error(std::string(kListen) + "[server]\ndrain_timeout = \"30 seconds\"\n", 4, 17, "duration");
  expect_single_error(std::string(kListen) + "[server]\nlog_level = \"loud\"\n", 4, 13, "\"log_level\" must be one of");
  expect_single_error(std::string(kListen) + "[limits]\nmax_body_size = \"1 MB\"\n", 4, 17, "size");
  expect_single_error(std::string(kListen) + "[limits]\nmax_connections = \"10\"\n", 4, 19, "must be an integer");
  expect_single_error(std::string(kListen) + "[limits]\nmax_connections = 0\n", 4, 19, "between 1 and");
  expect_single_error(std::string(kListen) + "[limits]\nmax_header_size = \"10B\"\n", 4, 19, "between 256B and 1MiB");
  expect_single_error("server = 1\n" + std::string(kListen), 1, 10, "[server] must be a table");
}

TEST(ConfigParser, DrainSpreadAndMaxConnectionAgeAreDurationsInRange) {
  ConfigLoadResult result = parse(std::string(kListen) + "[server]\ndrain_spread = \"0\"\n[[route]]\npath = \"/\"\n"
                                  "max_connection_age = \"2h\"\nrespond = { status = 200 }\n");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().message;
  EXPECT_EQ(result.config->server.drain_spread, 0s);
  EXPECT_EQ(result.config->routes.at(0).max_connection_age, 2h);
  expect_single_error(std::string(kListen) + "[server]\ndrain_spread = 5\n", 4, 16, "duration");
  expect_single_error(std::string(kListen) + "[[route]]\npath = \"/\"\nmax_connection_age = \"500ms\"\nrespond = { status = 200 }\n",
                      5, 22, "\"max_connection_age\" must be between 1s and");
}

TEST(ConfigParser, ListenAddressesAreValidated) {
  expect_single_error("[[listen]]\naddress = \"localhost:80\"\n", 2, 11, "invalid address \"localhost:80\"");
  expect_single_error("[[listen]]\naddress = \"127.0.0.1:99999\"\n", 2, 11, "port");
  expect_single_error("[[listen]]\naddress = 8080\n", 2, 11, "must be a string");
  expect_single_error("[[listen]]\nbacklog = 5\n", 1, 1, "needs an \"address\"");
  expect_single_error("[[listen]]\naddress = \"127.0.0.1:80\"\n[[listen]]\naddress = \"127.0.0.1:80\"\n", 4, 11,
                      "already listened on (line 2)");
  expect_single_error("listen = \"127.0.0.1:80\"\n", 1, 10, "must be an array of tables");
  expect_single_error("[server]\nworkers = 1\n", 1, 1, "no [[listen]] address");
}

TEST(ConfigParser, RoutesAreValidated) {
  std::string base = kListen;
  expect_single_error(base + "[[route]]\nrespond = { status = 200 }\n", 3, 1, "needs a \"path\"");
  expect_single_error(base + "[[route]]\npath = \"static\"\nrespond = { status = 200 }\n", 4, 8, "must start with '/'");
  expect_single_error(base + "[[route]]\npath = \"/a*b\"\nrespond = { status = 200 }\n", 4, 8, "only at its end");
  expect_single_error(base + "[[route]]\npath = \"/\"\n", 4, 8, "has no handler");
  expect_single_error(base + "[[route]]\npath = \"/\"\nrespond = \"ok\"\n", 5, 11, "\"respond\" must be a table");
  expect_single_error(base + "[[route]]\npath = \"/\"\nrespond = { status = 99 }\n", 5, 22, "between 200 and 599");
  expect_single_error(base + "[[route]]\npath = \"/\"\nrespond = { status = 204, body = \"x\" }\n", 5, 11, "cannot have a body");
}

TEST(ConfigParser, EveryErrorIsReportedNotOnlyTheFirst) {
  ConfigLoadResult result = parse("[server]\nworkers = \"x\"\nfoo = 1\n[limits]\nheader_timeout = 5\n[[listen]]\naddress = \"nope\"\n");
  ASSERT_EQ(result.errors.size(), 4u);
  EXPECT_EQ(result.errors[0].where.line, 3u);  // unknown keys are checked first in each table
  EXPECT_EQ(result.errors[1].where.line, 2u);
  EXPECT_EQ(result.errors[2].where.line, 5u);
  EXPECT_EQ(result.errors[3].where.line, 7u);
}

TEST(ConfigParser, AMissingFileIsAnErrorNamingIt) {
  ConfigLoadResult result = tether::load_config_file("/nonexistent/tether.toml");
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].to_string(), "/nonexistent/tether.toml: cannot open: No such file or directory");
}

// Every duration and size key has a documented range (tether.toml(5)); `tether -t` reports a value
// outside it at the value, like any other error.
namespace {

struct RangeCase {
  const char* table;
  const char* key;
  const char* lowest;   // the smallest valid value
  const char* highest;  // the largest valid value
  const char* below;    // just under the range, or null when the range starts at 0
  const char* above;    // just over it
  const char* message;
};

const RangeCase kRangeCases[] = {
    {"server", "drain_timeout", "\"0s\"", "\"1d\"", nullptr, "\"86400001ms\"", "between 0s and 1d"},
    {"server", "ready_timeout", "\"100ms\"", "\"1h\"", "\"99ms\"", "\"61m\"", "between 100ms and 1h"},
    {"limits", "header_timeout", "\"100ms\"", "\"1h\"", "\"0s\"", "\"3601s\"", "between 100ms and 1h"},
    {"limits", "keepalive_timeout", "\"0s\"", "\"1d\"", nullptr, "\"25h\"", "between 0s and 1d"},
    {"limits", "tls_handshake_timeout", "\"100ms\"", "\"1h\"", "\"0s\"", "\"2h\"", "between 100ms and 1h"},
    {"pubsub", "history_ttl", "\"0s\"", "\"30d\"", nullptr, "\"31d\"", "between 0s and 30d"},
    {"server", "shared_memory", "\"1MiB\"", "\"64GiB\"", "\"1023KiB\"", "\"65GiB\"", "between 1MiB and 64GiB"},
    {"limits", "max_body_size", "0", "\"1GiB\"", nullptr, "1073741825", "between 0B and 1GiB"},
    {"pubsub", "history_memory", "0", "\"1GiB\"", nullptr, "\"4GiB\"", "between 0B and 1GiB"},
    {"pubsub", "max_message_size", "1", "\"16MiB\"", "0", "\"17MiB\"", "between 1B and 16MiB"},
    {"pubsub", "worker_backlog", "\"64KiB\"", "\"64GiB\"", "\"63KiB\"", "\"100GB\"", "between 64KiB and 64GiB"},
    {"pubsub.redis", "connect_timeout", "\"10ms\"", "\"1m\"", "\"9ms\"", "\"61s\"", "between 10ms and 1m"},
    {"pubsub.redis", "command_timeout", "\"10ms\"", "\"1m\"", "\"0s\"", "\"2m\"", "between 10ms and 1m"},
};

std::string with_value(const RangeCase& c, const char* value) {
  return std::string(kListen) + "[" + c.table + "]\n" + c.key + " = " + value + "\n";
}

}  // namespace

TEST(ConfigRanges, EveryDurationAndSizeKeyAcceptsBothEndsOfItsRange) {
  for (const RangeCase& c : kRangeCases)
    for (const char* value : {c.lowest, c.highest}) {
      ConfigLoadResult result = parse(with_value(c, value));
      EXPECT_TRUE(result.errors.empty()) << c.key << " = " << value << ": " << result.errors.front().to_string();
    }
}

TEST(ConfigRanges, EveryDurationAndSizeKeyRefusesValuesOutsideItsRangeAtTheValue) {
  for (const RangeCase& c : kRangeCases) {
    unsigned column = static_cast<unsigned>(std::string(c.key).size()) + 4;
    for (const char* value : {c.below, c.above}) {
      if (!value) continue;
      SCOPED_TRACE(std::string(c.key) + " = " + value);
      expect_single_error(with_value(c, value), 4, column, "\"" + std::string(c.key) + "\" must be " + c.message);
    }
  }
}

TEST(ConfigRanges, AZeroHeaderTimeoutIsRefusedRatherThanCuttingEveryRequest) {
  expect_single_error(std::string(kListen) + "[limits]\nheader_timeout = \"0s\"\n", 4, 18,
                      "\"header_timeout\" must be between 100ms and 1h");
}

// nginx's way of saying "no keep-alive": every answer closes its connection.
TEST(ConfigRanges, AZeroKeepaliveTimeoutIsAcceptedAsNoKeepAlive) {
  ConfigLoadResult result = parse(std::string(kListen) + "[limits]\nkeepalive_timeout = \"0s\"\n");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->limits.keepalive_timeout, 0ms);
}

// Every message expires as it is published: no history, as with history_size = 0.
TEST(ConfigRanges, AZeroHistoryTtlIsAcceptedAsNoHistory) {
  ConfigLoadResult result = parse(std::string(kListen) + "[pubsub]\nhistory_ttl = \"0s\"\n");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->pubsub.history_ttl, 0ms);
}

TEST(ConfigRanges, BodyAndHistoryBoundsStayBelowWhatAPubsubFrameLengthCarries) {
  // A frame's length is a u32: nothing a frame carries whole may come near 4GiB.
  expect_single_error(std::string(kListen) + "[limits]\nmax_body_size = \"4GiB\"\n", 4, 17, "between 0B and 1GiB");
  expect_single_error(std::string(kListen) + "[pubsub]\nhistory_memory = 4294967296\n", 4, 18, "between 0B and 1GiB");
}

TEST(ConfigParser, ANulInAStringIsAnErrorRatherThanCuttingThePath) {
  expect_single_error(std::string(kListen) + "[server]\npid_file = \"/run/t.pid\\u0000.x\"\n", 4, 12,
                      "\"pid_file\" must not contain a NUL character");
  expect_single_error(std::string(kListen) + "[server]\nuser = \"nobody\\u0000\"\n", 4, 8, "\"user\" must not contain a NUL");
  // A response body is data: it may hold any byte.
  ConfigLoadResult result = parse(std::string(kListen) + "[[route]]\npath = \"/\"\nrespond = { body = \"a\\u0000b\" }\n");
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  EXPECT_EQ(result.config->routes[0].respond.body, std::string("a\0b", 3));
}

TEST(ConfigParser, AContentTypeWithALineBreakIsAnErrorNotAHeaderOfItsOwn) {
  expect_single_error(std::string(kListen) + "[[route]]\npath = \"/\"\nrespond = { content_type = \"text/plain\\r\\nSet-Cookie: a=b\" }\n",
                      5, 28, "\"content_type\" must not contain control characters");
}

namespace {

// A directory of its own for the respond-file tests, removed at the end.
struct TempDirectory {
  std::filesystem::path path;
  TempDirectory() {
    char name[] = "/tmp/tether-respond-XXXXXX";
    path = mkdtemp(name);
  }
  ~TempDirectory() { std::filesystem::remove_all(path); }
  std::string write(const std::string& name, const std::string& content) const {
    std::filesystem::create_directories((path / name).parent_path());
    std::ofstream(path / name, std::ios::binary) << content;
    return (path / name).string();
  }
};

}  // namespace

TEST(ConfigParser, ARespondFileIsReadAtLoadRelativeToTheConfigFileWithItsContentType) {
  TempDirectory dir;
  std::string script = std::string("export const x = 1;\n") + '\0' + "binary too";
  dir.write("js/tether.js", script);
  dir.write("page.html", "<p>hi</p>");
  dir.write("data.bin", "x");
  std::string config = dir.write("conf/tether.toml", std::string(kListen) +
      "[[route]]\npath = \"/tether.js\"\nrespond = { file = \"../js/tether.js\" }\n"
      "[[route]]\npath = \"/\"\nrespond = { file = \"" + (dir.path / "page.html").string() + "\" }\n"
      "[[route]]\npath = \"/d\"\nrespond = { file = \"../data.bin\", content_type = \"text/x-mine\" }\n"
      "[[route]]\npath = \"/b\"\nrespond = { file = \"../data.bin\" }\n");
  ConfigLoadResult result = tether::load_config_file(config);
  ASSERT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  const auto& routes = result.config->routes;
  ASSERT_EQ(routes.size(), 4u);
  EXPECT_EQ(routes[0].respond.body, script);
  EXPECT_EQ(routes[0].respond.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(routes[0].respond.file, (dir.path / "js/tether.js").string());
  EXPECT_EQ(routes[1].respond.body, "<p>hi</p>");
  EXPECT_EQ(routes[1].respond.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(routes[2].respond.content_type, "text/x-mine");
  EXPECT_EQ(routes[3].respond.content_type, "application/octet-stream");
}

TEST(ConfigParser, AMissingOrTooLargeRespondFileOrOneWithABodyIsAnErrorAtItsKey) {
  TempDirectory dir;
  std::string large = dir.write("large.js", std::string(tether::kRespondFileMax + 1, 'x'));
  std::string exact = dir.write("exact.js", std::string(tether::kRespondFileMax, 'x'));
  std::string route = std::string(kListen) + "[[route]]\npath = \"/\"\nrespond = { file = \"";
  expect_single_error(route + (dir.path / "nope.js").string() + "\" }\n", 5, 20, "is not a readable file");
  expect_single_error(route + dir.path.string() + "\" }\n", 5, 20, "is not a readable file");
  expect_single_error(route + large + "\" }\n", 5, 20, "is larger than 1MiB");
  expect_single_error(route + "\" }\n", 5, 20, "must not be empty");
  expect_single_error(std::string(kListen) + "[[route]]\npath = \"/\"\nrespond = { body = \"b\", file = \"" + exact + "\" }\n",
                      5, 32, "either \"body\" or \"file\"");
  ConfigLoadResult ok = parse(route + exact + "\" }\n");
  ASSERT_TRUE(ok.errors.empty());
  EXPECT_EQ(ok.config->routes[0].respond.body.size(), tether::kRespondFileMax);
  if (geteuid() != 0) {  // root reads any file
    std::string locked = dir.write("locked.js", "x");
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    expect_single_error(route + locked + "\" }\n", 5, 20, "cannot read");
  }
}
