// The HTTP/1.1 protocol state machine of one connection, free of sockets and timers so that it
// can be driven byte by byte in unit tests. The transport (connection.h) feeds it what it reads,
// writes what it puts in output(), and arms timers according to phase().
//
// Requests are answered in order (pipelining), each response is appended to output() as soon as
// its request is complete. After an error answer (400, 408, 413, 414, 417, 431) or a response
// carrying "Connection: close", the session is `closing`: further input is ignored and the
// transport closes the connection once output() has been written.
#pragma once

#include <llhttp.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "worker/router.h"

namespace tether {

struct HttpLimits {
  std::uint64_t max_header_size = 16 * 1024;
  std::uint64_t max_body_size = 1024 * 1024;
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
};

class HttpSession {
 public:
  enum class Phase {
    idle,     // between requests: nothing of the next request has arrived
    headers,  // a request has begun; its headers are not complete yet
    body,     // headers complete, reading the body
    closing,  // answered for the last time; ignore input, close after output is written
  };

  HttpSession(const HttpLimits& limits, const Router& router, RequestObserver* observer);
  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  // Parses `data`; complete requests are answered into output().
  void feed(std::string_view data);
  // The header timeout expired: answer 408 if a request had begun, and close.
  void expire_header_timeout();
  // Graceful shutdown: the next response carries "Connection: close" and ends the session.
  void start_drain();

  Phase phase() const { return phase_; }
  bool draining() const { return draining_; }
  bool received_anything() const { return received_anything_; }
  std::uint64_t requests_answered() const { return requests_answered_; }
  std::string& output() { return output_; }

 private:
  static const llhttp_settings_t& parser_settings();
  static int on_message_begin(llhttp_t* parser);
  static int on_url(llhttp_t* parser, const char* at, std::size_t length);
  static int on_header_field(llhttp_t* parser, const char* at, std::size_t length);
  static int on_header_value(llhttp_t* parser, const char* at, std::size_t length);
  static int on_headers_complete(llhttp_t* parser);
  static int on_body(llhttp_t* parser, const char* at, std::size_t length);
  static int on_message_complete(llhttp_t* parser);

  bool count_header_bytes(std::size_t length);
  int check_headers();
  void answer_request();
  void answer_error(int status);
  void finish_header_line();

  const HttpLimits& limits_;
  const Router& router_;
  RequestObserver* observer_;
  llhttp_t parser_;

  Phase phase_ = Phase::idle;
  bool draining_ = false;
  bool received_anything_ = false;
  std::uint64_t requests_answered_ = 0;
  std::string output_;

  // The request being parsed.
  std::string method_;
  std::string url_;
  std::string header_name_;
  std::string header_value_;
  bool in_header_value_ = false;
  bool has_host_ = false;
  bool expect_continue_ = false;
  bool expect_unsupported_ = false;
  std::uint64_t header_bytes_ = 0;
  std::uint64_t body_bytes_ = 0;
  int pending_error_ = 0;  // status chosen by a callback that stopped the parser
};

}  // namespace tether
