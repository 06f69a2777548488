// What the hub needs of a connection it delivers messages to, and nothing more: a place to queue
// whole frames and a way to have them written. The connection (its ModuleStream) implements it;
// the hub keeps its own record of each sink and hears of it once more: when the stream stops
// taking frames (PubsubHub::stream_closed).
#pragma once

#include "core/intrusive_list.h"
#include "worker/pubsub/shared_frame.h"

namespace tether {

struct Subscription;

class FrameSink {
 public:
  // Queues a whole frame, applying the stream's slow-consumer policy (which may drop older
  // frames, or end the stream). False if the sink takes no more frames.
  virtual bool queue_frame(FrameRef frame) = 0;
  // Hands what is queued to the socket (one write for all), unless a batch is still in flight:
  // the sink then goes on by itself when it is written.
  virtual void flush_frames() = 0;
  // Whether frames are wanted (a stream or an upgraded connection, not closing).
  virtual bool takes_frames() const = 0;
  // Frames for this sink must be chunks of a chunked HTTP body.
  virtual bool chunked() const = 0;

 protected:
  FrameSink() = default;
  virtual ~FrameSink() = default;  // the hub never deletes a sink (virtual: it is a friend, so protected alone would not say so)
  // Whether the hub holds anything of this sink (so that leaving it is worth a call).
  bool known_to_hub() const { return !subscriptions_.empty() || flush_scheduled_; }

 private:
  friend class PubsubHub;
  // The hub's record of this sink, kept here so that a subscriber costs the hub no lookup and no
  // allocation of its own; only the hub reads or writes it.
  IntrusiveForwardList<Subscription, FrameSink> subscriptions_;  // newest first
  bool flush_scheduled_ = false;  // in the hub's list of sinks to flush
};

}  // namespace tether
