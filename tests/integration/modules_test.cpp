// Modules in the real server: the health module, module handlers and hooks, hot reload of a
// module's .so, refused modules, and a module that crashes.
#include <gtest/gtest.h>
#include <tether/module.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "support/http_client.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {

const std::string kTestModules = TETHER_TEST_MODULES_DIR;
const std::string kBuiltinModules = TETHER_MODULES_BUILD_DIR;

const std::string kHealth = "[modules.health]\n"
                            "[[route]]\npath = \"/healthz\"\nhandler = \"health\"\n"
                            "[[route]]\npath = \"/readyz\"\nhandler = \"health\"\n"
                            "[[route]]\npath = \"/metrics\"\nhandler = \"health\"\n";

std::string probe_routes(const std::string& so_path) {
  std::string routes = "[modules.probe]\npath = \"" + so_path + "\"\n";
  for (const char* action : {"version", "crash", "defer", "work", "header", "deny"})
    routes += std::string("[[route]]\npath = \"/") + action + "\"\nhandler = \"probe\"\n[route.probe]\naction = \"" +
              action + "\"\n";
  return routes;
}

void copy_file(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary);
  out << in.rdbuf();
}

// Installs `from` at `to` the way package managers do: write beside it, then rename over it.
void replace_by_rename(const std::string& from, const std::string& to) {
  copy_file(from, to + ".tmp");
  ASSERT_EQ(std::rename((to + ".tmp").c_str(), to.c_str()), 0);
}

}  // namespace

TEST(Health, LivenessAndReadiness) {
  TetherServer server(2, kHealth, "modules_dir = \"" + kBuiltinModules + "\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  auto live = http_get(server.port(), "/healthz");
  ASSERT_TRUE(live);
  EXPECT_EQ(live->status, 200);
  EXPECT_EQ(live->body, "ok\n");
  auto ready = http_get(server.port(), "/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200);
}

TEST(Health, ReadyzTurns503WhileTheWorkerDrains) {
  TetherServer server(1, kHealth, "modules_dir = \"" + kBuiltinModules + "\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  HttpClient old_generation;
  ASSERT_TRUE(old_generation.connect(server.port()));
  auto before = old_generation.get("/readyz");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->status, 200);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("generation 1 draining", 5s)) << server.error_log();
  auto during = old_generation.get("/readyz");  // still on the draining worker of generation 1
  ASSERT_TRUE(during);
  EXPECT_EQ(during->status, 503);
  EXPECT_EQ(during->body, "draining\n");
  auto fresh = http_get(server.port(), "/readyz");  // a new connection reaches generation 2
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->status, 200);
}

TEST(Health, MetricsAreSummedOverAllWorkers) {
  TetherServer server(2, kHealth, "modules_dir = \"" + kBuiltinModules + "\"\naccess_log = \"@DIR@/access.log\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  auto first = http_get(server.port(), "/metrics");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(first->body.find("# TYPE tether_http_requests_total counter\n"), std::string::npos) << first->body;
  auto m1 = parse_metrics(first->body);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(http_get(server.port(), "/"));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(http_get(server.port(), "/missing"));
  // The clients above have closed, but a worker may not have read every FIN yet: ask until only
  // the connection asking is open.
  std::map<std::string, long> m2;
  int asked = 0;
  ASSERT_TRUE(wait_until([&] {
    auto second = http_get(server.port(), "/metrics");
    ++asked;
    m2 = second ? parse_metrics(second->body) : std::map<std::string, long>();
    return m2["tether_connections_open{kind=\"http\"}"] == 1;
  }, 5s));
  // 40 answers of "/", plus the first /metrics request and every earlier ask (each counted once
  // it was answered).
  EXPECT_EQ(m2["tether_http_requests_total{code=\"2xx\"}"] - m1["tether_http_requests_total{code=\"2xx\"}"], 40 + asked);
  EXPECT_EQ(m2["tether_http_requests_total{code=\"4xx\"}"] - m1["tether_http_requests_total{code=\"4xx\"}"], 10);
  EXPECT_EQ(m2["tether_connections_accepted_total"] - m1["tether_connections_accepted_total"], 50 + asked);
  EXPECT_EQ(m2["tether_generation"], 1);
  EXPECT_GT(m2["tether_sent_bytes_total"], m1["tether_sent_bytes_total"]);
  // Both workers took part, so the figures above are sums over two processes.
  server.stop();
  std::ifstream in(server.dir() + "/access.log");
  std::stringstream log;
  log << in.rdbuf();
  EXPECT_NE(log.str().find("\"GET / HTTP/1.1\" 200 7 worker=0"), std::string::npos);
  EXPECT_NE(log.str().find("\"GET / HTTP/1.1\" 200 7 worker=1"), std::string::npos);
}

TEST(Health, ReloadsAndRestartsAreCounted) {
  TetherServer server(1, kHealth, "modules_dir = \"" + kBuiltinModules + "\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s));
  ASSERT_TRUE(server.wait_for_workers(1, 5s));
  ::kill(server.worker_pids()[0], SIGKILL);
  ASSERT_TRUE(server.wait_for_log("killed by signal 9", 2s));
  std::optional<HttpResponse> page;
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (!page && std::chrono::steady_clock::now() < deadline) page = http_get(server.port(), "/metrics");
  ASSERT_TRUE(page);
  auto m = parse_metrics(page->body);
  EXPECT_EQ(m["tether_reloads_total"], 1);
  EXPECT_EQ(m["tether_generation"], 2);
  EXPECT_EQ(m["tether_worker_restarts_total"], 1);
}

TEST(Modules, HandlersHooksAndDeferredAnswers) {
  TetherServer server(2, probe_routes(kTestModules + "/probe_v1.so"));
  ASSERT_TRUE(server.start()) << server.error_log();
  auto version = http_get(server.port(), "/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->body, "probe 1\n");
  auto denied = http_get(server.port(), "/deny");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  HttpClient client;
  ASSERT_TRUE(client.connect(server.port()));
  ASSERT_TRUE(client.send("GET /header HTTP/1.1\r\nHost: t\r\nX-Probe: hello\r\n\r\n"));
  auto echoed = client.read_response();
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->body, "hello");
  EXPECT_EQ(echoed->header("x-probe-echo"), "yes");
  // A deferred answer, pipelined with a request behind it: both come back, in order.
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(client.send("GET /defer HTTP/1.1\r\nHost: t\r\n\r\nGET /version HTTP/1.1\r\nHost: t\r\n\r\n"));
  auto deferred = client.read_response();
  ASSERT_TRUE(deferred);
  EXPECT_EQ(deferred->body, "deferred\n");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 240ms);
  auto behind = client.read_response();
  ASSERT_TRUE(behind);
  EXPECT_EQ(behind->body, "probe 1\n");
  auto worked = client.get("/work");
  ASSERT_TRUE(worked);
  EXPECT_EQ(worked->body, "worked\n");
}

TEST(Modules, AClientLeavingBeforeADeferredAnswerLosesNothing) {
  TetherServer server(1, probe_routes(kTestModules + "/probe_v1.so"));
  ASSERT_TRUE(server.start()) << server.error_log();
  {
    HttpClient leaver;
    ASSERT_TRUE(leaver.connect(server.port()));
    ASSERT_TRUE(leaver.send("GET /defer HTTP/1.1\r\nHost: t\r\n\r\n"));
  }  // closed before the 250 ms answer
  ASSERT_TRUE(server.wait_for_log("[probe] deferred answer given", 2s)) << server.error_log();
  auto after = http_get(server.port(), "/version");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "probe 1\n");
}

TEST(Modules, ReplacedModuleFileIsRunByTheNextGenerationOnly) {
  TetherServer server(1, "", "");
  std::string installed = server.dir() + "/probe.so";
  copy_file(kTestModules + "/probe_v1.so", installed);
  server.write_config(server.default_config() + probe_routes(installed) +
                      "[limits]\nheader_timeout = \"30s\"\n");
  ASSERT_TRUE(server.start()) << server.error_log();
  auto first = http_get(server.port(), "/version");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->body, "probe 1\n");
  HttpClient old_connection;  // mid-request on generation 1 when the reload happens
  ASSERT_TRUE(old_connection.connect(server.port()));
  ASSERT_TRUE(old_connection.send("GET /version HTTP/1.1\r\nHost: t\r\n"));
  ASSERT_TRUE(wait_until([&] { return connection_accepted(old_connection.fd()); }, 2s))
      << "generation 1 did not accept the connection";
  replace_by_rename(kTestModules + "/probe_v2.so", installed);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload complete: generation 2", 5s)) << server.error_log();
  auto second = http_get(server.port(), "/version");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "probe 2\n");
  ASSERT_TRUE(old_connection.send("\r\n"));
  auto old_answer = old_connection.read_response();
  ASSERT_TRUE(old_answer);
  EXPECT_EQ(old_answer->body, "probe 1\n");  // the old generation still runs the old code
}

TEST(Modules, ADifferentAbiMajorIsRefusedByTheConfigCheck) {
  TetherServer server(1, probe_routes(kTestModules + "/probe_abi2.so"));
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("probe_abi2.so: module ABI 2." + std::to_string(TETHER_MODULE_ABI_MINOR) + " is incompatible with this server's ABI 1." + std::to_string(TETHER_MODULE_ABI_MINOR)), std::string::npos)
      << output;
  EXPECT_NE(output.find(server.config_path() + ":"), std::string::npos) << output;
}

TEST(Modules, AReloadWhoseModuleCannotLoadKeepsTheOldGeneration) {
  TetherServer server(2, probe_routes(kTestModules + "/probe_v1.so"));
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(2, 2s));
  auto before = server.worker_pids();
  std::string broken = server.default_config();
  broken.replace(broken.find(kTestModules + "/probe_v1.so"), kTestModules.size() + 12, server.dir() + "/missing.so");
  server.write_config(broken);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("reload failed: modules could not be loaded", 5s)) << server.error_log();
  EXPECT_NE(server.error_log().find("missing.so: cannot load module: "), std::string::npos) << server.error_log();
  EXPECT_EQ(server.worker_pids(), before);
  auto version = http_get(server.port(), "/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->body, "probe 1\n");
}

TEST(Modules, AWorkerInitFailureFailsTheReload) {
  TetherServer server(1, probe_routes(kTestModules + "/probe_v1.so"));
  ASSERT_TRUE(server.start()) << server.error_log();
  std::string failing = server.default_config();
  failing.replace(failing.find("[modules.probe]\n"), 16, "[modules.probe]\nfail_init = true\n");
  server.write_config(failing);
  server.signal(SIGHUP);
  ASSERT_TRUE(server.wait_for_log("before it was ready; generation 1 keeps serving", 5s)) << server.error_log();
  EXPECT_NE(server.error_log().find("[probe] fail_init is set"), std::string::npos);
  auto version = http_get(server.port(), "/version");
  ASSERT_TRUE(version);
  EXPECT_EQ(version->body, "probe 1\n");
}

TEST(Modules, ACrashInAModuleTakesDownOnlyItsWorkerAndIsReported) {
  TetherServer server(2, probe_routes(kTestModules + "/probe_v1.so"));
  ASSERT_TRUE(server.start()) << server.error_log();
  ASSERT_TRUE(server.wait_for_workers(2, 2s));
  HttpClient victim;
  ASSERT_TRUE(victim.connect(server.port()));
  ASSERT_TRUE(victim.send("GET /crash HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_FALSE(victim.read_response(2s));
  ASSERT_TRUE(server.wait_for_log("killed by signal 11", 2s)) << server.error_log();
  std::string log = server.error_log();
  EXPECT_TRUE(std::regex_search(log, std::regex("crashed: signal 11 \\(Segmentation fault\\) at address \\(nil\\), "
                                                "instruction 0x[0-9a-f]+ in [^ ]*probe_v1\\.so \\(probe_crash\\+0x")))
      << log;
  EXPECT_TRUE(server.wait_for_workers(2, 1s));
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(http_get(server.port(), "/version"));
}

TEST(Modules, AModuleTheWorkerUserCannotReadIsCaughtByTheCheck) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TetherServer server(1, "", "user = \"nobody\"\n");
  std::string private_copy = server.dir() + "/probe.so";  // the test dir is 0700: nobody cannot enter
  copy_file(kTestModules + "/probe_v1.so", private_copy);
  server.write_config(server.default_config() + probe_routes(private_copy));
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + server.config_path(), &output), 1);
  EXPECT_NE(output.find("probe.so: cannot open shared object file: Permission denied"), std::string::npos) << output;
}
