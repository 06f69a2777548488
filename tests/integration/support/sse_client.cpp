#include "support/sse_client.h"

#include <cstdio>
#include <sstream>

namespace tether::test {

int SseClient::open(int port, const std::string& path, const std::string& last_event_id, const std::string& extra_headers) {
  if (!client_.connect(port)) return 0;
  std::string resume = last_event_id.empty() ? "" : "Last-Event-ID: " + last_event_id + "\r\n";
  if (!client_.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n" + resume +
                    extra_headers + "\r\n"))
    return 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  std::size_t end;
  while ((end = raw_.find("\r\n\r\n")) == std::string::npos)
    if (!fill(deadline)) return 0;
  std::string head = raw_.substr(0, end + 4);
  raw_.erase(0, end + 4);
  int status = 0;
  std::sscanf(head.c_str(), "HTTP/1.%*d %d", &status);
  // An event stream has no length: anything else than chunked framing is not one.
  if (status == 200 && head.find("Transfer-Encoding: chunked\r\n") == std::string::npos) return -200;
  return status;
}

bool SseClient::fill(std::chrono::steady_clock::time_point deadline) {
  bool closed = false;
  bool got = receive_some(client_.fd(), deadline, &raw_, &closed);
  if (closed) ended_ = true;
  return got;
}

bool SseClient::decode_chunk() {
  std::size_t line_end = raw_.find("\r\n");
  if (line_end == std::string::npos) return false;
  std::size_t size = std::stoul(raw_.substr(0, line_end), nullptr, 16);
  if (raw_.size() < line_end + 2 + size + 2) return false;
  if (size == 0) ended_ = true;
  body_.append(raw_, line_end + 2, size);
  raw_.erase(0, line_end + 2 + size + 2);
  return true;
}

std::optional<SseEvent> SseClient::read_event(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    while (decode_chunk()) {
    }
    std::size_t end;
    while ((end = body_.find("\n\n")) != std::string::npos) {
      std::istringstream lines(body_.substr(0, end));
      body_.erase(0, end + 2);
      SseEvent event;
      bool has_data = false;
      for (std::string line; std::getline(lines, line);) {
        std::size_t colon = line.find(':');
        if (colon == 0 || colon == std::string::npos) continue;  // a comment (heartbeat)
        std::string value = line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        std::string field = line.substr(0, colon);
        if (field == "event") event.event = value;
        if (field == "id") event.id = value;
        if (field == "data") {
          event.data += (has_data ? "\n" : "") + value;
          has_data = true;
        }
      }
      if (has_data) return event;  // else a retry: hint or a comment
    }
    if (ended_ || !fill(deadline)) return std::nullopt;
  }
}

}  // namespace tether::test
