// A blocking Server-Sent Events client over a real TCP socket: it opens the stream (with
// Last-Event-ID when resuming), undoes the chunked framing and hands out one event at a time,
// so that a test sees exactly the ids and data the server sent, notices included.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "support/http_client.h"

namespace tether::test {

struct SseEvent {
  std::string event;  // empty for a message; "gap", "dropped" for the notices
  std::string id;
  std::string data;   // the data lines joined with "\n"
};

class SseClient {
 public:
  // GET `path` as an event stream, resuming after `last_event_id` when it is not empty. The
  // status of the answer, 0 if none came within 5 s. `extra_headers`: more "Name: value\r\n" lines.
  int open(int port, const std::string& path, const std::string& last_event_id = "", const std::string& extra_headers = "");
  // The next message or notice (comments and retry-only blocks skipped); nullopt on timeout or
  // once the stream ended (see ended()).
  std::optional<SseEvent> read_event(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // The server ended the stream (last chunk) or the connection.
  bool ended() const { return ended_; }
  void close() { client_.close(); }

 private:
  // Moves whole chunks from raw_ to body_; false when raw_ holds no whole chunk.
  bool decode_chunk();
  bool fill(std::chrono::steady_clock::time_point deadline);

  HttpClient client_;
  std::string raw_;   // bytes as received, chunk framing included
  std::string body_;  // the stream's text, framing removed
  bool ended_ = false;
};

}  // namespace tether::test
