// The bounded write queue every connection keeps: order, bounds, and the
// memory an idle queue holds.

#include "parley/gateway/outbound_queue.hpp"

#include <gtest/gtest.h>

#include <string>

using parley::gateway::outbound_queue;
using parley::actors::sink_status;

namespace {

std::shared_ptr<const std::string> frame(const std::string& s) {
  return std::make_shared<const std::string>(s);
}

} // namespace

TEST(OutboundQueue, KeepsOrderThroughInterleavedPushesAndPops) {
  outbound_queue q{{100, 1 << 20}};
  int pushed = 0;
  int popped = 0;
  // Pushes run ahead of pops by up to 7, so the front is consumed while
  // the vector is full and its slots are reused.
  for (int round = 0; round < 50; ++round) {
    for (int i = 0; i < round % 7 + 1; ++i)
      ASSERT_EQ(q.push(frame(std::to_string(pushed++))), sink_status::queued);
    for (int i = 0; i < round % 5 + 1 && !q.empty(); ++i) {
      EXPECT_EQ(*q.front(), std::to_string(popped++));
      q.pop();
    }
    EXPECT_EQ(q.frames(), static_cast<size_t>(pushed - popped));
  }
  while (!q.empty()) {
    EXPECT_EQ(*q.front(), std::to_string(popped++));
    q.pop();
  }
  EXPECT_EQ(popped, pushed);
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(OutboundQueue, RefusesPastItsFrameAndByteBounds) {
  outbound_queue by_frames{{3, 1 << 20}};
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(by_frames.push(frame("x")), sink_status::queued);
  EXPECT_EQ(by_frames.push(frame("x")), sink_status::overflow);
  by_frames.pop();
  EXPECT_EQ(by_frames.push(frame("x")), sink_status::queued);

  outbound_queue by_bytes{{100, 10}};
  EXPECT_EQ(by_bytes.push(frame("123456")), sink_status::queued);
  EXPECT_EQ(by_bytes.push(frame("12345")), sink_status::overflow);
  EXPECT_EQ(by_bytes.push(frame("1234")), sink_status::queued);
  EXPECT_EQ(by_bytes.bytes(), 10u);
  EXPECT_EQ(by_bytes.frames(), 2u);
}

TEST(OutboundQueue, AnIdleQueueHoldsNoMemoryAfterABigBurst) {
  outbound_queue q;
  EXPECT_EQ(q.capacity(), 0u); // constructed without allocating
  for (int i = 0; i < 3; ++i)
    q.push(frame("small"));
  while (!q.empty())
    q.pop();
  EXPECT_GT(q.capacity(), 0u); // a small burst's slots are kept for the next
  EXPECT_LE(q.capacity(), outbound_queue::keep_slots);
  for (int i = 0; i < 500; ++i)
    q.push(frame("burst"));
  while (!q.empty())
    q.pop();
  EXPECT_EQ(q.capacity(), 0u); // a big one's are given back
}
