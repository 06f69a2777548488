// The access log: one line per answered request, buffered and written once per loop turn.
//   127.0.0.1:51234 [2026-11-22T18:43:07.123Z] "GET / HTTP/1.1" 200 7 worker=0 gen=3
// The value of a "token" query parameter is logged as "-" (a bearer token, auth module).
#pragma once

#include <uv.h>

#include <string>

#include "worker/http/http_session.h"

namespace tether {

class AccessLog {
 public:
  AccessLog() = default;
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;
  ~AccessLog();

  // `target` is "off", "stderr" or a path. Returns false with *why set.
  bool open(const std::string& target, unsigned worker_slot, unsigned generation, std::string* why);
  bool reopen(std::string* why);
  bool enabled() const { return fd_ >= 0; }

  void record(const uv_tcp_t& peer, const RequestSummary& summary);
  void flush();

 private:
  void close_file();

  std::string target_ = "off";
  std::string identity_;  // " worker=0 gen=3"
  std::string buffer_;
  int fd_ = -1;
};

}  // namespace tether
