// The HTTP/1.1 protocol state machine of one connection, free of sockets and timers so that it
// can be driven byte by byte in unit tests. The transport (connection.h) feeds it what it reads,
// writes what it puts in output(), and arms timers according to phase().
//
// Requests are answered in order (pipelining). A complete request runs the access phase and
// its route's handler through the RequestDispatcher (modules), or the built-in `respond`. A
// handler may answer later (phase `waiting`): parsing then stops, input that arrives meanwhile
// is kept, and parsing resumes once answer() is called.
//
// A client that pipelines faster than it reads is held back: once output() passes
// HttpLimits::max_queued_output after an answer, parsing stops (input_held()), the unparsed
// rest is kept, and the transport calls resume_input() when it has written enough.
//
// After an error answer (400, 408, 413, 414, 417, 431, 501, 505) or a response carrying
// "Connection: close", the session is `closing`: further input is ignored and the transport
// closes the connection once output() has been written.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "worker/http/router.h"

// The handles modules see for a session (worker/host/abi_handles.h); the session only carries them.
struct tether_connection;
struct tether_request;

namespace tether {

struct HttpLimits {
  std::uint64_t max_header_size = 16 * 1024;
  std::uint64_t max_body_size = 1024 * 1024;
  // Answers queued in output() past which parsing pauses until the transport has written them
  // (and past which the transport stops reading until the kernel took some).
  std::size_t max_queued_output = 256 * 1024;
};

// What the access log records of one answered request.
struct RequestSummary {
  std::string_view method;
  std::string_view target;
  int http_major = 1;
  int http_minor = 1;
  int status = 0;
  std::size_t body_bytes = 0;
};

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  virtual void on_request_answered(const RequestSummary& summary) = 0;
  // A request that was waiting got its answer: output() has grown and parsing may go on.
  virtual void on_deferred_answer() {}
};

class HttpSession;

// Runs what modules add to a request: the access phase and module handlers.
class RequestDispatcher {
 public:
  enum class Outcome { answered, declined, deferred };
  virtual ~RequestDispatcher() = default;
  // Access phase for every request; `route` may be null. answered: a module answered it.
  virtual Outcome check_access(HttpSession& session, const RouteConfig* route) = 0;
  // The handler of a route whose handler names a module.
  virtual Outcome run_handler(HttpSession& session, const RouteConfig& route) = 0;
  // The session ends; `waiting` if a request still waits for its answer.
  virtual void session_closed(HttpSession& session, bool waiting) = 0;
};

class HttpSession {
 public:
  enum class Phase {
    idle,     // between requests: nothing of the next request has arrived
    headers,  // a request has begun; its headers are not complete yet
    body,     // headers complete, reading the body
    waiting,    // the request is complete; its handler will answer later
    streaming,  // answered with a streamed body that a module is still writing
    upgraded,   // switched protocols: the bytes belong to a module, not to HTTP any more
    closing,    // answered for the last time; ignore input, close after output is written
  };

  HttpSession(const HttpLimits& limits, const Router& router, RequestObserver* observer,
              RequestDispatcher* dispatcher = nullptr);
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;
  ~HttpSession();

  // Parses `data`; complete requests are answered into output().
  void feed(std::string_view data);
  // The header timeout (or the body's) expired: answer 408 if a request had begun, and close.
  void expire_header_timeout();
  // For the transport's timers: what is left of `timeout_ms` in the current phase, on a clock
  // that starts the first time the transport asks and restarts with each request's headers and
  // with each body (so that a request pipelined behind another gets its own time). Asked
  // before the first request, the clock runs on into it: its headers are timed from then.
  std::uint64_t phase_time_left(std::uint64_t now_ms, std::uint64_t timeout_ms);
  // Parsing paused because output() passed max_queued_output; what came after is kept.
  bool input_held() const { return input_held_; }
  // The transport wrote enough of the output: parse what was kept (which may hold again).
  void resume_input();
  // Graceful shutdown: the next response carries "Connection: close" and ends the session.
  void start_drain();
  // The answer to request number `max_requests` closes the connection (0: no limit).
  void set_max_requests(std::uint64_t max_requests) { max_requests_ = max_requests; }
  // False: every answer carries "Connection: close" and ends the session (keepalive_timeout = 0).
  void set_keep_alive(bool allowed) { keep_alive_allowed_ = allowed; }

  // Answers the current request (from a handler, now or later). `extra_headers` are complete
  // "Name: value\r\n" lines. Content-Length, Date, Server and Connection are added here.
  void answer(int status, std::string_view content_type, std::string_view extra_headers, std::string_view body);
  // The access phase of the waiting request let it through after all (request_continue()): the
  // rest of the access phase and the route's handler run now, as they would have at once, then
  // what the client pipelined meanwhile.
  void continue_request();
  // Answers with a streamed body: the head now, then append_chunk() per piece and end_stream().
  bool start_stream(int status, std::string_view content_type, std::string_view extra_headers);
  void append_chunk(std::string_view data);
  void end_stream();
  // Answers with `status` (101) and hands the connection over; take_pending_input() then holds
  // the bytes that came after the request.
  bool upgrade(int status, std::string_view extra_headers);
  std::string take_pending_input() { return std::exchange(pending_input_, std::string()); }
  // Frees what the request in hand allocated (target, headers, body, buffers) once it was
  // answered with a stream or an upgrade: a long-lived connection keeps none of it.
  void release_request_memory();
  // Ends the session after what is in output() (a module closing its stream or connection).
  void close_after_output() { phase_ = Phase::closing; }
  // Every request is answered 503 with "Retry-After: <seconds>" and the connection closed
  // (max_accept_rate), before access hooks or handlers see it.
  void refuse_requests(unsigned retry_after_seconds) { refused_retry_after_ = static_cast<std::uint8_t>(retry_after_seconds); }

  Phase phase() const { return phase_; }
  bool draining() const { return draining_; }
  bool chunked_stream() const { return chunked_stream_; }
  bool received_anything() const { return received_anything_; }
  std::uint64_t requests_answered() const { return requests_answered_; }
  std::string& output() { return output_; }

  // The current request, for handlers.
  std::string_view method() const { return method_; }
  std::string_view target() const { return url_; }
  std::string_view body() const { return body_; }
  int http_major() const { return parser_.http_major; }
  int http_minor() const { return parser_.http_minor; }
  // The value of a request header (case-insensitive name), its lines joined if it came on
  // several; nullptr if absent.
  const std::string* header(std::string_view name) const;

  // The connection that carries the session, as modules see it (set by the transport), and the
  // request object the dispatcher keeps for the session (null until a module sees a request).
  tether_connection* connection() const { return connection_; }
  void set_connection(tether_connection* connection) { connection_ = connection; }
  tether_request* module_request() const { return module_request_; }
  void set_module_request(tether_request* request) { module_request_ = request; }
  // An access module checked who sent the current request and vouches for it (ABI 1.4
  // request_authorized): the publish endpoint then does not also ask for [pubsub] publish_token.
  void set_vouched() { vouched_ = true; }
  bool vouched() const { return vouched_; }

 private:
  static const llhttp_settings_t& parser_settings();
  static int on_message_begin(llhttp_t* parser);
  static int on_url(llhttp_t* parser, const char* at, std::size_t length);
  static int on_url_complete(llhttp_t* parser);
  static int on_version_complete(llhttp_t* parser);
  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length);
  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length);
  static int on_headers_complete(llhttp_t* parser);
  static int on_chunk_extension(llhttp_t* parser, const char* at, std::size_t length);
  static int on_body(llhttp_t* parser, const char* at, std::size_t length);
  static int on_message_complete(llhttp_t* parser);

  void parse(std::string_view data);
  bool count_header_bytes(std::size_t length);
  int check_headers();
  void handle_request();
  bool can_answer() const;
  bool keeps_alive() const;
  void finish_answer(int status, std::size_t body_bytes, bool keep_alive);
  void resume_parsing();
  void parse_pending_input();
  void answer_error(int status);
  int finish_header_line();
  int reject(int status);
  void trim_kept_request_memory();

  const HttpLimits& limits_;
  const Router& router_;
  RequestObserver* observer_;
  RequestDispatcher* dispatcher_;
  tether_connection* connection_ = nullptr;
  tether_request* module_request_ = nullptr;
  llhttp_t parser_;

  Phase phase_ = Phase::idle;
  std::uint8_t refused_retry_after_ = 0;  // refuse_requests(): seconds, 0 while requests are served
  bool draining_ = false;
  bool received_anything_ = false;
  bool keep_alive_ = true;  // of the current request
  bool chunked_stream_ = false;  // the streamed body is chunked (HTTP/1.1), else ends with the connection
  std::uint64_t requests_answered_ = 0;
  std::uint64_t max_requests_ = 0;
  bool keep_alive_allowed_ = true;
  std::string output_;
  std::string pending_input_;  // arrived while a request was waiting for its answer, or input was held
  bool input_held_ = false;

  // The request being parsed. Header entries are reused from request to request.
  std::string method_;
  std::string url_;
  std::string body_;
  // Mutable: header() folds a field's repeated lines into its first on lookup.
  mutable std::vector<std::pair<std::string, std::string>> headers_;
  std::size_t header_count_ = 0;
  bool in_header_name_ = false;
  bool in_header_value_ = false;
  bool line_named_ = false;  // the header line being parsed has begun with its name
  bool answered_ = false;
  bool deferred_ = false;  // a dispatcher deferred the request (it answers later, even if cut off)
  bool vouched_ = false;
  bool has_host_ = false;
  bool expect_continue_ = false;
  bool expect_unsupported_ = false;
  std::uint64_t header_bytes_ = 0;
  std::uint64_t chunk_extension_bytes_ = 0;
  bool phase_clock_started_ = false;
  std::uint64_t phase_started_ms_ = 0;
  int pending_error_ = 0;  // status chosen by a callback that stopped the parser
};

}  // namespace tether
