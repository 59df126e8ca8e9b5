#pragma once

/// @file
/// One process's run: the io threads and their connections (`engine`), the
/// frames a run sends, and the setup every mode shares (connect, hello,
/// join; close).

#include "parley_bench/client.hpp"
#include "parley_bench/options.hpp"
#include "parley_bench/stats.hpp"
#include "parley_bench/summary.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace parley::bench {

namespace net = boost::asio;
namespace v1 = parley::v1;

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

/// Prints progress once a second on stderr while `done` is false; false
/// when `deadline` passed first.
bool wait_until(const std::function<bool()>& done, std::chrono::steady_clock::time_point deadline,
                const std::function<std::string()>& progress, const options& o);

// -- frames ---------------------------------------------------------------------

v1::ClientFrame hello(const std::string& user);
v1::ClientFrame join(const std::string& room);
v1::ClientFrame publish(const std::string& ref, const std::string& room, const std::string& text);
v1::ClientFrame leave(const std::string& room);
v1::ClientFrame ping();
std::string error_line(const v1::ServerFrame& f);

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
         std::chrono::steady_clock::time_point deadline, bool& in_time);

/// Closes every connection and waits (at most 5 s) until they are down.
void close_all(engine& e, const options& o, std::vector<std::shared_ptr<connection>>& conns);

/// Between setup and the measured phase: the parent measures the server's
/// RSS there; a worker says READY and waits for the parent's go.
using barrier_fn = std::function<void()>;

/// A room name unique to this run.
std::string room_name(const options& o, const std::string& kind, size_t index);

} // namespace parley::bench
