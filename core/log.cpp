#include "core/log.h"

#include <fcntl.h>
#include <sys/stat.h>
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

// Opens `path` for appending, `extra` added to the flags, refusing whatever is not a log file
// of its own. errno is that of the failure (ENOENT for a missing file) when -1 is returned.
int open_append_only(const std::string& path, int extra, std::string* why) {
  // O_NONBLOCK: a FIFO put in the log's place must not hang the master in open().
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC | extra, 0640);
  if (fd < 0) {
    int error = errno;
    *why = "cannot open log file \"" + path + "\": " +
           (error == ELOOP ? "it is a symbolic link, which tether does not follow" : std::strerror(error));
    errno = error;
    return -1;
  }
  struct stat st {};
  const char* problem = nullptr;
  if (fstat(fd, &st) != 0) problem = std::strerror(errno);
  else if (!S_ISREG(st.st_mode)) problem = "it is not a regular file";
  else if (st.st_nlink > 1) problem = "it has other hard links, which tether does not write through";
  if (problem) {
    ::close(fd);
    *why = "cannot open log file \"" + path + "\": " + problem;
    errno = EPERM;
    return -1;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

int open_target(const std::string& target, std::string* why) {
  if (target == "stderr") return STDERR_FILENO;
  return open_log_file(target, why);
}

}  // namespace

int open_log_file(const std::string& path, std::string* why) { return open_append_only(path, O_CREAT, why); }

std::string new_file_problem(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  struct stat st {};
  if (::stat(directory.c_str(), &st) != 0) return "directory " + directory + ": " + std::strerror(errno);
  if (!S_ISDIR(st.st_mode)) return directory + " is not a directory";
  if (::access(directory.c_str(), W_OK | X_OK) != 0) return "directory " + directory + ": " + std::strerror(errno);
  return "";
}

bool check_log_file(const std::string& path, std::string* why) {
  if (path == "stderr") return true;
  int fd = open_append_only(path, 0, why);  // without O_CREAT: a check creates nothing
  if (fd >= 0) {
    ::close(fd);
    return true;
  }
  if (errno != ENOENT) return false;
  std::string problem = new_file_problem(path);  // the start creates it
  if (problem.empty()) return true;
  *why = "cannot create log file \"" + path + "\": " + problem;
  return false;
}

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
