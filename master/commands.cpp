// What each command-line action does: run the master, check a config, signal a running master.
#include <signal.h>

#include <cstdio>

#include "core/config_parser.h"
#include "core/log.h"
#include "master/master.h"
#include "master/module_check.h"
#include "master/pid_file.h"
#include "master/privileges.h"

namespace tether {
namespace {

// What the start would refuse beyond the config itself, checked as the user running -t (as the
// start runs): a [server] user that does not exist (as root), a pid file that cannot be written,
// a log that cannot be opened. Nothing is created or changed.
std::vector<std::string> check_start_environment(const Config& config) {
  std::vector<std::string> errors;
  std::string why;
  std::optional<WorkerIdentity> identity;
  if (!resolve_worker_identity(config.server.user, &identity, &why)) errors.push_back(why);
  if (!check_pid_file(config.server.pid_file, &why)) errors.push_back(why);
  if (!check_log_file(config.server.error_log, &why)) errors.push_back(why);
  if (config.server.access_log != "off" && !check_log_file(config.server.access_log, &why)) errors.push_back(why);
  for (std::string& error : errors) error = config.file + ": " + error;
  return errors;
}

// Loads the config; on errors prints each as "FILE:LINE:COL: message" and returns null.
// With `check_modules`, the modules are also loaded and configured, in a checker child.
// With `check_environment`, what check_start_environment() finds is an error too.
ConfigPtr load_or_report(const std::string& path, bool check_modules, bool check_environment = false) {
  ConfigLoadResult loaded = load_config_file(path);
  for (const ConfigError& error : loaded.errors) std::fprintf(stderr, "%s\n", error.to_string().c_str());
  if (loaded.config && check_environment) {
    std::vector<std::string> errors = check_start_environment(*loaded.config);
    for (const std::string& error : errors) std::fprintf(stderr, "%s\n", error.c_str());
    if (!errors.empty()) return nullptr;
  }
  if (!loaded.config || !check_modules) return loaded.config;
  std::vector<std::string> module_errors = check_modules_in_child(*loaded.config);
  for (const std::string& error : module_errors) std::fprintf(stderr, "%s\n", error.c_str());
  return module_errors.empty() ? loaded.config : nullptr;
}

}  // namespace

int run_master(const std::string& config_path) {
  ConfigPtr config = load_or_report(config_path, true);
  if (!config) {
    std::fprintf(stderr, "tether: configuration %s has errors\n", config_path.c_str());
    return 1;
  }
  Log::set_process_name("master");
  Master master(config_path, config);
  return master.run();
}

// Checks without touching a running server: parsing, validation, modules and what the start
// needs from the system. Listening sockets are never bound here (binding and closing a
// SO_REUSEPORT socket would reset a live server's backlog).
int test_config(const std::string& config_path) {
  if (!load_or_report(config_path, true, true)) {
    std::fprintf(stderr, "tether: configuration %s test failed\n", config_path.c_str());
    return 1;
  }
  std::printf("tether: configuration %s is ok\n", config_path.c_str());
  return 0;
}

int signal_master(const std::string& config_path, const std::string& signal_name) {
  ConfigPtr config = load_or_report(config_path, false);
  if (!config) {
    std::fprintf(stderr, "tether: cannot find the pid file: configuration %s has errors\n", config_path.c_str());
    return 1;
  }
  int signum = signal_name == "reload" ? SIGHUP
               : signal_name == "quit" ? SIGQUIT
               : signal_name == "stop" ? SIGTERM
                                       : SIGUSR1;
  std::string why;
  auto pid = read_running_pid(config->server.pid_file, &why);
  if (!pid) {
    std::fprintf(stderr, "tether: cannot send %s: %s\n", signal_name.c_str(), why.c_str());
    return 1;
  }
  if (::kill(*pid, signum) != 0) {
    std::perror("tether: kill()");
    return 1;
  }
  return 0;
}

}  // namespace tether
