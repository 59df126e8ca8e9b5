#include "parley/gevent/pool.hpp"

#include "actors/gevent_test.hpp"

#include <caf/actor_cast.hpp>
#include <caf/sec.hpp>

#include <algorithm>
#include <memory>
#include <stdexcept>

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

/// Counts the tasks alive at once, seen from the tasks themselves.
struct concurrency {
  int64_t running = 0;
  int64_t peak = 0;
};

/// Tasks that square their input after `10 * input` ms, counting themselves
/// in `c` from spawn to the end of their body.
task_factory squares(std::shared_ptr<concurrency> c) {
  return [c](caf::actor_system& sys, int64_t x) {
    c->peak = std::max(c->peak, ++c->running);
    return spawn_task(
      sys,
      [c, x] {
        --c->running;
        return x * x;
      },
      ms(10 * x));
  };
}

class PoolTest : public parley::test::gevent_test {
protected:
  std::shared_ptr<concurrency> counts = std::make_shared<concurrency>();

  pool_actor make(pool_config cfg, task_factory f = {}) {
    auto p = spawn_pool(sys, cfg, f ? std::move(f) : squares(counts));
    EXPECT_TRUE(p) << render(p.error());
    return p ? *p : pool_actor{};
  }

  pool_stats stats(const pool_actor& p) {
    auto s = ask<pool_stats>(p, stats_atom::value);
    EXPECT_TRUE(s);
    return s ? *s : pool_stats{};
  }

  /// Moves time in 10ms steps: a task spawned when a slot frees sleeps from
  /// that step on, so one big jump would fire only the first wave.
  void advance_steps(int steps) {
    for (int i = 0; i < steps; ++i)
      advance_time(ms(10));
  }

  result_sink sink() {
    return caf::actor_cast<result_sink>(self);
  }

  /// (index, outcome) messages a sink got so far.
  std::vector<std::pair<uint64_t, outcome>> results() {
    std::vector<std::pair<uint64_t, outcome>> xs;
    bool more = true;
    while (more) {
      more = false;
      self->receive(
        [&](result_atom, uint64_t i, outcome& x) {
          xs.emplace_back(i, std::move(x));
          more = true;
        },
        caf::after(std::chrono::seconds(0)) >> [] {});
    }
    return xs;
  }
};

} // namespace

TEST_F(PoolTest, BadConfigurationIsRefused) {
  auto zero = spawn_pool(sys, pool_config{0}, squares(counts));
  ASSERT_FALSE(zero);
  EXPECT_TRUE(parley::runtime::is(zero.error(), errc::invalid_argument));
  auto negative = spawn_pool(sys, pool_config{1, ms(-1)}, squares(counts));
  ASSERT_FALSE(negative);
  EXPECT_TRUE(parley::runtime::is(negative.error(), errc::invalid_argument));
  auto no_factory = spawn_pool(sys, pool_config{1}, task_factory{});
  ASSERT_FALSE(no_factory);
  EXPECT_TRUE(parley::runtime::is(no_factory.error(), errc::invalid_argument));
}

TEST_F(PoolTest, MapAnswersInInputOrder) {
  auto pool = make({2});
  // Later inputs sleep less, so they would finish first if all ran at once.
  self->send(pool, map_atom::value, std::vector<int64_t>{5, 4, 3, 2, 1});
  run();
  advance_steps(10);
  auto xs = reply<std::vector<int64_t>>();
  ASSERT_TRUE(xs && *xs) << (xs ? render(xs->error()) : "no reply");
  EXPECT_EQ(**xs, (std::vector<int64_t>{25, 16, 9, 4, 1}));
}

TEST_F(PoolTest, NoMoreThanSizeTasksRunAtOnce) {
  auto pool = make({3});
  self->send(pool, map_atom::value, std::vector<int64_t>{1, 1, 1, 1, 1, 1, 1, 1, 1, 1});
  run();
  auto s = stats(pool);
  EXPECT_EQ(s.running, 3u);
  EXPECT_EQ(s.queued, 7u);
  EXPECT_EQ(counts->running, 3);
  for (int step = 0; step < 3; ++step) {
    advance_time(ms(10));
    EXPECT_LE(counts->running, 3);
  }
  EXPECT_FALSE(reply<std::vector<int64_t>>()) << "10 tasks of 10ms, 3 at a time, take 40ms";
  advance_time(ms(10));
  auto xs = reply<std::vector<int64_t>>();
  ASSERT_TRUE(xs && *xs);
  EXPECT_EQ((*xs)->size(), 10u);
  EXPECT_EQ(counts->peak, 3) << "the pool must use, and not exceed, its size";
  s = stats(pool);
  EXPECT_EQ(s.peak, 3u);
  EXPECT_EQ(s.running, 0u);
  EXPECT_EQ(s.completed, 10u);
}

TEST_F(PoolTest, SlotsAreSharedAcrossRequests) {
  auto pool = make({2});
  self->send(pool, map_atom::value, std::vector<int64_t>{1, 1});
  self->send(pool, map_atom::value, std::vector<int64_t>{1, 1});
  run();
  EXPECT_EQ(stats(pool).running, 2u);
  advance_steps(1);
  EXPECT_EQ(replies<std::vector<int64_t>>().size(), 1u) << "the first request ran first";
  advance_steps(1);
  EXPECT_EQ(replies<std::vector<int64_t>>().size(), 1u);
  EXPECT_EQ(counts->peak, 2);
}

TEST_F(PoolTest, ImapDeliversEachResultAsItsTaskEnds) {
  auto pool = make({2});
  self->send(pool, imap_atom::value, std::vector<int64_t>{4, 1, 2}, sink());
  run();
  // t=10: input 1 ends, input 2 starts; t=30: input 2 ends; t=40: input 4.
  advance_time(ms(10));
  auto first = results();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].first, 1u);
  EXPECT_EQ(first[0].second.value, 1);
  advance_time(ms(20));
  auto second = results();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].first, 2u);
  EXPECT_EQ(second[0].second.value, 4);
  EXPECT_FALSE(reply<uint64_t>());
  advance_time(ms(10));
  auto third = results();
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].first, 0u);
  EXPECT_EQ(third[0].second.value, 16);
  auto done = reply<uint64_t>();
  ASSERT_TRUE(done && *done);
  EXPECT_EQ(**done, 3u);
}

TEST_F(PoolTest, MapFailsWithTheFirstErrorAndDropsTheRest) {
  auto pool = make({1}, [](caf::actor_system& sys, int64_t x) {
    return spawn_task(sys, [x]() -> caf::expected<int64_t> {
      if (x == 2)
        return parley::runtime::make_error(errc::invalid_argument, std::string{"two"});
      return x;
    });
  });
  self->send(pool, map_atom::value, std::vector<int64_t>{1, 2, 3, 4});
  run();
  auto xs = reply<std::vector<int64_t>>();
  ASSERT_TRUE(xs);
  EXPECT_TRUE(failed_with(*xs, errc::invalid_argument));
  EXPECT_EQ(stats(pool).completed, 2u) << "inputs 3 and 4 were dropped";
}

TEST_F(PoolTest, ImapReportsFailuresAsOutcomes) {
  auto pool = make({2}, [](caf::actor_system& sys, int64_t x) -> task_actor {
    if (x == 0)
      return {};
    if (x < 0)
      throw std::runtime_error("negative");
    return spawn_task(sys, [x] { return x; });
  });
  self->send(pool, imap_atom::value, std::vector<int64_t>{0, -1, 5}, sink());
  run();
  auto xs = results();
  ASSERT_EQ(xs.size(), 3u);
  std::sort(xs.begin(), xs.end(), [](auto& a, auto& b) { return a.first < b.first; });
  EXPECT_TRUE(parley::runtime::is(xs[0].second.error, errc::invalid_argument));
  EXPECT_EQ(xs[1].second.error, caf::sec::runtime_error);
  EXPECT_TRUE(xs[2].second.successful());
  EXPECT_EQ(xs[2].second.value, 5);
  EXPECT_EQ(stats(pool).running, 0u);
}

TEST_F(PoolTest, TaskTimeoutFreesTheSlot) {
  auto pool = make({1, ms(50)});
  self->send(pool, imap_atom::value, std::vector<int64_t>{100, 1}, sink());
  run();
  advance_time(ms(50));
  auto first = results();
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].first, 0u);
  EXPECT_TRUE(parley::runtime::is(first[0].second.error, errc::timeout))
    << render(first[0].second.error);
  advance_time(ms(10));
  auto second = results();
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].second.value, 1);
}

TEST_F(PoolTest, EmptyInputAnswersAtOnceAndABadSinkIsRefused) {
  auto pool = make({1});
  self->send(pool, map_atom::value, std::vector<int64_t>{});
  run();
  auto xs = reply<std::vector<int64_t>>();
  ASSERT_TRUE(xs && *xs);
  EXPECT_TRUE((*xs)->empty());
  self->send(pool, imap_atom::value, std::vector<int64_t>{1}, result_sink{});
  run();
  auto bad = reply<uint64_t>();
  ASSERT_TRUE(bad);
  EXPECT_TRUE(failed_with(*bad, errc::invalid_argument));
}

TEST_F(PoolTest, AFloodBeyondTheQueueLimitIsRefused) {
  pool_config cfg{1};
  cfg.max_queued = 3;
  auto pool = make(cfg);
  self->send(pool, map_atom::value, std::vector<int64_t>{1, 1, 1, 1, 1});
  run();
  auto xs = reply<std::vector<int64_t>>();
  ASSERT_TRUE(xs);
  EXPECT_TRUE(failed_with(*xs, errc::capacity_exceeded));
  EXPECT_EQ(stats(pool).completed, 0u);
}
