#include "parley/gevent/timeout.hpp"

#include "actors/gevent_test.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/sec.hpp>

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

// An actor that asks `sleeper` to sleep `nap` with a deadline and reports
// the outcome to `report`: the value, or the error.
caf::behavior caller(caf::event_based_actor* self, sleeper_actor sleeper, caf::actor report,
                     caf::timespan deadline, caf::timespan nap) {
  request_within<int64_t>(
    self, sleeper, deadline, "sleep",
    [self, report](caf::expected<int64_t> x) {
      if (x)
        self->send(report, *x);
      else
        self->send(report, x.error());
      self->quit();
    },
    sleep_atom::value, nap, int64_t{7});
  return {[](stop_atom) {}};
}

class TimeoutTest : public parley::test::gevent_test {
protected:
  sleeper_actor sleeper = spawn_sleeper(sys);

  void sleep(caf::timespan d, int64_t x) {
    self->send(sleeper, sleep_atom::value, d, x);
    run();
  }
};

} // namespace

TEST_F(TimeoutTest, SleeperAnswersAfterItsDelayNotBefore) {
  sleep(ms(100), 7);
  EXPECT_FALSE(reply<int64_t>());
  advance_time(ms(99));
  EXPECT_FALSE(reply<int64_t>());
  advance_time(ms(1));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(**x, 7);
}

TEST_F(TimeoutTest, SleeperServesOthersWhileOneSleeps) {
  sleep(ms(1000), 1);
  sleep(ms(10), 2);
  advance_time(ms(10));
  auto first = replies<int64_t>();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(*first[0], 2);
  advance_time(ms(990));
  auto second = replies<int64_t>();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(*second[0], 1);
}

TEST_F(TimeoutTest, ZeroSleepAnswersAtOnceAndNegativeIsRefused) {
  sleep(ms(0), 5);
  auto x = reply<int64_t>();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(**x, 5);
  sleep(ms(-1), 5);
  auto bad = reply<int64_t>();
  ASSERT_TRUE(bad);
  EXPECT_TRUE(failed_with(*bad, errc::invalid_argument)) << render(bad->error());
}

TEST_F(TimeoutTest, SleeperRefusesMoreSleepersThanItsLimit) {
  auto small = spawn_sleeper(sys, 1);
  self->send(small, sleep_atom::value, ms(10), int64_t{1});
  self->send(small, sleep_atom::value, ms(10), int64_t{2});
  run();
  auto refused = reply<int64_t>();
  ASSERT_TRUE(refused);
  EXPECT_TRUE(failed_with(*refused, errc::capacity_exceeded));
  advance_time(ms(10));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(**x, 1);
}

TEST_F(TimeoutTest, SlowRequestEndsWithErrcTimeoutAtTheDeadline) {
  sys.spawn(caller, sleeper, caf::actor_cast<caf::actor>(self), ms(50), ms(200));
  run();
  advance_time(ms(49));
  EXPECT_FALSE(reply<int64_t>());
  advance_time(ms(1));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x);
  ASSERT_FALSE(*x);
  EXPECT_TRUE(failed_with(*x, errc::timeout)) << render(x->error());
  EXPECT_NE(render(x->error()).find("sleep did not complete within 50ms"), std::string::npos)
    << render(x->error());
  // The sleeper still answers later; CAF drops the late reply.
  advance_time(ms(150));
  EXPECT_FALSE(reply<int64_t>());
}

TEST_F(TimeoutTest, RequestWithinTheDeadlineGetsTheValue) {
  sys.spawn(caller, sleeper, caf::actor_cast<caf::actor>(self), ms(300), ms(200));
  run();
  advance_time(ms(200));
  auto x = reply<int64_t>();
  ASSERT_TRUE(x && *x);
  EXPECT_EQ(**x, 7);
}

TEST_F(TimeoutTest, MapTimeoutRewritesOnlyCafRequestTimeouts) {
  auto mapped = map_timeout(caf::make_error(caf::sec::request_timeout), "lookup", ms(1500));
  EXPECT_TRUE(parley::runtime::is(mapped, errc::timeout));
  EXPECT_NE(render(mapped).find("lookup did not complete within 1500ms"), std::string::npos)
    << render(mapped);
  auto other = map_timeout(caf::make_error(caf::sec::request_receiver_down), "lookup", ms(1));
  EXPECT_EQ(other, caf::sec::request_receiver_down);
  EXPECT_TRUE(is_timeout(mapped));
  EXPECT_TRUE(is_timeout(caf::make_error(caf::sec::request_timeout)));
  EXPECT_FALSE(is_timeout(other));
  EXPECT_FALSE(is_timeout(caf::error{}));
}

TEST_F(TimeoutTest, DurationsRenderInTheLargestExactUnit) {
  EXPECT_EQ(to_text(std::chrono::seconds(2)), "2s");
  EXPECT_EQ(to_text(ms(1500)), "1500ms");
  EXPECT_EQ(to_text(std::chrono::microseconds(250)), "250us");
  EXPECT_EQ(to_text(std::chrono::nanoseconds(7)), "7ns");
  EXPECT_EQ(to_text(caf::timespan{0}), "0ns");
  EXPECT_EQ(to_text(ms(-20)), "-20ms");
}
