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
    s.on_header_field_complete = [](llhttp_t* p) {
      session_of(p).in_header_name_ = false;
      return 0;
    };
    s.on_header_value = on_header_value;
    s.on_header_value_complete = [](llhttp_t* p) {
      session_of(p).finish_header_line();
      return 0;
    };
    s.on_headers_complete = on_headers_complete;
    s.on_body = on_body;
    s.on_message_complete = on_message_complete;
    return s;
  }();
  return settings;
}

HttpSession::HttpSession(const HttpLimits& limits, const Router& router, RequestObserver* observer,
                         RequestDispatcher* dispatcher)
    : limits_(limits), router_(router), observer_(observer), dispatcher_(dispatcher) {
  llhttp_init(&parser_, HTTP_REQUEST, &parser_settings());
  parser_.data = this;
}

HttpSession::~HttpSession() {
  if (dispatcher_) dispatcher_->session_closed(*this, phase_ == Phase::waiting);
}

void HttpSession::feed(std::string_view data) {
  if (phase_ == Phase::closing || data.empty()) return;
  received_anything_ = true;
  if (phase_ == Phase::waiting || phase_ == Phase::streaming) {
    // Parsed once the current request is answered; a client that floods meanwhile is cut off.
    if (pending_input_.size() + data.size() > limits_.max_header_size + limits_.max_body_size) phase_ = Phase::closing;
    else pending_input_.append(data);
    return;
  }
  if (phase_ == Phase::upgraded) {
    pending_input_.append(data);  // the transport hands these to the module that took over
    return;
  }
  parse(data);
}

void HttpSession::parse(std::string_view data) {
  llhttp_errno_t result = llhttp_execute(&parser_, data.data(), data.size());
  switch (result) {
    case HPE_OK:
      return;
    case HPE_PAUSED:
    case HPE_PAUSED_UPGRADE:
      // Paused after a request: either the last answer (closing: the rest is ignored), or a
      // request still being answered (waiting, streaming: keep the rest for later), or an
      // upgrade (the rest belongs to the new protocol).
      if (phase_ == Phase::waiting || phase_ == Phase::streaming || phase_ == Phase::upgraded) {
        const char* stop = llhttp_get_error_pos(&parser_);
        pending_input_.assign(stop, static_cast<std::size_t>(data.data() + data.size() - stop));
      }
      return;
    default:
      if (phase_ == Phase::closing) return;
      LOG_DEBUG("bad request: %s (%s)", llhttp_errno_name(result), llhttp_get_error_reason(&parser_));
      answer_error(pending_error_ != 0 ? pending_error_ : 400);
  }
}

void HttpSession::expire_header_timeout() {
  if (phase_ == Phase::headers || phase_ == Phase::body) answer_error(408);
  else if (phase_ != Phase::waiting) phase_ = Phase::closing;  // nothing of a request arrived
}

void HttpSession::start_drain() { draining_ = true; }

const std::string* HttpSession::header(std::string_view name) const {
  for (std::size_t i = 0; i < header_count_; ++i)
    if (equals_ignoring_case(headers_[i].first, name)) return &headers_[i].second;
  return nullptr;
}

bool HttpSession::count_header_bytes(std::size_t length) {
  header_bytes_ += length;
  if (header_bytes_ <= limits_.max_header_size) return true;
  pending_error_ = 431;
  return false;
}

void HttpSession::finish_header_line() {
  if (header_count_ >= headers_.size()) return;
  const auto& [name, value] = headers_[header_count_];
  if (equals_ignoring_case(name, "host")) {
    has_host_ = true;
  } else if (equals_ignoring_case(name, "expect")) {
    if (equals_ignoring_case(value, "100-continue")) expect_continue_ = true;
    else expect_unsupported_ = true;
  }
  ++header_count_;
  in_header_value_ = false;
}

int HttpSession::on_message_begin(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  s.phase_ = Phase::headers;
  s.method_.clear();
  s.url_.clear();
  s.body_.clear();
  s.header_count_ = 0;
  s.in_header_name_ = false;
  s.in_header_value_ = false;
  s.has_host_ = false;
  s.expect_continue_ = false;
  s.expect_unsupported_ = false;
  s.header_bytes_ = 0;
  s.pending_error_ = 0;
  s.answered_ = false;
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
  std::size_t overhead = 0;
  if (!s.in_header_name_) {  // a new header line; its ": " and CRLF count too
    s.in_header_name_ = true;
    overhead = 4;
    if (s.header_count_ == s.headers_.size()) {
      if (s.headers_.empty()) s.headers_.reserve(8);  // one allocation for most requests, not four
      s.headers_.emplace_back();
    }
    s.headers_[s.header_count_].first.clear();
    s.headers_[s.header_count_].second.clear();
  }
  s.headers_[s.header_count_].first.append(at, length);
  return s.count_header_bytes(length + overhead) ? 0 : -1;
}

int HttpSession::on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  s.in_header_value_ = true;
  if (s.header_count_ < s.headers_.size()) s.headers_[s.header_count_].second.append(at, length);
  return s.count_header_bytes(length) ? 0 : -1;
}

int HttpSession::on_headers_complete(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
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

int HttpSession::on_body(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  if (s.body_.size() + length > s.limits_.max_body_size) {
    s.pending_error_ = 413;
    return -1;
  }
  s.body_.append(at, length);
  return 0;
}

int HttpSession::on_message_complete(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  s.handle_request();
  return s.phase_ == Phase::idle ? 0 : HPE_PAUSED;
}

void HttpSession::handle_request() {
  keep_alive_ = llhttp_should_keep_alive(&parser_) && !parser_.upgrade;
  const RouteConfig* route = router_.match(url_);
  using Outcome = RequestDispatcher::Outcome;
  Outcome outcome = Outcome::declined;
  if (dispatcher_) outcome = dispatcher_->check_access(*this, route);
  if (outcome == Outcome::declined) {
    if (!route) {
      answer(404, "text/plain", "", default_error_body(404));
      return;
    }
    if (route->handler.empty()) {
      answer(route->respond.status, route->respond.content_type, "", route->respond.body);
      return;
    }
    outcome = dispatcher_ ? dispatcher_->run_handler(*this, *route) : Outcome::declined;
    if (outcome == Outcome::declined) answer(404, "text/plain", "", default_error_body(404));
  }
  if (outcome == Outcome::deferred && !answered_) phase_ = Phase::waiting;
}

bool HttpSession::can_answer() const {
  return !answered_ && (phase_ == Phase::body || phase_ == Phase::waiting);
}

void HttpSession::release_request_memory() {
  std::string().swap(method_);
  std::string().swap(url_);
  std::string().swap(body_);
  std::vector<std::pair<std::string, std::string>>().swap(headers_);
  header_count_ = 0;
  if (output_.empty()) std::string().swap(output_);
  if (pending_input_.empty()) std::string().swap(pending_input_);
}

void HttpSession::answer(int status, std::string_view content_type, std::string_view extra_headers,
                         std::string_view body) {
  if (!can_answer()) return;  // one answer per request
  bool was_waiting = phase_ == Phase::waiting;
  bool keep_alive = keep_alive_ && !draining_ && (max_requests_ == 0 || requests_answered_ + 1 < max_requests_);
  ResponseHead head;
  head.status = status;
  head.content_type = content_type;
  head.content_length = body.size();
  head.extra_headers = extra_headers;
  if (!keep_alive) head.connection = ConnectionHeader::close;
  else if (parser_.http_major == 1 && parser_.http_minor == 0) head.connection = ConnectionHeader::keep_alive;
  bool head_only = parser_.method == HTTP_HEAD;
  append_response(output_, head, body, head_only);
  finish_answer(status, head_only ? 0 : body.size(), keep_alive);
  if (was_waiting) resume_parsing();
}

void HttpSession::finish_answer(int status, std::size_t body_bytes, bool keep_alive) {
  answered_ = true;
  ++requests_answered_;
  phase_ = keep_alive ? Phase::idle : Phase::closing;
  if (observer_)
    observer_->on_request_answered(RequestSummary{method_, url_, parser_.http_major, parser_.http_minor, status, body_bytes});
}

// Parsing stopped at the request just answered: go on with what arrived meanwhile, then let the
// transport write.
void HttpSession::resume_parsing() {
  if (phase_ == Phase::idle) {
    llhttp_resume(&parser_);
    std::string rest = std::move(pending_input_);
    pending_input_.clear();
    if (!rest.empty()) parse(rest);
  }
  if (observer_) observer_->on_deferred_answer();
}

bool HttpSession::start_stream(int status, std::string_view content_type, std::string_view extra_headers) {
  if (!can_answer() || status < 200 || status == 204 || status == 304 || parser_.method == HTTP_HEAD) return false;
  bool was_waiting = phase_ == Phase::waiting;
  chunked_stream_ = parser_.http_major == 1 && parser_.http_minor >= 1;
  ResponseHead head;
  head.status = status;
  head.content_type = content_type;
  head.extra_headers = extra_headers;
  head.framing = chunked_stream_ ? BodyFraming::chunked : BodyFraming::until_close;
  if (!chunked_stream_) head.connection = ConnectionHeader::close;
  append_response(output_, head, {}, false);
  answered_ = true;
  phase_ = Phase::streaming;
  if (observer_)
    observer_->on_request_answered(RequestSummary{method_, url_, parser_.http_major, parser_.http_minor, status, 0});
  if (was_waiting && observer_) observer_->on_deferred_answer();
  return true;
}

void HttpSession::append_chunk(std::string_view data) {
  if (phase_ != Phase::streaming || data.empty()) return;
  if (!chunked_stream_) {
    output_.append(data);
    return;
  }
  char size[20];
  int n = snprintf(size, sizeof size, "%zx\r\n", data.size());
  output_.append(size, static_cast<std::size_t>(n));
  output_.append(data);
  output_.append("\r\n");
}

void HttpSession::end_stream() {
  if (phase_ != Phase::streaming) return;
  bool keep_alive = chunked_stream_ && keep_alive_ && !draining_ && (max_requests_ == 0 || requests_answered_ + 1 < max_requests_);
  if (chunked_stream_) output_.append("0\r\n\r\n");
  ++requests_answered_;
  phase_ = keep_alive ? Phase::idle : Phase::closing;
  resume_parsing();
}

bool HttpSession::upgrade(int status, std::string_view extra_headers) {
  if (!can_answer() || !parser_.upgrade) return false;
  bool was_waiting = phase_ == Phase::waiting;
  ResponseHead head;
  head.status = status;
  head.extra_headers = extra_headers;
  append_response(output_, head, {}, false);
  answered_ = true;
  ++requests_answered_;
  phase_ = Phase::upgraded;
  if (observer_)
    observer_->on_request_answered(RequestSummary{method_, url_, parser_.http_major, parser_.http_minor, status, 0});
  if (was_waiting && observer_) observer_->on_deferred_answer();
  return true;
}

void HttpSession::answer_error(int status) {
  std::string body = default_error_body(status);
  ResponseHead head;
  head.status = status;
  head.content_type = "text/plain";
  head.content_length = body.size();
  head.connection = ConnectionHeader::close;
  append_response(output_, head, body, false);
  phase_ = Phase::closing;
  answered_ = true;
  if (observer_)
    observer_->on_request_answered(RequestSummary{method_.empty() ? std::string_view("-") : method_,
                                                  url_.empty() ? std::string_view("-") : url_, parser_.http_major,
                                                  parser_.http_minor, status, body.size()});
}

}  // namespace tether
