// The error log: one line per event, "2026-11-22T18:43:07.123Z [info] master[1234]: text".
// Master and workers append to the same file (O_APPEND keeps lines whole); USR1 reopens it.
#pragma once

#include <cstdarg>
#include <optional>
#include <string>
#include <string_view>

namespace tether {

enum class LogLevel { debug, info, notice, warn, error };

std::optional<LogLevel> parse_log_level(std::string_view text);
const char* log_level_name(LogLevel level);

class Log {
 public:
  // Opens `target` ("stderr" or a path, created 0640, appended to). Returns false with *why set.
  static bool open(const std::string& target, LogLevel level, std::string* why);
  // Reopens the current target (after log rotation). Returns false with *why set.
  static bool reopen(std::string* why);
  // Names this process in every line: "master", "worker 0 g3".
  static void set_process_name(std::string name);
  static int fd();
  static const std::string& target();
  static LogLevel level();

  static bool enabled(LogLevel level);
  static void write(LogLevel level, const char* format, ...) __attribute__((format(printf, 2, 3)));
  static void vwrite(LogLevel level, const char* format, va_list args);
};

#define TETHER_LOG(level, ...)                                          \
  do {                                                                  \
    if (::tether::Log::enabled(level)) ::tether::Log::write(level, __VA_ARGS__); \
  } while (0)
#define LOG_DEBUG(...) TETHER_LOG(::tether::LogLevel::debug, __VA_ARGS__)
#define LOG_INFO(...) TETHER_LOG(::tether::LogLevel::info, __VA_ARGS__)
#define LOG_NOTICE(...) TETHER_LOG(::tether::LogLevel::notice, __VA_ARGS__)
#define LOG_WARN(...) TETHER_LOG(::tether::LogLevel::warn, __VA_ARGS__)
#define LOG_ERROR(...) TETHER_LOG(::tether::LogLevel::error, __VA_ARGS__)

// Opens a log file to append to (created 0640). The master runs as root in a directory that may
// belong to the worker user, so a symbolic link, anything but a regular file, or a file with
// other hard links is refused: the master never writes to (or hands to the worker user) a file
// the worker user merely pointed at. Returns -1 with *why set.
int open_log_file(const std::string& path, std::string* why);
// For `tether -t`: whether the start could open the log `path` ("stderr" always can), without
// creating it. False with *why set.
bool check_log_file(const std::string& path, std::string* why);
// Why a file at `path` could not be created by this process: its directory is missing, is not a
// directory or is not writable. Empty when it could. (Also used for the pid file.)
std::string new_file_problem(const std::string& path);

// Formats the current UTC time as "2026-11-22T18:43:07.123Z" (used by both logs).
std::string log_timestamp();

}  // namespace tether
