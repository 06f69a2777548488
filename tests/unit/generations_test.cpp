// The master's generation state machine (master/generations.h) without a process: pids are
// made up, time is a fixed point moved by hand.
#include "master/generations.h"

#include <gtest/gtest.h>

#include <memory>

namespace tether {
namespace {

using namespace std::chrono_literals;

const SteadyClock::time_point kT0 = SteadyClock::time_point{} + 1h;

ConfigPtr config_with(unsigned workers, std::chrono::milliseconds ready_timeout = 10s,
                      std::chrono::milliseconds drain_timeout = 30s) {
  auto config = std::make_shared<Config>();
  config->server.workers = workers;
  config->server.ready_timeout = ready_timeout;
  config->server.drain_timeout = drain_timeout;
  return config;
}

// Gives every process of `g` a made-up pid, as spawning it would.
void run(Generation& g, pid_t first_pid) {
  for (WorkerProcess& p : g.processes) p.pid = first_pid++;
}

// A serving generation, then a reload's starting one, both running.
struct Reloading {
  Generations generations;
  Generation& serving = generations.add(config_with(2), Generation::State::active, kT0);
  Generation& fresh = generations.add(config_with(2, 3s), Generation::State::starting, kT0);
  Reloading() {
    run(serving, 100);
    run(fresh, 200);
  }
};

TEST(Generations, ANewGenerationIsNumberedAfterTheLastWithASlotPerWorker) {
  Generations generations;
  Generation& first = generations.add(config_with(2), Generation::State::active, kT0);
  Generation& second = generations.add(config_with(3, 2s), Generation::State::starting, kT0);
  EXPECT_EQ(first.number, 1u);
  EXPECT_EQ(second.number, 2u);
  ASSERT_EQ(second.processes.size(), 3u);
  for (unsigned slot = 0; slot < 3; ++slot) EXPECT_EQ(second.processes[slot].slot, slot);
  EXPECT_EQ(second.running(), 0u);
  EXPECT_EQ(second.deadline, kT0 + 2s);
  EXPECT_EQ(generations.active(), &first);
  EXPECT_EQ(generations.starting(), &second);
}

TEST(Generations, AReloadIsCommittedOnlyOnceEveryNewWorkerIsReady) {
  Reloading r;
  EXPECT_FALSE(r.generations.worker_ready(r.fresh, r.fresh.processes[1]));
  EXPECT_TRUE(r.generations.worker_ready(r.fresh, r.fresh.processes[0]));
}

TEST(Generations, CommittingMakesTheNewGenerationActiveAndHandsBackTheOneToDrain) {
  Reloading r;
  EXPECT_EQ(r.generations.commit(r.fresh), &r.serving);
  EXPECT_EQ(r.fresh.state, Generation::State::active);
  EXPECT_EQ(r.generations.starting(), nullptr);
  r.generations.drain(r.serving, kT0 + 1s);
  EXPECT_EQ(r.serving.state, Generation::State::draining);
  EXPECT_EQ(r.serving.deadline, kT0 + 1s + 30s + kKillGrace);  // drain_timeout, then the kill grace
  for (const WorkerProcess& p : r.serving.processes) EXPECT_TRUE(p.stop_requested);
  EXPECT_EQ(r.generations.active(), &r.fresh);
}

TEST(Generations, TheFirstGenerationCommitsWithNothingToDrain) {
  Generations generations;
  Generation& only = generations.add(config_with(1), Generation::State::starting, kT0);
  EXPECT_EQ(generations.commit(only), nullptr);
}

TEST(Generations, ANewWorkerDyingBeforeReadyAbandonsTheReload) {
  Reloading r;
  r.fresh.processes[0].pid = 0;
  WorkerExit exit = Generations::worker_exited(r.fresh, r.fresh.processes[0], false);
  EXPECT_FALSE(exit.expected);
  EXPECT_EQ(exit.then, WorkerExit::Then::abandon_reload);
}

TEST(Generations, AStartingGenerationThatMissesReadyTimeoutIsAbandoned) {
  Reloading r;
  EXPECT_TRUE(r.generations.deadlines_passed(kT0 + 3s - 1ms, false).empty());
  auto actions = r.generations.deadlines_passed(kT0 + 3s, false);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, DeadlineAction::Kind::abandon_reload);
  EXPECT_EQ(actions[0].generation, &r.fresh);
}

TEST(Generations, AnAbandonedReloadIsStoppedAtOnce) {
  Reloading r;
  r.generations.stop(r.fresh, 0ms, kT0 + 1s);
  EXPECT_EQ(r.fresh.state, Generation::State::stopping);
  EXPECT_EQ(r.fresh.deadline, kT0 + 1s);
  for (const WorkerProcess& p : r.fresh.processes) EXPECT_TRUE(p.stop_requested);
  EXPECT_EQ(r.generations.starting(), nullptr);
  EXPECT_EQ(r.generations.active(), &r.serving);  // the old generation keeps serving
}

TEST(Generations, ADrainingGenerationPastItsDeadlineHasItsStragglersKilledAgainAfterTheGrace) {
  Reloading r;
  r.generations.commit(r.fresh);
  r.generations.drain(r.serving, kT0);
  SteadyClock::time_point deadline = kT0 + 30s + kKillGrace;
  EXPECT_TRUE(r.generations.deadlines_passed(deadline - 1ms, false).empty());
  auto actions = r.generations.deadlines_passed(deadline, false);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, DeadlineAction::Kind::kill_stragglers);
  EXPECT_EQ(actions[0].generation, &r.serving);
  EXPECT_EQ(r.serving.deadline, deadline + kKillGrace);
  EXPECT_TRUE(r.generations.deadlines_passed(deadline + kKillGrace - 1ms, false).empty());
}

TEST(Generations, ACrashedActiveWorkerIsRespawnedWhenItsBackOffIsOverUnlessTheServerStops) {
  Generations generations;
  Generation& serving = generations.add(config_with(2), Generation::State::active, kT0);
  run(serving, 100);
  WorkerProcess& crashed = serving.processes[1];
  crashed.pid = 0;
  WorkerExit exit = Generations::worker_exited(serving, crashed, false);
  EXPECT_FALSE(exit.expected);
  EXPECT_EQ(exit.then, WorkerExit::Then::respawn);
  EXPECT_EQ(Generations::worker_exited(serving, crashed, true).then, WorkerExit::Then::nothing);

  crashed.respawn_at = kT0 + 200ms;
  EXPECT_TRUE(generations.deadlines_passed(kT0 + 199ms, false).empty());
  auto actions = generations.deadlines_passed(kT0 + 200ms, false);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, DeadlineAction::Kind::respawn);
  EXPECT_EQ(actions[0].process, &crashed);
  EXPECT_TRUE(generations.deadlines_passed(kT0 + 200ms, true).empty());
}

TEST(Generations, AnExitAfterDrainOrStopIsExpected) {
  Reloading r;
  r.generations.commit(r.fresh);
  r.generations.drain(r.serving, kT0);
  WorkerExit drained = Generations::worker_exited(r.serving, r.serving.processes[0], false);
  EXPECT_TRUE(drained.expected);
  EXPECT_EQ(drained.then, WorkerExit::Then::release_listeners);
  r.generations.stop(r.fresh, kKillGrace, kT0);
  WorkerExit stopped = Generations::worker_exited(r.fresh, r.fresh.processes[0], false);
  EXPECT_TRUE(stopped.expected);
  EXPECT_EQ(stopped.then, WorkerExit::Then::nothing);
}

TEST(Generations, AHupDuringAReloadIsRememberedOnceAndFollowsIt) {
  Generations generations;
  generations.add(config_with(1), Generation::State::active, kT0);
  EXPECT_TRUE(generations.request_reload());  // nothing starting: begin now
  EXPECT_FALSE(generations.take_pending_reload());
  Generation& fresh = generations.add(config_with(1), Generation::State::starting, kT0);
  EXPECT_FALSE(generations.request_reload());
  EXPECT_FALSE(generations.request_reload());  // coalesced with the first
  generations.commit(fresh);
  EXPECT_TRUE(generations.take_pending_reload());
  EXPECT_FALSE(generations.take_pending_reload());  // exactly one more
}

TEST(Generations, PastMaxDrainingGenerationsTheOldestDrainingOnesAreStopped) {
  Generations generations;
  std::vector<Generation*> draining;
  for (int i = 0; i < 4; ++i) {
    Generation& g = generations.add(config_with(1), Generation::State::active, kT0);
    generations.drain(g, kT0);
    draining.push_back(&g);
  }
  generations.add(config_with(1), Generation::State::active, kT0);
  EXPECT_TRUE(generations.over_draining_limit(4).empty());
  EXPECT_EQ(generations.over_draining_limit(2), (std::vector<Generation*>{draining[0], draining[1]}));
  generations.stop(*draining[0], kKillGrace, kT0);  // a stopping one no longer counts
  EXPECT_EQ(generations.over_draining_limit(2), (std::vector<Generation*>{draining[1]}));
}

TEST(Generations, AGenerationIsGoneOnceItStoppedServingAndNoProcessIsLeft) {
  Reloading r;
  r.generations.commit(r.fresh);
  r.generations.drain(r.serving, kT0);
  EXPECT_TRUE(r.generations.remove_finished(false).empty());  // its workers still run
  for (WorkerProcess& p : r.serving.processes) p.pid = 0;
  EXPECT_EQ(r.generations.remove_finished(false), std::vector<unsigned>{1});
  ASSERT_EQ(r.generations.all().size(), 1u);
  EXPECT_EQ(r.generations.active(), &r.fresh);
}

TEST(Generations, WhenStoppingEveryGenerationWithoutAProcessGoes) {
  Generations generations;
  generations.add(config_with(1), Generation::State::active, kT0);  // a slot waiting for its respawn
  EXPECT_TRUE(generations.remove_finished(false).empty());
  EXPECT_EQ(generations.all().size(), 1u);
  generations.remove_finished(true);
  EXPECT_TRUE(generations.empty());
}

TEST(Generations, TheNextDeadlineIsTheEarliestOfTheStatesDeadlinesAndTheRespawns) {
  Generations generations;
  EXPECT_FALSE(generations.next_deadline());
  Generation& serving = generations.add(config_with(2), Generation::State::active, kT0);
  run(serving, 100);
  EXPECT_FALSE(generations.next_deadline());  // an active generation has no deadline of its own
  generations.add(config_with(1, 5s), Generation::State::starting, kT0);
  EXPECT_EQ(generations.next_deadline(), kT0 + 5s);
  serving.processes[0].pid = 0;
  serving.processes[0].respawn_at = kT0 + 100ms;
  EXPECT_EQ(generations.next_deadline(), kT0 + 100ms);
}

TEST(WorkerRespawn, TheFirstCrashIsRepairedAtOnceAndQuickRepeatsBackOff) {
  WorkerProcess p;
  p.started_at = kT0;
  EXPECT_EQ(plan_respawn(p, kT0 + 1s), 0ms);
  EXPECT_EQ(p.respawn_at, kT0 + 1s);
  EXPECT_EQ(plan_respawn(p, kT0 + 1s), 100ms);
  EXPECT_EQ(plan_respawn(p, kT0 + 1s), 200ms);
  EXPECT_EQ(p.respawn_at, kT0 + 1s + 200ms);
  for (int i = 0; i < 10; ++i) plan_respawn(p, kT0 + 1s);
  EXPECT_EQ(plan_respawn(p, kT0 + 1s), 10s);  // capped
  // A worker that ran for ten seconds is stable: its next crash is repaired at once again.
  p.started_at = kT0;
  EXPECT_EQ(plan_respawn(p, kT0 + 10s), 0ms);
}

}  // namespace
}  // namespace tether
