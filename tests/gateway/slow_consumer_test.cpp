// The slow-consumer bound, against the real binary: a reader that reads too
// slowly is closed 1008 after the frame in flight, one that reads nothing is
// dropped after the grace, and both resume without loss. Every wait is
// bounded.

#include "parley/proto/codec.hpp"
#include "support/gateway_process.hpp"
#include "support/raw_chat.hpp"
#include "support/raw_ws.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <variant>
#include <vector>

using namespace std::chrono_literals;
using namespace parley::test;
using parley::proto::encoding;
namespace v1 = parley::v1;

namespace {

/// A reader that does not read, in a room a publisher floods until the
/// gateway gives up on the reader; returns the last seq published.
uint64_t flood_until_slow(uint16_t port, raw_ws& slow, raw_ws& pub) {
  if (!open_chat(slow, port, "slow", "127.0.0.1", 4096))
    return 0;
  auto joined = ask(slow, "j", R"({"ref":"j","join":{"room":"firehose"}})");
  if (!joined || !joined->ack().has_joined() || !open_chat(pub, port, "pub")
      || !ask(pub, "j", R"({"ref":"j","join":{"room":"firehose"}})"))
    return 0;
  // Kernel buffers first absorb a few MB.
  const std::string text(3000, 'x');
  uint64_t last = 0;
  for (int i = 1; i <= 5000; ++i) {
    auto ref = "p" + std::to_string(i);
    auto ack = ask(pub, ref,
                   R"({"ref":")" + ref + R"(","publish":{"room":"firehose","text":")" + text
                     + R"("}})");
    if (!ack || !ack->ack().has_published())
      return 0;
    last = ack->ack().published().seq();
    if (i % 10 == 0 && metric(port, "parley_slow_consumer_disconnects_total") >= 1)
      return last;
  }
  ADD_FAILURE() << "5000 messages did not overflow a reader that never reads";
  return 0;
}

/// Reads to the end of the stream: the highest seq seen (in order, without
/// gaps) and the close frame, if one came.
std::pair<uint64_t, std::optional<raw_frame>> read_to_end(raw_ws& c) {
  uint64_t seen = 0;
  std::optional<raw_frame> close;
  for (;;) {
    auto f = c.read_frame(20s);
    if (!f)
      break;
    if (f->opcode == 0x8)
      close = *f;
    if (f->opcode != 0x1)
      continue;
    auto res = parley::proto::decode_server(f->payload, encoding::json);
    auto* frame = std::get_if<v1::ServerFrame>(&res);
    if (frame && frame->has_message()) {
      EXPECT_EQ(frame->message().seq(), seen + 1) << "messages arrive in order, without gaps";
      seen = frame->message().seq();
    }
  }
  return {seen, close};
}

/// The slow reader comes back and resumes after the last seq it saw:
/// nothing is lost.
void expect_resume(uint16_t port, uint64_t seen, uint64_t last) {
  raw_ws back;
  ASSERT_TRUE(open_chat(back, port, "slow"));
  auto resumed = ask(back, "r",
                     R"({"ref":"r","join":{"room":"firehose","sinceSeq":")" + std::to_string(seen)
                       + R"("}})");
  ASSERT_TRUE(resumed && resumed->ack().has_joined());
  auto& got = resumed->ack().joined();
  EXPECT_FALSE(got.gap());
  ASSERT_EQ(static_cast<uint64_t>(got.messages_size()), last - seen);
  for (int i = 0; i < got.messages_size(); ++i)
    EXPECT_EQ(got.messages(i).seq(), seen + 1 + static_cast<uint64_t>(i));
}

} // namespace

// 16 frames bind first; the byte bound leaves room for the resume reply.
const std::vector<std::string> slow_consumer_flags = {
  "--outbound-frames=16", "--outbound-bytes=4194304", "--rate-limit=100000",
  "--rate-burst=100000", "--backlog=20000"};

// A client that reads, but too slowly: what waited behind the frame in
// flight is dropped, and once that frame is through it gets close 1008.
TEST(GatewayLimits, ASlowConsumerIsClosedWith1008AndResumesWithoutLoss) {
  gateway_process gw{slow_consumer_flags};
  ASSERT_NE(gw.port(), 0);
  raw_ws slow, pub;
  auto last = flood_until_slow(gw.port(), slow, pub);
  ASSERT_GT(last, 0u);
  // It reads again at once, well within the gateway's 2 s grace.
  auto [seen, close] = read_to_end(slow);
  ASSERT_TRUE(close) << "a close frame after the frame in flight";
  EXPECT_EQ(close->close_code(), 1008);
  EXPECT_NE(close->payload.find("slow consumer"), std::string::npos) << close->payload;
  EXPECT_LT(seen, last);
  EXPECT_EQ(metric(gw.port(), "parley_gateway_closes_total{code=\"1008\"}"), 1);
  expect_resume(gw.port(), seen, last);
  expect_alive(gw.port());
}

// A client that reads nothing never lets the frame in flight finish, so no
// close frame can follow it: after the grace its TCP connection is dropped.
TEST(GatewayLimits, AConsumerThatReadsNothingIsDroppedAfterTheGrace) {
  gateway_process gw{slow_consumer_flags};
  ASSERT_NE(gw.port(), 0);
  raw_ws slow, pub;
  auto last = flood_until_slow(gw.port(), slow, pub);
  ASSERT_GT(last, 0u);
  // The gateway says when it drops the reader (after its 2 s grace).
  ASSERT_TRUE(gw.proc().wait_for_line("dropped: slow consumer", 20s))
    << "no drop logged\n" << gw.log();
  EXPECT_EQ(metric(gw.port(), "parley_gateway_dropped_total{reason=\"slow_consumer\"}"), 1);
  auto [seen, close] = read_to_end(slow);
  EXPECT_FALSE(close) << "dropped: no close frame could get past the write in flight";
  EXPECT_TRUE(slow.eof()) << "dropped, not left hanging";
  EXPECT_LT(seen, last);
  expect_resume(gw.port(), seen, last);
  expect_alive(gw.port());
}
