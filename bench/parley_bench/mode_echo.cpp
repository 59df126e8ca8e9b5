#include "parley_bench/modes.hpp"

#include "parley_bench/machine.hpp"

#include <charconv>
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
  // In JSON the request is written and its ack recognised by hand: the
  // protobuf JSON printer and parser would cost this client more per round
  // trip than the servers it measures spend (issue "Past Node's ws"). Any
  // other reply (an error) goes through the full decode below.
  const bool by_hand = !o.binary;
  auto next_text = [&](connection& self) {
    std::string ref = timed_refs ? "e" + std::to_string(now_us()) : std::string{"e"};
    if (o.publish)
      return R"({"ref":")" + ref + R"(","publish":{"room":")" + room_of(self.id)
             + R"(","text":"echo"}})";
    return R"({"ref":")" + ref + R"(","ping":{}})";
  };
  auto on_text = [&](connection& self, std::string_view p, thread_state& st) {
    constexpr std::string_view head = R"({"ref":"e)";
    if (p.substr(0, head.size()) != head)
      return false;
    auto close = p.find('"', head.size());
    if (close == std::string_view::npos)
      return false;
    auto after = p.substr(close + 1);
    constexpr std::string_view pong = R"(,"ack":{"pong")";
    constexpr std::string_view published = R"(,"ack":{"published")";
    bool timed = close > head.size();
    if (timed != timed_refs || (after.substr(0, pong.size()) != pong
                                && after.substr(0, published.size()) != published))
      return false;
    if (c.stop)
      return true; // after the duration: neither counted nor timed
    // The payload is no C string (a view into the read buffer): from_chars.
    int64_t sent = self.mark_us;
    if (timed)
      std::from_chars(p.data() + head.size(), p.data() + close, sent);
    st.latency.record(now_us() - sent);
    ++c.round_trips;
    self.mark_us = now_us();
    self.send_encoded(next_text(self));
    return true;
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
  for (size_t i = 0; i < conns.size(); ++i)
    net::post(conns[i]->context(), [conn = conns[i], &st = e.state_of(i), &next, &next_text,
                                    &on_text, by_hand, &o] {
      if (conn->counter != 1)
        return; // did not join
      conn->mark_us = now_us();
      if (by_hand)
        conn->on_text = [&st, &on_text](connection& self, std::string_view p) {
          return on_text(self, p, st);
        };
      for (size_t k = 0; k < o.in_flight; ++k) {
        if (by_hand)
          conn->send_encoded(next_text(*conn));
        else
          conn->send(next(*conn));
      }
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
