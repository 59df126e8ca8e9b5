#include "parley/gevent/join_all.hpp"

#include "actors/gevent_test.hpp"

#include <caf/sec.hpp>

#include <stdexcept>

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

class JoinAllTest : public parley::test::gevent_test {
protected:
  joiner_actor joiner = spawn_joiner(sys);

  task_actor value_after(int64_t x, caf::timespan delay) {
    return spawn_task(sys, [x] { return x; }, delay);
  }

  void join(const task_list& tasks, caf::timespan deadline) {
    self->send(joiner, join_atom::value, tasks, deadline);
    run();
  }

  outcome_list outcomes() {
    auto xs = reply<outcome_list>();
    EXPECT_TRUE(xs) << "no reply";
    if (!xs)
      return {};
    EXPECT_TRUE(*xs) << render(xs->error());
    return *xs ? **xs : outcome_list{};
  }
};

} // namespace

TEST_F(JoinAllTest, CollectsValuesAndErrorsInTaskOrder) {
  task_list tasks{
    value_after(1, ms(30)),
    spawn_task(sys,
               []() -> caf::expected<int64_t> {
                 return parley::runtime::make_error(errc::invalid_argument, std::string{"no"});
               }),
    spawn_task(sys, []() -> caf::expected<int64_t> { throw std::runtime_error("boom"); }),
    value_after(4, ms(10)),
  };
  join(tasks, ms(1000));
  EXPECT_FALSE(reply<outcome_list>()) << "two tasks still sleep";
  advance_time(ms(10));
  EXPECT_FALSE(reply<outcome_list>()) << "one task still sleeps";
  advance_time(ms(20));
  auto xs = outcomes();
  ASSERT_EQ(xs.size(), 4u);
  EXPECT_TRUE(xs[0].successful());
  EXPECT_EQ(xs[0].value, 1);
  EXPECT_FALSE(xs[1].successful());
  EXPECT_TRUE(parley::runtime::is(xs[1].error, errc::invalid_argument)) << render(xs[1].error);
  EXPECT_FALSE(xs[2].successful());
  EXPECT_EQ(xs[2].error, caf::sec::runtime_error);
  EXPECT_NE(render(xs[2].error).find("boom"), std::string::npos) << render(xs[2].error);
  EXPECT_EQ(xs[2].value, 0);
  EXPECT_TRUE(xs[3].successful());
  EXPECT_EQ(xs[3].value, 4);
}

TEST_F(JoinAllTest, TaskStillRunningAtTheDeadlineTimesOut) {
  join({value_after(1, ms(10)), value_after(2, ms(500))}, ms(100));
  advance_time(ms(99));
  EXPECT_FALSE(reply<outcome_list>());
  advance_time(ms(1));
  auto xs = outcomes();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_TRUE(xs[0].successful());
  EXPECT_EQ(xs[0].value, 1);
  EXPECT_TRUE(parley::runtime::is(xs[1].error, errc::timeout)) << render(xs[1].error);
  EXPECT_NE(render(xs[1].error).find("task 1 did not complete within 100ms"), std::string::npos)
    << render(xs[1].error);
}

TEST_F(JoinAllTest, ATaskKeepsItsOutcomeForEveryLaterJoin) {
  auto task = value_after(42, ms(10));
  join({task}, ms(100));
  advance_time(ms(10));
  ASSERT_EQ(outcomes().at(0).value, 42);
  join({task, task}, ms(100));
  auto again = outcomes();
  ASSERT_EQ(again.size(), 2u);
  EXPECT_EQ(again[0].value, 42);
  EXPECT_EQ(again[1].value, 42);
  auto direct = ask<int64_t>(task, join_atom::value);
  ASSERT_TRUE(direct) << render(direct.error());
  EXPECT_EQ(*direct, 42);
}

TEST_F(JoinAllTest, JoinersOfARunningTaskAllGetItsValue) {
  auto task = value_after(5, ms(50));
  join({task}, ms(100));
  join({task}, ms(100));
  advance_time(ms(50));
  auto xs = replies<outcome_list>();
  ASSERT_EQ(xs.size(), 2u);
  for (auto& x : xs) {
    ASSERT_TRUE(x);
    EXPECT_EQ(x->at(0).value, 5);
  }
}

TEST_F(JoinAllTest, AnEmptyListJoinsAtOnce) {
  join({}, ms(100));
  auto xs = reply<outcome_list>();
  ASSERT_TRUE(xs && *xs);
  EXPECT_TRUE((*xs)->empty());
}

TEST_F(JoinAllTest, AnInvalidHandleFailsOnlyItsOwnOutcome) {
  join({task_actor{}, value_after(3, ms(0))}, ms(100));
  auto xs = outcomes();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_TRUE(parley::runtime::is(xs[0].error, errc::invalid_argument)) << render(xs[0].error);
  EXPECT_EQ(xs[1].value, 3);
}

TEST_F(JoinAllTest, ADeadlineThatIsNotPositiveIsRefused) {
  for (auto d : {ms(0), ms(-5)}) {
    join({value_after(1, ms(0))}, d);
    auto xs = reply<outcome_list>();
    ASSERT_TRUE(xs);
    EXPECT_TRUE(failed_with(*xs, errc::invalid_argument));
  }
}

TEST_F(JoinAllTest, AJoinOfMoreTasksThanTheLimitIsRefused) {
  auto small = spawn_joiner(sys, 2);
  task_list tasks{value_after(1, ms(0)), value_after(2, ms(0)), value_after(3, ms(0))};
  self->send(small, join_atom::value, tasks, ms(100));
  run();
  auto xs = reply<outcome_list>();
  ASSERT_TRUE(xs);
  EXPECT_TRUE(failed_with(*xs, errc::capacity_exceeded));
}

TEST_F(JoinAllTest, ATaskNobodyHoldsEndsOnceItsBodyRan) {
  auto task = value_after(1, ms(20));
  self->monitor(task);
  auto addr = task.address();
  task = nullptr;
  EXPECT_FALSE(down_reason(addr)) << "its timer keeps it alive";
  advance_time(ms(20));
  auto reason = down_reason(addr);
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, caf::exit_reason::unreachable);
}
