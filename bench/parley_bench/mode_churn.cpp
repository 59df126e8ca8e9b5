#include "parley_bench/modes.hpp"

#include "parley_bench/machine.hpp"

namespace parley::bench {

using namespace std::chrono_literals;

namespace {

void churn_cycle(engine& e, const options& o, size_t slot, size_t round) {
  auto& c = e.c;
  if (c.stop) {
    --c.active;
    return;
  }
  auto conn = e.make(slot);
  auto& st = e.state_of(slot);
  auto room = room_name(o, "churn", (o.offset + slot) % std::max<size_t>(o.rooms, 1));
  ++c.started;
  conn->on_open = [slot](connection& self) { self.send(hello("churn" + std::to_string(slot))); };
  conn->on_frame = [&c, &o, &st, room](connection& self, v1::ServerFrame& f) {
    if (f.ref().empty())
      return; // messages and presence of the room
    if (f.has_error()) {
      ++c.errors;
      if (f.error().code() == v1::ERROR_CODE_RATE_LIMITED)
        ++c.rate_limited;
      st.error(error_line(f));
      self.counter = 9;
      self.close();
      return;
    }
    if (f.ref() == "h")
      self.send(join(room));
    else if (f.ref() == "j")
      self.send(publish("p", room, "churn"));
    else if (f.ref() == "p" && !o.no_leave)
      self.send(leave(room));
    else if (f.ref() == "l" || f.ref() == "p") {
      self.counter = 1; // a whole cycle
      self.close();
    }
  };
  conn->on_down = [&e, &o, &c, &st, slot, round](connection& self, const std::string& why) {
    if (why.empty() && self.counter == 1) {
      ++c.cycles;
    } else if (!why.empty()) {
      ++c.errors;
      st.error(why);
    }
    auto again = [&e, &o, slot, round] { churn_cycle(e, o, slot, round + 1); };
    if (!why.empty()) {
      // Back off a little, so an unreachable server is not hammered.
      auto timer = std::make_shared<net::steady_timer>(self.context(), 100ms);
      timer->async_wait([timer, again](const boost::system::error_code&) { again(); });
    } else {
      net::post(self.context(), again);
    }
  };
  conn->start();
}

} // namespace


run_result run_churn(engine& e, const options& o, size_t n, barrier_fn barrier,
                     std::chrono::steady_clock::time_point deadline) {
  auto& c = e.c;
  barrier();
  auto t1 = std::chrono::steady_clock::now();
  auto end = t1 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(o.duration));
  c.active = n;
  for (size_t slot = 0; slot < n; ++slot) {
    auto conn_ctx = e.make(slot); // only for its context
    net::post(conn_ctx->context(), [&e, &o, slot] { churn_cycle(e, o, slot, 0); });
  }
  bool run_in_time = wait_until([&] { return std::chrono::steady_clock::now() >= end; }, deadline,
             [&] {
               return "cycles " + std::to_string(c.cycles) + ", errors "
                      + std::to_string(c.errors);
             },
             o);
  c.stop = true;
  double run = seconds_since(t1);
  // Running cycles finish (a few round trips) and stop there.
  wait_until([&] { return c.active == 0; }, std::min(deadline, std::chrono::steady_clock::now() + 10s),
             [&] { return "stopping: " + std::to_string(c.active) + " still cycling"; }, o);
  e.stop_threads();
  auto r = e.collect();
  if (!run_in_time) {
    ++r.errors;
    r.first_error = "timed out (--timeout) before the duration was over";
  }
  r.run_seconds = run;
  r.opened = r.cycles;
  return r;
}


} // namespace parley::bench
