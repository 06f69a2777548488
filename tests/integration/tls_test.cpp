// TLS termination on the real server, with certificates made at test time.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "support/http_client.h"
#include "support/test_pki.h"
#include "support/tether_server.h"

using namespace tether::test;

namespace {

// A server with one plain listener (for start-up checks) and one TLS listener.
struct TlsFixture {
  explicit TlsFixture(const std::string& tls_table_extra = "", const std::string& server_extra = "",
                      unsigned workers = 2)
      : tls_port(free_port()), server(workers, "", server_extra), pki(server.dir()) {
    std::string output;
    EXPECT_TRUE(pki.ok());
    EXPECT_TRUE(pki.issue("default", "localhost", 1001, &output)) << output;
    EXPECT_TRUE(pki.issue("alpha", "alpha.test", 2001, &output)) << output;
    server.write_config(server.default_config() + "[limits]\ntls_handshake_timeout = \"1s\"\n" + "[[listen]]\naddress = \"127.0.0.1:" +
                        std::to_string(tls_port) + "\"\n[listen.tls]\ncert = \"default.pem\"\nkey = \"default.key\"\n" +
                        tls_table_extra + "[[listen.tls.sni]]\nserver_name = \"alpha.test\"\ncert = \"alpha.pem\"\nkey = \"alpha.key\"\n");
  }
  std::string url(const std::string& path = "/") const { return "https://localhost:" + std::to_string(tls_port) + path; }
  std::string s_client(const std::string& options) const {
    std::string output;
    run_command("echo | timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) + " " + options, &output);
    return output;
  }
  std::string serial(const std::string& options = "-servername localhost") const {
    std::string output;
    run_command("echo | timeout 5 openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) + " " + options +
                    " 2>/dev/null | openssl x509 -noout -serial",
                &output);
    return output;
  }
  int tls_port;
  TetherServer server;
  TestPki pki;
};

}  // namespace

TEST(Tls, CurlOverHttpsWithKeepAlive) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  std::string output;
  EXPECT_EQ(run_command("curl -sS -v --cacert " + f.pki.ca() + " " + f.url() + " " + f.url() + " 2>&1", &output), 0)
      << output;
  EXPECT_NE(output.find("Re-using existing connection"), std::string::npos) << output;
  EXPECT_NE(output.find("ALPN: server accepted http/1.1"), std::string::npos) << output;
  EXPECT_EQ(count_occurrences(output, "\ntether\n"), 2) << output;
}

TEST(Tls, PipelinedRequestsOverTls) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  std::string output;
  run_command("(printf 'GET / HTTP/1.1\\r\\nHost: t\\r\\n\\r\\nGET /nowhere HTTP/1.1\\r\\nHost: t\\r\\n\\r\\n"
              "GET / HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n'; sleep 1) | timeout 5 openssl s_client -quiet "
              "-connect 127.0.0.1:" + std::to_string(f.tls_port) + " -servername localhost 2>/dev/null",
              &output);
  auto first = output.find("HTTP/1.1 200"), second = output.find("HTTP/1.1 404"), third = output.find("HTTP/1.1 200", second);
  ASSERT_NE(first, std::string::npos) << output;
  ASSERT_NE(second, std::string::npos) << output;
  ASSERT_NE(third, std::string::npos) << output;
  EXPECT_LT(first, second);
}

TEST(Tls, SniChoosesTheCertificate) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  EXPECT_EQ(f.serial("-servername alpha.test"), "serial=07D1\n");    // 2001
  EXPECT_EQ(f.serial("-servername localhost"), "serial=03E9\n");     // 1001, the default
  EXPECT_EQ(f.serial("-servername unknown.test"), "serial=03E9\n");
}

TEST(Tls, OldProtocolVersionsAreRefused) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  // The client is allowed to offer TLS 1.1 (security level 0), so a refusal is the server's.
  std::string old = f.s_client("-tls1_1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_NE(old.find("alert protocol version"), std::string::npos) << old;
  std::string older = f.s_client("-tls1 -cipher DEFAULT@SECLEVEL=0");
  EXPECT_NE(older.find("alert protocol version"), std::string::npos) << older;
  std::string current = f.s_client("-tls1_2");
  EXPECT_NE(current.find("Protocol  : TLSv1.2"), std::string::npos) << current;
}

TEST(Tls, MinVersion13RefusesTls12) {
  TlsFixture f("min_version = \"1.3\"\n");
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  EXPECT_NE(f.s_client("-tls1_2").find("alert protocol version"), std::string::npos);
  EXPECT_NE(f.s_client("-tls1_3").find("TLSv1.3"), std::string::npos);
}

TEST(Tls, AStalledHandshakeIsCutOffAfterTheTimeout) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  HttpClient staller;
  ASSERT_TRUE(staller.connect(f.tls_port));
  ASSERT_TRUE(staller.send(std::string("\x16\x03\x01\x00\xc8", 5)));  // a record header, then nothing
  auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(staller.wait_closed(4s));
  auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 800ms);
  EXPECT_LT(waited, 3s);
}

TEST(Tls, GarbageInsteadOfAClientHelloIsClosedWithoutACrash) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  auto workers = f.server.worker_pids();
  for (const char* garbage : {"GET / HTTP/1.1\r\nHost: t\r\n\r\n", "\x16\x03\x03\xff\xff garbage", "\x00\x01\x02\x03"}) {
    HttpClient client;
    ASSERT_TRUE(client.connect(f.tls_port));
    client.send(garbage);
    EXPECT_TRUE(client.wait_closed(3s)) << garbage;
  }
  std::string output;
  EXPECT_EQ(run_command("curl -sS --cacert " + f.pki.ca() + " " + f.url(), &output), 0) << output;
  EXPECT_EQ(f.server.worker_pids(), workers);  // no worker died
}

TEST(Tls, SessionsResumeOnWhicheverWorkerTheClientReaches) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  std::string session = f.server.dir() + "/session.pem";
  // A request with "Connection: close" makes the server end the connection, so s_client stays
  // until the session ticket (sent after the handshake) has arrived.
  auto request = [&](const std::string& options) {
    std::string output;
    run_command("printf 'GET / HTTP/1.1\\r\\nHost: t\\r\\nConnection: close\\r\\n\\r\\n' | timeout 5 openssl s_client "
                "-ign_eof -connect 127.0.0.1:" + std::to_string(f.tls_port) + " -servername localhost " + options,
                &output);
    return output;
  };
  ASSERT_NE(request("-sess_out " + session).find("New, TLSv1.3"), std::string::npos);
  int reused = 0;
  for (int i = 0; i < 8; ++i) reused += request("-sess_in " + session).find("Reused, TLSv1.3") != std::string::npos;
  EXPECT_EQ(reused, 8);  // eight new TCP connections, spread over both workers
}

TEST(Tls, BadCertificatesAreConfigErrorsNamingTheFile) {
  TlsFixture f;
  std::string config = f.server.default_config() + "[[listen]]\naddress = \"127.0.0.1:" + std::to_string(free_port()) +
                       "\"\ntls = { cert = \"missing.pem\", key = \"default.key\" }\n";
  f.server.write_config(config);
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + f.server.config_path(), &output), 1);
  EXPECT_NE(output.find("cannot read certificate " + f.server.dir() + "/missing.pem: No such file or directory"),
            std::string::npos)
      << output;
  config = f.server.default_config() + "[[listen]]\naddress = \"127.0.0.1:" + std::to_string(free_port()) +
           "\"\ntls = { cert = \"default.pem\", key = \"alpha.key\" }\n";
  f.server.write_config(config);
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + f.server.config_path(), &output), 1);
  EXPECT_NE(output.find("key " + f.server.dir() + "/alpha.key does not match certificate " + f.server.dir() + "/default.pem"),
            std::string::npos)
      << output;
  EXPECT_NE(output.find(f.server.config_path() + ":"), std::string::npos) << output;
}

TEST(Tls, AKeyOnlyRootCanReadStillWorksAfterWorkersDropPrivileges) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  TlsFixture f("", "user = \"nobody\"\n");
  ::chmod(f.pki.key("default").c_str(), 0600);
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  std::string output;
  EXPECT_EQ(run_command("curl -sS --cacert " + f.pki.ca() + " " + f.url(), &output), 0) << output;
  EXPECT_EQ(output, "tether\n");
}

TEST(Tls, ReloadServesARenewedCertificateWithoutFailingARequest) {
  TlsFixture f;
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  EXPECT_EQ(f.serial(), "serial=03E9\n");
  std::string wrk_output;
  std::thread load([&] { run_command("wrk -t 2 -c 16 -d 4s " + f.url(), &wrk_output); });
  // The reload must happen under load: once wrk's 16 connections are in.
  EXPECT_TRUE(wait_until([&] { return accepted_connections(f.tls_port) >= 16; }, 3s))
      << accepted_connections(f.tls_port) << " connections";
  std::string output;
  ASSERT_TRUE(f.pki.issue("renewed", "localhost", 1002, &output)) << output;
  ASSERT_EQ(std::rename(f.pki.key("renewed").c_str(), f.pki.key("default").c_str()), 0);
  ASSERT_EQ(std::rename(f.pki.cert("renewed").c_str(), f.pki.cert("default").c_str()), 0);
  f.server.signal(SIGHUP);
  load.join();
  EXPECT_TRUE(f.server.wait_for_log("reload complete: generation 2", 5s)) << f.server.error_log();
  EXPECT_NE(wrk_output.find("requests in"), std::string::npos) << wrk_output;
  EXPECT_EQ(wrk_output.find("Socket errors"), std::string::npos) << wrk_output;
  EXPECT_EQ(wrk_output.find("Non-2xx"), std::string::npos) << wrk_output;
  EXPECT_EQ(f.serial(), "serial=03EA\n");  // 1002
}

TEST(Tls, CipherOverridesApplyAndInvalidOnesAreConfigErrors) {
  TlsFixture f("ciphersuites = \"TLS_CHACHA20_POLY1305_SHA256\"\nciphers = \"ECDHE-ECDSA-AES128-GCM-SHA256\"\n");
  ASSERT_TRUE(f.server.start()) << f.server.error_log();
  EXPECT_NE(f.s_client("-tls1_3").find("Cipher is TLS_CHACHA20_POLY1305_SHA256"), std::string::npos);
  EXPECT_NE(f.s_client("-tls1_2").find("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256"), std::string::npos);
  std::string config = f.server.default_config() + "[[listen]]\naddress = \"127.0.0.1:" + std::to_string(free_port()) +
                       "\"\ntls = { cert = \"default.pem\", key = \"default.key\", ciphers = \"NOT-A-CIPHER\" }\n";
  f.server.write_config(config);
  std::string output;
  EXPECT_EQ(run_command(std::string(TETHER_BINARY) + " -t -c " + f.server.config_path(), &output), 1);
  EXPECT_NE(output.find("no usable cipher in \"ciphers\": NOT-A-CIPHER"), std::string::npos) << output;
}
