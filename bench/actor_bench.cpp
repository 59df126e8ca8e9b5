// Costs of Parley's actor layer, side by side with the same work written
// directly on CAF: ping-pong round trips, spawn + exit, fan-out, many senders
// to one mailbox, memory per idle actor. scripts/bench-erlang.sh runs the
// same workloads on Erlang/OTP (bench/peers/erlang) and prints both.

#include "bench_main.hpp"
#include "parley/actors/ping_pong.hpp"
#include "parley/runtime/node.hpp"
#include "parley/runtime/supervisor.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/system_messages.hpp>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <thread>
#include <unistd.h>

using namespace parley;

namespace {

constexpr uint64_t rounds_per_game = 10000;

using parley::bench::system;

// -- ping-pong through Parley: typed Pinger/Ponger under a supervisor ------------

void BM_ParleyPingPong(benchmark::State& state) {
  auto& sys = system();
  auto sup = runtime::spawn_supervisor(sys, {}, actors::ping_pong_children(nullptr));
  caf::scoped_actor self{sys};
  caf::actor pinger_handle;
  self->request(sup, caf::infinite, runtime::find_child_atom::value, std::string{"pinger"})
    .receive([&](caf::actor& x) { pinger_handle = x; }, [](caf::error&) {});
  auto pinger = caf::actor_cast<actors::pinger_actor>(pinger_handle);
  for (auto _ : state) {
    self->request(pinger, caf::infinite, actors::play_atom::value, rounds_per_game)
      .receive([&](const actors::game_result& r) { benchmark::DoNotOptimize(r.rounds); },
               [&](caf::error& err) { state.SkipWithError(sys.render(err).c_str()); });
  }
  state.SetItemsProcessed(state.iterations() * rounds_per_game);
  state.counters["round_trips_per_s"]
    = benchmark::Counter(static_cast<double>(state.iterations() * rounds_per_game),
                         benchmark::Counter::kIsRate);
  self->send_exit(sup, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_ParleyPingPong)->Unit(benchmark::kMillisecond)->UseRealTime();

// -- the same game written directly on CAF ---------------------------------------

using raw_ponger = caf::typed_actor<caf::replies_to<actors::ping_atom, uint64_t>::with<uint64_t>>;
using raw_pinger = caf::typed_actor<caf::replies_to<actors::play_atom, uint64_t>::with<uint64_t>>;

raw_ponger::behavior_type raw_ponger_impl() {
  return {[](actors::ping_atom, uint64_t n) { return n; }};
}

struct raw_pinger_state {
  raw_ponger ponger;
  caf::duration timeout = caf::infinite;
  uint64_t round = 0;
  uint64_t target = 0;
  caf::typed_response_promise<uint64_t> promise;
};

void raw_serve(raw_pinger::stateful_pointer<raw_pinger_state> self) {
  auto& st = self->state;
  if (st.round == st.target) {
    st.promise.deliver(st.round);
    return;
  }
  self->request(st.ponger, st.timeout, actors::ping_atom::value, st.round + 1)
    .then([self](uint64_t n) {
      self->state.round = n;
      raw_serve(self);
    });
}

raw_pinger::behavior_type raw_pinger_impl(raw_pinger::stateful_pointer<raw_pinger_state> self,
                                          raw_ponger ponger, caf::duration timeout) {
  self->state.ponger = std::move(ponger);
  self->state.timeout = timeout;
  return {[self](actors::play_atom, uint64_t n) -> caf::result<uint64_t> {
    auto& st = self->state;
    st.round = 0;
    st.target = n;
    st.promise = self->make_response_promise<uint64_t>();
    raw_serve(self);
    return st.promise;
  }};
}

void BM_RawCafPingPong(benchmark::State& state) {
  auto& sys = system();
  auto ponger = sys.spawn(raw_ponger_impl);
  // Arg 1: every request carries a 10 s timeout, as CAF code often does.
  auto timeout = state.range(0) == 0 ? caf::infinite : caf::duration{std::chrono::seconds(10)};
  auto pinger = sys.spawn(raw_pinger_impl, ponger, timeout);
  caf::scoped_actor self{sys};
  for (auto _ : state) {
    self->request(pinger, caf::infinite, actors::play_atom::value, rounds_per_game)
      .receive([&](uint64_t n) { benchmark::DoNotOptimize(n); },
               [&](caf::error& err) { state.SkipWithError(sys.render(err).c_str()); });
  }
  state.SetItemsProcessed(state.iterations() * rounds_per_game);
  state.counters["round_trips_per_s"]
    = benchmark::Counter(static_cast<double>(state.iterations() * rounds_per_game),
                         benchmark::Counter::kIsRate);
  self->send_exit(pinger, caf::exit_reason::user_shutdown);
  self->send_exit(ponger, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_RawCafPingPong)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// -- spawn + exit --------------------------------------------------------------------

using spawn_atom = caf::atom_constant<caf::atom("spawnn")>;

// Spawns N actors that end at once, replies when every one of them is down.
struct spawner_state {
  uint64_t pending = 0;
  caf::response_promise promise;
};

caf::behavior spawner_impl(caf::stateful_actor<spawner_state>* self) {
  self->set_down_handler([self](caf::down_msg&) {
    if (--self->state.pending == 0)
      self->state.promise.deliver(caf::unit);
  });
  return {[self](spawn_atom, uint64_t n) {
    self->state.pending = n;
    self->state.promise = self->make_response_promise();
    for (uint64_t i = 0; i < n; ++i)
      // An empty behaviour: the actor ends right after it starts.
      self->spawn<caf::monitored>([] { return caf::behavior{}; });
    return self->state.promise;
  }};
}

void BM_SpawnAndExit(benchmark::State& state) {
  auto& sys = system();
  auto spawner = sys.spawn(spawner_impl);
  caf::scoped_actor self{sys};
  const uint64_t n = 10000;
  for (auto _ : state) {
    self->request(spawner, caf::infinite, spawn_atom::value, n)
      .receive([] {}, [&](caf::error& err) { state.SkipWithError(sys.render(err).c_str()); });
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["spawns_per_s"]
    = benchmark::Counter(static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
  self->send_exit(spawner, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_SpawnAndExit)->Unit(benchmark::kMillisecond)->UseRealTime();

// -- fan-out and mailbox, the workloads of bench/peers/erlang --------------------

using deliver_atom = caf::atom_constant<caf::atom("deliver")>;
using ack_atom = caf::atom_constant<caf::atom("ack")>;
using round_atom = caf::atom_constant<caf::atom("round")>;
using expect_atom = caf::atom_constant<caf::atom("expect")>;
using burst_atom = caf::atom_constant<caf::atom("burst")>;

// One round: the hub sends one message to each member, each member answers
// with one message, the round ends when every answer is in.
struct hub_state {
  std::vector<caf::actor> members;
  size_t pending = 0;
  caf::response_promise promise;
};

caf::behavior fan_member(caf::event_based_actor* self) {
  return {[self](deliver_atom) {
    self->send(caf::actor_cast<caf::actor>(self->current_sender()), ack_atom::value);
  }};
}

caf::behavior hub_impl(caf::stateful_actor<hub_state>* self, std::vector<caf::actor> members) {
  self->state.members = std::move(members);
  return {
    [self](round_atom) {
      auto& st = self->state;
      st.pending = st.members.size();
      st.promise = self->make_response_promise();
      for (auto& m : st.members)
        self->send(m, deliver_atom::value);
      return st.promise;
    },
    [self](ack_atom) {
      if (--self->state.pending == 0)
        self->state.promise.deliver(caf::unit);
    },
  };
}

void BM_ActorFanOut(benchmark::State& state) {
  auto& sys = system();
  const auto n = static_cast<size_t>(state.range(0));
  std::vector<caf::actor> members;
  members.reserve(n);
  for (size_t i = 0; i < n; ++i)
    members.push_back(sys.spawn(fan_member));
  auto hub = sys.spawn(hub_impl, members);
  caf::scoped_actor self{sys};
  for (auto _ : state) {
    self->request(hub, caf::infinite, round_atom::value)
      .receive([] {}, [&](caf::error& err) { state.SkipWithError(sys.render(err).c_str()); });
  }
  state.counters["deliveries_per_s"] = benchmark::Counter(
    static_cast<double>(state.iterations() * n), benchmark::Counter::kIsRate);
  self->send_exit(hub, caf::exit_reason::user_shutdown);
  for (auto& m : members)
    self->send_exit(m, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_ActorFanOut)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)
  ->UseRealTime();

// Many senders, one receiver: each of S senders sends K messages; the round
// ends when the receiver has counted S × K.
struct sink_state {
  uint64_t left = 0;
  caf::response_promise promise;
};

caf::behavior counting_receiver(caf::stateful_actor<sink_state>* self) {
  return {
    [self](expect_atom, uint64_t total) {
      self->state.left = total;
      self->state.promise = self->make_response_promise();
      return self->state.promise;
    },
    [self](uint64_t) {
      if (--self->state.left == 0)
        self->state.promise.deliver(caf::unit);
    },
  };
}

caf::behavior burst_sender(caf::event_based_actor* self) {
  return {[self](burst_atom, const caf::actor& to, uint64_t k) {
    for (uint64_t i = 0; i < k; ++i)
      self->send(to, i);
  }};
}

void BM_Mailbox(benchmark::State& state) {
  auto& sys = system();
  const auto senders = static_cast<size_t>(state.range(0));
  const uint64_t per_sender = 10000;
  auto receiver = sys.spawn(counting_receiver);
  std::vector<caf::actor> pool;
  for (size_t i = 0; i < senders; ++i)
    pool.push_back(sys.spawn(burst_sender));
  caf::scoped_actor self{sys};
  for (auto _ : state) {
    // The expectation is in the receiver's mailbox before any sender starts.
    auto answer = self->request(receiver, caf::infinite, expect_atom::value, senders * per_sender);
    for (auto& s : pool)
      self->send(s, burst_atom::value, receiver, per_sender);
    std::move(answer).receive(
      [] {}, [&](caf::error& err) { state.SkipWithError(sys.render(err).c_str()); });
  }
  state.counters["msgs_per_s"] = benchmark::Counter(
    static_cast<double>(state.iterations() * senders * per_sender), benchmark::Counter::kIsRate);
  self->send_exit(receiver, caf::exit_reason::user_shutdown);
  for (auto& s : pool)
    self->send_exit(s, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_Mailbox)->Arg(100)->Unit(benchmark::kMillisecond)->UseRealTime();

// -- memory per idle actor -----------------------------------------------------------

size_t resident_bytes() {
  std::ifstream statm{"/proc/self/statm"};
  size_t pages = 0;
  size_t resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// An idle actor with a small state, as a room member or worker would be.
struct idle_state {
  uint64_t counter = 0;
  std::string name;
};

caf::behavior idle_impl(caf::stateful_actor<idle_state>* self) {
  return {[self](actors::ping_atom) { ++self->state.counter; }};
}

void BM_IdleActorMemory(benchmark::State& state) {
  auto& sys = system();
  const auto n = static_cast<size_t>(state.range(0));
  double per_actor = 0;
  for (auto _ : state) {
    auto before = resident_bytes();
    std::vector<caf::actor> actors;
    actors.reserve(n);
    auto vector_bytes = n * sizeof(caf::actor);
    for (size_t i = 0; i < n; ++i)
      actors.push_back(sys.spawn(idle_impl));
    auto after = resident_bytes();
    per_actor = static_cast<double>(after - before - vector_bytes) / static_cast<double>(n);
    for (auto& a : actors)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }
  state.counters["bytes_per_idle_actor"] = per_actor;
}
BENCHMARK(BM_IdleActorMemory)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

// The same through a supervisor: what child bookkeeping adds per child.
void BM_SupervisedIdleActorMemory(benchmark::State& state) {
  auto& sys = system();
  const auto n = static_cast<size_t>(state.range(0));
  double per_actor = 0;
  for (auto _ : state) {
    auto before = resident_bytes();
    std::vector<runtime::child_spec> specs;
    specs.reserve(n);
    for (size_t i = 0; i < n; ++i)
      specs.push_back(runtime::child_spec{
        "c" + std::to_string(i),
        [](caf::actor_system& s, const runtime::supervisor_actor&) -> caf::expected<caf::actor> {
          return s.spawn(idle_impl);
        },
        runtime::restart_type::temporary});
    auto sup = runtime::spawn_supervisor(sys, {}, std::move(specs));
    caf::scoped_actor self{sys};
    self->request(sup, caf::infinite, runtime::describe_atom::value)
      .receive([](const runtime::supervisor_report&) {}, [](caf::error&) {});
    auto after = resident_bytes();
    per_actor = static_cast<double>(after - before) / static_cast<double>(n);
    self->send_exit(sup, caf::exit_reason::user_shutdown);
  }
  state.counters["bytes_per_supervised_actor"] = per_actor;
}
BENCHMARK(BM_SupervisedIdleActorMemory)->Arg(100000)->Iterations(1)->Unit(benchmark::kMillisecond);

} // namespace

int main(int argc, char** argv) {
  return parley::bench::run(argc, argv, actors::announce_ping_pong);
}
