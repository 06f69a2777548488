#include "worker/transport/goodbye_schedule.h"

#include <sys/random.h>
#include <unistd.h>

#include "worker/transport/connection.h"

namespace tether {

namespace {

// Different in every worker, so that workers do not draw the same moments.
std::uint32_t random_seed() {
  std::uint32_t seed = 0;
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed))
    seed = static_cast<std::uint32_t>(uv_hrtime()) ^ static_cast<std::uint32_t>(getpid());
  return seed;
}

}  // namespace

GoodbyeSchedule::GoodbyeSchedule(uv_loop_t* loop) : loop_(loop), timer_(new uv_timer_t), random_(random_seed()) {
  uv_timer_init(loop_, timer_);
  timer_->data = this;
}

GoodbyeSchedule::~GoodbyeSchedule() { close(); }

void GoodbyeSchedule::close() {
  if (closed_) return;
  closed_ = true;
  due_.clear();
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
}

void GoodbyeSchedule::schedule(Connection& connection, std::uint64_t earliest_ms, std::uint64_t latest_ms) {
  if (closed_) return;
  if (latest_ms < earliest_ms) latest_ms = earliest_ms;
  std::uint64_t delay = earliest_ms;
  if (latest_ms > earliest_ms)
    delay += std::uniform_int_distribution<std::uint64_t>(0, latest_ms - earliest_ms)(random_);
  std::uint64_t at = uv_now(loop_) + delay;
  auto [it, added] = due_.try_emplace(&connection, at);
  if (!added) {
    if (it->second <= at) return;
    it->second = at;
  }
  bool sooner = heap_.empty() || at < heap_.top().at;
  heap_.push(Entry{at, &connection});
  if (sooner) arm();
}

void GoodbyeSchedule::cancel(Connection& connection) {
  if (due_.erase(&connection) == 0) return;
  if (heap_.size() > 2 * due_.size() + 64) rebuild();
}

void GoodbyeSchedule::rebuild() {
  std::vector<Entry> live;
  live.reserve(due_.size());
  for (auto [connection, at] : due_) live.push_back(Entry{at, connection});
  heap_ = decltype(heap_)(std::greater<Entry>(), std::move(live));
  arm();
}

void GoodbyeSchedule::arm() {
  if (closed_) return;
  if (heap_.empty()) {
    uv_timer_stop(timer_);
    return;
  }
  std::uint64_t now = uv_now(loop_), at = heap_.top().at;
  uv_timer_start(timer_, on_timer, at > now ? at - now : 0, 0);
}

void GoodbyeSchedule::on_timer(uv_timer_t* timer) { static_cast<GoodbyeSchedule*>(timer->data)->say_due_goodbyes(); }

// Saying a goodbye never frees a connection inside the call (its close callback comes on a
// later turn), so every pointer the map still holds is a live connection.
void GoodbyeSchedule::say_due_goodbyes() {
  std::uint64_t now = uv_now(loop_);
  while (!heap_.empty() && heap_.top().at <= now) {
    Entry entry = heap_.top();
    heap_.pop();
    auto it = due_.find(entry.connection);
    if (it == due_.end() || it->second != entry.at) continue;  // closed, or moved sooner
    due_.erase(it);
    entry.connection->say_goodbye();
  }
  arm();
}

}  // namespace tether
