#include "master/command_line.h"

#include <cstring>

namespace tether {

#ifndef TETHER_DEFAULT_CONFIG
#define TETHER_DEFAULT_CONFIG "/etc/tether/tether.toml"
#endif

std::string default_config_path() { return TETHER_DEFAULT_CONFIG; }

std::string usage_text() {
  return "Usage: tether [-c FILE] [-t] [-s SIGNAL] [-v] [-h]\n"
         "\n"
         "  -c FILE    configuration file (default: " + default_config_path() + ")\n"
         "  -t         check the configuration and exit\n"
         "  -s SIGNAL  send SIGNAL to the running master: reload, quit, stop, reopen\n"
         "  -v         print the version and exit\n"
         "  -h         print this help and exit\n"
         "\n"
         "Without -t or -s, tether runs in the foreground until it receives QUIT, TERM or INT.\n";
}

std::optional<CommandLine> parse_command_line(int argc, char** argv, std::string* error) {
  CommandLine line;
  line.config_path = default_config_path();
  bool test = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* option) -> std::optional<std::string> {
      if (i + 1 >= argc) {
        *error = std::string("option ") + option + " needs a value";
        return std::nullopt;
      }
      return std::string(argv[++i]);
    };
    if (arg == "-c") {
      auto v = value("-c");
      if (!v) return std::nullopt;
      line.config_path = *v;
    } else if (arg == "-s") {
      auto v = value("-s");
      if (!v) return std::nullopt;
      if (*v != "reload" && *v != "quit" && *v != "stop" && *v != "reopen") {
        *error = "unknown signal \"" + *v + "\": use reload, quit, stop or reopen";
        return std::nullopt;
      }
      line.signal_name = *v;
      line.action = CommandLine::Action::send_signal;
    } else if (arg == "-t") {
      test = true;
    } else if (arg == "-v" || arg == "--version") {
      line.action = CommandLine::Action::version;
      return line;
    } else if (arg == "-h" || arg == "--help") {
      line.action = CommandLine::Action::help;
      return line;
    } else {
      *error = "unknown option \"" + arg + "\"";
      return std::nullopt;
    }
  }
  if (test) {
    if (line.action == CommandLine::Action::send_signal) {
      *error = "-t and -s cannot be combined";
      return std::nullopt;
    }
    line.action = CommandLine::Action::test_config;
  }
  return line;
}

}  // namespace tether
