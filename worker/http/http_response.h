// Serialises HTTP/1.1 responses. tether answers every request with an HTTP/1.1 status line
// (RFC 9110 §6.2), so HTTP/1.0 clients get "Connection: keep-alive" only when they asked for it.
#pragma once

#include <string>
#include <string_view>

namespace tether {

const char* http_status_reason(int status);

// RFC 9110 §5.6.2: a header name or a transfer coding is a non-empty token.
bool is_token(std::string_view text);
// RFC 9110 §5.5: a header value holds visible bytes, spaces and tabs; never CR, LF, NUL or
// another control byte, which would end the header or the head early.
bool is_field_value(std::string_view text);

// The RFC 9110 IMF-fixdate of the current second, recomputed at most once a second.
std::string_view http_date_now();

enum class ConnectionHeader {
  none,        // HTTP/1.1 keep-alive: the default needs no header
  keep_alive,  // HTTP/1.0 client that asked for keep-alive
  close,
};

enum class BodyFraming {
  content_length,  // Content-Length: the body follows whole
  chunked,         // Transfer-Encoding: chunked, for streamed HTTP/1.1 responses
  until_close,     // neither: the body ends when the connection closes (streamed HTTP/1.0)
};

struct ResponseHead {
  int status = 200;
  std::string_view content_type;
  std::size_t content_length = 0;
  BodyFraming framing = BodyFraming::content_length;
  ConnectionHeader connection = ConnectionHeader::none;
  std::string_view extra_headers;  // complete "Name: value\r\n" lines
};

// Appends the status line and headers, then `body` unless `head_only` (HEAD request).
void append_response(std::string& out, const ResponseHead& head, std::string_view body, bool head_only);

// A short text/plain answer for errors and 404s: "404 Not Found\n".
std::string default_error_body(int status);

}  // namespace tether
