#include "parley_bench/modes.hpp"

#include "parley_bench/machine.hpp"

namespace parley::bench {

using namespace std::chrono_literals;

run_result run_conns(engine& e, const options& o, size_t n, barrier_fn barrier,
                     std::chrono::steady_clock::time_point deadline) {
  auto t0 = std::chrono::steady_clock::now();
  bool in_time = true;
  auto rooms = std::max<size_t>(o.rooms, 1);
  auto conns = open_all(
    e, o, n, [&](size_t i) { return room_name(o, "idle", (o.offset + i) % rooms); }, nullptr,
    nullptr, deadline, in_time);
  double setup = seconds_since(t0);
  barrier();
  if (o.hold > 0)
    std::this_thread::sleep_for(std::chrono::duration<double>(o.hold));
  close_all(e, o, conns);
  e.stop_threads();
  auto r = e.collect();
  r.setup_seconds = setup;
  if (!in_time) {
    r.failed += n - (r.opened + r.failed);
    r.first_error = "timed out (--timeout) while connecting";
  }
  r.attempted = n;
  return r;
}

} // namespace parley::bench
