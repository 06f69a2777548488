// What the master publishes of its generations (master/status_report.h), read back from the
// status board as a worker would: states, pids, and since when each generation is in its state,
// which a change elsewhere in the list must not reset.
#include "master/status_report.h"

#include <gtest/gtest.h>

#include <memory>

namespace tether {
namespace {

using namespace std::chrono_literals;

const SteadyClock::time_point kT0 = SteadyClock::time_point{} + 1h;

ConfigPtr config_with(unsigned workers) {
  auto config = std::make_shared<Config>();
  config->server.workers = workers;
  return config;
}

MasterStatus published() { return read_master_status(status_board().copy_master()); }

class StatusReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!status_board().ready()) ASSERT_TRUE(status_board().create(&why)) << why;
  }
  Generations generations;
  StatusReport report;
};

}  // namespace

TEST_F(StatusReportTest, EachGenerationKeepsItsSinceUntilItsStateChanges) {
  Generation& first = generations.add(config_with(2), Generation::State::active, kT0);
  first.processes[0].pid = 101;
  first.processes[1].pid = 102;
  report.publish(generations, 1000);
  EXPECT_EQ(published().generations, (std::vector<GenerationStatus>{{1, GenerationState::serving, 1000, 2, {101, 102}, 2}}));

  Generation& second = generations.add(config_with(1), Generation::State::starting, kT0);
  second.processes[0].pid = 201;
  report.publish(generations, 2000);
  report.publish(generations, 2500);  // nothing changed: nothing moves
  EXPECT_EQ(published().generations, (std::vector<GenerationStatus>{{1, GenerationState::serving, 1000, 2, {101, 102}, 2},
                                                                    {2, GenerationState::starting, 2000, 1, {201}, 1}}));

  second.state = Generation::State::active;
  first.state = Generation::State::draining;
  first.processes[1].pid = 0;  // one of its workers has exited
  report.publish(generations, 3000);
  EXPECT_EQ(published().generations, (std::vector<GenerationStatus>{{1, GenerationState::draining, 3000, 2, {101}, 1},
                                                                    {2, GenerationState::serving, 3000, 1, {201}, 1}}));

  // The drained generation goes: the one after it keeps its "since".
  first.processes[0].pid = 0;
  generations.remove_finished(false);
  report.publish(generations, 4000);
  EXPECT_EQ(published().generations, (std::vector<GenerationStatus>{{2, GenerationState::serving, 3000, 1, {201}, 1}}));
}

TEST_F(StatusReportTest, TheLastReloadsResultKeepsOnlyAFailuresMessage) {
  generations.add(config_with(1), Generation::State::active, kT0);
  report.publish(generations, 1000);
  report.reload_finished(false, "tether.toml:3:1: unknown key", 5000);
  EXPECT_EQ(published().last_reload, (ReloadStatus{5000, false, "tether.toml:3:1: unknown key"}));
  report.reload_finished(true, "ignored", 6000);
  EXPECT_EQ(published().last_reload, (ReloadStatus{6000, true, ""}));
  EXPECT_EQ(published().generations.size(), 1u);  // a reload's result leaves the generations as they were
  report.reload_finished(false, std::string(1000, 'x'), 7000);
  EXPECT_EQ(published().last_reload.message, std::string(status_layout::kMessageBytes - 1, 'x'));  // cut to fit
}

TEST(ReloadFailureMessage, TheCountOfOtherErrorsSurvivesTheCutWhichEndsOnACharacter) {
  std::string first = "tether.toml:1:1: " + std::string(300, '\xC3');  // not yet a character: cut below
  for (std::size_t i = 18; i < first.size(); i += 2) first[i] = '\xA9';  // "é" after "é"
  std::string message = reload_failure_message(first, 3);
  EXPECT_LE(message.size(), status_layout::kMessageBytes - 1);
  ASSERT_TRUE(message.ends_with(" (and 2 more)")) << message;
  std::string kept = message.substr(0, message.size() - std::string(" (and 2 more)").size());
  EXPECT_EQ(first.substr(0, kept.size()), kept);
  EXPECT_NE(static_cast<unsigned char>(kept.back()), 0xC3u) << "not cut inside a character";
  EXPECT_EQ(reload_failure_message("short", 1), "short");
}

}  // namespace tether
