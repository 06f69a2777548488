#include "master/pid_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/log.h"
#include "core/unique_fd.h"

namespace tether {

// The temporary file is created afresh, never written through: a stale one (a crash between
// create and rename) or anything planted in its place, a symbolic link say, is removed first,
// and O_EXCL | O_NOFOLLOW fail rather than follow one that reappears.
bool write_pid_file(const std::string& path, std::string* why) {
  std::string temporary = path + ".tmp";
  auto fail = [&](const char* what) {
    *why = "cannot write pid file \"" + path + "\": " + what + ": " + std::strerror(errno);
    ::unlink(temporary.c_str());
    return false;
  };
  ::unlink(temporary.c_str());
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return fail("open()");
  std::string text = std::to_string(getpid()) + "\n";
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) return fail("write()");
  if (::close(fd.release()) != 0) return fail("close()");
  if (std::rename(temporary.c_str(), path.c_str()) != 0) return fail("rename()");
  return true;
}

bool check_pid_file(const std::string& path, std::string* why) {
  std::string problem = path.empty() ? "it is empty" : new_file_problem(path);
  if (!problem.empty()) *why = "cannot write pid file \"" + path + "\": " + problem;
  return problem.empty();
}

void remove_pid_file(const std::string& path) { ::unlink(path.c_str()); }

std::optional<pid_t> read_running_pid(const std::string& path, std::string* why) {
  std::ifstream in(path);
  if (!in) {
    *why = "cannot open pid file \"" + path + "\": " + std::strerror(errno) + " (is tether running?)";
    return std::nullopt;
  }
  // Checked before the narrowing to pid_t: 2^32 - 1 would become -1, which kill() reads as
  // "every process".
  long long pid = 0;
  if (!(in >> pid) || pid <= 1 || pid > std::numeric_limits<pid_t>::max()) {
    *why = "pid file \"" + path + "\" does not hold a pid";
    return std::nullopt;
  }
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
    *why = "pid file \"" + path + "\" names process " + std::to_string(pid) + ", which is not running";
    return std::nullopt;
  }
  return static_cast<pid_t>(pid);
}

}  // namespace tether
