// store_bench: acknowledged publishes per second and publish-to-ack latency
// in one process (rooms and the history store, no sockets), for the memory,
// SQLite and PostgreSQL stores. docs/benchmarks.md ("History store") has
// figures.
//
//   store_bench --store=sqlite --sync=normal --rooms=100 --window=16 --seconds=5
//   store_bench --store=postgres --postgres-url=postgresql://me@127.0.0.1:5432/bench
//   store_bench --store=sqlite --rooms=10 --rate=10000      # open loop: fixed rate
//
// Closed loop: each room has one publisher keeping `window` publishes in
// flight. Open loop (`--rate`): publishers send at a fixed total rate
// whatever the acks do, and latency counts from the moment a publish was
// due, so a store that falls behind shows it.
#include "parley/actors/room.hpp"
#include "parley/runtime/node.hpp"
#include "parley/runtime/scheduler.hpp"
#include "parley/store/store_service.hpp"
#include "parley/version.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <unistd.h>

namespace {

using namespace parley;
using namespace parley::actors;
using clock_type = std::chrono::steady_clock;
using tick_atom_b = caf::atom_constant<caf::atom("bticks")>;

struct options {
  std::string store = "sqlite";
  std::string sync = "normal";
  std::string data_dir;
  std::string postgres_url;
  size_t rooms = 1;
  size_t window = 64;
  double rate = 0; // total publishes per second; 0: closed loop
  double seconds = 5;
  double warmup = 1;
  size_t threads = 2;
};

struct shared_run {
  std::atomic<bool> stop{false};
  clock_type::time_point t0, t1; // the measured window
};

// Written by its publisher only; read by main once every actor ended.
struct pub_result {
  std::vector<int64_t> latencies_ns; // acks inside the window
  uint64_t acked = 0;
  uint64_t refused = 0;
  double credit = 0;
  uint64_t sent = 0;
  clock_type::time_point last_tick;
};

struct pub_state {
  std::shared_ptr<pub_result> r;
};

using pub_actor = caf::stateful_actor<pub_state>;

void send_one(pub_actor* self, const room_actor& room, std::shared_ptr<shared_run> run,
              clock_type::time_point due, bool refill) {
  auto& st = *self->state.r;
  ++st.sent;
  self->request(room, caf::infinite, publish_atom::value,
                publish_request{self->address(), "m" + std::to_string(st.sent), {}})
    .then(
      [self, room, run, due, refill](seq_t) {
        auto now = clock_type::now();
        auto& st = *self->state.r;
        if (now >= run->t0 && now < run->t1) {
          ++st.acked;
          st.latencies_ns.push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - due).count());
        }
        if (refill && !run->stop.load(std::memory_order_relaxed))
          send_one(self, room, run, clock_type::now(), true);
      },
      [self, room, run, refill](caf::error&) {
        ++self->state.r->refused;
        if (refill && !run->stop.load(std::memory_order_relaxed))
          send_one(self, room, run, clock_type::now(), true);
      });
}

caf::behavior publisher(pub_actor* self, room_actor room, std::shared_ptr<shared_run> run,
                        std::shared_ptr<pub_result> result, size_t window, double rate) {
  self->state.r = std::move(result);
  // The publisher is the member: no sink (it wants no frames).
  join_request req{self->address(), "bench", proto::encoding::binary, {}, {}, nullptr, "j"};
  self->request(room, caf::infinite, join_atom::value, std::move(req))
    .then([self, room, run, window, rate](join_reply&) {
      if (rate <= 0) {
        for (size_t i = 0; i < window; ++i)
          send_one(self, room, run, clock_type::now(), true);
      } else {
        self->send(self, tick_atom_b::value);
      }
    });
  return {
    [self, room, run, rate](tick_atom_b) {
      if (run->stop.load(std::memory_order_relaxed))
        return;
      // Every millisecond or so, what fell due since the last tick (timers
      // run late: counting elapsed time keeps the rate); latency counts
      // from now.
      auto& st = *self->state.r;
      auto now = clock_type::now();
      if (st.last_tick != clock_type::time_point{})
        st.credit += rate * std::chrono::duration<double>(now - st.last_tick).count();
      st.last_tick = now;
      while (st.credit >= 1) {
        st.credit -= 1;
        send_one(self, room, run, now, false);
      }
      self->delayed_send(self, std::chrono::milliseconds(1), tick_atom_b::value);
    },
    [](join_reply&) {},
  };
}

double percentile(std::vector<int64_t>& v, double p) {
  if (v.empty())
    return 0;
  auto k = static_cast<size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e6;
}

struct bench_config : caf::actor_system_config {
  explicit bench_config(size_t threads) {
    runtime::announce_runtime(*this);
    set("scheduler.max-threads", threads);
    // The node's policy (docs/configuration.md), or PARLEY_SCHEDULER's.
    auto* policy = std::getenv("PARLEY_SCHEDULER");
    runtime::use_scheduler(*this, policy ? policy : runtime::node_config{}.scheduler);
  }
};

} // namespace

int main(int argc, char** argv) {
  options opt;
  CLI::App app{"In-process history-store benchmark: acknowledged publishes/s and latency"};
  app.add_option("--store", opt.store)->check(CLI::IsMember({"memory", "sqlite", "postgres"}));
  app.add_option("--postgres-url", opt.postgres_url, "With --store=postgres: the database");
  app.add_option("--sync", opt.sync)->check(CLI::IsMember({"normal", "full"}));
  app.add_option("--data-dir", opt.data_dir, "SQLite folder (default: a fresh one in /tmp)");
  app.add_option("--rooms", opt.rooms)->check(CLI::Range(size_t{1}, size_t{100'000}));
  app.add_option("--window", opt.window, "Publishes in flight per room (closed loop)")
    ->check(CLI::Range(size_t{1}, size_t{100'000}));
  app.add_option("--rate", opt.rate, "Total publishes/s, open loop (0: closed loop)")
    ->check(CLI::Range(0.0, 1e7));
  app.add_option("--seconds", opt.seconds)->check(CLI::Range(0.1, 3600.0));
  app.add_option("--threads", opt.threads, "CAF scheduler threads")
    ->check(CLI::Range(size_t{1}, size_t{64}));
  app.set_version_flag("--version", parley::version_text("store_bench"));
  CLI11_PARSE(app, argc, argv);

  std::string tmp;
  std::unique_ptr<store::history_store> backend;
  if (opt.store == "sqlite") {
    if (opt.data_dir.empty()) {
      tmp = "/tmp/parley-store-bench-XXXXXX";
      opt.data_dir = ::mkdtemp(tmp.data());
      tmp = opt.data_dir;
    }
    std::string why;
    backend = store::open_sqlite_store(
      {opt.data_dir, opt.sync == "full" ? store::sync_mode::full : store::sync_mode::normal}, why);
    if (!backend) {
      std::fprintf(stderr, "store_bench: %s\n", why.c_str());
      return 2;
    }
  } else if (opt.store == "postgres") {
    std::string why;
    backend = store::open_postgres_store({opt.postgres_url, "store-bench"}, why);
    if (!backend) {
      std::fprintf(stderr, "store_bench: %s\n", why.c_str());
      return 2;
    }
  } else {
    backend = store::make_memory_store();
  }
  // Each room starts as the rooms directory starts it: from its head in the
  // store (its seq, and the ownership epoch its commits carry).
  std::vector<store::room_head> heads;
  for (size_t i = 0; i < opt.rooms; ++i)
    heads.push_back(backend->load("bench-" + std::to_string(i), 0));
  auto service = std::make_shared<store::store_service>(std::move(backend));
  {
    bench_config cfg{opt.threads};
    caf::actor_system sys{cfg};
    auto run = std::make_shared<shared_run>();
    room_config rc;
    rc.presence_interval = caf::timespan{0};
    rc.idle_timeout = caf::timespan{0};
    rc.store = service;
    std::vector<room_actor> rooms;
    std::vector<caf::actor> pubs;
    std::vector<std::shared_ptr<pub_result>> results;
    auto start = clock_type::now();
    run->t0 = start + std::chrono::duration_cast<clock_type::duration>(
                        std::chrono::duration<double>(opt.warmup));
    run->t1 = run->t0 + std::chrono::duration_cast<clock_type::duration>(
                          std::chrono::duration<double>(opt.seconds));
    for (size_t i = 0; i < opt.rooms; ++i) {
      auto name = "bench-" + std::to_string(i);
      auto memory = std::make_shared<room_memory>();
      memory->last_seq = heads[i].last_seq;
      memory->epoch = heads[i].epoch;
      rooms.push_back(sys.spawn(room_impl, name, rc, memory, room_behavior_rule{}));
      results.push_back(std::make_shared<pub_result>());
      pubs.push_back(sys.spawn(publisher, rooms.back(), run, results.back(), opt.window,
                               opt.rate / static_cast<double>(opt.rooms)));
    }
    std::this_thread::sleep_until(run->t0);
    auto commits0 = service->stats().commits.load();
    auto batches0 = service->stats().batches.load();
    auto messages0 = service->stats().messages.load();
    std::this_thread::sleep_until(run->t1);
    auto commits = service->stats().commits.load() - commits0;
    auto batches = service->stats().batches.load() - batches0;
    auto messages = service->stats().messages.load() - messages0;
    run->stop = true;
    for (auto& p : pubs)
      caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
    for (auto& r : rooms)
      caf::anon_send_exit(r, caf::exit_reason::user_shutdown);
    std::vector<int64_t> all;
    uint64_t acked = 0;
    uint64_t refused = 0;
    pubs.clear();
    rooms.clear();
    sys.await_all_actors_done();
    for (auto& r : results) {
      acked += r->acked;
      refused += r->refused;
      all.insert(all.end(), r->latencies_ns.begin(), r->latencies_ns.end());
    }
    auto secs = opt.seconds;
    std::printf("store=%s sync=%s rooms=%zu %s: %.0f acked/s, p50 %.3f ms, p99 %.3f ms, "
                "%.0f commits/s, %.1f room batches and %.1f messages per commit, %lu refused\n",
                opt.store.c_str(), opt.store == "sqlite" ? opt.sync.c_str() : "-", opt.rooms,
                opt.rate > 0 ? ("rate=" + std::to_string(static_cast<long>(opt.rate))).c_str()
                             : ("window=" + std::to_string(opt.window)).c_str(),
                static_cast<double>(acked) / secs, percentile(all, 0.5), percentile(all, 0.99),
                static_cast<double>(commits) / secs,
                commits ? static_cast<double>(batches) / static_cast<double>(commits) : 0.0,
                commits ? static_cast<double>(messages) / static_cast<double>(commits) : 0.0,
                static_cast<unsigned long>(refused));
  }
  service->stop();
  if (!tmp.empty())
    std::filesystem::remove_all(tmp);
  return 0;
}
