// A broker's Delivery for tests: what a worker's hub would see, one line per message
// ("<channel> <id> <data>", "<channel> GAP after <id>") and the number of batch ends.
#pragma once

#include <string>
#include <vector>

#include "worker/pubsub/broker.h"

namespace tether::test {

struct RecordingDelivery final : Broker::Delivery {
  void deliver(const BrokerMessage& m) override {
    messages.push_back(std::string(m.channel) + " " + m.id.to_string() + " " + std::string(m.data));
  }
  void gap(std::string_view channel, MessageId since) override {
    messages.push_back(std::string(channel) + " GAP after " + since.to_string());
  }
  void batch_end() override { ++batches; }
  std::vector<std::string> messages;
  int batches = 0;
};

}  // namespace tether::test
