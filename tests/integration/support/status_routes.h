// The routes the status page tests serve: the health module's /metrics, /status and
// /status.json, and publishing, WebSocket and SSE subscribers to give it something to show.
#pragma once

#include <string>

#include "support/config_toml.h"

namespace tether::test {

inline std::string status_routes_toml() {
  return modules_toml({"health", "websocket", "sse"}) + route_toml("/metrics", "health") + route_toml("/status", "health") +
         route_toml("/status.json", "health") + route_toml("/pub/*", "publish") + route_toml("/ws/*", "websocket") +
         route_toml("/sse/*", "sse");
}

}  // namespace tether::test
