// JSON encoding of server frames: protobuf's printer against Parley's
// writer (parley/proto/json_writer.hpp), side by side in one run.
//   cmake --build --preset release --target codec_bench
//   build/release/bench/codec_bench

#include "parley/proto/codec.hpp"
#include "parley/proto/json_writer.hpp"

#include <benchmark/benchmark.h>
#include <google/protobuf/util/json_util.h>

namespace {

namespace v1 = parley::v1;

v1::ServerFrame join_reply(int members) {
  v1::ServerFrame f;
  f.set_ref("j1");
  auto* joined = f.mutable_ack()->mutable_joined();
  joined->set_room("lobby");
  joined->set_seq(4711);
  joined->set_member_count(static_cast<uint32_t>(members));
  for (int i = 0; i < members; ++i)
    joined->add_members("bench-user-" + std::to_string(i));
  return f;
}

v1::ServerFrame chat_message() {
  v1::ServerFrame f;
  auto* m = f.mutable_message();
  m->set_room("lobby");
  m->set_seq(123456);
  m->set_sender("alice");
  m->set_text("hello, everyone in the lobby: \"quoted\" <b>and</b> a newline\n");
  m->set_server_time_ms(1732400000000);
  return f;
}

v1::ServerFrame pong() {
  v1::ServerFrame f;
  f.set_ref("p17");
  f.mutable_ack()->mutable_pong()->set_client_time_ms(1732400000000);
  f.mutable_ack()->mutable_pong()->set_server_time_ms(1732400000001);
  return f;
}

v1::ServerFrame frame_for(int64_t which) {
  switch (which) {
    case 0: return pong();
    case 1: return chat_message();
    default: return join_reply(static_cast<int>(which));
  }
}

void BM_ProtobufPrinter(benchmark::State& state) {
  auto f = frame_for(state.range(0));
  google::protobuf::util::JsonPrintOptions opts;
  for (auto _ : state) {
    std::string out;
    benchmark::DoNotOptimize(google::protobuf::util::MessageToJsonString(f, &out, opts));
    benchmark::DoNotOptimize(out);
  }
}

void BM_ParleyWriter(benchmark::State& state) {
  auto f = frame_for(state.range(0));
  for (auto _ : state) {
    std::string out;
    benchmark::DoNotOptimize(parley::proto::write_json(f, out));
    benchmark::DoNotOptimize(out);
  }
}

// 0: a pong, 1: a chat message, 1000: a join reply listing 1000 members.
BENCHMARK(BM_ProtobufPrinter)->Arg(0)->Arg(1)->Arg(1000);
BENCHMARK(BM_ParleyWriter)->Arg(0)->Arg(1)->Arg(1000);

} // namespace

BENCHMARK_MAIN();
