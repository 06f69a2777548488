// tether's command line: tether [-c FILE] [-t] [-s reload|quit|stop|reopen] [-v] [-h]
#pragma once

#include <optional>
#include <string>

namespace tether {

struct CommandLine {
  enum class Action { run, test_config, send_signal, version, help };
  Action action = Action::run;
  std::string config_path;
  std::string signal_name;  // for send_signal
};

std::string default_config_path();
// Parses argv. On a usage error returns nullopt with *error set.
std::optional<CommandLine> parse_command_line(int argc, char** argv, std::string* error);
std::string usage_text();

}  // namespace tether
