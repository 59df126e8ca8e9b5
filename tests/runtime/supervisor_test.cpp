// The supervisor's strategies, restart intensity, shutdown order and
// dynamic children under CAF's test coordinator: one fixture, ~400 lines.
#include "parley/runtime/supervisor.hpp"

#include "parley/runtime/errc.hpp"
#include "parley/runtime/stats.hpp"
#include "support/actor_test.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

#include <memory>
#include <stdexcept>
#include <vector>

using namespace parley::runtime;
using parley::test::actor_test;

namespace {

using event_log = std::shared_ptr<std::vector<std::string>>;

// A child that records "start <name>" and "stop <name>", crashes on
// crash_atom and ends normally on stop_atom.
caf::behavior worker(caf::event_based_actor* self, event_log log, std::string name) {
  log->push_back("start " + name);
  self->attach_functor([log, name](const caf::error&) { log->push_back("stop " + name); });
  return {
    [](crash_atom) { throw std::runtime_error("crash as asked"); },
    [self](stop_atom) { self->quit(); },
  };
}

// A child that ignores exit requests: only `kill` ends it.
caf::behavior stubborn_worker(caf::event_based_actor* self, event_log log, std::string name) {
  log->push_back("start " + name);
  self->attach_functor([log, name](const caf::error&) { log->push_back("stop " + name); });
  self->set_exit_handler([](caf::exit_msg&) { /* ignore */ });
  return {[](stop_atom) {}};
}

child_spec spec(event_log log, std::string id, restart_type restart = restart_type::permanent) {
  child_spec result;
  result.id = id;
  result.restart = restart;
  result.start = [log, id](caf::actor_system& sys,
                           const supervisor_actor&) -> caf::expected<caf::actor> {
    return sys.spawn(worker, log, id);
  };
  return result;
}

class SupervisorTest : public actor_test {
protected:
  event_log log = std::make_shared<std::vector<std::string>>();

  supervisor_actor start(supervisor_flags flags, std::vector<child_spec> specs) {
    auto sup = spawn_supervisor(sys, flags, std::move(specs));
    self->monitor(sup);
    run();
    return sup;
  }

  supervisor_report describe(const supervisor_actor& sup) {
    auto report = ask<supervisor_report>(sup, describe_atom::value);
    EXPECT_TRUE(report) << render(report.error());
    return report ? *report : supervisor_report{};
  }

  caf::actor child(const supervisor_actor& sup, const std::string& id) {
    auto res = ask<caf::actor>(sup, find_child_atom::value, id);
    EXPECT_TRUE(res) << render(res.error());
    return res ? *res : caf::actor{};
  }

  std::vector<caf::actor> children(const supervisor_actor& sup) {
    std::vector<caf::actor> result;
    for (auto& c : describe(sup).children)
      result.push_back(c.handle);
    return result;
  }

  std::vector<std::string> take_log() {
    auto result = *log;
    log->clear();
    return result;
  }

  void crash(const caf::actor& x) {
    self->send(x, crash_atom::value);
    run();
  }

  std::vector<child_spec> abc(restart_type restart = restart_type::permanent) {
    return {spec(log, "a", restart), spec(log, "b", restart), spec(log, "c", restart)};
  }
};

using strs = std::vector<std::string>;

} // namespace

TEST_F(SupervisorTest, StartsChildrenInOrder) {
  auto sup = start({}, abc());
  EXPECT_EQ(take_log(), (strs{"start a", "start b", "start c"}));
  auto report = describe(sup);
  ASSERT_EQ(report.children.size(), 3u);
  EXPECT_EQ(report.children[0].id, "a");
  EXPECT_EQ(report.children[2].id, "c");
  for (auto& c : report.children) {
    EXPECT_TRUE(c.running);
    EXPECT_EQ(c.restarts, 0u);
  }
}

TEST_F(SupervisorTest, OneForOneRestartsOnlyTheFailedChild) {
  auto sup = start({restart_strategy::one_for_one, 3, std::chrono::seconds(5)}, abc());
  auto before = children(sup);
  take_log();
  auto restarts_before = parley::runtime::supervisors().restarts.load();
  crash(before[1]);
  EXPECT_EQ(take_log(), (strs{"stop b", "start b"}));
  EXPECT_EQ(parley::runtime::supervisors().restarts.load(), restarts_before + 1)
    << "the process-wide counter behind /metrics";
  auto after = children(sup);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_NE(after[1], before[1]);
  EXPECT_TRUE(after[1]);
  EXPECT_EQ(after[2], before[2]);
  auto report = describe(sup);
  EXPECT_EQ(report.children[0].restarts, 0u);
  EXPECT_EQ(report.children[1].restarts, 1u);
  EXPECT_EQ(report.children[2].restarts, 0u);
}

TEST_F(SupervisorTest, OneForAllRestartsEveryChildInOrder) {
  auto sup = start({restart_strategy::one_for_all, 3, std::chrono::seconds(5)}, abc());
  auto before = children(sup);
  take_log();
  crash(before[1]);
  // The others stop in reverse order, then all start in order.
  EXPECT_EQ(take_log(), (strs{"stop b", "stop c", "stop a", "start a", "start b", "start c"}));
  auto after = children(sup);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE(after[i], before[i]) << i;
    EXPECT_TRUE(after[i]) << i;
  }
  for (auto& c : describe(sup).children)
    EXPECT_EQ(c.restarts, 1u) << c.id;
}

TEST_F(SupervisorTest, RestForOneRestartsTheFailedChildAndLaterOnes) {
  auto sup = start({restart_strategy::rest_for_one, 3, std::chrono::seconds(5)},
                   {spec(log, "a"), spec(log, "b"), spec(log, "c"), spec(log, "d")});
  auto before = children(sup);
  take_log();
  crash(before[1]);
  EXPECT_EQ(take_log(), (strs{"stop b", "stop d", "stop c", "start b", "start c", "start d"}));
  auto after = children(sup);
  EXPECT_EQ(after[0], before[0]);
  for (size_t i = 1; i < 4; ++i)
    EXPECT_NE(after[i], before[i]) << i;
}

TEST_F(SupervisorTest, PermanentChildRestartsEvenAfterNormalExit) {
  auto sup = start({}, {spec(log, "a", restart_type::permanent)});
  auto a = child(sup, "a");
  self->send(a, stop_atom::value);
  run();
  auto report = describe(sup);
  ASSERT_EQ(report.children.size(), 1u);
  EXPECT_TRUE(report.children[0].running);
  EXPECT_EQ(report.children[0].restarts, 1u);
}

TEST_F(SupervisorTest, TransientChildRestartsOnlyAfterAbnormalExit) {
  auto sup = start({}, {spec(log, "a", restart_type::transient)});
  crash(child(sup, "a"));
  auto report = describe(sup);
  EXPECT_TRUE(report.children[0].running);
  EXPECT_EQ(report.children[0].restarts, 1u);
  self->send(child(sup, "a"), stop_atom::value);
  run();
  report = describe(sup);
  ASSERT_EQ(report.children.size(), 1u) << "a transient child's spec stays";
  EXPECT_FALSE(report.children[0].running);
  EXPECT_EQ(report.children[0].restarts, 1u);
  EXPECT_FALSE(child(sup, "a"));
}

TEST_F(SupervisorTest, TemporaryChildIsNeverRestartedAndDropped) {
  auto sup = start({}, {spec(log, "a"), spec(log, "t", restart_type::temporary)});
  take_log();
  crash(child(sup, "t"));
  EXPECT_EQ(take_log(), (strs{"stop t"}));
  auto report = describe(sup);
  ASSERT_EQ(report.children.size(), 1u);
  EXPECT_EQ(report.children[0].id, "a");
  EXPECT_EQ(report.recent_restarts, 0u);
}

TEST_F(SupervisorTest, OneForAllDropsTemporarySiblingsItStopped) {
  auto sup = start({restart_strategy::one_for_all, 3, std::chrono::seconds(5)},
                   {spec(log, "a"), spec(log, "t", restart_type::temporary)});
  crash(child(sup, "a"));
  auto report = describe(sup);
  ASSERT_EQ(report.children.size(), 1u);
  EXPECT_EQ(report.children[0].id, "a");
  EXPECT_TRUE(report.children[0].running);
}

TEST_F(SupervisorTest, ExceedingIntensityStopsChildrenAndExitsWithError) {
  auto sup = start({restart_strategy::one_for_one, 2, std::chrono::seconds(5)}, abc());
  crash(child(sup, "b"));
  crash(child(sup, "b"));
  EXPECT_FALSE(down_reason(sup.address())) << "two restarts are within the intensity";
  take_log();
  crash(child(sup, "b"));
  auto reason = down_reason(sup.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(parley::runtime::is(*reason, errc::restart_intensity_exceeded)) << render(*reason);
  // b is dead already; the others stop in reverse order.
  EXPECT_EQ(take_log(), (strs{"stop b", "stop c", "stop a"}));
}

TEST_F(SupervisorTest, RestartsOlderThanThePeriodDoNotCount) {
  auto sup = start({restart_strategy::one_for_one, 1, std::chrono::seconds(5)}, abc());
  for (int i = 0; i < 4; ++i) {
    crash(child(sup, "a"));
    advance_time(std::chrono::seconds(6));
  }
  EXPECT_FALSE(down_reason(sup.address()));
  EXPECT_EQ(describe(sup).children[0].restarts, 4u);
}

TEST_F(SupervisorTest, IntensityZeroGivesUpAtTheFirstFailure) {
  auto sup = start({restart_strategy::one_for_one, 0, std::chrono::seconds(5)}, abc());
  auto gave_up_before = parley::runtime::supervisors().gave_up.load();
  crash(child(sup, "c"));
  auto reason = down_reason(sup.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(parley::runtime::is(*reason, errc::restart_intensity_exceeded));
  EXPECT_EQ(parley::runtime::supervisors().gave_up.load(), gave_up_before + 1);
}

TEST_F(SupervisorTest, EscalationPassesThroughTwoLevels) {
  // top (intensity 1) -> mid (intensity 0) -> worker "w".
  supervisor_flags mid_flags{restart_strategy::one_for_one, 0, std::chrono::seconds(5)};
  auto top = start({restart_strategy::one_for_one, 1, std::chrono::seconds(5)},
                   {spec(log, "sibling"), supervisor_child("mid", mid_flags, {spec(log, "w")})});
  auto mid1 = caf::actor_cast<supervisor_actor>(child(top, "mid"));
  ASSERT_TRUE(mid1);
  take_log();
  // First failure: mid gives up, top restarts mid (and so a new w).
  crash(child(mid1, "w"));
  EXPECT_EQ(take_log(), (strs{"stop w", "start w"}));
  EXPECT_FALSE(down_reason(top.address()));
  auto mid2 = caf::actor_cast<supervisor_actor>(child(top, "mid"));
  ASSERT_TRUE(mid2);
  EXPECT_NE(mid2, mid1);
  auto report = describe(top);
  EXPECT_EQ(report.children[1].restarts, 1u);
  // Second failure: mid gives up again; that exceeds top's intensity too, so
  // top stops its remaining child and exits with the error.
  crash(child(mid2, "w"));
  auto reason = down_reason(top.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(parley::runtime::is(*reason, errc::restart_intensity_exceeded)) << render(*reason);
  EXPECT_EQ(take_log(), (strs{"stop w", "stop sibling"}));
}

TEST_F(SupervisorTest, ShutdownStopsChildrenInReverseOrder) {
  auto sup = start({}, abc());
  take_log();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  auto reason = down_reason(sup.address());
  ASSERT_TRUE(reason);
  EXPECT_EQ(*reason, caf::exit_reason::user_shutdown);
  EXPECT_EQ(take_log(), (strs{"stop c", "stop b", "stop a"}));
}

TEST_F(SupervisorTest, NestedSupervisorsStopDepthFirstInReverseOrder) {
  auto top = start({}, {spec(log, "a"),
                        supervisor_child("mid", {}, {spec(log, "m1"), spec(log, "m2")}),
                        spec(log, "c")});
  take_log();
  self->send_exit(top, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(down_reason(top.address()));
  EXPECT_EQ(take_log(), (strs{"stop c", "stop m2", "stop m1", "stop a"}));
}

TEST_F(SupervisorTest, ShutdownTimeoutKillsAChildThatIgnoresTheRequest) {
  auto stubborn = child_spec{"s",
                             [this](caf::actor_system& sys,
                                    const supervisor_actor&) -> caf::expected<caf::actor> {
                               return sys.spawn(stubborn_worker, log, "s");
                             },
                             restart_type::permanent, std::chrono::seconds(2)};
  auto sup = start({}, {spec(log, "a"), stubborn});
  take_log();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  run();
  // "s" ignores user_shutdown; "a" must wait its turn.
  EXPECT_TRUE(take_log().empty());
  EXPECT_FALSE(down_reason(sup.address()));
  advance_time(std::chrono::seconds(1));
  EXPECT_TRUE(take_log().empty());
  advance_time(std::chrono::seconds(1));
  EXPECT_EQ(take_log(), (strs{"stop s", "stop a"}));
  EXPECT_TRUE(down_reason(sup.address()));
}

TEST_F(SupervisorTest, ChildrenCanBeAddedAndRemovedAtRunTime) {
  auto sup = start({}, {spec(log, "a"), spec(log, "b")});
  take_log();
  auto added = ask<caf::actor>(sup, add_child_atom::value, spec(log, "c"));
  ASSERT_TRUE(added) << render(added.error());
  EXPECT_TRUE(*added);
  EXPECT_EQ(take_log(), (strs{"start c"}));
  auto dup = ask<caf::actor>(sup, add_child_atom::value, spec(log, "a"));
  ASSERT_FALSE(dup);
  EXPECT_TRUE(parley::runtime::is(dup.error(), errc::duplicate_child));
  auto removed = ask<child_info>(sup, remove_child_atom::value, std::string{"b"});
  ASSERT_TRUE(removed) << render(removed.error());
  EXPECT_EQ(removed->id, "b");
  EXPECT_EQ(take_log(), (strs{"stop b"}));
  auto report = describe(sup);
  ASSERT_EQ(report.children.size(), 2u);
  EXPECT_EQ(report.children[0].id, "a");
  EXPECT_EQ(report.children[1].id, "c");
  auto unknown = ask<child_info>(sup, remove_child_atom::value, std::string{"zz"});
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(parley::runtime::is(unknown.error(), errc::unknown_child));
  // A dynamically added child is supervised like the others.
  crash(*added);
  EXPECT_EQ(describe(sup).children[1].restarts, 1u);
  // And it stops in reverse order of start, after the static ones.
  take_log();
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  ASSERT_TRUE(down_reason(sup.address()));
  EXPECT_EQ(take_log(), (strs{"stop c", "stop a"}));
}

TEST_F(SupervisorTest, FailingStartFailsTheSupervisorAndStopsStartedChildren) {
  auto broken = child_spec{"broken",
                           [](caf::actor_system&, const supervisor_actor&)
                             -> caf::expected<caf::actor> {
                             return make_error(errc::invalid_argument, std::string{"no"});
                           }};
  auto sup = start({}, {spec(log, "a"), broken, spec(log, "c")});
  auto reason = down_reason(sup.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(parley::runtime::is(*reason, errc::invalid_argument)) << render(*reason);
  EXPECT_EQ(take_log(), (strs{"start a", "stop a"}));
}

TEST_F(SupervisorTest, DuplicateIdsAreRefused) {
  auto sup = start({}, {spec(log, "a"), spec(log, "a")});
  auto reason = down_reason(sup.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(parley::runtime::is(*reason, errc::duplicate_child));
  EXPECT_TRUE(take_log().empty());
}

TEST_F(SupervisorTest, ChildCrashDuringAStopSequenceIsHandledAfterIt) {
  // one_for_all with a child that needs its kill timeout: while the
  // supervisor waits for it, another child crashes; that crash is handled
  // once the sequence ends, not lost.
  auto stubborn = child_spec{"s",
                             [this](caf::actor_system& sys,
                                    const supervisor_actor&) -> caf::expected<caf::actor> {
                               return sys.spawn(stubborn_worker, log, "s");
                             },
                             restart_type::permanent, std::chrono::seconds(1)};
  auto sup = start({restart_strategy::one_for_all, 5, std::chrono::seconds(60)},
                   {spec(log, "a"), stubborn, spec(log, "c")});
  auto a = child(sup, "a");
  crash(child(sup, "c")); // stops s (stuck), then a
  crash(a);               // a dies while still queued to be stopped
  advance_time(std::chrono::seconds(1));
  EXPECT_FALSE(down_reason(sup.address()));
  auto report = describe(sup);
  for (auto& c : report.children)
    EXPECT_TRUE(c.running) << c.id;
  auto a2 = child(sup, "a");
  EXPECT_NE(a2, a);
}

TEST_F(SupervisorTest, ForgetEndedDropsChildrenThatEndForGood) {
  supervisor_flags flags;
  flags.forget_ended = true;
  auto sup = start(flags, {spec(log, "t", restart_type::transient),
                           spec(log, "p", restart_type::permanent)});
  self->send(child(sup, "t"), stop_atom::value);
  run();
  auto report = describe(sup);
  ASSERT_EQ(report.children.size(), 1u);
  EXPECT_EQ(report.children[0].id, "p");
  // A crash is still restarted.
  crash(child(sup, "p"));
  EXPECT_EQ(describe(sup).children[0].restarts, 1u);
  // And the id is free again.
  EXPECT_TRUE(ask<caf::actor>(sup, add_child_atom::value, spec(log, "t", restart_type::transient)));
}
