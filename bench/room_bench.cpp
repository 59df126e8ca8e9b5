// Fan-out: one publish written to the sinks of M members of one room, and
// the cost of encoding a frame once for all members against once per member.

#include "bench_main.hpp"
#include "parley/actors/room.hpp"
#include "parley/runtime/node.hpp"

#include <caf/exit_reason.hpp>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/event_based_actor.hpp>

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>

using namespace parley;
using namespace parley::actors;

namespace {

// A member's sink that counts what the room writes to it (the room writes
// its members' frames itself, so a publish's reply comes after every write).
class counting_sink final : public frame_sink {
public:
  explicit counting_sink(std::shared_ptr<std::atomic<uint64_t>> count)
    : count_(std::move(count)) {
    // nop
  }

  sink_status send(std::shared_ptr<const std::string> bytes) override {
    benchmark::DoNotOptimize(bytes.get());
    count_->fetch_add(1, std::memory_order_relaxed);
    return sink_status::queued;
  }

  sink_status reply(const server_reply&, encoding) override {
    return sink_status::queued; // rooms send no replies: only their members do
  }

  void close(close_cause) override {
    // nop
  }

private:
  std::shared_ptr<std::atomic<uint64_t>> count_;
};

// The user's name only because CAF 0.17 spawns a function without
// arguments through a null shared_ptr<tuple<>> (UBSan reports it).
caf::behavior standing_member(caf::event_based_actor*, std::string) {
  return {[](int) {}};
}

void BM_RoomFanOut(benchmark::State& state) {
  auto& sys = parley::bench::system();
  const auto members = static_cast<size_t>(state.range(0));
  auto count = std::make_shared<std::atomic<uint64_t>>(0);
  room_config cfg;
  cfg.idle_timeout = caf::timespan{0};
  // Keep presence diffs out of the count.
  cfg.presence_interval = std::chrono::hours(1);
  auto room = sys.spawn(room_impl, std::string{"bench"}, cfg, std::make_shared<room_memory>(),
                        room_behavior_rule{});
  caf::scoped_actor self{sys};
  std::vector<caf::actor> handles;
  handles.reserve(members);
  auto sink = std::make_shared<counting_sink>(count);
  for (size_t i = 0; i < members; ++i) {
    handles.push_back(sys.spawn(standing_member, "u" + std::to_string(i)));
    self->send(room, join_atom::value,
               join_request{handles.back().address(), "u" + std::to_string(i), encoding::json,
                            {}, {}, sink, "j"});
  }
  for (size_t i = 0; i < members; ++i)
    self->receive([](join_reply&) {}, [](caf::error&) {});
  auto before = count->load();
  for (auto _ : state) {
    self->send(room, publish_atom::value,
               publish_request{handles.front().address(), "hello, room", {}});
    self->receive([](seq_t) {}, [](caf::error&) {});
  }
  auto written = count->load() - before;
  if (written != static_cast<uint64_t>(state.iterations()) * members)
    state.SkipWithError("the room wrote fewer frames than members times publishes");
  state.counters["deliveries_per_s"] = benchmark::Counter(
    static_cast<double>(written), benchmark::Counter::kIsRate);
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
    fanout_frame shared{frame};
    for (auto& o : out)
      o = shared.bytes(encoding::json);
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
