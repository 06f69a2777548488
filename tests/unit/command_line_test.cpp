#include "master/command_line.h"

#include <gtest/gtest.h>

using tether::CommandLine;
using tether::parse_command_line;

namespace {
std::optional<CommandLine> parse(std::vector<std::string> args, std::string* error) {
  std::vector<char*> argv;
  static std::string name = "tether";
  argv.push_back(name.data());
  for (auto& a : args) argv.push_back(a.data());
  return parse_command_line(static_cast<int>(argv.size()), argv.data(), error);
}
}  // namespace

TEST(CommandLine, RunsWithTheDefaultConfigWithoutArguments) {
  std::string error;
  auto line = parse({}, &error);
  ASSERT_TRUE(line);
  EXPECT_EQ(line->action, CommandLine::Action::run);
  EXPECT_EQ(line->config_path, tether::default_config_path());
}

TEST(CommandLine, TestAndSignalTakeTheConfigPath) {
  std::string error;
  auto test = parse({"-t", "-c", "a.toml"}, &error);
  ASSERT_TRUE(test);
  EXPECT_EQ(test->action, CommandLine::Action::test_config);
  EXPECT_EQ(test->config_path, "a.toml");
  auto signal = parse({"-s", "reload", "-c", "b.toml"}, &error);
  ASSERT_TRUE(signal);
  EXPECT_EQ(signal->action, CommandLine::Action::send_signal);
  EXPECT_EQ(signal->signal_name, "reload");
}

TEST(CommandLine, RejectsUnknownOptionsSignalsAndMissingValues) {
  std::string error;
  EXPECT_FALSE(parse({"-x"}, &error));
  EXPECT_NE(error.find("-x"), std::string::npos);
  EXPECT_FALSE(parse({"-s", "restart"}, &error));
  EXPECT_NE(error.find("restart"), std::string::npos);
  EXPECT_FALSE(parse({"-c"}, &error));
  EXPECT_FALSE(parse({"-t", "-s", "quit"}, &error));
}
