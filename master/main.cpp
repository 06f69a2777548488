// tether: a server for long-lived connections. See tether(8).
#include <cstdio>

#include "master/command_line.h"
#include "master/master.h"

int main(int argc, char** argv) {
  std::string error;
  auto line = tether::parse_command_line(argc, argv, &error);
  if (!line) {
    std::fprintf(stderr, "tether: %s\n\n%s", error.c_str(), tether::usage_text().c_str());
    return 2;
  }
  switch (line->action) {
    case tether::CommandLine::Action::version:
      std::printf("tether %s\n", TETHER_VERSION);
      return 0;
    case tether::CommandLine::Action::help:
      std::printf("%s", tether::usage_text().c_str());
      return 0;
    case tether::CommandLine::Action::test_config:
      return tether::test_config(line->config_path);
    case tether::CommandLine::Action::send_signal:
      return tether::signal_master(line->config_path, line->signal_name);
    case tether::CommandLine::Action::run:
      return tether::run_master(line->config_path);
  }
  return 2;
}
