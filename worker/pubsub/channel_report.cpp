#include "worker/pubsub/channel_report.h"

#include <unistd.h>

#include "core/status_board.h"
#include "worker/pubsub/pubsub_hub.h"

namespace tether {
namespace {

constexpr std::uint64_t kReportIntervalMs = 1000;

}  // namespace

ChannelReport::ChannelReport(uv_loop_t* loop, const PubsubHub& hub, std::size_t metrics_slot)
    : hub_(hub), slot_(metrics_slot), timer_(new uv_timer_t) {
  uv_timer_init(loop, timer_);
  timer_->data = this;
  // The first report at once: a page opened right after the worker started shows its channels.
  uv_timer_start(timer_, [](uv_timer_t* t) { static_cast<ChannelReport*>(t->data)->report(); }, 0, kReportIntervalMs);
  uv_unref(reinterpret_cast<uv_handle_t*>(timer_));
}

ChannelReport::~ChannelReport() { close(); }

void ChannelReport::close() {
  if (!timer_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(timer_), [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  timer_ = nullptr;
}

void ChannelReport::report() {
  status_board().write_channels(slot_, static_cast<std::int32_t>(getpid()),
                                hub_.busiest_channels(status_layout::kTopChannels));
}

}  // namespace tether
