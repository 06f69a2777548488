#include "publisher.h"

#include <gtest/gtest.h>

#include <regex>

namespace tether::test {

std::pair<int, std::string> publish(int port, const std::string& channel, const std::string& data,
                                    const std::string& extra_headers) {
  HttpClient c;
  if (!c.connect(port)) return {0, ""};
  c.send("POST /pub/" + channel + " HTTP/1.1\r\nHost: x\r\n" + extra_headers + "Content-Length: " +
         std::to_string(data.size()) + "\r\n\r\n" + data);
  auto r = c.read_response();
  if (!r) return {0, ""};
  return {r->status, r->body};
}

Publisher::Publisher(int port) { EXPECT_TRUE(client_.connect(port)); }

std::string Publisher::send(const std::string& channel, const std::string& data) {
  client_.send("POST /pub/" + channel + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(data.size()) +
               "\r\n\r\n" + data);
  auto r = client_.read_response();
  if (!r || r->status != 200) return "";
  return json_field(r->body, "id");
}

std::string Publisher::json_field(const std::string& json, const std::string& name) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + name + "\":\"([^\"]*)\""))) return m[1];
  return "";
}

std::map<std::string, long> metrics(int port) {
  auto r = http_get(port, "/metrics");
  return r ? parse_metrics(r->body) : std::map<std::string, long>();
}

}  // namespace tether::test
