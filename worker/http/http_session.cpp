#include "worker/http/http_session.h"

#include <strings.h>

#include "core/log.h"
#include "worker/http/http_response.h"

namespace tether {
namespace {

HttpSession& session_of(llhttp_t* parser) { return *static_cast<HttpSession*>(parser->data); }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";

// Chunk extensions are parsed and dropped; a request gets this many bytes of them in all, so
// that neither 20 MB of one nor a trickle of many ties up the connection.
constexpr std::uint64_t kMaxChunkExtensionBytes = 4 * 1024;

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && equals_ignoring_case(text.substr(0, prefix.size()), prefix);
}

// RFC 9112 §3.2.2: an absolute-form target ("http://host/path?q") names its resource by the
// path; routes, modules and the access log see the origin form ("/path?q").
void to_origin_form(std::string& target) {
  for (std::string_view scheme : {"http://", "https://"}) {
    if (!starts_with_ignoring_case(target, scheme)) continue;
    std::size_t path = target.find_first_of("/?", scheme.size());
    if (path == std::string::npos) target = "/";
    else if (target[path] == '/') target.erase(0, path);
    else target.replace(0, path, "/");  // "http://host?q": the path is empty, which means "/"
    return;
  }
}

void trim_trailing_whitespace(std::string& value) {
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
}

}  // namespace

// One settings table for every session: llhttp only reads it.
const llhttp_settings_t& HttpSession::parser_settings() {
  static const llhttp_settings_t settings = [] {
    llhttp_settings_t s;
    llhttp_settings_init(&s);
    s.on_message_begin = on_message_begin;
    s.on_url = on_url;
    s.on_url_complete = on_url_complete;
    s.on_version_complete = on_version_complete;
    s.on_header_field = on_header_field;
    s.on_header_field_complete = [](llhttp_t* p) {
      session_of(p).in_header_name_ = false;
      return 0;
    };
    s.on_header_value = on_header_value;
    s.on_header_value_complete = [](llhttp_t* p) { return session_of(p).finish_header_line(); };
    s.on_headers_complete = on_headers_complete;
    s.on_chunk_extension_name = on_chunk_extension;
    s.on_chunk_extension_value = on_chunk_extension;
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

// A deferred request may have been cut off (the client flooded, or went away) and the phase set
// to closing meanwhile: it still waits for its answer, and its module still holds it.
HttpSession::~HttpSession() {
  if (dispatcher_) dispatcher_->session_closed(*this, deferred_ && !answered_);
}

void HttpSession::feed(std::string_view data) {
  if (phase_ == Phase::closing || data.empty()) return;
  received_anything_ = true;
  if (phase_ == Phase::waiting || phase_ == Phase::streaming || input_held_) {
    // Parsed once the current request is answered (or the output written); a client that
    // floods meanwhile is cut off.
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
      // request still being answered (waiting, streaming: keep the rest for later), or too
      // much output (held: likewise), or an upgrade (the rest belongs to the new protocol).
      if (phase_ == Phase::waiting || phase_ == Phase::streaming || phase_ == Phase::upgraded || input_held_) {
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

std::uint64_t HttpSession::phase_time_left(std::uint64_t now_ms, std::uint64_t timeout_ms) {
  if (!phase_clock_started_) {
    phase_clock_started_ = true;
    phase_started_ms_ = now_ms;
  }
  std::uint64_t elapsed = now_ms > phase_started_ms_ ? now_ms - phase_started_ms_ : 0;
  return elapsed >= timeout_ms ? 0 : timeout_ms - elapsed;
}

void HttpSession::resume_input() {
  if (!input_held_) return;
  input_held_ = false;
  if (phase_ != Phase::closing) parse_pending_input();  // closed meanwhile (a timeout): nothing more
}

void HttpSession::start_drain() { draining_ = true; }

// A field sent on several lines means what its values mean joined with commas, in order
// (RFC 9110 §5.3): "Connection: keep-alive" then "Connection: Upgrade", or two
// Sec-WebSocket-Extensions lines. Cookie lines join with "; " (RFC 6265 §5.4). The first lookup
// folds the later lines into the first and unnames them, so each lookup is one pass whatever the
// count of lines, and a singleton field sent twice reads as a value its reader refuses ("a, b"),
// never as whichever line came first.
const std::string* HttpSession::header(std::string_view name) const {
  if (name.empty()) return nullptr;  // folded lines are unnamed
  std::pair<std::string, std::string>* first = nullptr;
  for (std::size_t i = 0; i < header_count_; ++i) {
    auto& line = headers_[i];
    if (!equals_ignoring_case(line.first, name)) continue;
    if (!first) {
      first = &line;
      continue;
    }
    first->second.append(equals_ignoring_case(name, "cookie") ? "; " : ", ").append(line.second);
    line.first.clear();  // an empty name matches no lookup (a parsed name is never empty)
  }
  return first ? &first->second : nullptr;
}

bool HttpSession::count_header_bytes(std::size_t length) {
  header_bytes_ += length;
  if (header_bytes_ <= limits_.max_header_size) return true;
  pending_error_ = 431;
  return false;
}

// Stops the parser; parse() answers `status`.
int HttpSession::reject(int status) {
  pending_error_ = status;
  return -1;
}

int HttpSession::finish_header_line() {
  // llhttp lets through an empty name and one with spaces ("Content-Length : 5"), which
  // another server on the path may read differently (RFC 9112 §5.1: 400).
  if (!line_named_ || !is_token(headers_[header_count_].first)) return reject(400);
  line_named_ = false;
  in_header_value_ = false;
  // A trailer field (after a chunked body) is checked and counted but not kept: merged into the
  // headers it could pass for one that a proxy in front has stripped (RFC 9110 §6.5.1).
  if (phase_ == Phase::body) return 0;
  auto& [name, value] = headers_[header_count_];
  trim_trailing_whitespace(value);  // the field value excludes it (RFC 9110 §5.5)
  if (equals_ignoring_case(name, "host")) {
    if (has_host_) return reject(400);  // RFC 9112 §3.2
    has_host_ = true;
  } else if (equals_ignoring_case(name, "expect")) {
    if (equals_ignoring_case(value, "100-continue")) expect_continue_ = true;
    else expect_unsupported_ = true;
  } else if (equals_ignoring_case(name, "transfer-encoding")) {
    // We decode only chunked, alone (RFC 9112 §6.1: 501 for a coding we do not know).
    if (!equals_ignoring_case(value, "chunked")) return reject(501);
  }
  ++header_count_;
  return 0;
}

int HttpSession::on_message_begin(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  s.phase_ = Phase::headers;
  s.method_.clear();
  s.url_.clear();
  s.body_.clear();
  s.header_count_ = 0;
  s.trim_kept_request_memory();
  s.in_header_name_ = false;
  s.in_header_value_ = false;
  s.line_named_ = false;
  s.has_host_ = false;
  s.expect_continue_ = false;
  s.expect_unsupported_ = false;
  s.header_bytes_ = 0;
  s.chunk_extension_bytes_ = 0;
  if (s.requests_answered_ > 0) s.phase_clock_started_ = false;  // the first keeps its clock
  s.pending_error_ = 0;
  s.answered_ = false;
  s.deferred_ = false;
  s.vouched_ = false;
  return 0;
}

int HttpSession::on_url(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  if (s.url_.size() + length > s.limits_.max_header_size) return s.reject(414);
  if (!s.count_header_bytes(length)) return -1;
  s.url_.append(at, length);
  return 0;
}

int HttpSession::on_url_complete(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  // A request line without a version is HTTP/0.9, which we do not speak (and must not answer
  // as if it were HTTP/1.1).
  if (parser->http_major == 0 && parser->http_minor == 9) return s.reject(400);
  to_origin_form(s.url_);
  return 0;
}

int HttpSession::on_version_complete(llhttp_t* parser) {
  // llhttp accepts HTTP/0.9, 2.0 and 3.0 in a request line; we answer HTTP/1.x only.
  return parser->http_major == 1 ? 0 : session_of(parser).reject(505);
}

int HttpSession::on_header_field(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  // A new header line: its ": " and CRLF count too. Counted before anything is kept.
  if (!s.count_header_bytes(length + (s.in_header_name_ ? 0 : 4))) return -1;
  if (!s.in_header_name_) {
    s.in_header_name_ = true;
    s.line_named_ = true;
    if (s.header_count_ == s.headers_.size()) {
      if (s.headers_.empty()) s.headers_.reserve(8);  // one allocation for most requests, not four
      s.headers_.emplace_back();
    }
    s.headers_[s.header_count_].first.clear();
    s.headers_[s.header_count_].second.clear();
  }
  s.headers_[s.header_count_].first.append(at, length);
  return 0;
}

int HttpSession::on_header_value(llhttp_t* parser, const char* at, std::size_t length) {
  HttpSession& s = session_of(parser);
  if (!s.line_named_) return s.reject(400);  // a value with no name began the line
  if (!s.count_header_bytes(length)) return -1;
  s.in_header_value_ = true;
  s.headers_[s.header_count_].second.append(at, length);
  return 0;
}

int HttpSession::on_headers_complete(llhttp_t* parser) {
  HttpSession& s = session_of(parser);
  s.method_ = llhttp_method_name(static_cast<llhttp_method_t>(parser->method));
  s.phase_ = Phase::body;
  s.phase_clock_started_ = false;
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

int HttpSession::on_chunk_extension(llhttp_t* parser, const char*, std::size_t length) {
  HttpSession& s = session_of(parser);
  s.chunk_extension_bytes_ += length;
  return s.chunk_extension_bytes_ <= kMaxChunkExtensionBytes ? 0 : s.reject(400);
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
  // A pipelining client gets its answers as fast as it reads them, not faster.
  if (s.phase_ == Phase::idle && s.output_.size() >= s.limits_.max_queued_output) s.input_held_ = true;
  return s.phase_ == Phase::idle && !s.input_held_ ? 0 : HPE_PAUSED;
}

void HttpSession::handle_request() {
  keep_alive_ = llhttp_should_keep_alive(&parser_) && !parser_.upgrade;
  if (refused_retry_after_ != 0) {
    keep_alive_ = false;
    std::string retry_after = "Retry-After: " + std::to_string(refused_retry_after_) + "\r\n";
    answer(503, "text/plain", retry_after, "503 Service Unavailable: too many new connections, come back later\n");
    return;
  }
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
  if (outcome == Outcome::deferred && !answered_) {
    phase_ = Phase::waiting;
    deferred_ = true;
  }
}

void HttpSession::continue_request() {
  if (phase_ != Phase::waiting || answered_) return;
  phase_ = Phase::body;  // in hand again, as in a hook that answers at once
  handle_request();
  if (phase_ == Phase::waiting) return;  // its handler answers later
  if (phase_ == Phase::idle && output_.size() >= limits_.max_queued_output) input_held_ = true;  // as on_message_complete
  resume_parsing();
}

bool HttpSession::can_answer() const {
  return !answered_ && (phase_ == Phase::body || phase_ == Phase::waiting);
}

// Whether the connection stays open for another request after the answer in hand.
bool HttpSession::keeps_alive() const {
  return keep_alive_ && keep_alive_allowed_ && !draining_ && (max_requests_ == 0 || requests_answered_ + 1 < max_requests_);
}

// Buffers are reused from request to request, but what one request grew them to is kept only up
// to a small size. Header entries are reused slot by slot: without this, a client sending one long
// value in a new slot each time (k short lines, then a long one) would make one keep-alive
// connection hold a whole max_header_size per slot it ever used.
void HttpSession::trim_kept_request_memory() {
  constexpr std::size_t kKeptSlots = 32;          // more lines than most requests have
  constexpr std::size_t kKeptPerString = 256;     // longer than most names and values
  constexpr std::size_t kKeptBody = 64 * 1024;
  if (headers_.size() > kKeptSlots) {
    headers_.resize(kKeptSlots);
    headers_.shrink_to_fit();
  }
  for (auto& [name, value] : headers_) {
    if (name.capacity() > kKeptPerString) std::string().swap(name);
    if (value.capacity() > kKeptPerString) std::string().swap(value);
  }
  if (url_.capacity() > kKeptPerString * 4) std::string().swap(url_);
  if (body_.capacity() > kKeptBody) std::string().swap(body_);
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
  bool keep_alive = keeps_alive();
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
  if (phase_ == Phase::idle && !input_held_) parse_pending_input();
  if (observer_) observer_->on_deferred_answer();
}

void HttpSession::parse_pending_input() {
  llhttp_resume(&parser_);
  std::string rest = std::move(pending_input_);
  pending_input_.clear();
  if (!rest.empty()) parse(rest);
}

bool HttpSession::start_stream(int status, std::string_view content_type, std::string_view extra_headers) {
  if (!can_answer() || status < 200 || status > 599 || status == 204 || status == 304 || parser_.method == HTTP_HEAD)
    return false;
  if (!is_field_value(content_type)) return false;  // a line break would end the head early
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
  bool keep_alive = chunked_stream_ && keeps_alive();
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
