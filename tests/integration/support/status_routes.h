// The routes the status page tests serve: the health module's /metrics, /status and
// /status.json, and publishing, WebSocket and SSE subscribers to give it something to show.
#pragma once

#include <string>

namespace tether::test {

inline std::string status_routes_toml() {
  return R"(
[modules.health]
[modules.websocket]
[modules.sse]

[[route]]
path = "/metrics"
handler = "health"

[[route]]
path = "/status"
handler = "health"

[[route]]
path = "/status.json"
handler = "health"

[[route]]
path = "/pub/*"
handler = "publish"

[[route]]
path = "/ws/*"
handler = "websocket"

[[route]]
path = "/sse/*"
handler = "sse"
)";
}

}  // namespace tether::test
