// Request bytes from a client into HttpSession, as the Connection feeds them: in pieces of
// arbitrary sizes, with the server's kinds of routes (a fixed `respond`, a bodyless one, module
// handlers that answer at once, later, with a stream or with an upgrade) and small limits so that
// 413/414/431 are reachable. Everything the session writes is then read back as a client would
// read it: a sequence of well-formed responses, one per answered request, in order.
//
// Input: the request bytes, then 9 control bytes at the end (FuzzedDataProvider takes integers
// from the end): 8 piece sizes (0: the rest) and 1 byte of options (drain, max_requests, the
// header timeout at the end). The seeds in corpus/http_session/ end with those 9 bytes.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "worker/http/http_session.h"
#include "worker/http/router.h"

using tether::HttpSession;
using Phase = tether::HttpSession::Phase;

namespace {

[[noreturn]] void fail(const char* why, const std::string& output, std::size_t at) {
  std::fprintf(stderr, "http_session_fuzz: %s at byte %zu of the output:\n%s\n", why, at, output.c_str());
  std::abort();
}

struct Answer {
  std::string method;
  int status;
};

class Recorder : public tether::RequestObserver {
 public:
  void on_request_answered(const tether::RequestSummary& s) override {
    answers.push_back(Answer{std::string(s.method), s.status});
  }
  std::vector<Answer> answers;
};

// The module side, as the module runtime drives it: the handler's name says what it does.
class Dispatcher : public tether::RequestDispatcher {
 public:
  Outcome check_access(HttpSession& session, const tether::RouteConfig*) override {
    // Repeated fields fold into their first line on lookup; looking twice reads the fold.
    for (const char* name : {"connection", "cookie", "connection"})
      if (const std::string* value = session.header(name); value && value->size() > (1u << 20)) __builtin_trap();
    if (session.header("x-deny")) {
      session.answer(403, "text/plain", "", "denied\n");
      return Outcome::answered;
    }
    return Outcome::declined;
  }
  Outcome run_handler(HttpSession& session, const tether::RouteConfig& route) override {
    if (route.handler == "echo") {
      session.answer(200, "application/octet-stream", "X-Echo: 1\r\n", session.body());
      return Outcome::answered;
    }
    if (route.handler == "later") return Outcome::deferred;
    if (route.handler == "stream") {
      if (!session.start_stream(200, "text/event-stream", "Cache-Control: no-cache\r\n"))
        session.answer(405, "text/plain", "", "no stream\n");
      else session.append_chunk(": hello\n\n");
      return Outcome::answered;
    }
    if (route.handler == "upgrade") {
      if (!session.upgrade(101, "Upgrade: websocket\r\nConnection: Upgrade\r\n"))
        session.answer(426, "text/plain", "", "upgrade required\n");
      return Outcome::answered;
    }
    return Outcome::declined;
  }
  void session_closed(HttpSession&, bool) override {}
};

std::vector<tether::RouteConfig> make_routes() {
  std::vector<tether::RouteConfig> routes;
  auto add = [&](const char* path, bool prefix, const char* handler, int status, const char* body) {
    tether::RouteConfig r;
    r.path = path;
    r.prefix = prefix;
    r.handler = handler;
    r.respond.status = status;
    r.respond.body = body;
    routes.push_back(r);
  };
  add("/", false, "", 200, "tether\n");
  add("/empty", false, "", 204, "ignored");
  add("/api/", true, "echo", 200, "");
  add("/later/", true, "later", 200, "");
  add("/events/", true, "stream", 200, "");
  add("/ws/", true, "upgrade", 200, "");
  return routes;
}

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Reads one CRLF-terminated line at *pos; false if none is complete.
bool read_line(const std::string& out, std::size_t* pos, std::string* line) {
  std::size_t end = out.find("\r\n", *pos);
  if (end == std::string::npos) return false;
  *line = out.substr(*pos, end - *pos);
  *pos = end + 2;
  return true;
}

// Skips a chunked body; false if it ends early (a stream the module has not ended).
bool skip_chunked(const std::string& out, std::size_t* pos) {
  for (;;) {
    std::string line;
    if (!read_line(out, pos, &line)) return false;
    char* end = nullptr;
    unsigned long size = std::strtoul(line.c_str(), &end, 16);
    if (line.empty() || *end != 0) fail("bad chunk size line", out, *pos);
    if (size == 0) {
      if (out.compare(*pos, 2, "\r\n") != 0) return false;
      *pos += 2;
      return true;
    }
    if (out.size() - *pos < size + 2) return false;
    if (out.compare(*pos + size, 2, "\r\n") != 0) fail("chunk not followed by CRLF", out, *pos + size);
    *pos += size + 2;
  }
}

// The output must read as one response per answered request (plus 100 Continue interim ones).
void check_output(const std::string& out, const std::vector<Answer>& answers) {
  std::size_t pos = 0, index = 0;
  while (pos < out.size()) {
    std::size_t start = pos;
    std::string line;
    if (!read_line(out, &pos, &line)) fail("incomplete status line", out, start);
    if (line.size() < 13 || line.compare(0, 9, "HTTP/1.1 ") != 0 || line[12] != ' ') fail("bad status line", out, start);
    int status = std::atoi(line.c_str() + 9);
    if (status < 100 || status > 599) fail("status out of range", out, start);
    long content_length = -1;
    bool chunked = false;
    for (;;) {
      std::size_t at = pos;
      if (!read_line(out, &pos, &line)) fail("headers not terminated", out, at);
      if (line.empty()) break;
      std::size_t colon = line.find(": ");
      if (colon == 0 || colon == std::string::npos) fail("header line without a name", out, at);
      for (std::size_t i = 0; i < colon; ++i)
        if (!is_token_char(line[i])) fail("bad header name", out, at);
      for (char c : line)
        if (c == '\r' || c == '\n' || c == 0) fail("control character in a header", out, at);
      std::string name = line.substr(0, colon), value = line.substr(colon + 2);
      if (name == "Content-Length") {
        if (content_length >= 0 || chunked) fail("second length header", out, at);
        content_length = std::atol(value.c_str());
      } else if (name == "Transfer-Encoding") {
        if (content_length >= 0 || value != "chunked") fail("bad Transfer-Encoding", out, at);
        chunked = true;
      }
    }
    if (status == 100) continue;
    if (index >= answers.size()) fail("more responses than answered requests", out, start);
    const Answer& answer = answers[index++];
    if (answer.status != status) fail("status differs from the one reported", out, start);
    bool bodyless = status < 200 || status == 204 || status == 304;
    if (bodyless && (content_length >= 0 || chunked)) fail("length on a bodyless status", out, start);
    if (status == 101) return;  // the rest is the module's protocol
    if (chunked) {
      if (!skip_chunked(out, &pos)) return;  // a stream still open: it must be the last
      continue;
    }
    if (content_length < 0) {
      if (!bodyless) return;  // a body until the connection closes (HTTP/1.0 stream)
      continue;
    }
    // HEAD answers carry the length but not the body; error answers carry the body anyway.
    bool body_follows = answer.method != "HEAD" || (pos < out.size() && out.compare(pos, 9, "HTTP/1.1 ") != 0);
    if (body_follows) {
      if (out.size() - pos < static_cast<std::size_t>(content_length)) fail("body shorter than its length", out, pos);
      pos += static_cast<std::size_t>(content_length);
    }
  }
}

// What the transport does between reads: collect the output, let late handlers finish.
void between_reads(HttpSession& session, std::string* written, int* stream_ticks) {
  switch (session.phase()) {
    case Phase::waiting:
      session.answer(200, "text/plain", "", "later\n");
      break;
    case Phase::streaming:
      if (++*stream_ticks % 2) session.append_chunk("data: tick\n\n");
      else session.end_stream();
      break;
    case Phase::upgraded:
      session.take_pending_input();  // the module's bytes
      break;
    default:
      break;
  }
  written->append(session.output());
  session.output().clear();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<tether::RouteConfig> routes = make_routes();
  static const tether::Router router(routes);
  FuzzedDataProvider input(data, size);
  std::uint8_t pieces[8];
  for (auto& piece : pieces) piece = input.ConsumeIntegral<std::uint8_t>();
  std::uint8_t options = input.ConsumeIntegral<std::uint8_t>();
  std::string bytes = input.ConsumeRemainingBytesAsString();

  tether::HttpLimits limits;
  limits.max_header_size = 1024;
  limits.max_body_size = 2048;
  Recorder recorder;
  Dispatcher dispatcher;
  std::string written;
  int stream_ticks = 0;
  {
    HttpSession session(limits, router, &recorder, &dispatcher);
    session.set_max_requests(options & 7);
    std::size_t at = 0;
    for (int i = 0; at < bytes.size(); i = (i + 1) % 8) {
      std::size_t n = pieces[i] == 0 ? bytes.size() - at : std::min<std::size_t>(pieces[i], bytes.size() - at);
      bool was_closing = session.phase() == Phase::closing;
      session.feed(std::string_view(bytes).substr(at, n));
      if (was_closing && !session.output().empty()) fail("output after closing", session.output(), 0);
      at += n;
      if ((options & 8) && i == 1) session.start_drain();
      between_reads(session, &written, &stream_ticks);
    }
    if (options & 16) session.expire_header_timeout();
    between_reads(session, &written, &stream_ticks);
  }
  check_output(written, recorder.answers);
  return 0;
}
