// Fan-out: one publish delivered to M member actors of one room, and the
// cost of encoding a frame once for all members against once per member.

#include "bench_main.hpp"
#include "parley/actors/room.hpp"
#include "parley/runtime/node.hpp"

#include <caf/exit_reason.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <condition_variable>
#include <mutex>
#include <thread>

using namespace parley;
using namespace parley::actors;

namespace {


// Counts deliveries; wakes the benchmark when all expected ones arrived.
struct countdown {
  std::atomic<size_t> left{0};
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;

  void arm(size_t n) {
    std::lock_guard<std::mutex> guard{mtx};
    done = false;
    left = n;
  }

  void hit() {
    if (left.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> guard{mtx};
      done = true;
      cv.notify_one();
    }
  }

  void wait() {
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [this] { return done; });
  }
};

member_actor::behavior_type counting_member(member_actor::pointer,
                                            std::shared_ptr<countdown> cd) {
  return {[cd](deliver_atom, const shared_frame& f) {
    benchmark::DoNotOptimize(f.json.get());
    cd->hit();
  }};
}

void BM_RoomFanOut(benchmark::State& state) {
  auto& sys = parley::bench::system();
  const auto members = static_cast<size_t>(state.range(0));
  auto cd = std::make_shared<countdown>();
  room_config cfg;
  cfg.idle_timeout = caf::timespan{0};
  // Keep presence diffs out of the count: members count every delivery.
  cfg.presence_interval = std::chrono::hours(1);
  auto room = sys.spawn(room_impl, std::string{"bench"}, cfg, std::make_shared<room_memory>(),
                        room_behavior_rule{});
  caf::scoped_actor self{sys};
  std::vector<member_actor> handles;
  handles.reserve(members);
  for (size_t i = 0; i < members; ++i) {
    handles.push_back(sys.spawn(counting_member, cd));
    self->send(room, join_atom::value,
               join_request{handles.back(), "u" + std::to_string(i), encoding::json, {}, {}, nullptr});
  }
  for (size_t i = 0; i < members; ++i)
    self->receive([](join_reply&) {}, [](caf::error&) {});
  for (auto _ : state) {
    cd->arm(members);
    self->send(room, publish_atom::value, publish_request{handles.front(), "hello, room", {}});
    cd->wait();
    self->receive([](seq_t) {}, [](caf::error&) {});
  }
  state.counters["deliveries_per_s"] = benchmark::Counter(
    static_cast<double>(state.iterations() * members), benchmark::Counter::kIsRate);
  for (auto& h : handles)
    self->send_exit(h, caf::exit_reason::user_shutdown);
  self->send_exit(room, caf::exit_reason::user_shutdown);
}
BENCHMARK(BM_RoomFanOut)->Arg(1000)->Arg(10000)->Arg(100000)->Unit(benchmark::kMillisecond)
  ->UseRealTime();

v1::ServerFrame sample_frame() {
  v1::ServerFrame f;
  auto* m = f.mutable_message();
  m->set_room("lobby");
  m->set_seq(123456);
  m->set_sender("ann");
  m->set_text("a typical chat line, about sixty bytes of text in one message");
  m->set_server_time_ms(1700000000000);
  return f;
}

// What the room does: one encoding, M references to the same bytes.
void BM_EncodeOnce(benchmark::State& state) {
  const auto members = static_cast<size_t>(state.range(0));
  auto frame = sample_frame();
  std::vector<std::shared_ptr<const std::string>> out(members);
  for (auto _ : state) {
    auto shared = shared_frame::make(frame, false, true);
    for (auto& o : out)
      o = shared.json;
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["members_per_s"] = benchmark::Counter(
    static_cast<double>(state.iterations() * members), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EncodeOnce)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

// The naive alternative: each member serialises the frame itself.
void BM_EncodePerMember(benchmark::State& state) {
  const auto members = static_cast<size_t>(state.range(0));
  auto frame = sample_frame();
  std::vector<std::shared_ptr<const std::string>> out(members);
  for (auto _ : state) {
    for (auto& o : out)
      o = std::make_shared<const std::string>(proto::encode(frame, encoding::json));
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["members_per_s"] = benchmark::Counter(
    static_cast<double>(state.iterations() * members), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EncodePerMember)->Arg(1000)->Arg(10000)->Unit(benchmark::kMicrosecond);

} // namespace

int main(int argc, char** argv) {
  return parley::bench::run(argc, argv);
}
