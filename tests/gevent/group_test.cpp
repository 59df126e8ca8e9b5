#include "parley/gevent/group.hpp"

#include "actors/gevent_test.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>

using namespace parley::gevent;
using parley::runtime::errc;
using parley::test::ms;

namespace {

// A member that ends on `stop` or when asked to exit.
caf::behavior member(caf::event_based_actor* self, int id) {
  return {[self](stop_atom) { self->quit(); }};
}

// A member that ignores exit requests: only `kill` ends it.
caf::behavior stubborn(caf::event_based_actor* self, int id) {
  self->set_exit_handler([](caf::exit_msg&) {});
  return {[](stop_atom) {}};
}

class GroupTest : public parley::test::gevent_test {
protected:
  group_actor group = make(std::chrono::seconds(1));

  group_actor make(caf::timespan shutdown) {
    auto g = spawn_group(sys, shutdown);
    EXPECT_TRUE(g) << render(g.error());
    return g ? *g : group_actor{};
  }

  /// Spawns `n` members, adds them to `g`, and monitors them.
  std::vector<caf::actor> members(int n, const group_actor& g) {
    std::vector<caf::actor> xs;
    for (int i = 0; i < n; ++i) {
      auto x = sys.spawn(member, i);
      self->monitor(x);
      auto size = ask<uint64_t>(g, add_atom::value, x);
      EXPECT_TRUE(size && *size == static_cast<uint64_t>(i + 1));
      xs.push_back(x);
    }
    return xs;
  }

  uint64_t size() {
    auto n = ask<uint64_t>(group, size_atom::value);
    EXPECT_TRUE(n);
    return n ? *n : 999;
  }
};

} // namespace

TEST_F(GroupTest, StoppingTheGroupEndsEveryMember) {
  auto xs = members(3, group);
  self->send(group, stop_atom::value);
  run();
  auto stopped = reply<uint64_t>();
  ASSERT_TRUE(stopped && *stopped);
  EXPECT_EQ(**stopped, 3u);
  auto down = downs();
  ASSERT_EQ(down.size(), 3u);
  for (auto& x : xs) {
    ASSERT_EQ(down.count(x.address()), 1u);
    EXPECT_EQ(down[x.address()], caf::exit_reason::user_shutdown);
  }
  EXPECT_EQ(size(), 0u);
}

TEST_F(GroupTest, AStubbornMemberIsKilledAfterTheShutdownTimeout) {
  auto xs = members(2, group);
  auto s = sys.spawn(stubborn, 9);
  self->monitor(s);
  ASSERT_TRUE(ask<uint64_t>(group, add_atom::value, s));
  self->send(group, stop_atom::value);
  run();
  EXPECT_EQ(downs().size(), 2u);
  EXPECT_FALSE(reply<uint64_t>()) << "stop answers only once every member ended";
  advance_time(ms(999));
  EXPECT_FALSE(reply<uint64_t>());
  advance_time(ms(1));
  auto down = downs();
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[s.address()], caf::exit_reason::kill);
  auto stopped = reply<uint64_t>();
  ASSERT_TRUE(stopped && *stopped);
  EXPECT_EQ(**stopped, 3u);
}

TEST_F(GroupTest, ZeroShutdownKillsAtOnce) {
  group = make(ms(0));
  auto s = sys.spawn(stubborn, 1);
  self->monitor(s);
  ASSERT_TRUE(ask<uint64_t>(group, add_atom::value, s));
  self->send(group, stop_atom::value);
  run();
  EXPECT_EQ(downs()[s.address()], caf::exit_reason::kill);
  auto stopped = reply<uint64_t>();
  ASSERT_TRUE(stopped && *stopped);
  EXPECT_EQ(**stopped, 1u);
}

TEST_F(GroupTest, MembersThatEndAreForgotten) {
  auto xs = members(2, group);
  self->send(xs[0], stop_atom::value);
  run();
  EXPECT_EQ(size(), 1u);
}

TEST_F(GroupTest, JoinAnswersOnceTheGroupIsEmpty) {
  auto xs = members(2, group);
  self->send(group, join_atom::value);
  run();
  self->send(xs[0], stop_atom::value);
  run();
  EXPECT_FALSE(reply<uint64_t>());
  self->send(xs[1], stop_atom::value);
  run();
  auto joined = reply<uint64_t>();
  ASSERT_TRUE(joined && *joined);
  EXPECT_EQ(**joined, 2u);
  auto empty = ask<uint64_t>(group, join_atom::value);
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, 0u) << "joining an empty group answers at once";
}

TEST_F(GroupTest, DiscardRemovesWithoutStopping) {
  auto xs = members(2, group);
  auto left = ask<uint64_t>(group, discard_atom::value, xs[0]);
  ASSERT_TRUE(left);
  EXPECT_EQ(*left, 1u);
  auto stopped = ask<uint64_t>(group, stop_atom::value);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(*stopped, 1u);
  auto down = downs();
  EXPECT_EQ(down.count(xs[0].address()), 0u) << "a discarded member keeps running";
  EXPECT_EQ(down.count(xs[1].address()), 1u);
  self->send(xs[0], stop_atom::value);
}

TEST_F(GroupTest, AddingTwiceKeepsOneMemberAndAnInvalidHandleIsRefused) {
  auto xs = members(1, group);
  auto again = ask<uint64_t>(group, add_atom::value, xs[0]);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 1u);
  auto bad = ask<uint64_t>(group, add_atom::value, caf::actor{});
  EXPECT_TRUE(failed_with(bad, errc::invalid_argument));
  EXPECT_EQ(size(), 1u);
}

TEST_F(GroupTest, StoppingAnEmptyGroupAnswersAtOnceAndNegativeShutdownIsRefused) {
  auto stopped = ask<uint64_t>(group, stop_atom::value);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(*stopped, 0u);
  auto bad = spawn_group(sys, ms(-1));
  ASSERT_FALSE(bad);
  EXPECT_TRUE(parley::runtime::is(bad.error(), errc::invalid_argument));
}

TEST_F(GroupTest, TheGroupIsUsableAfterAStop) {
  members(1, group);
  ASSERT_TRUE(ask<uint64_t>(group, stop_atom::value));
  downs();
  auto xs = members(2, group);
  auto stopped = ask<uint64_t>(group, stop_atom::value);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(*stopped, 2u);
  EXPECT_EQ(downs().size(), 2u);
}

TEST_F(GroupTest, MembersDoNotOutliveTheGroup) {
  auto xs = members(2, group);
  kill(group);
  auto down = downs();
  EXPECT_EQ(down.size(), 2u);
  for (auto& x : xs)
    EXPECT_EQ(down.count(x.address()), 1u);
}
