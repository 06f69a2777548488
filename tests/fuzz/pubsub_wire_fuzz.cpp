// The pub/sub link in both directions, through the real framing (PubsubLink::read on a
// socketpair) and the real decoder:
//   first byte even: the bytes come from a worker to the master, whose LocalBroker handles each
//     frame (small limits, so eviction and max_channels are reached); every frame the broker
//     writes back must decode again, as the worker will decode it.
//   first byte odd: the bytes come from the master to a worker; each decoded frame, encoded
//     again with pubsub_frame::*, must decode to the same fields.
// A peer that is not ours (or a compromised worker) may send anything: nothing may crash.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/pubsub_wire.h"
#include "master/broker.h"

using tether::PubsubFrame;
using tether::PubsubType;

namespace {

[[noreturn]] void fail(const char* why) {
  std::fprintf(stderr, "pubsub_wire_fuzz: %s\n", why);
  std::abort();
}

// Sends `bytes` through a socketpair into `link` (reading whenever the socket is full), then
// hangs up, as a peer that wrote them and exited would. A frame the link refuses (too long,
// malformed, refused by the handler) ends it, as the master then kills the worker.
void deliver(const std::string& bytes, int writer, tether::PubsubLink& link, const tether::PubsubLink::FrameHandler& handler) {
  using Read = tether::PubsubLink::ReadResult;
  std::size_t sent = 0;
  Read last = Read::open;
  while (last == Read::open && sent < bytes.size()) {
    ssize_t n = ::send(writer, bytes.data() + sent, bytes.size() - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) sent += static_cast<std::size_t>(n);
    last = link.read(handler);
  }
  ::shutdown(writer, SHUT_WR);
  // Read to the end: the budget per read() leaves the rest for the next call.
  while (last == Read::open) last = link.read(handler);
  if (last == Read::broken && link.problem().empty()) fail("a broken link that does not say why");
}

// Every frame in `out` must be complete and decode.
void check_frames(const std::string& out) {
  std::size_t at = 0;
  PubsubFrame frame;
  while (at < out.size()) {
    if (out.size() - at < 5) fail("truncated frame header in the broker's output");
    std::uint32_t length = 0;
    std::memcpy(&length, out.data() + at, sizeof length);
    if (out.size() - at - 5 < length) fail("truncated frame in the broker's output");
    auto type = static_cast<PubsubType>(static_cast<std::uint8_t>(out[at + 4]));
    if (!tether::decode_pubsub_frame(type, std::string_view(out).substr(at + 5, length), &frame))
      fail("the broker wrote a frame that does not decode");
    at += 5 + length;
  }
}

// Encodes `f` again as the master would send it.
std::string encode(const PubsubFrame& f) {
  namespace frame = tether::pubsub_frame;
  std::string out;
  switch (f.type) {
    case PubsubType::publish: frame::publish(out, f.request, f.channel, f.data); break;
    case PubsubType::history: frame::history(out, f.request, f.channel, f.id); break;
    case PubsubType::subscribers: frame::subscribers(out, f.channel, f.count); break;
    case PubsubType::info: frame::info(out, f.request, f.channel); break;
    case PubsubType::message: frame::message(out, f.channel, f.id, f.time_ms, f.data); break;
    case PubsubType::published:
      frame::published(out, f.request, static_cast<tether::PublishStatus>(f.status), f.id);
      break;
    case PubsubType::history_reply: {
      std::size_t begin = frame::history_reply_begin(out, f.request, static_cast<tether::HistoryStatus>(f.status),
                                                     f.id.epoch, static_cast<std::uint32_t>(f.history.size()));
      for (const auto& m : f.history) frame::history_reply_entry(out, m);
      frame::history_reply_end(out, begin);
      break;
    }
    case PubsubType::info_reply: frame::info_reply(out, f.request, f.count, f.id, f.history_length); break;
  }
  return out;
}

bool same(const PubsubFrame& a, const PubsubFrame& b) {
  bool history_same = a.history.size() == b.history.size();
  for (std::size_t i = 0; history_same && i < a.history.size(); ++i)
    history_same = a.history[i].sequence == b.history[i].sequence && a.history[i].time_ms == b.history[i].time_ms &&
                   a.history[i].data == b.history[i].data;
  return a.type == b.type && a.request == b.request && a.channel == b.channel && a.data == b.data &&
         a.id.epoch == b.id.epoch && a.id.sequence == b.id.sequence && a.time_ms == b.time_ms &&
         a.count == b.count && a.history_length == b.history_length && a.status == b.status && history_same;
}

void check_round_trip(const PubsubFrame& f) {
  std::string again = encode(f);
  // Decoded over a copy: the fields this type does not carry stay as they were in both.
  PubsubFrame decoded = f;
  if (again.size() < 5 || !tether::decode_pubsub_frame(f.type, std::string_view(again).substr(5), &decoded))
    fail("a decoded frame, encoded again, does not decode");
  if (!same(decoded, f)) fail("a decoded frame, encoded again, decodes to other fields");
}

void fuzz_master(const std::string& bytes, int fds[2]) {
  tether::PubsubConfig config;
  config.history_size = 4;
  config.history_memory = 256;
  config.max_channels = 8;
  tether::LocalBroker broker(config);
  // The frame limit the master sets on a worker's link (master/worker_process.cpp).
  tether::PubsubLink from(fds[0], tether::max_worker_frame(config.max_message_size)), other(-1);
  std::vector<tether::PubsubLink*> links{&from, &other};
  deliver(bytes, fds[1], from, [&](const PubsubFrame& frame) { return broker.handle(from, frame, links); });
  check_frames(from.output());
  check_frames(other.output());
  broker.forget_link(from);
  broker.expire(tether::unix_time_ms() + 1'000'000'000);
}

void fuzz_worker(const std::string& bytes, int fds[2]) {
  tether::PubsubLink link(fds[0]);
  deliver(bytes, fds[1], link, [](const PubsubFrame& frame) -> const char* {
    check_round_trip(frame);
    return nullptr;
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) fail("socketpair");
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) fuzz_worker(bytes, fds);
  else fuzz_master(bytes, fds);
  ::close(fds[0]);
  ::close(fds[1]);
  return 0;
}
