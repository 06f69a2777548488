#include "worker/http/http_response.h"

#include <charconv>
#include <ctime>

namespace tether {

// The reason phrases of RFC 9110 §15 (and RFC 6585, 7725, 8297 for the codes they add).
const char* http_status_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 511: return "Network Authentication Required";
    default: return "Unknown";
  }
}

bool is_token(std::string_view text) {
  static constexpr std::string_view kPunctuation = "!#$%&'*+-.^_`|~";
  if (text.empty()) return false;
  for (char c : text) {
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (!alnum && kPunctuation.find(c) == std::string_view::npos) return false;
  }
  return true;
}

bool is_field_value(std::string_view text) {
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if ((byte < 0x20 && byte != '\t') || byte == 0x7f) return false;
  }
  return true;
}

std::string_view http_date_now() {
  static thread_local time_t cached_second = 0;
  static thread_local char cached[40];
  static thread_local std::size_t cached_length = 0;
  time_t now = time(nullptr);
  if (now != cached_second) {
    tm utc{};
    gmtime_r(&now, &utc);
    cached_length = strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return std::string_view(cached, cached_length);
}

namespace {

void append_number(std::string& out, std::size_t value) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  (void)ec;
  out.append(digits, end);
}

}  // namespace

void append_response(std::string& out, const ResponseHead& head, std::string_view body, bool head_only) {
  out += "HTTP/1.1 ";
  append_number(out, static_cast<std::size_t>(head.status));
  out += ' ';
  out += http_status_reason(head.status);
  out += "\r\nServer: tether\r\nDate: ";
  out += http_date_now();
  if (!head.content_type.empty()) {
    out += "\r\nContent-Type: ";
    out += head.content_type;
  }
  // 1xx, 204 and 304 responses never carry a body or its length (RFC 9110 §8.6).
  bool bodyless = head.status < 200 || head.status == 204 || head.status == 304;
  if (!bodyless && head.framing == BodyFraming::content_length) {
    out += "\r\nContent-Length: ";
    append_number(out, head.content_length);
  } else if (!bodyless && head.framing == BodyFraming::chunked) {
    out += "\r\nTransfer-Encoding: chunked";
  }
  if (head.connection == ConnectionHeader::close) out += "\r\nConnection: close";
  else if (head.connection == ConnectionHeader::keep_alive) out += "\r\nConnection: keep-alive";
  out += "\r\n";
  out += head.extra_headers;
  out += "\r\n";
  if (!head_only && !bodyless) out.append(body);
}

std::string default_error_body(int status) {
  return std::to_string(status) + " " + http_status_reason(status) + "\n";
}

}  // namespace tether
