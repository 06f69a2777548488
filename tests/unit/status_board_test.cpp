// The status board (core/status_board.h): what the master and the workers write reaches a reader
// in another process, and what a compromised worker could write there (any byte of the mapping)
// comes out bounded, terminated and valid, or not at all.
#include "core/status_board.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <limits>

using namespace tether;
using namespace tether::status_layout;

namespace {

MasterStatus two_generations() {
  MasterStatus status;
  status.generations.push_back({1, GenerationState::draining, 1000, 2, {101}});
  status.generations.push_back({2, GenerationState::serving, 2000, 2, {201, 202}});
  status.last_reload = ReloadStatus{2000, false, "tether.toml:3:1: unknown key \"x\""};
  return status;
}

WorkerArea worker(std::int32_t pid, std::vector<ChannelLoad> channels) {
  WorkerArea area{};
  area.pid = pid;
  area.channel_count = static_cast<std::uint32_t>(channels.size());
  for (std::size_t i = 0; i < channels.size(); ++i) {
    std::memcpy(area.channels[i].name, channels[i].name.data(), channels[i].name.size());
    area.channels[i].subscribers = channels[i].subscribers;
    area.channels[i].messages = channels[i].messages;
  }
  return area;
}

}  // namespace

TEST(StatusBoard, WhatTheMasterWritesAWorkerForkedBeforeReads) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t child = fork();
  if (child == 0) {
    char byte;
    if (read(ready[0], &byte, 1) != 1) _exit(2);
    _exit(read_master_status(board.copy_master()) == two_generations() ? 0 : 1);
  }
  board.write_master(two_generations(), 1000);
  ASSERT_EQ(write(ready[1], "x", 1), 1);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(ready[1]);
}

TEST(StatusBoard, TheWorkersBusiestChannelsAreMergedByNameWithTheirSubscribersSummed) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  board.write_channels(1, 100, {{"hot", 7, 5}, {"warm", 2, 9}});
  board.write_channels(2, 200, {{"hot", 5, 4}, {"cold", 1, 1}});
  board.write_channels(3, 300, {{"warm", 4, 9}});
  EXPECT_EQ(merge_busiest_channels(board.copy_workers(), 10),
            (std::vector<ChannelLoad>{{"hot", 12, 5}, {"warm", 6, 9}, {"cold", 1, 1}}));
  EXPECT_EQ(merge_busiest_channels(board.copy_workers(), 1), (std::vector<ChannelLoad>{{"hot", 12, 5}}));
  // A process that is gone reports nothing more.
  board.clear_slot(2);
  EXPECT_EQ(merge_busiest_channels(board.copy_workers(), 10),
            (std::vector<ChannelLoad>{{"hot", 7, 5}, {"warm", 6, 9}}));
}

TEST(StatusBoard, SlotZeroAndSlotsBeyondTheBoardReportNothing) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  board.write_channels(0, 100, {{"shared", 1, 0}});
  board.write_channels(kWorkerSlots, 100, {{"beyond", 1, 0}});
  EXPECT_TRUE(board.copy_workers().empty());
}

TEST(StatusBoard, AnIdenticalMasterStatusIsNotWrittenAgain) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  board.write_master(two_generations(), 1000);
  std::uint32_t sequence = board.master_sequence_for_tests().load();
  board.write_master(two_generations(), 1999);
  EXPECT_EQ(board.master_sequence_for_tests().load(), sequence);
  MasterStatus changed = two_generations();
  changed.generations.pop_back();
  board.write_master(changed, 1999);
  EXPECT_NE(board.master_sequence_for_tests().load(), sequence);
}

TEST(StatusBoard, TwentyGenerationsAreAllShownWithTheServingOneLast) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  MasterStatus status;
  for (unsigned n = 1; n <= 19; ++n) status.generations.push_back({n, GenerationState::draining, n, 1, {}});
  status.generations.push_back({20, GenerationState::serving, 20, 1, {2000}});
  board.write_master(status, 1000);
  EXPECT_EQ(read_master_status(board.copy_master()), status);
}

TEST(StatusBoard, PastWhatTheAreaHoldsTheNewestGenerationsAreKept) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  MasterStatus status;
  unsigned total = kMaxGenerations + 4;
  for (unsigned n = 1; n < total; ++n) status.generations.push_back({n, GenerationState::stopping, n, 1, {}});
  status.generations.push_back({total, GenerationState::starting, total, 1, {4242}});
  board.write_master(status, 1000);
  MasterStatus shown = read_master_status(board.copy_master());
  ASSERT_EQ(shown.generations.size(), kMaxGenerations);
  EXPECT_EQ(shown.generations.front().number, 5u);
  EXPECT_EQ(shown.generations.back(), status.generations.back());
}

TEST(StatusBoard, TheMastersNextWriteRepairsWhatAWorkerScribbledOverItsArea) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  board.write_master(two_generations(), 1000);
  std::memset(&board.master_area_for_tests(), 'A', sizeof(MasterArea));  // the sequence untouched
  board.write_master(two_generations(), 1500);
  EXPECT_NE(read_master_status(board.copy_master()), two_generations()) << "less than a second later";
  board.write_master(two_generations(), 2000);  // the same status as before: written again
  EXPECT_EQ(read_master_status(board.copy_master()), two_generations());

  board.master_sequence_for_tests().store(0x41414141);  // odd, and not the one it left
  board.write_master(two_generations(), 2001);
  EXPECT_EQ(read_master_status(board.copy_master()), two_generations()) << "at once";
}

// --- What a compromised worker could leave in the mapping ---

TEST(StatusBoard, HostileGenerationCountsAndStatesAreBounded) {
  MasterArea area{};
  area.generation_count = std::numeric_limits<std::uint32_t>::max();
  for (std::size_t i = 0; i < kMaxGenerations; ++i) {
    area.generations[i].number = static_cast<std::uint32_t>(i + 1);
    area.generations[i].state = 1;
    area.generations[i].pid_count = std::numeric_limits<std::uint32_t>::max();
    for (std::size_t p = 0; p < kMaxPids; ++p) area.generations[i].pids[p] = p % 2 ? -5 : 42;
  }
  area.generations[3].state = 77;  // no such state: left out
  MasterStatus status = read_master_status(area);
  ASSERT_EQ(status.generations.size(), kMaxGenerations - 1);
  EXPECT_EQ(status.generations[3].number, 5u);
  for (const GenerationStatus& g : status.generations) {
    EXPECT_EQ(g.state, GenerationState::serving);
    EXPECT_EQ(g.pids.size(), kMaxPids / 2);  // at most kMaxPids read; the negative ones dropped
    EXPECT_EQ(g.pids.front(), 42);
  }
}

TEST(StatusBoard, TimesBeyondWhatADateCanHoldReadAsUnknown) {
  MasterArea area{};
  area.generation_count = 2;
  area.generations[0] = GenerationRecord{1, 1, 1, 0, std::numeric_limits<std::uint64_t>::max(), {}};
  area.generations[1] = GenerationRecord{2, 0, 1, 0, 8'640'000'000'000'000, {}};  // the last valid Date
  area.reload_time_ms = 8'640'000'000'000'001;
  MasterStatus status = read_master_status(area);
  ASSERT_EQ(status.generations.size(), 2u);
  EXPECT_EQ(status.generations[0].since_ms, 0u);
  EXPECT_EQ(status.generations[1].since_ms, 8'640'000'000'000'000u);
  EXPECT_EQ(status.last_reload.time_ms, 0u);
}

TEST(StatusBoard, AReloadMessageWithoutItsTerminatorIsLeftOut) {
  MasterArea area{};
  area.reload_time_ms = 5;
  area.reload_ok = 0;
  std::memset(area.reload_message, 'A', sizeof area.reload_message);
  EXPECT_EQ(read_master_status(area).last_reload, (ReloadStatus{5, false, ""}));
  area.reload_message[10] = '\0';
  EXPECT_EQ(read_master_status(area).last_reload.message, std::string(10, 'A'));
  area.reload_ok = 0xffffffff;  // any non-zero is success, and success has no message
  EXPECT_EQ(read_master_status(area).last_reload, (ReloadStatus{5, true, ""}));
}

TEST(StatusBoard, HostileChannelRecordsAreBoundedValidatedAndSaturated) {
  WorkerArea liar = worker(7, {{"ok", std::numeric_limits<std::uint64_t>::max(), 1}});
  liar.channel_count = std::numeric_limits<std::uint32_t>::max();  // read as kTopChannels
  std::memset(liar.channels[1].name, 'x', sizeof liar.channels[1].name);  // no NUL
  std::strcpy(liar.channels[2].name, "a\"</script>\x01");                 // not a channel name
  std::strcpy(liar.channels[3].name, "");                                  // empty
  std::strcpy(liar.channels[9].name, "last");
  liar.channels[9].subscribers = 3;
  WorkerArea honest = worker(8, {{"ok", 10, 2}});
  WorkerArea gone = worker(0, {{"ghost", 100, 0}});  // pid 0: the slot reports nothing
  EXPECT_EQ(merge_busiest_channels({liar, honest, gone}, 10),
            (std::vector<ChannelLoad>{{"ok", std::numeric_limits<std::uint64_t>::max(), 2}, {"last", 3, 0}}));
}

TEST(StatusBoard, AReaderGivesUpWaitingForAWriterThatNeverFinishes) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  board.write_master(two_generations(), 1000);
  std::uint32_t sequence = board.master_sequence_for_tests().load();
  board.master_sequence_for_tests().store(1);  // "a write is under way", forever
  // It returns instead of spinning, with nothing: what it copied may mix two writes.
  EXPECT_TRUE(read_master_status(board.copy_master()).generations.empty());
  board.master_sequence_for_tests().store(sequence);
  EXPECT_EQ(read_master_status(board.copy_master()), two_generations());
}

TEST(StatusBoard, AWorkerSlotForeverMidWriteIsSkipped) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  board.write_channels(1, 100, {{"stuck", 1, 0}});
  board.write_channels(2, 200, {{"fine", 1, 0}});
  board.worker_sequence_for_tests(1).store(7);  // odd: "a write is under way", forever
  std::vector<WorkerArea> areas = board.copy_workers();
  ASSERT_EQ(areas.size(), 1u);
  EXPECT_EQ(areas[0].pid, 200);
}

TEST(StatusBoard, AGenerationOfMoreThan64WorkersListsSomePidsButCountsThemAll) {
  StatusBoard board;
  std::string why;
  ASSERT_TRUE(board.create(&why)) << why;
  MasterStatus status;
  GenerationStatus big{1, GenerationState::serving, 1000, 100, {}, 100};
  for (std::int32_t pid = 1; pid <= 100; ++pid) big.pids.push_back(pid);
  status.generations.push_back(big);
  board.write_master(status, 1000);
  GenerationStatus shown = read_master_status(board.copy_master()).generations.at(0);
  EXPECT_EQ(shown.pids.size(), kMaxPids);
  EXPECT_EQ(shown.running, 100u);
}
