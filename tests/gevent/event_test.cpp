#include "parley/gevent/event.hpp"

#include "actors/gevent_test.hpp"

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

class EventTest : public parley::test::gevent_test {
protected:
  event_actor event = spawn_event(sys);

  void wait() {
    self->send(event, wait_atom::value);
    run();
  }

  void wait(caf::timespan timeout) {
    self->send(event, wait_atom::value, timeout);
    run();
  }

  uint64_t set() {
    auto woken = ask<uint64_t>(event, set_atom::value);
    EXPECT_TRUE(woken) << render(woken.error());
    return woken ? *woken : 0;
  }

  bool is_set() {
    auto x = ask<bool>(event, ready_atom::value);
    EXPECT_TRUE(x) << render(x.error());
    return x && *x;
  }
};

} // namespace

TEST_F(EventTest, WaitersBeforeSetAllWakeOnSet) {
  wait();
  wait();
  wait(ms(1000));
  EXPECT_TRUE(replies<bool>().empty()) << "nobody may wake before set";
  EXPECT_EQ(set(), 3u);
  auto woken = replies<bool>();
  ASSERT_EQ(woken.size(), 3u);
  for (auto& x : woken) {
    ASSERT_TRUE(x) << render(x.error());
    EXPECT_TRUE(*x);
  }
  advance_time(ms(1000));
  EXPECT_TRUE(replies<bool>().empty()) << "a woken waiter's timer does nothing";
}

TEST_F(EventTest, WaitAfterSetAnswersAtOnce) {
  EXPECT_FALSE(is_set());
  EXPECT_EQ(set(), 0u);
  EXPECT_TRUE(is_set());
  wait();
  wait(ms(0));
  auto xs = replies<bool>();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_TRUE(xs[0] && *xs[0]);
  EXPECT_TRUE(xs[1] && *xs[1]);
}

TEST_F(EventTest, WaitTimesOutAtItsDeadlineNotBefore) {
  wait(ms(50));
  advance_time(ms(49));
  EXPECT_FALSE(reply<bool>());
  advance_time(ms(1));
  auto x = reply<bool>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::timeout));
  EXPECT_NE(render(x->error()).find("within 50ms"), std::string::npos) << render(x->error());
  EXPECT_EQ(set(), 0u) << "the timed-out waiter is gone";
}

TEST_F(EventTest, OnlyTheWaiterWhoseTimeoutPassedGivesUp) {
  wait(ms(10));
  wait(ms(100));
  advance_time(ms(10));
  auto first = replies<bool>();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_TRUE(failed_with(first[0], errc::timeout));
  EXPECT_EQ(set(), 1u);
  auto second = replies<bool>();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_TRUE(second[0] && *second[0]);
}

TEST_F(EventTest, ZeroTimeoutOnAnUnsetEventFailsAtOnce) {
  wait(ms(0));
  auto x = reply<bool>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::timeout));
}

TEST_F(EventTest, NegativeTimeoutIsRefused) {
  wait(ms(-1));
  auto x = reply<bool>();
  ASSERT_TRUE(x);
  EXPECT_TRUE(failed_with(*x, errc::invalid_argument));
}

TEST_F(EventTest, ClearMakesWaitsParkAgain) {
  set();
  auto was = ask<bool>(event, clear_atom::value);
  ASSERT_TRUE(was);
  EXPECT_TRUE(*was);
  EXPECT_FALSE(is_set());
  wait();
  EXPECT_FALSE(reply<bool>());
  EXPECT_EQ(set(), 1u);
  auto x = reply<bool>();
  ASSERT_TRUE(x && *x);
}

TEST_F(EventTest, MoreWaitersThanTheLimitAreRefused) {
  event = spawn_event(sys, 2);
  wait();
  wait();
  wait();
  auto refused = reply<bool>();
  ASSERT_TRUE(refused);
  EXPECT_TRUE(failed_with(*refused, errc::capacity_exceeded));
  EXPECT_EQ(set(), 2u);
  EXPECT_EQ(replies<bool>().size(), 2u);
}
