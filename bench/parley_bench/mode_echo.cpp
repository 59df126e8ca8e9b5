#include "parley_bench/modes.hpp"

#include "parley_bench/machine.hpp"

#include <cstdlib>

namespace parley::bench {

using namespace std::chrono_literals;

run_result run_echo(engine& e, const options& o, size_t n, barrier_fn barrier,
                    std::chrono::steady_clock::time_point deadline) {
  auto& c = e.c;
  auto room_of = [&](size_t i) {
    return room_name(o, "echo", (o.offset + i) % std::max<size_t>(o.rooms, 1));
  };
  // A ping, or with --publish a message to the connection's own room (its
  // ack comes once the message is committed).
  // With --in-flight above 1 a request's ref carries its send time ("e" and
  // microseconds), so each reply is timed against its own request.
  const bool timed_refs = o.in_flight > 1;
  auto next = [&](connection& self) {
    auto f = o.publish ? publish("e", room_of(self.id), "echo") : ping();
    if (timed_refs)
      f.set_ref("e" + std::to_string(now_us()));
    return f;
  };
  auto on_frame = [&](connection& self, v1::ServerFrame& f, thread_state& st) {
    const auto& ref = f.ref();
    if (ref.empty() || ref[0] != 'e' || (ref.size() > 1) != timed_refs)
      return;
    if (f.has_ack() && (f.ack().has_pong() || f.ack().has_published())) {
      if (c.stop)
        return; // after the duration: neither counted nor timed
      int64_t sent = timed_refs ? std::strtoll(ref.c_str() + 1, nullptr, 10) : self.mark_us;
      st.latency.record(now_us() - sent);
      ++c.round_trips;
      self.mark_us = now_us();
      self.send(next(self));
      return;
    }
    ++c.errors;
    if (f.has_error() && f.error().code() == v1::ERROR_CODE_RATE_LIMITED)
      ++c.rate_limited;
    st.error(f.has_error() ? error_line(f) : "unexpected reply to a ping or publish");
    // This connection's loop ends here: pinging on would only flood.
  };
  auto t0 = std::chrono::steady_clock::now();
  bool in_time = true;
  auto conns = open_all(e, o, n, room_of, on_frame, nullptr, deadline, in_time);
  double setup = seconds_since(t0);
  barrier();
  auto t1 = std::chrono::steady_clock::now();
  auto end = t1 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(o.duration));
  for (auto& conn : conns)
    net::post(conn->context(), [conn, &next, &o] {
      if (conn->counter != 1)
        return; // did not join
      conn->mark_us = now_us();
      for (size_t k = 0; k < o.in_flight; ++k)
        conn->send(next(*conn));
    });
  bool run_in_time = wait_until([&] { return std::chrono::steady_clock::now() >= end; }, deadline,
             [&] { return "round trips " + std::to_string(c.round_trips); }, o);
  c.stop = true;
  double run = seconds_since(t1);
  close_all(e, o, conns);
  e.stop_threads();
  auto r = e.collect();
  if (!run_in_time) {
    ++r.errors;
    r.first_error = "timed out (--timeout) before the duration was over";
  }
  r.setup_seconds = setup;
  r.run_seconds = run;
  if (!in_time)
    r.failed += n - (r.opened + r.failed);
  r.attempted = n;
  return r;
}

/// One churn slot: connect, hello, join, publish, leave (unless

} // namespace parley::bench
