#include "worker/http_session.h"

#include <strings.h>

#include "core/log.h"
#include "worker/http_response.h"

namespace tether {
namespace {

HttpSession& session_of(llhttp_t* parser) { return *static_cast<HttpSession*>(parser->data); }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

// One settings table for every session: llhttp only reads it.
const llhttp_settings_t& HttpSession::parser_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_header_field = on_header_field;
    s.on_header_value = on_header_value;
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return settings;
}

HttpSession::HttpSession(const HttpLimits& limits, const Router& router, RequestObserver* observer)
    : limits_(limits), router_(router), observer_(observer) {
  llhttp_init(&parser_, HTTP_REQUEST, &parser_settings());
  parser_.data = this;
}

void HttpSession::feed(std::string_view data) {
  if (phase_ == Phase::closing || data.empty()) return;
  received_anything_ = true;
  llhttp_errno_t result = llhttp_execute(&parser_, data.data(), data.size());
  switch (result) {
    case HPE_OK:
    case HPE_PAUSED:  // we paused after the last answer: the rest of the input is ignored
      return;
    case HPE_PAUSED_UPGRADE:
      // Upgrade requests were answered as ordinary requests with "Connection: close".
      return;
    default:
      if (phase_ == Phase::closing) return;
      LOG_DEBUG("bad request: %s (%s)", llhttp_errno_name(result), llhttp_get_error_reason(&parser_));
      answer_error(pending_error_ != 0 ? pending_error_ : 400);
  }
}

void HttpSession::expire_header_timeout() {
  if (phase_ == Phase::headers || phase_ == Phase::body) answer_error(408);
  else phase_ = Phase::closing;  // nothing of a request arrived: close without an answer
}

void HttpSession::start_drain() { draining_ = true; }

bool HttpSession::count_header_bytes(std::size_t length) {
  header_bytes_ += length;
  if (header_bytes_ <= limits_.max_header_size) return true;
  pending_error_ = 431;
  return false;
}

void HttpSession::finish_header_line() {
  if (equals_ignoring_case(header_name_, "host")) {
    has_host_ = true;
  } else if (equals_ignoring_case(header_name_, "expect")) {
    if (equals_ignoring_case(header_value_, "100-continue")) expect_continue_ = true;
    else expect_unsupported_ = true;
  }
  header_name_.clear();
  header_value_.clear();
  in_header_value_ = false;
}

int HttpSession::on_message_begin(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  s.phase_ = Phase::headers;
  s.method_.clear();
  s.url_.clear();
  s.header_name_.clear();
  s.header_value_.clear();
  s.in_header_value_ = false;
  s.has_host_ = false;
  s.expect_continue_ = false;
  s.expect_unsupported_ = false;
  s.header_bytes_ = 0;
  s.body_bytes_ = 0;
  s.pending_error_ = 0;
  return 0;
}

int HttpSession::on_url(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  s.url_.append(at, length);
  if (s.url_.size() > s.limits_.max_header_size) {
    s.pending_error_ = 414;
    return -1;
  }
  return s.count_header_bytes(length) ? 0 : -1;
}

int HttpSession::on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  if (s.in_header_value_) s.finish_header_line();
  s.header_name_.append(at, length);
  // Each header line also costs its ": " and CRLF.
  return s.count_header_bytes(length + (s.header_name_.size() == length ? 4 : 0)) ? 0 : -1;
}

int HttpSession::on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  s.in_header_value_ = true;
  s.header_value_.append(at, length);
  return s.count_header_bytes(length) ? 0 : -1;
}

int HttpSession::on_headers_complete(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  if (s.in_header_value_ || !s.header_name_.empty()) s.finish_header_line();
  s.method_ = llhttp_method_name(static_cast<llhttp_method_t>(parser->method));
  s.phase_ = Phase::body;
  int status = s.check_headers();
  if (status != 0) {
    s.pending_error_ = status;
    return -1;
  }
  if (s.expect_continue_ && !(parser->flags & F_CONTENT_LENGTH && parser->content_length == 0))
    s.output_.append(kContinue);
  return 0;
}

// Rejections that can be decided from the headers alone, before any body is read.
int HttpSession::check_headers() {
  if (parser_.http_major == 1 && parser_.http_minor >= 1 && !has_host_) return 400;  // RFC 9112 §3.2
  if (expect_unsupported_) return 417;
  if ((parser_.flags & F_CONTENT_LENGTH) && parser_.content_length > limits_.max_body_size) return 413;
  return 0;
}

int HttpSession::on_body(llhttp_t* parser, const char*, std::size_t length) {
  HttpSession& s = session_of(parser);
  s.body_bytes_ += length;
  if (s.body_bytes_ > s.limits_.max_body_size) {
    s.pending_error_ = 413;
    return -1;
  }
  return 0;
}

int HttpSession::on_message_complete(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  s.answer_request();
  return s.phase_ == Phase::closing ? HPE_PAUSED : 0;
}

void HttpSession::answer_request() {
  bool keep_alive = llhttp_should_keep_alive(&parser_) && !draining_ && !parser_.upgrade;
  ResponseHead head;
  std::string_view body;
  std::string fallback;
  if (const RouteConfig* route = router_.match(url_)) {
    head.status = route->respond.status;
    head.content_type = route->respond.content_type;
    body = route->respond.body;
  } else {
    head.status = 404;
    head.content_type = "text/plain";
    fallback = default_error_body(404);
    body = fallback;
  }
  head.content_length = body.size();
  if (!keep_alive) head.connection = ConnectionHeader::close;
  else if (parser_.http_major == 1 && parser_.http_minor == 0) head.connection = ConnectionHeader::keep_alive;
  bool head_only = parser_.method == HTTP_HEAD;
  append_response(output_, head, body, head_only);
  ++requests_answered_;
  phase_ = keep_alive ? Phase::idle : Phase::closing;
  if (observer_)
    observer_->on_request_answered(RequestSummary{method_, url_, parser_.http_major, parser_.http_minor, head.status,
                                                  head_only ? 0 : body.size()});
}

void HttpSession::answer_error(int status) {
  std::string body = default_error_body(status);
  ResponseHead head{status, "text/plain", body.size(), ConnectionHeader::close};
  append_response(output_, head, body, false);
  phase_ = Phase::closing;
  if (observer_)
    observer_->on_request_answered(RequestSummary{method_.empty() ? std::string_view("-") : method_,
                                                  url_.empty() ? std::string_view("-") : url_, parser_.http_major,
                                                  parser_.http_minor, status, body.size()});
}

}  // namespace tether
