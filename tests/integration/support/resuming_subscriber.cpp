#include "support/resuming_subscriber.h"

#include "support/publisher.h"
#include "support/sse_client.h"
#include "support/wait_until.h"
#include "support/ws_client.h"

namespace tether::test {

namespace {
// How long a read waits before it looks at stopping_ again.
constexpr std::chrono::milliseconds kPoll{50};
}  // namespace

ResumingSubscriber::ResumingSubscriber(Kind kind, std::vector<int> ports, std::string channel, std::string since)
    : kind_(kind), ports_(std::move(ports)), channel_(std::move(channel)), last_id_(std::move(since)),
      thread_([this] { run(); }) {}

void ResumingSubscriber::run() {
  for (std::size_t attempt = 0; !stopping_; ++attempt) {
    int port = ports_[attempt % ports_.size()];
    bool answered = kind_ == Kind::websocket ? read_websocket(port) : read_sse(port);
    port_ = 0;
    // A node that is down or restarting: try again soon, as a client's back-off would.
    if (!answered && !stopping_) std::this_thread::sleep_for(kPoll);
  }
}

bool ResumingSubscriber::read_websocket(int port) {
  WsClient ws;
  std::string since = last_id();
  if (ws.open(port, "/ws/" + channel_ + (since.empty() ? "" : "?since=" + since)) != 101) return false;
  subscribed(port);
  while (!stopping_ && !hopping_.exchange(false)) {
    auto frame = ws.read_frame(kPoll);
    if (!frame) {
      if (ws.closed()) break;
      continue;
    }
    if (frame->opcode == 0x8) break;  // goodbye
    if (frame->opcode == 0x9) ws.send_raw(ws_frame(0xA, frame->payload));
    if (frame->opcode != 0x1) continue;
    if (Publisher::json_field(frame->payload, "event") == "gap") notice_gap();
    else if (std::string id = Publisher::json_field(frame->payload, "id"); !id.empty())
      take(id, Publisher::json_field(frame->payload, "data"));
  }
  return true;
}

bool ResumingSubscriber::read_sse(int port) {
  SseClient sse;
  if (sse.open(port, "/sse/" + channel_, last_id()) != 200) return false;
  subscribed(port);
  while (!stopping_ && !hopping_.exchange(false)) {
    auto event = sse.read_event(kPoll);
    if (!event) {
      if (sse.ended()) break;
      continue;
    }
    if (event->event == "gap") notice_gap();
    else if (event->event.empty()) take(event->id, event->data);
  }
  return true;
}

void ResumingSubscriber::take(const std::string& id, const std::string& data) {
  std::lock_guard lock(mutex_);
  messages_.push_back({id, data, subscriptions_, port_});
  last_id_ = id;
}

void ResumingSubscriber::notice_gap() {
  std::lock_guard lock(mutex_);
  ++gaps_;
}

void ResumingSubscriber::subscribed(int port) {
  port_ = port;
  std::lock_guard lock(mutex_);
  ++subscriptions_;
}

bool ResumingSubscriber::wait_connected(std::chrono::milliseconds timeout) const {
  return wait_until([&] { return subscriptions() > 0; }, timeout);
}

bool ResumingSubscriber::wait_for_data(const std::string& data, std::chrono::milliseconds timeout) const {
  return wait_until(
      [&] {
        std::lock_guard lock(mutex_);
        for (auto it = messages_.rbegin(); it != messages_.rend(); ++it)
          if (it->data == data) return true;
        return false;
      },
      timeout);
}

void ResumingSubscriber::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

std::vector<ResumingSubscriber::Message> ResumingSubscriber::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::vector<std::string> ResumingSubscriber::ids() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> ids;
  for (const Message& m : messages_) ids.push_back(m.id);
  return ids;
}

std::string ResumingSubscriber::last_id() const {
  std::lock_guard lock(mutex_);
  return last_id_;
}

int ResumingSubscriber::gaps() const {
  std::lock_guard lock(mutex_);
  return gaps_;
}

int ResumingSubscriber::subscriptions() const {
  std::lock_guard lock(mutex_);
  return subscriptions_;
}

}  // namespace tether::test
