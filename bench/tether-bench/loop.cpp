#include "loop.h"

namespace bench {

void run_until(uv_loop_t* loop, const std::function<bool()>& done) {
  uv_timer_t check;
  uv_timer_init(loop, &check);
  struct State {
    const std::function<bool()>* done;
    uv_loop_t* loop;
  } state{&done, loop};
  check.data = &state;
  uv_timer_start(&check, [](uv_timer_t* t) {
    auto* s = static_cast<State*>(t->data);
    if ((*s->done)()) uv_stop(s->loop);
  }, 10, 10);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_close(reinterpret_cast<uv_handle_t*>(&check), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
}

double seconds_since(std::uint64_t start_ns) { return static_cast<double>(uv_hrtime() - start_ns) / 1e9; }

}  // namespace bench
