// The pid file: written by the master once it listens, removed when it exits, read by `tether -s`.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

namespace tether {

// Writes our pid atomically (temporary file + rename). Returns false with *why set.
bool write_pid_file(const std::string& path, std::string* why);
// For `tether -t`: whether the start could write the pid file (its directory exists and is
// writable). False with *why set.
bool check_pid_file(const std::string& path, std::string* why);
void remove_pid_file(const std::string& path);
// The pid of a live process named in the file; nullopt with *why set otherwise.
std::optional<pid_t> read_running_pid(const std::string& path, std::string* why);

}  // namespace tether
