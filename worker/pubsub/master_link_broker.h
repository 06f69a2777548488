// The broker of a single machine, seen from a worker: the master sequences and keeps messages
// (master/broker.h) and this is the worker's end of its pub/sub link (core/pubsub_wire.h). It
// sends publishes, history and info requests and subscriber counts as frames, turns the master's
// frames into Broker replies and deliveries, and sends the frames a loop turn produced together
// at the end of it. Relayed messages are handed out as views into the link's input buffer.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <variant>

#include "core/pubsub_wire.h"
#include "worker/pubsub/broker.h"

namespace tether {

class MasterLinkBroker final : public Broker {
 public:
  // `fd`: the worker's end of the link; closed by close().
  MasterLinkBroker(uv_loop_t* loop, int fd);
  ~MasterLinkBroker() override;

  Request publish(std::string_view channel, std::string_view data, PublishReply on_reply) override;
  Request history(std::string_view channel, MessageId since, HistoryReply on_reply) override;
  Request info(std::string_view channel, InfoReply on_reply) override;
  void cancel(Request request) override { replies_.erase(request); }
  void set_subscribers(std::string_view channel, std::uint64_t count) override;
  // Sends what is pending if the socket takes it, then closes the link (the worker exits).
  void close() override;

 private:
  // A request waiting for the master's answer; the reply frame is turned into the result the
  // callback takes.
  struct Pending {
    std::variant<PublishReply, HistoryReply, InfoReply> reply;
    std::string channel;  // history: the messages' channel (the reply frame does not repeat it)
  };

  static void on_poll(uv_poll_t* poll, int status, int events);
  Request expect_reply(Pending pending);
  void schedule_write();
  void handle(const PubsubFrame& frame);
  static void answer(Pending& pending, const PubsubFrame& frame);

  PubsubLink link_;
  uv_poll_t* poll_;        // freed in its close callback
  uv_prepare_t* prepare_;  // sends what the last loop turn produced, before the loop blocks
  std::unordered_map<Request, Pending> replies_;
  Request next_request_ = 1;
  bool broken_ = false;
  bool closed_ = false;
  bool polling_writable_ = false;
};

}  // namespace tether
