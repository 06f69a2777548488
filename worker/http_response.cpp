#include "worker/http_response.h"

#include <charconv>
#include <ctime>

namespace tether {

const char* http_status_reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
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
