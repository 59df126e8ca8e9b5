// parley-bench: a load generator for the Parley gateway (docs/parley-bench.md).
//
// Modes: conns (idle joined connections, memory per connection), fanout
// (rooms, members, publishers; latency, loss, duplicates), echo (ping/pong
// round trips) and churn (connect, join, publish, leave, disconnect).
// Asynchronous on Boost.Beast: a few threads, one io_context each; past
// --per-process connections it runs worker processes of itself and merges
// their results. No CAF: the tool stays off the runtime it measures.

#include "parley/client/ws_client.hpp"
#include "parley/client/ws_url.hpp"
#include "parley/runtime/command_line.hpp"
#include "parley_bench/client.hpp"
#include "parley_bench/spread.hpp"
#include "parley_bench/stats.hpp"
#include "parley_bench/summary.hpp"

#include <CLI/CLI.hpp>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace net = boost::asio;
using namespace std::chrono_literals;
using parley::bench::connection;
using parley::bench::histogram;
using parley::bench::now_us;
using parley::bench::run_result;
namespace v1 = parley::v1;

namespace {

using parley::runtime::parse_command_line;
using parley::runtime::usage_error_status;

// -- options --------------------------------------------------------------------

/// Every flag, with its default. Plain data, passed to workers as flags.
struct options {
  std::string mode;
  std::string url = "ws://127.0.0.1:8080/ws";
  bool binary = false;
  size_t conns = 0; ///< 0: the mode's default (conns 100, echo 10, churn 10)
  size_t rooms = 1;
  size_t members = 10;
  size_t publishers = 1;
  double rate = 10;       ///< fanout: messages/s per publisher
  double duration = 5;    ///< seconds of publishing, pinging or churning
  double timeout = 0;     ///< whole run; 0: setup allowance + duration + 30 s
  double hold = 0;        ///< conns: seconds to stay connected after all joined
  bool no_leave = false;  ///< churn: close without leaving the room
  size_t threads = 2;
  size_t sources = 0;     ///< 0: enough for --per-address
  size_t per_address = parley::bench::default_per_address;
  size_t per_process = parley::bench::default_per_process;
  size_t concurrency = 256; ///< connects in flight at once
  int server_pid = 0;
  // Internal, set by the parent for its workers.
  bool worker = false;
  size_t offset = 0;      ///< global index of the first connection (source spreading)
  size_t room_offset = 0; ///< fanout: index of the first room
  std::string run_id;     ///< makes room names unique per run
};

size_t default_conns(const std::string& mode) {
  return mode == "conns" ? 100 : 10;
}

/// Flags that reproduce `o` for a worker holding `conns` connections (or
/// `rooms` rooms) from global index `offset` on.
std::vector<std::string> worker_argv(const options& o, size_t conns, size_t rooms, size_t offset,
                                     size_t room_offset, size_t sources) {
  auto num = [](double x) {
    std::ostringstream s;
    s.precision(17);
    s << x;
    return s.str();
  };
  return {"/proc/self/exe",
          o.mode,
          "--worker",
          "--url=" + o.url,
          o.binary ? "--binary" : "--json",
          "--conns=" + std::to_string(conns),
          "--rooms=" + std::to_string(rooms),
          "--members=" + std::to_string(o.members),
          "--publishers=" + std::to_string(o.publishers),
          "--rate=" + num(o.rate),
          "--duration=" + num(o.duration),
          "--timeout=" + num(o.timeout),
          "--hold=" + num(o.hold),
          "--threads=" + std::to_string(o.threads),
          "--sources=" + std::to_string(sources),
          "--per-address=" + std::to_string(o.per_address),
          "--per-process=" + std::to_string(o.per_process),
          "--concurrency=" + std::to_string(o.concurrency),
          "--offset=" + std::to_string(offset),
          "--room-offset=" + std::to_string(room_offset),
          "--run-id=" + o.run_id,
          o.no_leave ? "--no-leave" : "--leave"};
}

// -- the machine ----------------------------------------------------------------

/// Resident memory of `pid` in KiB (VmRSS), 0 if unreadable.
double rss_kib(int pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0)
      return std::strtod(line.c_str() + 6, nullptr);
  return 0;
}

/// CPU time (user + system) of `pid` in seconds, 0 if unreadable.
double cpu_seconds(int pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = all.rfind(')');
  if (close == std::string::npos)
    return 0;
  std::istringstream rest(all.substr(close + 2));
  std::string field;
  double utime = 0, stime = 0;
  // Fields after the name: state(3) ... utime(14) stime(15).
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::strtod(field.c_str(), nullptr);
    if (i == 15)
      stime = std::strtod(field.c_str(), nullptr);
  }
  return (utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

/// A gauge from the server's /metrics (Parley's; a loopback server only),
/// or nothing when it has no such page or no such gauge.
std::optional<double> server_gauge(const parley::bench::target& tgt, const std::string& name) {
  if (!tgt.endpoint.address().is_loopback())
    return std::nullopt;
  auto reply = parley::client::http_get(tgt.endpoint.port(), "/metrics", 5s);
  if (reply.status != 200)
    return std::nullopt;
  std::istringstream in{reply.body};
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0 || line.size() <= name.size()
        || (line[name.size()] != ' ' && line[name.size()] != '{'))
      continue;
    return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return std::nullopt;
}

/// Raises the soft open-files limit to the hard one; returns the soft limit.
rlim_t raise_nofile() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return 0;
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  getrlimit(RLIMIT_NOFILE, &lim);
  return lim.rlim_cur;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// -- one process's run ----------------------------------------------------------

/// Counters every thread bumps; the main thread reads them for progress.
struct counters {
  std::atomic<uint64_t> started{0}, opened{0}, failed{0}, errors{0}, rate_limited{0}, sent{0},
    acked{0}, refused{0}, delivered{0}, round_trips{0}, cycles{0}, down{0}, active{0};
  std::atomic<bool> stop{false};
};

/// What one io thread keeps; only its own connections touch it.
struct thread_state {
  histogram latency;
  parley::bench::delivery_tracker tracker;
  std::string first_error;

  void error(const std::string& what) {
    if (first_error.empty())
      first_error = what;
  }
};

/// A run inside one process: the io threads, the connections, the counters.
class engine {
public:
  engine(const options& o, parley::bench::target tgt, size_t total_conns)
    : opts_(o), tgt_(std::move(tgt)), states_(std::max<size_t>(o.threads, 1)) {
    bool loopback = tgt_.endpoint.address().is_loopback() && tgt_.endpoint.address().is_v4();
    sources_ = !loopback ? 0
               : o.sources > 0
                 ? o.sources
                 : parley::bench::sources_needed(total_conns, o.per_address);
    for (size_t i = 0; i < states_.size(); ++i) {
      iocs_.push_back(std::make_unique<net::io_context>(1));
      guards_.emplace_back(net::make_work_guard(*iocs_.back()));
    }
    for (auto& ioc : iocs_)
      threads_.emplace_back([&ioc] { ioc->run(); });
  }

  ~engine() {
    stop_threads();
  }

  void stop_threads() {
    for (auto& g : guards_)
      g.reset();
    for (auto& ioc : iocs_)
      ioc->stop();
    for (auto& t : threads_)
      if (t.joinable())
        t.join();
  }

  /// A connection for local index `i` (global `opts_.offset + i`).
  std::shared_ptr<connection> make(size_t i) {
    size_t global = opts_.offset + i;
    std::string src = sources_ == 0 ? ""
                                    : parley::bench::source_address(
                                      parley::bench::source_of(global, sources_));
    auto c = std::make_shared<connection>(*iocs_[i % iocs_.size()], tgt_, src);
    c->id = i;
    return c;
  }

  thread_state& state_of(size_t i) {
    return states_[i % states_.size()];
  }

  /// Merges what every thread counted; call after `stop_threads`.
  run_result collect() {
    run_result r;
    parley::bench::delivery_tracker all;
    for (auto& st : states_) {
      r.latency.merge(st.latency);
      all.merge(st.tracker);
      if (r.first_error.empty())
        r.first_error = st.first_error;
    }
    r.attempted = c.started;
    r.opened = c.opened;
    r.failed = c.failed;
    r.errors = c.errors;
    r.rate_limited = c.rate_limited;
    r.round_trips = c.round_trips;
    r.cycles = c.cycles;
    if (opts_.mode == "fanout") {
      auto t = all.count();
      r.messages = t.messages;
      r.expected = t.expected;
      r.delivered = t.delivered;
      r.lost = t.lost;
      r.duplicated = t.duplicated;
    }
    return r;
  }

  size_t sources() const {
    return sources_;
  }

  counters c;

private:
  const options& opts_;
  parley::bench::target tgt_;
  std::vector<thread_state> states_;
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards_;
  std::vector<std::thread> threads_;
  size_t sources_ = 0;
};

/// Prints progress once a second on stderr while `done` is false; false
/// when `deadline` passed first.
bool wait_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline,
                const std::function<std::string()>& progress, const options& o) {
  static auto started = std::chrono::steady_clock::now();
  static auto last = started;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(20ms);
    if (std::chrono::steady_clock::now() - last >= 1s) {
      last = std::chrono::steady_clock::now();
      // One write per line, so workers sharing stderr do not interleave.
      auto line = (o.worker ? "  worker " + std::to_string(getpid()) + " " : std::string())
                  + "[" + std::to_string(static_cast<int>(seconds_since(started))) + "s] "
                  + progress() + "\n";
      (void) !::write(2, line.data(), line.size());
    }
  }
  return true;
}

// -- frames ---------------------------------------------------------------------

v1::ClientFrame hello(const std::string& user) {
  v1::ClientFrame f;
  f.set_ref("h");
  f.mutable_hello()->set_client_name("parley-bench");
  f.mutable_hello()->set_client_version("0.1");
  f.mutable_hello()->set_user(user);
  return f;
}

v1::ClientFrame join(const std::string& room) {
  v1::ClientFrame f;
  f.set_ref("j");
  f.mutable_join()->set_room(room);
  return f;
}

v1::ClientFrame publish(const std::string& ref, const std::string& room, const std::string& text) {
  v1::ClientFrame f;
  f.set_ref(ref);
  f.mutable_publish()->set_room(room);
  f.mutable_publish()->set_text(text);
  return f;
}

v1::ClientFrame leave(const std::string& room) {
  v1::ClientFrame f;
  f.set_ref("l");
  f.mutable_leave()->set_room(room);
  return f;
}

v1::ClientFrame ping() {
  v1::ClientFrame f;
  f.set_ref("e");
  f.mutable_ping()->set_client_time_ms(static_cast<uint64_t>(now_us() / 1000));
  return f;
}

std::string error_line(const v1::ServerFrame& f) {
  return v1::ErrorCode_Name(f.error().code()) + ": " + f.error().reason();
}

// -- setup: connect, hello, join ------------------------------------------------

/// Per-mode hooks for frames after the join, on the connection's thread.
using frame_hook = std::function<void(connection&, v1::ServerFrame&, thread_state&)>;
using join_hook = std::function<void(connection&, const v1::ServerFrame&, thread_state&)>;

/// Opens `n` connections, each saying hello and joining `room_of(i)`, at
/// most `concurrency` connecting at once. Returns once all are joined or
/// failed, or at the deadline.
std::vector<std::shared_ptr<connection>>
open_all(engine& e, const options& o, size_t n, const std::function<std::string(size_t)>& room_of,
         frame_hook on_frame, join_hook on_joined,
         std::chrono::steady_clock::time_point deadline, bool& in_time) {
  std::vector<std::shared_ptr<connection>> conns;
  conns.reserve(n);
  auto& c = e.c;
  for (size_t i = 0; i < n; ++i) {
    auto conn = e.make(i);
    auto& st = e.state_of(i);
    auto room = room_of(i);
    conn->on_open = [&o](connection& self) {
      self.send(hello("b" + std::to_string(o.offset + self.id)));
    };
    conn->on_frame = [&c, &st, room, on_frame, on_joined](connection& self, v1::ServerFrame& f) {
      if (self.counter == 0 && (f.ref() == "h" || f.ref() == "j")) {
        if (f.has_error()) {
          st.error(error_line(f));
          self.counter = 2; // failed; on_down does not count it again
          ++c.failed;
          self.close();
        } else if (f.ref() == "h") {
          self.send(join(room));
        } else {
          self.counter = 1;
          ++c.opened;
          if (on_joined)
            on_joined(self, f, st);
        }
        return;
      }
      if (on_frame)
        on_frame(self, f, st);
    };
    conn->on_down = [&c, &st](connection& self, const std::string& why) {
      ++c.down;
      if (self.counter == 0) {
        ++c.failed;
        st.error(why);
      } else if (!why.empty() && !c.stop) {
        ++c.errors;
        st.error(why);
      }
    };
    conns.push_back(std::move(conn));
  }
  size_t next = 0;
  in_time = wait_until(
    [&] {
      while (next < n && c.started - c.opened - c.failed < o.concurrency) {
        ++c.started;
        auto conn = conns[next++];
        net::post(conn->context(), [conn] { conn->start(); });
      }
      return next == n && c.opened + c.failed == n;
    },
    deadline,
    [&] {
      return "connected " + std::to_string(c.opened) + "/" + std::to_string(n) + ", failed "
             + std::to_string(c.failed);
    },
    o);
  return conns;
}

/// Closes every connection and waits (at most 5 s) until they are down.
void close_all(engine& e, const options& o, std::vector<std::shared_ptr<connection>>& conns) {
  e.c.stop = true;
  for (auto& conn : conns)
    net::post(conn->context(), [conn] { conn->close(); });
  uint64_t expect = e.c.started;
  wait_until([&] { return e.c.down >= expect; }, std::chrono::steady_clock::now() + 5s,
             [&] { return "closing: " + std::to_string(e.c.down) + "/" + std::to_string(expect); },
             o);
}

// -- the modes ------------------------------------------------------------------

/// Between setup and the measured phase: the parent measures the server's
/// RSS there; a worker says READY and waits for the parent's go.
using barrier_fn = std::function<void()>;

std::string room_name(const options& o, const std::string& kind, size_t index) {
  return "bench-" + o.run_id + "-" + kind + "-" + std::to_string(index);
}

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

run_result run_echo(engine& e, const options& o, size_t n, barrier_fn barrier,
                    std::chrono::steady_clock::time_point deadline) {
  auto& c = e.c;
  auto on_frame = [&](connection& self, v1::ServerFrame& f, thread_state& st) {
    if (f.ref() != "e")
      return;
    if (f.has_ack() && f.ack().has_pong()) {
      if (c.stop)
        return; // after the duration: neither counted nor timed
      st.latency.record(now_us() - self.mark_us);
      ++c.round_trips;
      self.mark_us = now_us();
      self.send(ping());
      return;
    }
    ++c.errors;
    if (f.has_error() && f.error().code() == v1::ERROR_CODE_RATE_LIMITED)
      ++c.rate_limited;
    st.error(f.has_error() ? error_line(f) : "unexpected reply to a ping");
    // This connection's loop ends here: pinging on would only flood.
  };
  auto t0 = std::chrono::steady_clock::now();
  bool in_time = true;
  auto conns = open_all(
    e, o, n, [&](size_t i) { return room_name(o, "echo", (o.offset + i) % std::max<size_t>(o.rooms, 1)); },
    on_frame, nullptr, deadline, in_time);
  double setup = seconds_since(t0);
  barrier();
  auto t1 = std::chrono::steady_clock::now();
  auto end = t1 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(o.duration));
  for (auto& conn : conns)
    net::post(conn->context(), [conn] {
      if (conn->counter != 1)
        return; // did not join
      conn->mark_us = now_us();
      conn->send(ping());
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
/// --no-leave), close, again.
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

/// Runs `o.mode` in this process with `n` connections (fanout: `n` rooms).
run_result run_local(const options& o, const parley::bench::target& tgt, size_t n,
                     const barrier_fn& barrier) {
  double allowance = o.timeout > 0 ? o.timeout : 30 + o.duration + o.hold + static_cast<double>(n) / 100.0;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(allowance));
  size_t conns = o.mode == "fanout" ? n * o.members : n;
  engine e(o, tgt, conns);
  if (o.mode == "conns")
    return run_conns(e, o, n, barrier, deadline);
  if (o.mode == "fanout")
    return run_fanout(e, o, n, barrier, deadline);
  if (o.mode == "echo")
    return run_echo(e, o, n, barrier, deadline);
  return run_churn(e, o, n, barrier, deadline);
}

// -- workers --------------------------------------------------------------------

/// A worker process: its pid and the pipes to its stdin and stdout.
struct worker_proc {
  pid_t pid = -1;
  FILE* in = nullptr;  // we write "go"
  FILE* out = nullptr; // it writes READY, then its JSON line
};

std::optional<worker_proc> spawn(const std::vector<std::string>& args) {
  int to_child[2], from_child[2];
  if (pipe(to_child) != 0)
    return std::nullopt;
  if (pipe(from_child) != 0) {
    close(to_child[0]);
    close(to_child[1]);
    return std::nullopt;
  }
  pid_t pid = fork();
  if (pid < 0)
    return std::nullopt;
  if (pid == 0) {
    dup2(to_child[0], 0);
    dup2(from_child[1], 1);
    close(to_child[0]);
    close(to_child[1]);
    close(from_child[0]);
    close(from_child[1]);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    _exit(127);
  }
  close(to_child[0]);
  close(from_child[1]);
  return worker_proc{pid, fdopen(to_child[1], "w"), fdopen(from_child[0], "r")};
}

std::string read_line(FILE* f) {
  std::string line;
  int ch;
  while ((ch = std::fgetc(f)) != EOF && ch != '\n')
    line.push_back(static_cast<char>(ch));
  return line;
}

/// Runs the shares over worker processes and merges their results.
run_result run_workers(const options& o, const std::vector<size_t>& shares, size_t total_conns,
                       const barrier_fn& barrier) {
  size_t sources = o.sources > 0 ? o.sources
                                 : parley::bench::sources_needed(total_conns, o.per_address);
  std::vector<worker_proc> procs;
  std::vector<size_t> proc_conns;
  run_result merged;
  size_t offset = 0, room_offset = 0;
  for (auto share : shares) {
    size_t conns = o.mode == "fanout" ? share * o.members : share;
    auto args = o.mode == "fanout"
                  ? worker_argv(o, 0, share, offset, room_offset, sources)
                  : worker_argv(o, share, o.rooms, offset, 0, sources);
    offset += conns;
    room_offset += share;
    auto p = spawn(args);
    if (!p) {
      merged.first_error = "could not start a worker process";
      merged.attempted += conns;
      merged.failed += conns;
      ++merged.errors;
      continue;
    }
    procs.push_back(*p);
    proc_conns.push_back(conns);
  }
  std::cerr << "parley-bench: " << procs.size() << " worker processes\n";
  for (auto& p : procs) {
    auto line = read_line(p.out);
    if (line != "READY")
      merged.first_error = "a worker did not get ready: " + line;
  }
  barrier();
  for (auto& p : procs) {
    std::fputs("go\n", p.in);
    std::fflush(p.in);
  }
  for (size_t i = 0; i < procs.size(); ++i) {
    auto& p = procs[i];
    auto line = read_line(p.out);
    run_result r;
    if (from_json_line(line, r)) {
      merged.merge(r);
    } else {
      // A worker that died took its connections with it: all failed.
      merged.attempted += proc_conns[i];
      merged.failed += proc_conns[i];
      ++merged.errors;
      if (merged.first_error.empty())
        merged.first_error = "worker " + std::to_string(p.pid) + " gave no result";
    }
    std::fclose(p.in);
    std::fclose(p.out);
    int status = 0;
    waitpid(p.pid, &status, 0);
  }
  return merged;
}

// -- main -----------------------------------------------------------------------

/// A number as a person writes it: 1, 0.5, 12.25.
std::string plain(double x) {
  std::ostringstream s;
  s << x;
  return s.str();
}

int usage_error(const std::string& what) {
  std::cerr << "parley-bench: error: " << what << " (see --help)\n";
  return usage_error_status;
}

} // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  options o;
  CLI::App app{"parley-bench: load for a Parley gateway (docs/parley-bench.md)", "parley-bench"};
  app.add_option("mode", o.mode, "conns | fanout | echo | churn")
    ->required()
    ->check(CLI::IsMember({"conns", "fanout", "echo", "churn"}));
  size_t positional_count = 0;
  app.add_option("count", positional_count, "conns: how many connections (same as --conns)");
  app.add_option("--url", o.url, "the gateway's WebSocket URL")->capture_default_str();
  auto* bin = app.add_flag("--binary", o.binary, "protobuf binary frames");
  bool json = false;
  app.add_flag("--json", json, "JSON text frames (the default)")->excludes(bin);
  app.add_option("--conns", o.conns, "connections (conns: 100, echo: 10, churn: 10 at once)");
  app.add_option("--rooms", o.rooms, "rooms (conns/echo/churn spread connections over them)")
    ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--members", o.members, "fanout: members per room")
    ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--publishers", o.publishers,
                 "fanout: publishers per room (among its members); 0: members only, for "
                 "messages another parley-bench publishes (same --run-id), e.g. on another "
                 "node of a cluster")
    ->capture_default_str()->check(CLI::Range(0, 1'000'000));
  app.add_option("--rate", o.rate, "fanout: messages per second per publisher")
    ->capture_default_str()->check(CLI::Range(0.01, 1e6));
  app.add_option("--duration", o.duration, "seconds of publishing, pinging or churning")
    ->capture_default_str()->check(CLI::Range(0.1, 86400.0));
  app.add_option("--timeout", o.timeout, "seconds for the whole run (0: setup + duration + 30)")
    ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  app.add_option("--hold", o.hold, "conns: seconds to stay connected once all joined")
    ->capture_default_str()->check(CLI::Range(0.0, 86400.0));
  auto* no_leave = app.add_flag("--no-leave", o.no_leave,
                                "churn: close without leaving the room, as a closed tab does");
  app.add_flag("--leave", "churn: leave the room before closing (the default)")
    ->excludes(no_leave);
  app.add_option("--threads", o.threads, "I/O threads, one io_context each")
    ->capture_default_str()->check(CLI::Range(1, 64));
  app.add_option("--sources", o.sources, "source addresses 127.0.0.1.. (0: enough for --per-address)")
    ->capture_default_str()->check(CLI::Range(0, 60000));
  app.add_option("--per-address", o.per_address, "connections per source address at most")
    ->capture_default_str()->check(CLI::Range(1, 60000));
  app.add_option("--per-process", o.per_process, "connections per process; more run in workers")
    ->capture_default_str()->check(CLI::Range(1, 1'000'000));
  app.add_option("--concurrency", o.concurrency, "connects in flight at once")
    ->capture_default_str()->check(CLI::Range(1, 100'000));
  app.add_option("--server-pid", o.server_pid, "the gateway's PID: report its RSS and CPU time")
    ->check(CLI::Range(1, 1 << 30));
  app.add_flag("--worker", o.worker, "internal: run as a worker (READY, wait for go, one JSON line)")
    ->group("");
  app.add_option("--offset", o.offset, "internal")->group("");
  app.add_option("--room-offset", o.room_offset, "internal")->group("");
  app.add_option("--run-id", o.run_id,
                 "Room names' middle part (default: the process id); runs with the same id "
                 "share rooms");
  if (auto status = parse_command_line(app, argc, argv))
    return *status;
  if (positional_count > 0) {
    if (o.mode != "conns")
      return usage_error("a count after the mode is for conns only; use --conns");
    o.conns = positional_count;
  }
  if (o.conns == 0)
    o.conns = default_conns(o.mode);
  if (o.mode == "fanout" && o.publishers > o.members)
    return usage_error("--publishers " + std::to_string(o.publishers) + " exceeds --members "
                       + std::to_string(o.members));
  std::string why;
  auto url = parley::client::parse_ws_url(o.url, why);
  if (!url)
    return usage_error("--url: " + why);
  if (o.run_id.empty())
    o.run_id = std::to_string(getpid());
  auto nofile = raise_nofile();

  // One connection first: an unreachable gateway is one line, not N failures.
  parley::bench::target tgt;
  {
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::resolver resolver(ioc);
    boost::system::error_code ec;
    auto eps = resolver.resolve(url->host, std::to_string(url->port), ec);
    if (ec || eps.empty()) {
      std::cerr << "parley-bench: error: cannot resolve " << url->host << ": " << ec.message() << "\n";
      return 1;
    }
    for (auto& ep : eps)
      if (ep.endpoint().address().is_v4()) {
        tgt.endpoint = ep.endpoint();
        break;
      }
    if (tgt.endpoint.port() == 0) {
      std::cerr << "parley-bench: error: " << url->host << " has no IPv4 address\n";
      return 1;
    }
  }
  tgt.host = url->authority();
  tgt.path = url->target;
  tgt.enc = o.binary ? parley::proto::encoding::binary : parley::proto::encoding::json;
  if (!o.worker) {
    parley::client::ws_client probe(5s);
    if (!probe.connect(*url)) {
      std::cerr << "parley-bench: error: cannot reach " << url->str() << ": " << probe.error() << "\n";
      return 1;
    }
    probe.close();
  }

  // fanout counts rooms (whole rooms per process), the others connections.
  size_t units = o.mode == "fanout" ? o.rooms : o.conns;
  size_t total_conns = o.mode == "fanout" ? o.rooms * o.members : o.conns;
  if (o.mode == "fanout" && o.members > o.per_process)
    return usage_error("one room of " + std::to_string(o.members)
                       + " members exceeds --per-process " + std::to_string(o.per_process));

  parley::bench::params_map params{
    {"url", o.url},
    {"encoding", o.binary ? "binary" : "json"},
    {"threads", std::to_string(o.threads)},
  };
  if (o.mode == "fanout") {
    params["rooms"] = std::to_string(o.rooms);
    params["members"] = std::to_string(o.members);
    params["publishers"] = std::to_string(o.publishers);
    params["rate"] = plain(o.rate);
    params["duration"] = plain(o.duration);
  } else {
    params["conns"] = std::to_string(o.conns);
    if (o.mode != "conns")
      params["duration"] = plain(o.duration);
  }

  if (o.worker) {
    barrier_fn barrier = [] {
      std::cout << "READY" << std::endl;
      std::string go;
      std::getline(std::cin, go);
    };
    auto r = run_local(o, tgt, units, barrier);
    std::cout << to_json_line(o.mode, params, r) << std::endl;
    return 0;
  }

  std::map<std::string, double> extra;
  double rss_start = rss_kib(o.server_pid);
  // RSS does not shrink after free(): whether memory came back is read from
  // the allocator's live bytes, which a Parley gateway reports.
  auto heap_start = o.mode == "churn" ? server_gauge(tgt, "parley_heap_live_bytes") : std::nullopt;
  double cpu_start = cpu_seconds(o.server_pid);
  barrier_fn barrier = [&] {
    if (o.server_pid > 0)
      extra["server_rss_loaded_kib"] = rss_kib(o.server_pid);
  };
  run_result r;
  std::vector<size_t> shares =
    o.mode == "fanout" ? parley::bench::split_rooms(o.rooms, o.members, o.per_process)
                       : parley::bench::split_workers(o.conns, o.per_process);
  params["processes"] = std::to_string(shares.size());
  params["open_files_limit"] = std::to_string(nofile);
  if (shares.size() <= 1)
    r = run_local(o, tgt, units, barrier);
  else
    r = run_workers(o, shares, total_conns, barrier);

  bool ok = true;
  std::ostringstream human;
  human.setf(std::ios::fixed);
  human.precision(1);
  auto ms = [](int64_t us) { return static_cast<double>(us) / 1000.0; };
  human << "parley-bench " << o.mode << " (" << (o.binary ? "binary" : "json") << ", "
        << url->str() << ")\n";
  if (o.mode != "churn") {
    human << "  connections: " << r.opened << " of " << r.attempted << " joined, " << r.failed
          << " failed, in " << r.setup_seconds << " s ("
          << (r.setup_seconds > 0 ? static_cast<double>(r.opened) / r.setup_seconds : 0.0)
          << "/s)\n";
    if (r.opened < r.attempted || (o.mode == "conns" && r.errors > 0))
      ok = false;
  }
  if (o.mode == "fanout") {
    human << "  messages: " << r.messages << " acked, deliveries " << r.delivered << " of "
          << r.expected << " expected, lost " << r.lost << ", duplicated " << r.duplicated
          << ", " << (r.run_seconds > 0 ? static_cast<double>(r.delivered) / r.run_seconds : 0.0)
          << " deliveries/s\n";
    // Members only (--publishers=0): nothing to expect here; the deliveries
    // are checked against the publishing run's messages by whoever runs both.
    bool listening = o.publishers == 0;
    if (r.lost > 0 || r.duplicated > 0 || r.errors > 0
        || (listening ? r.delivered == 0 : r.messages == 0))
      ok = false;
  }
  if (o.mode == "echo") {
    human << "  round trips: " << r.round_trips << " in " << r.run_seconds << " s ("
          << (r.run_seconds > 0 ? static_cast<double>(r.round_trips) / r.run_seconds : 0.0)
          << "/s)\n";
    if (r.round_trips == 0 || r.errors > 0)
      ok = false;
  }
  if (o.mode == "churn") {
    human << "  cycles: " << r.cycles << " in " << r.run_seconds << " s, errors " << r.errors
          << "\n";
    if (r.cycles == 0 || r.errors > 0)
      ok = false;
  }
  if (o.mode == "fanout" || o.mode == "echo") {
    human.precision(3);
    human << "  latency ms: p50 " << ms(r.latency.percentile(50)) << ", p95 "
          << ms(r.latency.percentile(95)) << ", p99 " << ms(r.latency.percentile(99)) << ", max "
          << ms(r.latency.max()) << " (" << r.latency.count() << " samples)\n";
    human.precision(1);
  }
  if (o.mode == "churn") {
    // Let the server finish closing before measuring: its connection actors
    // gone (a Parley gateway says so), else a fixed pause.
    if (server_gauge(tgt, "parley_connection_actors"))
      wait_until([&] { return server_gauge(tgt, "parley_connection_actors").value_or(0) == 0; },
                 std::chrono::steady_clock::now() + 10s,
                 [] { return std::string{"waiting for the server's connections to end"}; }, o);
    else if (o.server_pid > 0)
      std::this_thread::sleep_for(2s);
  }
  std::optional<double> heap_end;
  if (heap_start)
    heap_end = server_gauge(tgt, "parley_heap_live_bytes");
  if (heap_start && heap_end) {
    // What a run may keep: the rooms it started and the allocator's pools.
    bool back = *heap_end <= *heap_start + 1024.0 * 1024.0;
    extra["server_heap_start_bytes"] = *heap_start;
    extra["server_heap_end_bytes"] = *heap_end;
    extra["server_heap_returned"] = back ? 1 : 0;
    human << "  server live heap: " << *heap_start / 1024.0 << " KiB before, "
          << *heap_end / 1024.0 << " KiB after: memory " << (back ? "returned" : "did NOT return")
          << " (within 1 MiB)\n";
  }
  if (o.server_pid > 0) {
    double rss_end = rss_kib(o.server_pid);
    extra["server_rss_start_kib"] = rss_start;
    extra["server_rss_end_kib"] = rss_end;
    extra["server_cpu_seconds"] = cpu_seconds(o.server_pid) - cpu_start;
    human << "  server " << o.server_pid << ": RSS " << rss_start << " KiB before";
    if (o.mode != "churn") {
      double loaded = extra["server_rss_loaded_kib"];
      double per = r.opened > 0 ? (loaded - rss_start) * 1024.0 / static_cast<double>(r.opened) : 0;
      extra["server_bytes_per_conn"] = per;
      human << ", " << loaded << " KiB with " << r.opened << " connections (" << per
            << " bytes each)";
    }
    human << ", " << rss_end << " KiB after; CPU " << extra["server_cpu_seconds"] << " s\n";
    if (o.mode == "churn" && !heap_end) {
      // No live-heap gauge (not a Parley gateway): RSS, which allocators
      // keep some of: within 10 % or 4 MiB of the baseline.
      bool back = rss_end <= rss_start + std::max(rss_start / 10, 4096.0);
      extra["server_rss_returned"] = back ? 1 : 0;
      human << "  server memory " << (back ? "returned to" : "did NOT return to")
            << " its baseline\n";
    }
  }
  if (r.rate_limited > 0)
    human << "  " << r.rate_limited
          << " requests were RATE_LIMITED: start the gateway with a higher --rate-limit/--rate-burst\n";
  if (!r.first_error.empty())
    human << "  first error: " << r.first_error << "\n";
  human << "  result: " << (ok ? "OK" : "FAILED") << "\n";
  std::cerr << human.str();
  std::cout << to_json_line(o.mode, params, r, extra, false) << std::endl;
  return ok ? 0 : 1;
}
