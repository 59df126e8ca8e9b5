#include "parley_bench/modes.hpp"

#include "parley_bench/machine.hpp"

namespace parley::bench {

using namespace std::chrono_literals;

run_result run_fanout(engine& e, const options& o, size_t rooms, barrier_fn barrier,
                      std::chrono::steady_clock::time_point deadline) {
  const size_t m = o.members;
  const size_t n = rooms * m;
  auto room_of = [&](size_t i) { return room_name(o, "fan", o.room_offset + i / m); };
  auto& c = e.c;
  auto on_joined = [&](connection& self, const v1::ServerFrame&, thread_state& st) {
    // The receiver's id in its thread's tracker, kept in mark_us.
    self.mark_us = static_cast<int64_t>(st.tracker.add_receiver(room_of(self.id)));
  };
  auto on_frame = [&](connection& self, v1::ServerFrame& f, thread_state& st) {
    if (f.has_message()) {
      auto& msg = f.message();
      if (msg.text().rfind("pb ", 0) == 0) {
        st.latency.record(now_us() - std::strtoll(msg.text().c_str() + 3, nullptr, 10));
        st.tracker.delivered(static_cast<size_t>(self.mark_us), msg.seq());
        ++c.delivered;
      }
    } else if (f.ref().rfind("p", 0) == 0) {
      if (f.has_ack() && f.ack().has_published()) {
        st.tracker.published(f.ack().published().room(), f.ack().published().seq());
        ++c.acked;
      } else {
        ++c.refused;
        ++c.errors;
        if (f.has_error() && f.error().code() == v1::ERROR_CODE_RATE_LIMITED)
          ++c.rate_limited;
        st.error(f.has_error() ? error_line(f) : "unexpected reply to a publish");
      }
    }
  };
  auto t0 = std::chrono::steady_clock::now();
  bool in_time = true;
  auto conns = open_all(e, o, n, room_of, on_frame, on_joined, deadline, in_time);
  double setup = seconds_since(t0);
  barrier();
  // Publishers: the first `publishers` members of each room, each on a
  // timer at `rate` messages per second, for `duration`.
  auto t1 = std::chrono::steady_clock::now();
  auto end = t1 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(o.duration));
  auto interval = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
    std::chrono::duration<double>(1.0 / std::max(o.rate, 0.001)));
  for (auto& conn : conns) {
    if (conn->id % m >= o.publishers)
      continue;
    net::post(conn->context(), [conn, &c, end, interval, room = room_of(conn->id)] {
      if (conn->counter != 1)
        return; // did not join (counter is the connection thread's to read)
      auto timer = std::make_shared<net::steady_timer>(conn->context());
      auto next = std::make_shared<std::chrono::steady_clock::time_point>(
        std::chrono::steady_clock::now());
      auto tick = std::make_shared<std::function<void()>>();
      // The lambda holds itself weakly; the pending wait holds it strongly,
      // so it goes away with the last wait (or with the io_context).
      *tick = [conn, &c, end, interval, room, timer, next, weak = std::weak_ptr(tick)] {
        auto now = std::chrono::steady_clock::now();
        if (now >= end || c.stop)
          return;
        conn->send(publish("p" + std::to_string(conn->counter++), room,
                           "pb " + std::to_string(now_us())));
        ++c.sent;
        *next += interval;
        if (*next < now - 1s) // fell far behind: do not burst to catch up
          *next = now;
        timer->expires_at(*next);
        timer->async_wait([tick = weak.lock()](const boost::system::error_code& ec) {
          if (!ec && tick)
            (*tick)();
        });
      };
      (*tick)();
    });
  }
  bool run_in_time = wait_until([&] { return std::chrono::steady_clock::now() >= end; }, deadline,
             [&] {
               return "sent " + std::to_string(c.sent) + ", acked " + std::to_string(c.acked)
                      + ", delivered " + std::to_string(c.delivered);
             },
             o);
  double run = seconds_since(t1);
  // Drain: every publish answered, every acked message delivered to every
  // member, or 5 s of grace.
  auto grace = std::min(deadline, std::chrono::steady_clock::now() + 5s);
  wait_until([&] { return c.acked + c.refused >= c.sent && c.delivered >= c.acked * m; }, grace,
             [&] {
               return "draining: delivered " + std::to_string(c.delivered) + "/"
                      + std::to_string(c.acked * m);
             },
             o);
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

} // namespace parley::bench
