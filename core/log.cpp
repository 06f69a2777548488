#include "core/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace tether {
namespace {

struct LogState {
  int fd = STDERR_FILENO;
  std::string target = "stderr";
  LogLevel level = LogLevel::info;
  std::string process_name = "tether";
};

LogState& state() {
  static LogState s;
  return s;
}

int open_target(const std::string& target, std::string* why) {
  if (target == "stderr") return STDERR_FILENO;
  int fd = ::open(target.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) *why = "cannot open log file \"" + target + "\": " + std::strerror(errno);
  return fd;
}

}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view text) {
  for (auto level : {LogLevel::debug, LogLevel::info, LogLevel::notice, LogLevel::warn, LogLevel::error})
    if (text == log_level_name(level)) return level;
  return std::nullopt;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::notice: return "notice";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "?";
}

bool Log::open(const std::string& target, LogLevel level, std::string* why) {
  int fd = open_target(target, why);
  if (fd < 0) return false;
  auto& s = state();
  if (s.fd != STDERR_FILENO && s.fd != fd) ::close(s.fd);
  s.fd = fd;
  s.target = target;
  s.level = level;
  return true;
}

bool Log::reopen(std::string* why) {
  auto& s = state();
  return open(s.target, s.level, why);
}

void Log::set_process_name(std::string name) { state().process_name = std::move(name); }
int Log::fd() { return state().fd; }
const std::string& Log::target() { return state().target; }
LogLevel Log::level() { return state().level; }
bool Log::enabled(LogLevel level) { return level >= state().level; }

std::string log_timestamp() {
  timeval now{};
  gettimeofday(&now, nullptr);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char text[40];
  std::size_t n = strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  snprintf(text + n, sizeof text - n, ".%03ldZ", static_cast<long>(now.tv_usec / 1000));
  return text;
}

void Log::write(LogLevel level, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vwrite(level, format, args);
  va_end(args);
}

void Log::vwrite(LogLevel level, const char* format, va_list args) {
  auto& s = state();
  char line[4096];
  int n = snprintf(line, sizeof line, "%s [%s] %s[%d]: ", log_timestamp().c_str(), log_level_name(level),
                   s.process_name.c_str(), static_cast<int>(getpid()));
  if (n < 0) return;
  std::size_t used = static_cast<std::size_t>(n);
  if (used < sizeof line) {
    int m = vsnprintf(line + used, sizeof line - used, format, args);
    if (m > 0) used += static_cast<std::size_t>(m);
  }
  if (used >= sizeof line - 1) used = sizeof line - 2;
  line[used++] = '\n';
  // One write() per line: lines from several processes never interleave within a line.
  ssize_t ignored = ::write(s.fd, line, used);
  (void)ignored;
}

}  // namespace tether
