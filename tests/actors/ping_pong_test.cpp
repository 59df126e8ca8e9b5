#include "parley/actors/ping_pong.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/runtime/supervisor.hpp"
#include "support/actor_test.hpp"

#include <caf/actor_cast.hpp>
#include <caf/exit_reason.hpp>

using namespace parley::actors;
using namespace parley::runtime;
using parley::test::actor_test;

namespace {

class PingPongTest : public actor_test {
protected:
  supervisor_actor sup;

  pinger_actor start(uint64_t crash_at) {
    sup = spawn_supervisor(sys, {},
                           ping_pong_children(std::make_shared<crash_plan>(crash_at)));
    run();
    auto pinger = ask<caf::actor>(sup, find_child_atom::value, std::string{"pinger"});
    EXPECT_TRUE(pinger);
    return caf::actor_cast<pinger_actor>(pinger ? *pinger : caf::actor{});
  }

  uint64_t restarts_of(const std::string& id) {
    auto report = ask<supervisor_report>(sup, describe_atom::value);
    EXPECT_TRUE(report);
    if (report)
      for (auto& c : report->children)
        if (c.id == id)
          return c.restarts;
    return ~uint64_t{0};
  }

  void TearDown() override {
    if (sup)
      self->send_exit(sup, caf::exit_reason::user_shutdown);
    run();
  }
};

} // namespace

TEST_F(PingPongTest, GameCompletesEveryRound) {
  auto pinger = start(0);
  ASSERT_TRUE(pinger);
  auto res = ask<game_result>(pinger, play_atom::value, uint64_t{100});
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->rounds, 100u);
  EXPECT_EQ(res->ponger_failures, 0u);
  EXPECT_EQ(restarts_of("ponger"), 0u);
}

TEST_F(PingPongTest, PongerCrashMidGameIsRestartedAndTheGameCompletes) {
  auto pinger = start(50);
  ASSERT_TRUE(pinger);
  auto ponger_before = ask<caf::actor>(sup, find_child_atom::value, std::string{"ponger"});
  auto res = ask<game_result>(pinger, play_atom::value, uint64_t{100});
  ASSERT_TRUE(res) << render(res.error());
  EXPECT_EQ(res->rounds, 100u);
  EXPECT_EQ(res->ponger_failures, 1u);
  EXPECT_EQ(restarts_of("ponger"), 1u);
  EXPECT_EQ(restarts_of("pinger"), 0u);
  auto ponger_after = ask<caf::actor>(sup, find_child_atom::value, std::string{"ponger"});
  ASSERT_TRUE(ponger_before && ponger_after);
  EXPECT_NE(*ponger_before, *ponger_after);
  // The plan fired once: a second game runs without a crash.
  auto again = ask<game_result>(pinger, play_atom::value, uint64_t{100});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->ponger_failures, 0u);
}

TEST_F(PingPongTest, ZeroRoundsIsAnEmptyGame) {
  auto pinger = start(0);
  auto res = ask<game_result>(pinger, play_atom::value, uint64_t{0});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->rounds, 0u);
}

TEST_F(PingPongTest, ASecondGameWhileOneRunsIsRefused) {
  auto pinger = start(0);
  self->send(pinger, play_atom::value, uint64_t{10});
  self->send(pinger, play_atom::value, uint64_t{10});
  run();
  int results = 0;
  int errors = 0;
  for (int i = 0; i < 2; ++i)
    self->receive([&](game_result&) { ++results; },
                  [&](caf::error& err) {
                    ++errors;
                    EXPECT_TRUE(parley::runtime::is(err, parley::runtime::errc::invalid_argument)) << render(err);
                  },
                  caf::after(std::chrono::seconds(0)) >> [] {});
  EXPECT_EQ(results, 1);
  EXPECT_EQ(errors, 1);
}

TEST_F(PingPongTest, PongerReturnsTheBallItGot) {
  auto ponger = sys.spawn(ponger_impl, std::shared_ptr<crash_plan>{});
  auto res = ask<ball>(ponger, ping_atom::value, ball{42});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->round, 42u);
  self->send_exit(ponger, caf::exit_reason::user_shutdown);
}
