// tether-bench: a load generator for push servers (tether, nginx+nchan, Pushpin, bench/floor).
// One process, one libuv loop, thousands of connections from several 127.0.0.x addresses.
//
//   tether-bench connect --port P --path /ws/c [--protocol ws|sse] --connections N [--hold S]
//       open N subscribers and hold them; prints READY once all are up, then holds S seconds
//   tether-bench fanout  --port P --path /ws/c --publish-path /pub/c --connections N --messages M
//                        [--size 64] [--rate R] [--protocol ws|sse] [--window 16]
//       N subscribers; M messages of S bytes published over keep-alive HTTP at R/s (0: as fast as
//       answers come, --window in flight); deliveries/s, latency from the timestamp in the payload,
//       lost, duplicated and out-of-order messages; --deflate 1 offers permessage-deflate (the bytes
//       read from the sockets and the messages that came compressed are in the line too)
//   tether-bench echo    --port P --path /echo/x --connections C [--duration S]
//       C WebSocket clients each sending a message and waiting for it to come back
//   tether-bench listen  --port P --path /ws/c --connections N --messages M [--timeout S]
//       N subscribers (prints READY when all are up) waiting for M messages someone else
//       publishes; latency and lost as in fanout (for runs split over several processes)
//   tether-bench storm   --port P --path /ws/c --publish-path /pub/c --connections N --messages M
//                        [--rate 20] (--leave-at S [--leave-spread 5] | --reload-pid PID [--reload-at 1])
//                        [--grace 10]
//       a reconnect storm (storm.h): N subscribers (json format) get M messages published at R/s;
//       at S s every one leaves and comes back within the spread, or the server is reloaded; all
//       resume with ?since=; missing messages, 503s, and reconnects and closes per 100 ms
//   tether-bench publish --port P --publish-path /pub/c --messages M [--size 64] [--rate R]
//                        [--publishers K] [--window 16]
//       publishes only, over K keep-alive connections (K > 1: channel "<publish-path>-<i>" each),
//       --window requests in flight on each (64 when paced by --rate); publishes/s, and the
//       latency of each answer (request sent -> answer read)
//
// Common: --host 127.0.0.1, --sources K (bind to 127.0.0.B .. 127.0.0.B+K-1, default 4, B from
// --source-base, default 1),
// --concurrency (handshakes in flight, default 1000), --label NAME. One JSON line on stdout.
#include <uv.h>

#include <csignal>
#include <cstdio>
#include <functional>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "latency.h"
#include "loop.h"
#include "options.h"
#include "publisher.h"
#include "storm.h"
#include "subscriber.h"

using namespace bench;

namespace {

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "tether-bench: %s (see the comment at the top of bench/tether-bench/main.cpp)\n", why);
  std::exit(2);
}

Options parse(int argc, char** argv) {
  if (argc < 2) usage("no mode");
  Options o;
  o.mode = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string key = argv[i];
    if (i + 1 >= argc) usage(("no value for " + key).c_str());
    std::string value = argv[++i];
    if (key == "--host") o.target.host = value;
    else if (key == "--port") o.target.port = std::atoi(value.c_str());
    else if (key == "--path") o.target.path = value;
    else if (key == "--protocol") o.target.protocol = value == "sse" ? Protocol::sse : Protocol::websocket;
    else if (key == "--publish-path") o.publish_path = value;
    else if (key == "--publish-port") o.publish_port = std::atoi(value.c_str());
    else if (key == "--connections") o.connections = std::strtoul(value.c_str(), nullptr, 10);
    else if (key == "--messages") o.messages = std::strtoull(value.c_str(), nullptr, 10);
    else if (key == "--size") o.size = std::strtoul(value.c_str(), nullptr, 10);
    else if (key == "--rate") o.rate = std::atof(value.c_str());
    else if (key == "--sources") o.sources = static_cast<unsigned>(std::atoi(value.c_str()));
    else if (key == "--source-base") o.source_base = static_cast<unsigned>(std::atoi(value.c_str()));
    else if (key == "--timeout") o.timeout = std::atof(value.c_str());
    else if (key == "--publishers") o.publishers = static_cast<unsigned>(std::atoi(value.c_str()));
    else if (key == "--window") o.window = static_cast<unsigned>(std::atoi(value.c_str()));
    else if (key == "--concurrency") o.concurrency = std::strtoul(value.c_str(), nullptr, 10);
    else if (key == "--hold") o.hold = std::atof(value.c_str());
    else if (key == "--duration") o.duration = std::atof(value.c_str());
    else if (key == "--label") o.label = value;
    else if (key == "--leave-at") o.leave_at = std::atof(value.c_str());
    else if (key == "--leave-spread") o.leave_spread = std::atof(value.c_str());
    else if (key == "--reload-pid") o.reload_pid = static_cast<pid_t>(std::atoi(value.c_str()));
    else if (key == "--reload-at") o.reload_at = std::atof(value.c_str());
    else if (key == "--grace") o.grace = std::atof(value.c_str());
    else if (key == "--deflate") o.target.deflate = value == "1" || value == "on";
    else usage(("unknown option " + key).c_str());
  }
  if (o.target.port == 0) usage("--port is required");
  if (o.target.path.empty() && o.mode != "publish") usage("--path is required");
  if (o.publish_port == 0) o.publish_port = o.target.port;
  if (o.sources == 0) o.sources = 1;
  if (o.publishers == 0) o.publishers = 1;
  return o;
}


// Opens subscribers with at most `concurrency` handshakes in flight.
class Swarm {
 public:
  Swarm(uv_loop_t* loop, const Options& options, Subscriber::Events events) : loop_(loop), options_(options), events_(events) {
    for (unsigned s = 0; s < options.sources; ++s) {
      sockaddr_in a;
      uv_ip4_addr(("127.0.0." + std::to_string(options.source_base + s)).c_str(), 0, &a);
      sources_.push_back(a);
    }
    auto ready = events_.on_ready;
    events_.on_ready = [this, ready](Subscriber& s) {
      ++ready_count;
      --in_flight_;
      if (ready) ready(s);
      open_more();
    };
    auto failure = events_.on_failure;
    events_.on_failure = [this, failure](Subscriber& s, Failure f) {
      if (!s.ready()) {
        --in_flight_;
        ++failures[failure_name(f)];
      } else {
        ++dropped_after_ready;
      }
      subscribers[s.index()] = nullptr;
      if (failure) failure(s, f);
      open_more();
    };
  }

  void start() {
    started_ns = uv_hrtime();
    subscribers.assign(options_.connections, nullptr);
    open_more();
  }
  bool settled() const { return opened_ == options_.connections && in_flight_ == 0; }
  std::size_t failed() const {
    std::size_t n = 0;
    for (auto& [kind, count] : failures) n += count;
    return n;
  }
  void close_all() {
    for (Subscriber*& s : subscribers)
      if (s) s->close(), s = nullptr;
  }

  std::vector<Subscriber*> subscribers;
  std::size_t ready_count = 0;
  std::size_t dropped_after_ready = 0;
  std::map<std::string, std::size_t> failures;
  std::uint64_t started_ns = 0;
  std::uint64_t settled_ns = 0;

 private:
  void open_more() {
    while (opened_ < options_.connections && in_flight_ < options_.concurrency) {
      const sockaddr* source = reinterpret_cast<const sockaddr*>(&sources_[opened_ % sources_.size()]);
      auto* s = new Subscriber(loop_, options_.target, source, events_, opened_);
      subscribers[opened_] = s;
      ++opened_;
      ++in_flight_;
      s->start();
    }
    if (settled() && settled_ns == 0) settled_ns = uv_hrtime();
  }

  uv_loop_t* loop_;
  const Options& options_;
  Subscriber::Events events_;
  std::vector<sockaddr_in> sources_;
  std::size_t opened_ = 0;
  std::size_t in_flight_ = 0;
};

std::string failures_json(const Swarm& swarm) {
  std::string out = "{";
  for (auto& [kind, count] : swarm.failures) out += (out.size() > 1 ? ",\"" : "\"") + kind + "\":" + std::to_string(count);
  return out + "}";
}

int connect_mode(uv_loop_t* loop, const Options& o) {
  Swarm swarm(loop, o, {});
  swarm.start();
  run_until(loop, [&] { return swarm.settled(); });
  double took = static_cast<double>(swarm.settled_ns - swarm.started_ns) / 1e9;
  std::fprintf(stderr, "READY %zu connected in %.2fs\n", swarm.ready_count, took);
  std::fflush(stderr);
  if (o.hold > 0) {
    std::uint64_t hold_start = uv_hrtime();
    run_until(loop, [&] { return seconds_since(hold_start) >= o.hold; });
  }
  std::printf("{\"label\":\"%s\",\"mode\":\"connect\",\"protocol\":\"%s\",\"connections\":%zu,\"connected\":%zu,"
              "\"failed\":%zu,\"failures\":%s,\"dropped_while_held\":%zu,\"seconds\":%.3f,\"connects_per_s\":%.0f}\n",
              o.label.c_str(), o.target.protocol == Protocol::sse ? "sse" : "ws", o.connections, swarm.ready_count,
              swarm.failed(), failures_json(swarm).c_str(), swarm.dropped_after_ready, took,
              took > 0 ? static_cast<double>(swarm.ready_count) / took : 0.0);
  swarm.close_all();
  uv_run(loop, UV_RUN_NOWAIT);
  return swarm.failed() == 0 ? 0 : 1;
}

// What subscribers received of payloads "<sequence> <send time in ns> ...".
struct Deliveries {
  Latency latency;
  std::uint64_t delivered = 0, duplicates = 0, out_of_order = 0, last_delivery_ns = 0;

  void take(Subscriber& s, std::string_view payload) {
    std::uint64_t now = uv_hrtime();
    char* end = nullptr;
    std::uint64_t sequence = std::strtoull(payload.data(), &end, 10);
    std::uint64_t sent = std::strtoull(end, nullptr, 10);
    if (sequence < s.next_sequence) ++duplicates;
    else {
      if (sequence > s.next_sequence) ++out_of_order;
      s.next_sequence = sequence + 1;
      ++s.received;
      ++delivered;
    }
    latency.add((now - sent) / 1000);
    last_delivery_ns = now;
  }
};

int listen_mode(uv_loop_t* loop, const Options& o) {
  Deliveries d;
  Subscriber::Events events;
  events.on_message = [&](Subscriber& s, std::string_view p) { d.take(s, p); };
  Swarm swarm(loop, o, events);
  swarm.start();
  run_until(loop, [&] { return swarm.settled(); });
  std::fprintf(stderr, "READY %zu connected\n", swarm.ready_count);
  std::fflush(stderr);
  std::uint64_t start = uv_hrtime();
  std::uint64_t expected = o.messages * swarm.ready_count;
  run_until(loop, [&] { return d.delivered >= expected || seconds_since(start) > o.timeout; });
  std::uint64_t lost = expected > d.delivered ? expected - d.delivered : 0;
  std::printf("{\"label\":\"%s\",\"mode\":\"listen\",\"subscribers\":%zu,\"messages\":%llu,\"delivered\":%llu,"
              "\"lost\":%llu,\"duplicated\":%llu,\"latency_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu},"
              "\"connect_failures\":%s,\"dropped\":%zu}\n",
              o.label.c_str(), swarm.ready_count, static_cast<unsigned long long>(o.messages),
              static_cast<unsigned long long>(d.delivered), static_cast<unsigned long long>(lost),
              static_cast<unsigned long long>(d.duplicates), static_cast<unsigned long long>(d.latency.percentile(50)),
              static_cast<unsigned long long>(d.latency.percentile(99)), static_cast<unsigned long long>(d.latency.max()),
              failures_json(swarm).c_str(), swarm.dropped_after_ready);
  swarm.close_all();
  uv_run(loop, UV_RUN_NOWAIT);
  return lost == 0 ? 0 : 1;
}

// The channel publisher i of `count` publishes to: the path itself for one publisher, else
// "<path>-<i>" (one channel each, so that concurrent publishers do not queue on one channel).
std::string publisher_path(const std::string& path, unsigned i, unsigned count) {
  return count == 1 ? path : path + "-" + std::to_string(i);
}

int publish_mode(uv_loop_t* loop, const Options& o) {
  if (o.publish_path.empty()) usage("publish needs --publish-path");
  std::vector<std::unique_ptr<Publisher>> publishers;
  for (unsigned i = 0; i < o.publishers; ++i) {
    publishers.push_back(std::make_unique<Publisher>(loop, o.target.host, o.publish_port,
                                                     publisher_path(o.publish_path, i, o.publishers),
                                                     o.rate > 0 ? 64 : o.window));
    publishers.back()->start();
  }
  auto total = [&](std::uint64_t (Publisher::*figure)() const) {
    std::uint64_t n = 0;
    for (auto& p : publishers) n += (p.get()->*figure)();
    return n;
  };
  run_until(loop, [&] {
    for (auto& p : publishers)
      if (!p->connected()) return false;
    return true;
  });
  std::uint64_t sent = 0, start = uv_hrtime();
  std::function<void()> publish_some = [&] {
    for (bool sending = true; sending;) {  // round robin over the publishers with room
      sending = false;
      for (auto& p : publishers) {
        if (sent == o.messages || (o.rate > 0 && static_cast<double>(sent) >= seconds_since(start) * o.rate)) break;
        if (!p->can_send()) continue;
        p->send(timestamped_payload(sent++, o.size));
        sending = true;
      }
    }
  };
  uv_check_t refill;  // after every loop turn that read answers, not only on run_until's checks
  uv_check_init(loop, &refill);
  refill.data = &publish_some;
  uv_check_start(&refill, [](uv_check_t* c) { (*static_cast<std::function<void()>*>(c->data))(); });
  run_until(loop, [&] {
    publish_some();
    return total(&Publisher::answered) == o.messages || seconds_since(start) > o.timeout;
  });
  uv_check_stop(&refill);
  uv_close(reinterpret_cast<uv_handle_t*>(&refill), nullptr);
  double seconds = seconds_since(start);
  Latency latency;
  for (auto& p : publishers) latency.merge(p->latency());
  std::uint64_t answered = total(&Publisher::answered), failed = total(&Publisher::failed);
  std::printf("{\"label\":\"%s\",\"mode\":\"publish\",\"publishers\":%u,\"messages\":%llu,\"answered\":%llu,"
              "\"errors\":%llu,\"seconds\":%.3f,\"publishes_per_s\":%.0f,\"latency_us\":{\"p50\":%llu,\"p99\":%llu,"
              "\"max\":%llu}}\n",
              o.label.c_str(), o.publishers, static_cast<unsigned long long>(o.messages),
              static_cast<unsigned long long>(answered), static_cast<unsigned long long>(failed), seconds,
              seconds > 0 ? static_cast<double>(answered) / seconds : 0.0,
              static_cast<unsigned long long>(latency.percentile(50)), static_cast<unsigned long long>(latency.percentile(99)),
              static_cast<unsigned long long>(latency.max()));
  for (auto& p : publishers) p->close();
  uv_run(loop, UV_RUN_NOWAIT);
  return failed == 0 && answered == o.messages ? 0 : 1;
}

int fanout_mode(uv_loop_t* loop, const Options& o) {
  if (o.publish_path.empty()) usage("fanout needs --publish-path");
  Deliveries d;
  Latency& latency = d.latency;
  std::uint64_t& delivered = d.delivered;
  std::uint64_t& duplicates = d.duplicates;
  std::uint64_t& out_of_order = d.out_of_order;
  std::uint64_t& last_delivery_ns = d.last_delivery_ns;
  Subscriber::Events events;
  events.on_message = [&](Subscriber& s, std::string_view p) { d.take(s, p); };
  Swarm swarm(loop, o, events);
  swarm.start();
  run_until(loop, [&] { return swarm.settled(); });
  if (swarm.ready_count == 0) usage("no subscriber could connect");
  std::fprintf(stderr, "READY %zu connected\n", swarm.ready_count);
  std::fflush(stderr);
  // Let subscriptions settle everywhere (nchan registers them asynchronously).
  std::uint64_t pause = uv_hrtime();
  run_until(loop, [&] { return seconds_since(pause) > 0.5; });

  Publisher publisher(loop, o.target.host, o.publish_port, o.publish_path, o.rate > 0 ? 64 : o.window);
  publisher.start();
  run_until(loop, [&] { return publisher.connected(); });
  std::uint64_t sent = 0;
  std::uint64_t start = uv_hrtime();
  std::uint64_t wire_bytes_at_start = Subscriber::wire_bytes;  // the handshakes' bytes are not the messages'
  std::uint64_t expected = o.messages * swarm.ready_count;
  std::function<void()> publish_some = [&] {
    while (sent < o.messages && publisher.can_send()) {
      if (o.rate > 0 && static_cast<double>(sent) >= seconds_since(start) * o.rate) break;
      publisher.send(timestamped_payload(sent++, o.size));
    }
  };
  uv_timer_t pace;  // paces publishing between the checks of run_until
  uv_timer_init(loop, &pace);
  pace.data = &publish_some;
  uv_timer_start(&pace, [](uv_timer_t* t) { (*static_cast<std::function<void()>*>(t->data))(); }, 0, 1);
  run_until(loop, [&] {
    publish_some();
    bool all_sent = sent == o.messages && publisher.answered() == o.messages;
    bool idle = last_delivery_ns != 0 && seconds_since(last_delivery_ns) > 3 && all_sent;
    return (all_sent && delivered >= expected) || idle || seconds_since(start) > 120;
  });
  uv_timer_stop(&pace);
  uv_close(reinterpret_cast<uv_handle_t*>(&pace), nullptr);
  double seconds = static_cast<double>((last_delivery_ns ? last_delivery_ns : uv_hrtime()) - start) / 1e9;
  std::uint64_t lost = expected > delivered ? expected - delivered : 0;
  std::printf("{\"label\":\"%s\",\"mode\":\"fanout\",\"protocol\":\"%s\",\"subscribers\":%zu,\"messages\":%llu,"
              "\"size\":%zu,\"rate\":%.0f,\"delivered\":%llu,\"lost\":%llu,\"duplicated\":%llu,\"out_of_order\":%llu,"
              "\"publish_errors\":%llu,\"seconds\":%.3f,\"deliveries_per_s\":%.0f,\"latency_us\":{\"p50\":%llu,"
              "\"p99\":%llu,\"max\":%llu},\"connect_failures\":%s,\"dropped\":%zu,\"wire_bytes\":%llu,"
              "\"compressed\":%llu}\n",
              o.label.c_str(), o.target.protocol == Protocol::sse ? "sse" : "ws", swarm.ready_count,
              static_cast<unsigned long long>(o.messages), o.size, o.rate, static_cast<unsigned long long>(delivered),
              static_cast<unsigned long long>(lost), static_cast<unsigned long long>(duplicates),
              static_cast<unsigned long long>(out_of_order), static_cast<unsigned long long>(publisher.failed()), seconds,
              seconds > 0 ? static_cast<double>(delivered) / seconds : 0.0,
              static_cast<unsigned long long>(latency.percentile(50)), static_cast<unsigned long long>(latency.percentile(99)),
              static_cast<unsigned long long>(latency.max()), failures_json(swarm).c_str(), swarm.dropped_after_ready,
              static_cast<unsigned long long>(Subscriber::wire_bytes - wire_bytes_at_start),
              static_cast<unsigned long long>(Subscriber::compressed_messages));
  publisher.close();
  swarm.close_all();
  uv_run(loop, UV_RUN_NOWAIT);
  return lost == 0 && duplicates == 0 ? 0 : 1;
}

int echo_mode(uv_loop_t* loop, const Options& o) {
  Latency latency;
  std::uint64_t round_trips = 0;
  std::uint64_t start = 0;
  bool running = true;
  Subscriber::Events events;
  events.on_ready = [&](Subscriber& s) { s.send_text(std::to_string(uv_hrtime())); };
  events.on_message = [&](Subscriber& s, std::string_view payload) {
    std::uint64_t now = uv_hrtime();
    if (start != 0) {
      latency.add((now - std::strtoull(payload.data(), nullptr, 10)) / 1000);
      ++round_trips;
    }
    if (running) s.send_text(std::to_string(now));
  };
  Swarm swarm(loop, o, events);
  swarm.start();
  run_until(loop, [&] { return swarm.settled(); });
  start = uv_hrtime();
  run_until(loop, [&] { return seconds_since(start) >= o.duration; });
  running = false;
  double seconds = seconds_since(start);
  std::printf("{\"label\":\"%s\",\"mode\":\"echo\",\"connections\":%zu,\"seconds\":%.3f,\"round_trips\":%llu,"
              "\"round_trips_per_s\":%.0f,\"latency_us\":{\"p50\":%llu,\"p99\":%llu,\"max\":%llu},\"connect_failures\":%s}\n",
              o.label.c_str(), swarm.ready_count, seconds, static_cast<unsigned long long>(round_trips),
              static_cast<double>(round_trips) / seconds, static_cast<unsigned long long>(latency.percentile(50)),
              static_cast<unsigned long long>(latency.percentile(99)), static_cast<unsigned long long>(latency.max()),
              failures_json(swarm).c_str());
  swarm.close_all();
  uv_run(loop, UV_RUN_NOWAIT);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  uv_loop_t* loop = uv_default_loop();
  if (o.mode == "connect") return connect_mode(loop, o);
  if (o.mode == "fanout") return fanout_mode(loop, o);
  if (o.mode == "echo") return echo_mode(loop, o);
  if (o.mode == "listen") return listen_mode(loop, o);
  if (o.mode == "publish") return publish_mode(loop, o);
  if (o.mode == "storm") return storm_mode(loop, o);
  usage("the mode is connect, fanout, echo, listen, publish or storm");
}
