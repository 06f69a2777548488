#include "storm.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "latency.h"
#include "loop.h"
#include "publisher.h"
#include "subscriber.h"

namespace bench {
namespace {

// Events counted in 100 ms buckets from the start of publishing.
class Timeline {
 public:
  void add(std::uint64_t start_ns) {
    std::size_t bucket = static_cast<std::size_t>((uv_hrtime() - start_ns) / 100'000'000);
    if (bucket >= counts_.size()) counts_.resize(bucket + 1, 0);
    ++counts_[bucket];
  }
  unsigned peak() const {
    unsigned best = 0;
    for (unsigned c : counts_) best = std::max(best, c);
    return best;
  }
  // Seconds between the first and the last non-empty bucket (their ends), 0 when empty.
  double span() const {
    std::size_t first = counts_.size(), last = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i)
      if (counts_[i]) first = std::min(first, i), last = i;
    return first == counts_.size() ? 0 : static_cast<double>(last - first + 1) / 10;
  }
  // "[[t,count],...]" of the non-empty buckets, t in seconds.
  std::string json() const {
    std::string out = "[";
    for (std::size_t i = 0; i < counts_.size(); ++i)
      if (counts_[i]) out += (out.size() > 1 ? ",[" : "[") + std::to_string(static_cast<double>(i) / 10).substr(0, 4) + "," + std::to_string(counts_[i]) + "]";
    return out + "]";
  }

 private:
  std::vector<unsigned> counts_;
};

// One subscriber across its connections: the path it resumes on, what it received.
class Storm;
struct Member {
  Storm* storm = nullptr;
  std::size_t index = 0;
  Target target;
  Subscriber* live = nullptr;  // the current connection, if any
  uv_timer_t retry;            // a reconnect waiting for its time
  std::string last_id;
  std::vector<bool> got;       // by message sequence
  std::uint64_t duplicates = 0;
  unsigned failures_in_a_row = 0;
  std::uint64_t attempt_ns = 0;  // when the current connection was started
};

class Storm {
 public:
  Storm(uv_loop_t* loop, const Options& o) : loop_(loop), o_(o), members_(o.connections), random_(std::random_device{}()) {
    for (unsigned s = 0; s < o.sources; ++s) {
      sockaddr_in a;
      uv_ip4_addr(("127.0.0." + std::to_string(o.source_base + s)).c_str(), 0, &a);
      sources_.push_back(a);
    }
    for (std::size_t i = 0; i < members_.size(); ++i) {
      Member& m = members_[i];
      m.storm = this;
      m.index = i;
      m.target = o.target;
      m.got.assign(o.messages, false);
      uv_timer_init(loop, &m.retry);
      m.retry.data = &m;
    }
  }
  Storm(const Storm&) = delete;
  Storm& operator=(const Storm&) = delete;

  int run();
  void connect(std::size_t index);

 private:
  void connect_later(std::size_t index, double seconds);
  void on_ready(Subscriber& s);
  void on_message(Subscriber& s, std::string_view text);
  void on_failure(Subscriber& s, Failure failure);
  void leave_all();
  void close_all();
  bool everyone_has_everything() const;
  std::uint64_t missing() const;
  std::size_t connected() const;

  uv_loop_t* loop_;
  const Options& o_;
  std::vector<Member> members_;
  std::vector<sockaddr_in> sources_;
  std::mt19937_64 random_;
  std::uint64_t start_ns_ = 0;  // publishing began
  bool counting_ = false;       // the initial connections are up: later ones are reconnects
  bool left_ = false;
  std::size_t ready_ = 0, initial_in_flight_ = 0, next_initial_ = 0;
  std::uint64_t reconnects_ = 0, refused_ = 0, connect_errors_ = 0, server_closes_ = 0;
  std::map<int, std::uint64_t> close_codes_;
  Timeline reconnect_times_, close_times_, refusal_times_;
  Latency handshake_us_;  // of the reconnects that succeeded: connect() -> 101
  double last_reconnect_s_ = 0;
};

void Storm::connect(std::size_t index) {
  Member& m = members_[index];
  Subscriber::Events events;
  events.on_ready = [this](Subscriber& s) { on_ready(s); };
  events.on_message = [this](Subscriber& s, std::string_view text) { on_message(s, text); };
  events.on_failure = [this](Subscriber& s, Failure f) { on_failure(s, f); };
  m.target.path = o_.target.path + (m.last_id.empty() ? "" : "?since=" + m.last_id);
  m.attempt_ns = uv_hrtime();
  m.live = new Subscriber(loop_, m.target, reinterpret_cast<const sockaddr*>(&sources_[index % sources_.size()]), events, index);
  m.live->start();
}

void Storm::connect_later(std::size_t index, double seconds) {
  uv_timer_start(&members_[index].retry, [](uv_timer_t* t) {
    auto* m = static_cast<Member*>(t->data);
    m->storm->connect(m->index);
  }, static_cast<std::uint64_t>(seconds * 1000), 0);
}

void Storm::on_ready(Subscriber& s) {
  Member& m = members_[s.index()];
  m.failures_in_a_row = 0;
  ++ready_;
  if (!counting_) {
    --initial_in_flight_;
    while (next_initial_ < members_.size() && initial_in_flight_ < o_.concurrency) {
      ++initial_in_flight_;
      connect(next_initial_++);
    }
    return;
  }
  ++reconnects_;
  reconnect_times_.add(start_ns_);
  handshake_us_.add((uv_hrtime() - m.attempt_ns) / 1000);
  last_reconnect_s_ = seconds_since(start_ns_);
}

// {"channel":"…","id":"EPOCH-SEQ","data":"<sequence> <ns> xxx"}; notices ({"event":…}) are skipped.
void Storm::on_message(Subscriber& s, std::string_view text) {
  Member& m = members_[s.index()];
  std::size_t id = text.find("\"id\":\"");
  std::size_t data = text.find("\"data\":\"");
  if (id == std::string_view::npos || data == std::string_view::npos) return;
  id += 6;
  std::size_t id_end = text.find('"', id);
  if (id_end == std::string_view::npos) return;
  m.last_id.assign(text.substr(id, id_end - id));
  std::uint64_t sequence = std::strtoull(text.data() + data + 8, nullptr, 10);
  if (sequence >= m.got.size()) return;
  if (m.got[sequence]) ++m.duplicates;
  m.got[sequence] = true;
}

void Storm::on_failure(Subscriber& s, Failure failure) {
  Member& m = members_[s.index()];
  m.live = nullptr;
  if (s.ready()) {
    --ready_;
    ++server_closes_;
    ++close_codes_[s.close_code()];
    close_times_.add(start_ns_);
    connect(s.index());  // as tether.js does on 1001: at once, resuming
    return;
  }
  if (!counting_) --initial_in_flight_;
  double wait;
  if (failure == Failure::refused_status) {
    ++refused_;
    refusal_times_.add(start_ns_);
    wait = s.retry_after() > 0 ? s.retry_after() : 1;
  } else {  // exponential back-off with full jitter, 100 ms .. 3.2 s
    ++connect_errors_;
    unsigned step = std::min(m.failures_in_a_row++, 5u);
    wait = std::uniform_real_distribution<double>(0, 0.1 * (1u << step))(random_);
  }
  connect_later(s.index(), wait);
}

void Storm::leave_all() {
  left_ = true;
  std::uniform_real_distribution<double> when(0, o_.leave_spread);
  for (std::size_t i = 0; i < members_.size(); ++i) {
    Member& m = members_[i];
    if (!m.live) continue;
    if (m.live->ready()) --ready_;
    m.live->close();
    m.live = nullptr;
    connect_later(i, when(random_));
  }
}

void Storm::close_all() {
  for (Member& m : members_) {
    if (m.live) m.live->close();
    m.live = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&m.retry), nullptr);
  }
  uv_run(loop_, UV_RUN_NOWAIT);
}

bool Storm::everyone_has_everything() const { return missing() == 0; }

std::uint64_t Storm::missing() const {
  std::uint64_t n = 0;
  for (const Member& m : members_)
    for (bool g : m.got) n += !g;
  return n;
}

std::size_t Storm::connected() const { return ready_; }

int Storm::run() {
  std::uint64_t setup = uv_hrtime();
  while (next_initial_ < members_.size() && initial_in_flight_ < o_.concurrency) {
    ++initial_in_flight_;
    connect(next_initial_++);
  }
  run_until(loop_, [&] { return ready_ == members_.size() || seconds_since(setup) > o_.timeout; });
  if (ready_ != members_.size()) {
    std::fprintf(stderr, "tether-bench storm: only %zu of %zu subscribers connected\n", ready_, members_.size());
    return 1;
  }
  std::fprintf(stderr, "READY %zu connected\n", ready_);
  counting_ = true;

  Publisher publisher(loop_, o_.target.host, o_.publish_port, o_.publish_path, 64);
  publisher.start();
  run_until(loop_, [&] { return publisher.connected(); });
  std::uint64_t sent = 0;
  start_ns_ = uv_hrtime();
  bool reloaded = false;
  double rate = o_.rate > 0 ? o_.rate : 20;
  run_until(loop_, [&] {
    double now = seconds_since(start_ns_);
    while (sent < o_.messages && static_cast<double>(sent) < now * rate && publisher.can_send())
      publisher.send(timestamped_payload(sent++, o_.size));
    if (o_.leave_at >= 0 && !left_ && now >= o_.leave_at) leave_all();
    if (o_.reload_pid > 0 && !reloaded && now >= o_.reload_at) {
      kill(o_.reload_pid, SIGHUP);
      reloaded = true;
    }
    if (now > static_cast<double>(o_.messages) / rate + o_.timeout) return true;  // the server is gone
    return sent == o_.messages && publisher.answered() + publisher.failed() >= o_.messages;
  });
  double published_s = seconds_since(start_ns_);
  std::uint64_t end = uv_hrtime();
  run_until(loop_, [&] {
    return (connected() == members_.size() && everyone_has_everything()) || seconds_since(end) > o_.grace;
  });
  std::uint64_t duplicates = 0;
  std::size_t incomplete = 0;
  for (const Member& m : members_) {
    duplicates += m.duplicates;
    for (bool g : m.got)
      if (!g) {
        ++incomplete;
        break;
      }
  }
  std::string codes = "{";
  for (auto& [code, count] : close_codes_) codes += (codes.size() > 1 ? ",\"" : "\"") + std::to_string(code) + "\":" + std::to_string(count);
  codes += "}";
  std::uint64_t lost = missing();
  std::printf("{\"label\":\"%s\",\"mode\":\"storm\",\"subscribers\":%zu,\"messages\":%llu,\"rate\":%.0f,"
              "\"leave_spread\":%.1f,\"reload\":%s,\"publish_errors\":%llu,\"published_s\":%.2f,"
              "\"connected_at_end\":%zu,\"reconnects\":%llu,\"last_reconnect_s\":%.2f,\"server_closes\":%llu,"
              "\"close_codes\":%s,\"refused\":%llu,\"connect_errors\":%llu,\"missing\":%llu,"
              "\"subscribers_missing_some\":%zu,\"duplicated\":%llu,\"peak_reconnects_per_100ms\":%u,"
              "\"reconnect_span_s\":%.1f,\"peak_closes_per_100ms\":%u,\"close_span_s\":%.1f,"
              "\"peak_refusals_per_100ms\":%u,\"reconnect_handshake_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu},"
              "\"reconnects_over_time\":%s,\"closes_over_time\":%s}\n",
              o_.label.c_str(), members_.size(), static_cast<unsigned long long>(o_.messages), rate,
              o_.leave_at >= 0 ? o_.leave_spread : 0.0, o_.reload_pid > 0 ? "true" : "false",
              static_cast<unsigned long long>(publisher.failed()), published_s, connected(),
              static_cast<unsigned long long>(reconnects_), last_reconnect_s_, static_cast<unsigned long long>(server_closes_),
              codes.c_str(), static_cast<unsigned long long>(refused_), static_cast<unsigned long long>(connect_errors_),
              static_cast<unsigned long long>(lost), incomplete, static_cast<unsigned long long>(duplicates),
              reconnect_times_.peak(), reconnect_times_.span(), close_times_.peak(), close_times_.span(),
              refusal_times_.peak(), static_cast<unsigned long long>(handshake_us_.percentile(50)),
              static_cast<unsigned long long>(handshake_us_.percentile(99)), static_cast<unsigned long long>(handshake_us_.max()),
              reconnect_times_.json().c_str(), close_times_.json().c_str());
  publisher.close();
  close_all();
  return lost == 0 && duplicates == 0 ? 0 : 1;
}

}  // namespace

int storm_mode(uv_loop_t* loop, const Options& options) {
  if (options.publish_path.empty()) {
    std::fprintf(stderr, "tether-bench: storm needs --publish-path\n");
    return 2;
  }
  Storm storm(loop, options);
  return storm.run();
}

}  // namespace bench
