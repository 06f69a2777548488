#include "master/pid_file.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace tether {

bool write_pid_file(const std::string& path, std::string* why) {
  std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << getpid() << '\n';
    if (!out.flush()) {
      *why = "cannot write pid file \"" + path + "\": " + std::strerror(errno);
      return false;
    }
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    *why = "cannot write pid file \"" + path + "\": " + std::strerror(errno);
    ::unlink(temporary.c_str());
    return false;
  }
  return true;
}

void remove_pid_file(const std::string& path) { ::unlink(path.c_str()); }

std::optional<pid_t> read_running_pid(const std::string& path, std::string* why) {
  std::ifstream in(path);
  if (!in) {
    *why = "cannot open pid file \"" + path + "\": " + std::strerror(errno) + " (is tether running?)";
    return std::nullopt;
  }
  long pid = 0;
  if (!(in >> pid) || pid <= 1) {
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
