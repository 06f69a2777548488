// Publishing through tether's publish API (POST /pub/{channel}) and reading its metrics, for the
// pub/sub tests.
#pragma once

#include <map>
#include <string>
#include <utility>

#include "http_client.h"

namespace tether::test {

// POSTs `data` to /pub/<channel> on a fresh connection; returns the status and the body
// (status 0 when no answer came).
std::pair<int, std::string> publish(int port, const std::string& channel, const std::string& data,
                                    const std::string& extra_headers = "");

// Publishes many messages over one keep-alive connection.
class Publisher {
 public:
  explicit Publisher(int port);
  // The new message's id, empty if the answer was not 200.
  std::string send(const std::string& channel, const std::string& data);
  // The value of a string field in a flat JSON object ("" if absent).
  static std::string json_field(const std::string& json, const std::string& name);

 private:
  HttpClient client_;
};

// The Prometheus page at /metrics, parsed; empty if it cannot be read.
std::map<std::string, long> metrics(int port);

}  // namespace tether::test
