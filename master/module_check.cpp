#include "master/module_check.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/log.h"
#include "master/privileges.h"
#include "master/worker_process.h"
#include "worker/host/module_loader.h"

namespace tether {
namespace {

void write_all(int fd, const std::string& text) {
  std::size_t offset = 0;
  while (offset < text.size()) {
    ssize_t n = ::write(fd, text.data() + offset, text.size() - offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    offset += static_cast<std::size_t>(n);
  }
}

[[noreturn]] void run_checker(const Config& config, int report_fd) {
  std::vector<ConfigError> errors;
  std::optional<WorkerIdentity> identity;
  std::string why;
  if (!resolve_worker_identity(config.server.user, &identity, &why) || (identity && !drop_privileges(*identity, &why))) {
    write_all(report_fd, config.file + ": " + why + "\n");
    _exit(1);
  }
  {
    auto modules = load_modules(config, &errors);  // destroyed (configs freed, dlclose) before exit
  }
  std::string report;
  for (const ConfigError& error : errors) report += error.to_string() + "\n";
  write_all(report_fd, report);
  _exit(errors.empty() ? 0 : 1);
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

}  // namespace

std::vector<std::string> check_modules_in_child(const Config& config, std::chrono::milliseconds timeout) {
  if (config.modules.empty()) return {};
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) return {std::string("cannot check modules: pipe(): ") + std::strerror(errno)};
  pid_t pid = fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return {std::string("cannot check modules: fork(): ") + std::strerror(errno)};
  }
  if (pid == 0) {
    // The checker runs modules' code: it keeps only its report pipe and the error log, none of
    // the master's listeners, workers' channels or signalfd.
    prepare_forked_child({pipe_fds[1], Log::fd()});
    run_checker(config, pipe_fds[1]);
  }
  ::close(pipe_fds[1]);
  std::string report;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{pipe_fds[0], POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
      timed_out = true;
      break;
    }
    char chunk[4096];
    ssize_t n = ::read(pipe_fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    report.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(pipe_fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  std::vector<std::string> errors = split_lines(report);
  if (timed_out)
    errors.push_back(config.file + ": checking modules took longer than " + std::to_string(timeout.count()) + "ms");
  else if (WIFSIGNALED(status))
    errors.push_back(config.file + ": a module crashed while its settings were checked (signal " +
                     std::to_string(WTERMSIG(status)) + ", " + strsignal(WTERMSIG(status)) + ")");
  else if (WEXITSTATUS(status) != 0 && errors.empty())
    errors.push_back(config.file + ": module check failed with status " + std::to_string(WEXITSTATUS(status)));
  return errors;
}

}  // namespace tether
