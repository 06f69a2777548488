// The hashed timer wheel of the streaming modules' heartbeats (modules/common/timer_wheel.c):
// entries fire at their tick and never before, once, whatever slot or turn of the wheel they
// fall in, and a callback may cancel, free or reschedule entries while the wheel expires them.
#include "modules/common/timer_wheel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace {

constexpr uint64_t kTick = 100;
constexpr uint64_t kTurn = kTick * TIMER_WHEEL_SLOTS;  // 102.4 s

struct Item {
  timer_wheel_entry entry;
  int fired = 0;
  uint64_t fired_at = 0;
  Item() { timer_wheel_entry_init(&entry); }
};

Item* item_of(timer_wheel_entry* entry) { return reinterpret_cast<Item*>(reinterpret_cast<char*>(entry) - offsetof(Item, entry)); }

class TimerWheel : public ::testing::Test {
 protected:
  void SetUp() override {
    timer_wheel_init(&wheel_, kTick);
    expire(now_);  // the clock of a worker that has run a while: no tick 0
  }
  // Expires at `now` (the test's clock), recording the time on what fires.
  std::size_t expire(uint64_t now) {
    now_ = now;
    return timer_wheel_expire(&wheel_, now, record, this);
  }
  static void record(timer_wheel_entry* entry, void* user) {
    Item* item = item_of(entry);
    ++item->fired;
    item->fired_at = static_cast<TimerWheel*>(user)->now_;
  }

  timer_wheel wheel_;
  uint64_t now_ = 7'000'000'000;  // 81 days of monotonic clock
};

}  // namespace

TEST_F(TimerWheel, AnEntryFiresOnTheFirstTickAtOrAfterItsTimeAndNeverBefore) {
  Item a;
  const uint64_t start = now_;  // on a tick boundary
  timer_wheel_schedule(&wheel_, &a.entry, start + 250);
  EXPECT_TRUE(timer_wheel_scheduled(&a.entry));
  EXPECT_EQ(timer_wheel_count(&wheel_), 1u);
  EXPECT_EQ(expire(start + 100), 0u);
  EXPECT_EQ(expire(start + 299), 0u);  // the due tick is start + 300
  EXPECT_EQ(a.fired, 0);
  EXPECT_EQ(expire(start + 300), 1u);
  EXPECT_EQ(a.fired, 1);
  EXPECT_FALSE(timer_wheel_scheduled(&a.entry));
  EXPECT_EQ(timer_wheel_count(&wheel_), 0u);
  EXPECT_EQ(expire(start + 10 * kTurn), 0u);  // and once only
  EXPECT_EQ(a.fired, 1);
}

TEST_F(TimerWheel, AnEntryDueOnATickBoundaryFiresOnThatTick) {
  Item a;
  uint64_t boundary = (now_ / kTick + 3) * kTick;
  timer_wheel_schedule(&wheel_, &a.entry, boundary);
  EXPECT_EQ(expire(boundary - 1), 0u);
  EXPECT_EQ(expire(boundary), 1u);
}

TEST_F(TimerWheel, ACancelledEntryNeverFires) {
  Item a, b;
  timer_wheel_schedule(&wheel_, &a.entry, now_ + 500);
  timer_wheel_schedule(&wheel_, &b.entry, now_ + 500);
  timer_wheel_cancel(&wheel_, &a.entry);
  timer_wheel_cancel(&wheel_, &a.entry);  // not scheduled: nothing
  EXPECT_FALSE(timer_wheel_scheduled(&a.entry));
  EXPECT_EQ(timer_wheel_count(&wheel_), 1u);
  EXPECT_EQ(expire(now_ + 2 * kTurn), 1u);
  EXPECT_EQ(a.fired, 0);
  EXPECT_EQ(b.fired, 1);
}

TEST_F(TimerWheel, ReschedulingMovesTheEntryEarlierOrLater) {
  Item later, earlier;
  uint64_t start = now_;
  timer_wheel_schedule(&wheel_, &later.entry, start + 500);
  timer_wheel_schedule(&wheel_, &later.entry, start + 3000);
  timer_wheel_schedule(&wheel_, &earlier.entry, start + 3000);
  timer_wheel_schedule(&wheel_, &earlier.entry, start + 200);
  EXPECT_EQ(timer_wheel_count(&wheel_), 2u);
  for (uint64_t t = start + kTick; t <= start + 4000; t += kTick) expire(t);
  EXPECT_EQ(earlier.fired, 1);
  EXPECT_EQ(earlier.fired_at, start + 200);
  EXPECT_EQ(later.fired, 1);
  EXPECT_EQ(later.fired_at, start + 3000);
}

TEST_F(TimerWheel, AnEntryDueInThePastFiresAtTheNextExpire) {
  Item a;
  timer_wheel_schedule(&wheel_, &a.entry, now_ - 5000);
  EXPECT_EQ(expire(now_ + kTick), 1u);
  timer_wheel_schedule(&wheel_, &a.entry, 0);
  EXPECT_EQ(expire(now_ + kTick), 1u);
  EXPECT_EQ(a.fired, 2);
}

TEST_F(TimerWheel, EntriesKeepFiringOnTimeAsTheTicksWrapAroundTheWheelThreeTimes) {
  // One entry scheduled every tick, each 7.35 s ahead; the wheel is expired every tick.
  const uint64_t start = now_;
  const int ticks = 3 * TIMER_WHEEL_SLOTS + 17;
  std::vector<Item> items(ticks);
  for (int i = 0; i < ticks; ++i) {
    uint64_t t = start + static_cast<uint64_t>(i) * kTick;
    expire(t);
    timer_wheel_schedule(&wheel_, &items[i].entry, t + 7350);
  }
  for (uint64_t t = start + ticks * kTick; timer_wheel_count(&wheel_) > 0 && t < start + 2 * ticks * kTick; t += kTick) expire(t);
  for (int i = 0; i < ticks; ++i) {
    ASSERT_EQ(items[i].fired, 1) << i;
    ASSERT_EQ(items[i].fired_at, start + static_cast<uint64_t>(i) * kTick + 7400) << i;  // 7.35 s rounded up to a tick
  }
}

TEST_F(TimerWheel, ManyEntriesInOneSlotFireTogetherAndThoseOfALaterTurnWait) {
  const uint64_t due = now_ + 1000;
  std::vector<Item> now_due(10000), next_turn(1000), turn_after(1000);
  for (auto& item : now_due) timer_wheel_schedule(&wheel_, &item.entry, due);
  for (auto& item : next_turn) timer_wheel_schedule(&wheel_, &item.entry, due + kTurn);  // the same slot
  for (auto& item : turn_after) timer_wheel_schedule(&wheel_, &item.entry, due + 2 * kTurn);
  EXPECT_EQ(timer_wheel_count(&wheel_), 12000u);
  EXPECT_EQ(expire(due - kTick), 0u);
  EXPECT_EQ(expire(due), 10000u);
  EXPECT_EQ(expire(due + kTurn - kTick), 0u);
  EXPECT_EQ(expire(due + kTurn), 1000u);
  EXPECT_EQ(expire(due + 2 * kTurn), 1000u);
  for (auto& item : now_due) ASSERT_EQ(item.fired_at, due);
  for (auto& item : next_turn) ASSERT_EQ(item.fired_at, due + kTurn);
  for (auto& item : turn_after) ASSERT_EQ(item.fired_at, due + 2 * kTurn);
}

TEST_F(TimerWheel, AnEntryAnHourAwayFiresOnItsTickAfterManyTurns) {
  Item far, near;
  const uint64_t start = now_;
  timer_wheel_schedule(&wheel_, &far.entry, start + 3'600'000 + 42);
  timer_wheel_schedule(&wheel_, &near.entry, start + 30'000);
  for (uint64_t t = start + kTick; t < start + 3'600'000 + 42; t += kTick) expire(t);
  EXPECT_EQ(near.fired, 1);
  EXPECT_EQ(far.fired, 0);
  EXPECT_EQ(expire(start + 3'600'100), 1u);
  EXPECT_EQ(far.fired, 1);
}

TEST_F(TimerWheel, AfterALongPauseWhatIsDueFiresOnceAndWhatIsNotWaits) {
  // The worker's loop did not expire for five turns (or the host timer was stopped).
  Item due_early, due_late, not_yet;
  const uint64_t start = now_;
  timer_wheel_schedule(&wheel_, &due_early.entry, start + 300);
  timer_wheel_schedule(&wheel_, &due_late.entry, start + 4 * kTurn + 500);
  timer_wheel_schedule(&wheel_, &not_yet.entry, start + 6 * kTurn);
  EXPECT_EQ(expire(start + 5 * kTurn), 2u);
  EXPECT_EQ(due_early.fired, 1);
  EXPECT_EQ(due_late.fired, 1);
  EXPECT_EQ(not_yet.fired, 0);
  EXPECT_EQ(expire(start + 6 * kTurn - 1), 0u);
  EXPECT_EQ(expire(start + 6 * kTurn), 1u);
}

TEST_F(TimerWheel, AnEmptyWheelScheduledAgainAfterAPauseFiresOnTime) {
  Item a;
  expire(now_ + 7 * kTurn + 33);  // nothing scheduled: the wheel only notes the time
  const uint64_t start = now_;
  timer_wheel_schedule(&wheel_, &a.entry, start + 30'000);
  for (uint64_t t = start + kTick; a.fired == 0 && t < start + 60'000; t += kTick) expire(t);
  EXPECT_EQ(a.fired, 1);
  EXPECT_GE(a.fired_at, start + 30'000);
  // Its tick is the boundary after start + 30 s; the expires come 33 ms past each boundary.
  EXPECT_LT(a.fired_at, start + 30'000 + 2 * kTick);
}

namespace {

// Callbacks that change the wheel while it expires: the first entry frees the second (in the
// same slot) and reschedules itself for a time already past.
struct Meddler {
  timer_wheel* wheel;
  Item* first;
  std::unique_ptr<Item> second;
  int first_fired = 0, second_fired = 0;
};

void meddle(timer_wheel_entry* entry, void* user) {
  auto* m = static_cast<Meddler*>(user);
  if (entry == &m->first->entry) {
    ++m->first_fired;
    if (m->second) {
      timer_wheel_cancel(m->wheel, &m->second->entry);
      m->second.reset();
    }
    timer_wheel_schedule(m->wheel, entry, 0);
  } else {
    ++m->second_fired;
  }
}

}  // namespace

TEST_F(TimerWheel, ACallbackMayFreeAnotherEntryOfItsSlotAndRescheduleItself) {
  Item first;
  Meddler m{&wheel_, &first, std::make_unique<Item>()};
  const uint64_t due = now_ + 500;
  // Inserted at a slot's head: the second entry comes after the first when the slot is walked.
  timer_wheel_schedule(&wheel_, &m.second->entry, due);
  timer_wheel_schedule(&wheel_, &first.entry, due);
  EXPECT_EQ(timer_wheel_expire(&wheel_, due, meddle, &m), 1u);  // ASan: the freed one is not walked
  EXPECT_EQ(m.first_fired, 1);
  EXPECT_EQ(m.second_fired, 0);
  EXPECT_EQ(timer_wheel_count(&wheel_), 1u);  // the first again, for the next expire only
  EXPECT_EQ(timer_wheel_expire(&wheel_, due, meddle, &m), 0u);
  EXPECT_EQ(timer_wheel_expire(&wheel_, due + kTick, meddle, &m), 1u);
  EXPECT_EQ(m.first_fired, 2);
  timer_wheel_cancel(&wheel_, &first.entry);
}
