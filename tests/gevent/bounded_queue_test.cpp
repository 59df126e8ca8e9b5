#include "parley/gevent/bounded_queue.hpp"

#include "actors/gevent_test.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

// A consumer that asks `queue` for an item and waits as long as it takes.
caf::behavior consumer(caf::event_based_actor* self, bounded_queue_actor queue) {
  self->request(queue, caf::infinite, get_atom::value).then([](std::string&) {});
  return {[](stop_atom) {}};
}

class BoundedQueueTest : public parley::test::gevent_test {
protected:
  bounded_queue_actor queue = make(2);

  bounded_queue_actor make(size_t capacity, size_t max_waiters = default_max_waiters) {
    auto q = spawn_bounded_queue(sys, capacity, max_waiters);
    EXPECT_TRUE(q) << render(q.error());
    return q ? *q : bounded_queue_actor{};
  }

  void put(const std::string& x) {
    self->send(queue, put_atom::value, x);
    run();
  }

  void put(const std::string& x, caf::timespan timeout) {
    self->send(queue, put_atom::value, x, timeout);
    run();
  }

  void get() {
    self->send(queue, get_atom::value);
    run();
  }

  void get(caf::timespan timeout) {
    self->send(queue, get_atom::value, timeout);
    run();
  }

  uint64_t size() {
    auto n = ask<uint64_t>(queue, size_atom::value);
    EXPECT_TRUE(n);
    return n ? *n : 0;
  }

  std::string item() {
    auto x = reply<std::string>();
    EXPECT_TRUE(x) << "no item";
    if (!x)
      return "<none>";
    EXPECT_TRUE(*x) << render(x->error());
    return *x ? **x : "<error>";
  }
};

} // namespace

TEST_F(BoundedQueueTest, ZeroCapacityOrWaiterLimitIsRefused) {
  auto q = spawn_bounded_queue(sys, 0);
  ASSERT_FALSE(q);
  EXPECT_TRUE(parley::runtime::is(q.error(), errc::invalid_argument));
  auto w = spawn_bounded_queue(sys, 1, 0);
  ASSERT_FALSE(w);
  EXPECT_TRUE(parley::runtime::is(w.error(), errc::invalid_argument));
}

TEST_F(BoundedQueueTest, PutBlocksWhenFullUntilAGetMakesRoom) {
  put("a");
  put("b");
  auto acks = replies<uint64_t>();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_EQ(*acks[0], 1u);
  EXPECT_EQ(*acks[1], 2u);
  put("c");
  EXPECT_TRUE(replies<uint64_t>().empty()) << "a put into a full queue must wait";
  EXPECT_EQ(size(), 2u);
  get();
  EXPECT_EQ(item(), "a");
  auto late = replies<uint64_t>();
  ASSERT_EQ(late.size(), 1u) << "the get made room for the parked put";
  EXPECT_EQ(*late[0], 2u);
  get();
  get();
  EXPECT_EQ(item(), "b");
  EXPECT_EQ(item(), "c");
}

TEST_F(BoundedQueueTest, ParkedPutsAreAdmittedInArrivalOrder) {
  queue = make(1);
  put("a");
  put("b");
  put("c");
  for (auto expected : {"a", "b", "c"}) {
    get();
    EXPECT_EQ(item(), expected);
  }
  EXPECT_EQ(replies<uint64_t>().size(), 3u);
}

TEST_F(BoundedQueueTest, GetWaitsForAPut) {
  get();
  EXPECT_FALSE(reply<std::string>());
  put("x");
  EXPECT_EQ(item(), "x");
  auto ack = reply<uint64_t>();
  ASSERT_TRUE(ack && *ack);
  EXPECT_EQ(**ack, 0u) << "the item went straight to the waiting get";
  EXPECT_EQ(size(), 0u);
}

TEST_F(BoundedQueueTest, GetTimesOutAndTheNextItemIsNotLost) {
  get(ms(100));
  advance_time(ms(99));
  EXPECT_FALSE(reply<std::string>());
  advance_time(ms(1));
  auto x = reply<std::string>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::timeout)) << render(x->error());
  EXPECT_NE(render(x->error()).find("queue get did not complete within 100ms"), std::string::npos);
  put("kept");
  EXPECT_EQ(size(), 1u) << "the item must not go to the get that gave up";
  get(ms(100));
  EXPECT_EQ(item(), "kept");
}

TEST_F(BoundedQueueTest, GetWithTimeoutGetsAnItemThatComesInTime) {
  get(ms(100));
  advance_time(ms(50));
  put("in time");
  EXPECT_EQ(item(), "in time");
  advance_time(ms(50));
  EXPECT_FALSE(reply<std::string>()) << "the timer of a served get does nothing";
}

TEST_F(BoundedQueueTest, ZeroTimeoutsAreNowait) {
  get(ms(0));
  auto empty = reply<std::string>();
  ASSERT_TRUE(empty);
  EXPECT_TRUE(failed_with(*empty, errc::timeout));
  put("a");
  put("b");
  put("c", ms(0));
  auto acks = replies<uint64_t>();
  ASSERT_EQ(acks.size(), 3u);
  EXPECT_TRUE(acks[0] && acks[1]);
  EXPECT_TRUE(failed_with(acks[2], errc::capacity_exceeded)) << render(acks[2].error());
  EXPECT_EQ(size(), 2u);
}

TEST_F(BoundedQueueTest, PutWithTimeoutExpiresAndDropsItsItem) {
  queue = make(1);
  put("a");
  put("b", ms(50));
  advance_time(ms(50));
  auto acks = replies<uint64_t>();
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_TRUE(acks[0]);
  EXPECT_TRUE(failed_with(acks[1], errc::timeout)) << render(acks[1].error());
  get();
  EXPECT_EQ(item(), "a");
  get(ms(0));
  auto none = reply<std::string>();
  ASSERT_TRUE(none);
  EXPECT_TRUE(failed_with(*none, errc::timeout)) << "b was never queued";
}

TEST_F(BoundedQueueTest, NegativeTimeoutsAreRefused) {
  get(ms(-1));
  put("a", ms(-1));
  auto x = reply<std::string>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::invalid_argument));
  auto ack = reply<uint64_t>();
  ASSERT_TRUE(ack);
  EXPECT_TRUE(failed_with(*ack, errc::invalid_argument));
  EXPECT_EQ(size(), 0u);
}

TEST_F(BoundedQueueTest, AConsumerThatEndedDoesNotSwallowAnItem) {
  auto c = sys.spawn(consumer, queue);
  run();
  kill(c);
  put("x");
  EXPECT_EQ(size(), 1u);
  get();
  EXPECT_EQ(item(), "x");
}

TEST_F(BoundedQueueTest, MoreParkedRequestsThanTheLimitAreRefused) {
  queue = make(1, 1);
  put("a");
  put("b");
  put("c");
  auto acks = replies<uint64_t>();
  ASSERT_EQ(acks.size(), 2u) << "a is queued, b parked, c refused";
  EXPECT_TRUE(acks[0]);
  EXPECT_TRUE(failed_with(acks[1], errc::capacity_exceeded)) << render(acks[1].error());
  get();
  get();
  EXPECT_EQ(item(), "a");
  EXPECT_EQ(item(), "b");
}

TEST_F(BoundedQueueTest, AStoppedQueueFailsItsParkedRequests) {
  queue = make(1);
  put("a");
  put("b");
  EXPECT_EQ(replies<uint64_t>().size(), 1u);
  kill(queue);
  auto acks = replies<uint64_t>();
  ASSERT_EQ(acks.size(), 1u);
  ASSERT_FALSE(acks[0]);
  EXPECT_EQ(acks[0].error(), caf::sec::request_receiver_down);
}
