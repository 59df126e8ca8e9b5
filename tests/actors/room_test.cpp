#include "parley/actors/room.hpp"

#include "parley/runtime/errc.hpp"
#include "support/room_fixture.hpp"
#include "support/test_sink.hpp"

#include <caf/exit_reason.hpp>

#include <deque>
#include <set>

using namespace parley::actors;
using parley::gateway::outbound_queue;
using parley::test::member_probe;
using parley::test::RoomTest;
using parley::test::seqs;
using parley::test::test_sink;
namespace errc_ns = parley::runtime;


TEST_F(RoomTest, FirstMessageGetsSeqOneAndMembersReceiveIt) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  auto seq = publish(ann, "hello");
  ASSERT_TRUE(seq) << render(seq.error());
  EXPECT_EQ(*seq, 1u);
  EXPECT_EQ(ann.seqs(), seqs{1});
  EXPECT_EQ(bob.seqs(), seqs{1});
  auto msg = bob.messages().back();
  EXPECT_EQ(msg.sender(), "ann");
  EXPECT_EQ(msg.text(), "hello");
  EXPECT_EQ(msg.room(), "lobby");
  EXPECT_GT(msg.server_time_ms(), 0);
}

TEST_F(RoomTest, SeqHasNoGapsUnderConcurrentPublishers) {
  start();
  std::vector<member_probe*> pubs;
  for (auto name : {"a", "b", "c"}) {
    auto& m = add_member(name);
    ASSERT_TRUE(join(m));
    pubs.push_back(&m);
  }
  // 3 publishers, 100 messages each, all in the room's mailbox at once.
  for (int i = 0; i < 100; ++i)
    for (auto* p : pubs)
      self->send(room, publish_atom::value, publish_request{p->id(), "m" + std::to_string(i), {}});
  run();
  std::set<seq_t> acked;
  for (int i = 0; i < 300; ++i)
    self->receive([&](seq_t s) { acked.insert(s); }, caf::after(std::chrono::seconds(0)) >> [] {});
  ASSERT_EQ(acked.size(), 300u);
  EXPECT_EQ(*acked.begin(), 1u);
  EXPECT_EQ(*acked.rbegin(), 300u);
  seqs expected(300);
  for (size_t i = 0; i < 300; ++i)
    expected[i] = i + 1;
  for (auto* p : pubs)
    EXPECT_EQ(p->seqs(), expected) << p->user;
}

TEST_F(RoomTest, BacklogKeepsTheLastNMessages) {
  auto cfg = immediate();
  cfg.backlog = 5;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto& late = add_member("late");
  auto reply = join(late);
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{8, 9, 10, 11, 12}));
  EXPECT_EQ(reply->seq, 12u);
  EXPECT_FALSE(reply->gap);
  EXPECT_EQ(reply->member_count, 2u);
}

TEST_F(RoomTest, DefaultBacklogIsTwentyFive) {
  start();
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 30; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto reply = join(add_member("late"));
  ASSERT_TRUE(reply);
  ASSERT_EQ(reply->messages.size(), 25u);
  EXPECT_EQ(reply->messages.front().seq, 6u);
}

TEST_F(RoomTest, JoinSinceInsideTheBacklogGetsWhatWasMissed) {
  auto cfg = immediate();
  cfg.backlog = 5;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto reply = join(add_member("back"), seq_t{9});
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{10, 11, 12}));
  EXPECT_FALSE(reply->gap);
  // Exactly the oldest held one missed: still no gap.
  auto edge = join(add_member("edge"), seq_t{7});
  EXPECT_EQ(seqs_of(edge->messages), (seqs{8, 9, 10, 11, 12}));
  EXPECT_FALSE(edge->gap);
  // Up to date: nothing, no gap.
  auto current = join(add_member("current"), seq_t{12});
  EXPECT_TRUE(current->messages.empty());
  EXPECT_FALSE(current->gap);
}

TEST_F(RoomTest, JoinSinceOlderThanTheBacklogSaysSo) {
  auto cfg = immediate();
  cfg.backlog = 5;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  auto reply = join(add_member("away"), seq_t{2});
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{8, 9, 10, 11, 12}));
  EXPECT_TRUE(reply->gap);
}

TEST_F(RoomTest, MemberDeathLeavesAndOthersGetAPresenceDiff) {
  start();
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  auto joined = ann.presence();
  ASSERT_EQ(joined.size(), 1u);
  ASSERT_EQ(joined[0].joined_size(), 1);
  EXPECT_EQ(joined[0].joined(0), "bob");
  EXPECT_TRUE(bob.presence().empty()) << "the joiner gets the full list in its reply";
  self->send_exit(bob.handle, caf::exit_reason::kill);
  run();
  auto diffs = ann.presence();
  ASSERT_EQ(diffs.size(), 2u);
  ASSERT_EQ(diffs[1].left_size(), 1);
  EXPECT_EQ(diffs[1].left(0), "bob");
  auto present = ask<std::vector<std::string>>(room, presence_atom::value);
  ASSERT_TRUE(present);
  EXPECT_EQ(*present, (std::vector<std::string>{"ann"}));
  // Its publishes are no longer accepted.
  auto res = publish(bob, "ghost");
  EXPECT_FALSE(res);
}

TEST_F(RoomTest, PresenceListsEachUserOnce) {
  start();
  auto& ann1 = add_member("ann");
  auto& ann2 = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(bob));
  ASSERT_TRUE(join(ann1));
  auto reply = join(ann2);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->members, (std::vector<std::string>{"ann", "bob"}));
  EXPECT_EQ(reply->member_count, 3u);
  // bob saw ann join once; ann's second tab leaving is no presence change.
  EXPECT_EQ(bob.presence().size(), 1u);
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann2.id()));
  EXPECT_EQ(bob.presence().size(), 1u);
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann1.id()));
  ASSERT_EQ(bob.presence().size(), 2u);
  EXPECT_EQ(bob.presence()[1].left(0), "ann");
}

// "ann" is in the room: "Ann", "аnn" (Cyrillic а) and "ANN" look the same
// and are refused with NAME_IN_USE while she is; "ann" herself (a second
// tab) and "anna" are not. Once she leaves, the look-alike may come in.
TEST_F(RoomTest, ALookAlikeOfAPresentNameIsRefusedUntilItLeaves) {
  start();
  auto& ann = add_member("ann");
  auto& ann_tab = add_member("ann");
  auto& anna = add_member("anna");
  auto& capital = add_member("Ann");
  auto& cyrillic = add_member("\u0430nn");
  auto& shouting = add_member("ANN");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(ann_tab));
  ASSERT_TRUE(join(anna));
  for (auto* m : {&capital, &cyrillic, &shouting}) {
    auto res = join(*m);
    ASSERT_FALSE(res);
    EXPECT_TRUE(errc_ns::is(res.error(), errc_ns::errc::name_in_use)) << render(res.error());
    EXPECT_NE(render(res.error()).find("choose another name"), std::string::npos)
      << render(res.error());
  }
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann.id()));
  EXPECT_FALSE(join(cyrillic)) << "ann's second tab is still in the room";
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann_tab.id()));
  EXPECT_TRUE(join(cyrillic));
  EXPECT_FALSE(join(capital)) << "now \"Ann\" looks like the one who came in";
  // "Ian" has two keys (capital I folds to i, and looks like l): both are
  // held while Ian is in, and both go when Ian leaves.
  auto& ian = add_member("Ian");
  auto& small_ian = add_member("ian");
  auto& lan = add_member("lan");
  ASSERT_TRUE(join(ian));
  EXPECT_FALSE(join(small_ian));
  EXPECT_FALSE(join(lan));
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ian.id()));
  EXPECT_TRUE(join(small_ian));
  EXPECT_TRUE(join(lan)) << "\"ian\" and \"lan\" do not look alike";
}

TEST_F(RoomTest, NonMembersCannotPublishAndMembersCannotJoinTwice) {
  start();
  auto& ann = add_member("ann");
  auto res = publish(ann, "not yet");
  ASSERT_FALSE(res);
  EXPECT_TRUE(errc_ns::is(res.error(), errc_ns::errc::not_a_member)) << render(res.error());
  ASSERT_TRUE(join(ann));
  auto again = join(ann);
  ASSERT_FALSE(again);
  EXPECT_TRUE(errc_ns::is(again.error(), errc_ns::errc::already_member));
}

TEST_F(RoomTest, HistoryPagesBackwardsAndReportsGaps) {
  auto cfg = immediate();
  cfg.backlog = 10;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  for (int i = 0; i < 15; ++i)
    ASSERT_TRUE(publish(ann, "m"));
  // Held: 6..15.
  auto newest = ask<history_reply>(room, history_atom::value, history_request{0, 0, 3});
  ASSERT_TRUE(newest);
  EXPECT_EQ(seqs_of(newest->messages), (seqs{13, 14, 15}));
  EXPECT_FALSE(newest->gap) << "limited, not a gap";
  auto older = ask<history_reply>(room, history_atom::value, history_request{13, 0, 3});
  EXPECT_EQ(seqs_of(older->messages), (seqs{10, 11, 12}));
  auto range = ask<history_reply>(room, history_atom::value, history_request{12, 8, 0});
  EXPECT_EQ(seqs_of(range->messages), (seqs{9, 10, 11}));
  EXPECT_FALSE(range->gap);
  auto too_old = ask<history_reply>(room, history_atom::value, history_request{9, 0, 0});
  EXPECT_EQ(seqs_of(too_old->messages), (seqs{6, 7, 8}));
  EXPECT_TRUE(too_old->gap) << "1..5 are no longer held";
}

TEST_F(RoomTest, IdleRoomStopsAfterItsTimeoutUnlessSomeoneJoins) {
  auto cfg = immediate();
  cfg.idle_timeout = std::chrono::seconds(30);
  start(cfg);
  advance_time(std::chrono::seconds(20));
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  advance_time(std::chrono::seconds(20)); // the first timer fires, but ann is here
  EXPECT_FALSE(down_reason(room.address()));
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, ann.id()));
  advance_time(std::chrono::seconds(29));
  EXPECT_FALSE(down_reason(room.address()));
  advance_time(std::chrono::seconds(1));
  auto reason = down_reason(room.address());
  ASSERT_TRUE(reason);
  EXPECT_FALSE(*reason) << "an idle room ends normally";
  room = nullptr;
}

TEST_F(RoomTest, ARestartedRoomContinuesFromItsMemory) {
  start();
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(ann, "two"));
  self->send_exit(room, caf::exit_reason::kill);
  run();
  start(); // same memory, as the directory would pass it
  auto& bob = add_member("bob");
  auto reply = join(bob);
  ASSERT_TRUE(reply);
  EXPECT_EQ(seqs_of(reply->messages), (seqs{1, 2}));
  auto seq = publish(bob, "three");
  ASSERT_TRUE(seq);
  EXPECT_EQ(*seq, 3u);
  EXPECT_EQ(memory->incarnations, 2u);
}

TEST_F(RoomTest, PresenceChangesAreBatchedIntoOneDiff) {
  room_config cfg; // the default: batched
  ASSERT_GT(cfg.presence_interval.count(), 0);
  cfg.max_presence_list = 2;
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  advance_time(cfg.presence_interval);
  ann.forget();
  auto& bob = add_member("bob");
  auto& cid = add_member("cid");
  auto& dan = add_member("dan");
  ASSERT_TRUE(join(bob));
  ASSERT_TRUE(join(cid));
  auto reply = join(dan);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->member_count, 4u);
  EXPECT_EQ(reply->members.size(), 2u) << "the list is capped, the count is not";
  // cid came and went within the window, after dan's join reply may have
  // listed cid: the diff must still say cid left (a net count would not).
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, cid.id()));
  EXPECT_TRUE(ann.presence().empty()) << "nothing before the interval";
  advance_time(cfg.presence_interval);
  auto diffs = ann.presence();
  ASSERT_EQ(diffs.size(), 1u);
  std::vector<std::string> joined(diffs[0].joined().begin(), diffs[0].joined().end());
  EXPECT_EQ(joined, (std::vector<std::string>{"bob", "dan"}));
  std::vector<std::string> left(diffs[0].left().begin(), diffs[0].left().end());
  EXPECT_EQ(left, (std::vector<std::string>{"cid"}));
  auto dans = dan.presence();
  ASSERT_EQ(dans.size(), 1u) << "the joiner gets the same diff";
  std::vector<std::string> dan_left(dans[0].left().begin(), dans[0].left().end());
  EXPECT_EQ(dan_left, (std::vector<std::string>{"cid"}));
}

TEST_F(RoomTest, ABatchedDiffTellsALateJoinerWhoLeftInTheSameWindow) {
  room_config cfg; // batched
  start(cfg);
  auto& ann = add_member("ann");
  ASSERT_TRUE(join(ann));
  advance_time(cfg.presence_interval);
  auto& bob = add_member("bob");
  auto& cid = add_member("cid");
  ASSERT_TRUE(join(bob));
  auto reply = join(cid);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->members, (std::vector<std::string>{"ann", "bob", "cid"}));
  ASSERT_TRUE(ask<bool>(room, leave_atom::value, bob.id()));
  advance_time(cfg.presence_interval);
  // cid's view: the list, then the diff. It must end without bob.
  std::set<std::string> view(reply->members.begin(), reply->members.end());
  for (auto& d : cid.presence()) {
    for (auto& u : d.joined())
      view.insert(u);
    for (auto& u : d.left())
      view.erase(u);
  }
  EXPECT_EQ(view, (std::set<std::string>{"ann", "cid"}));
}

namespace {

// A behaviour that accepts one join and then ends normally.
room_behavior_actor::behavior_type quitting_behavior(room_behavior_actor::pointer self, int) {
  return {
    [self](on_join_atom, const join_event&) {
      self->quit();
      return join_verdict::accepted();
    },
    [](on_publish_atom, const publish_event&) { return publish_verdict::passed(); },
    [](on_leave_atom, const leave_event&) { return room_effects{}; },
    [](on_tick_atom, const tick_event&) { return room_effects{}; },
  };
}

} // namespace

TEST_F(RoomTest, ABehaviourThatEndsTakesItsRoomDownForARestart) {
  room_behavior_rule rule;
  rule.factory = [](caf::actor_system& sys, const std::string&) {
    return sys.spawn(quitting_behavior, 0);
  };
  start(immediate(), rule);
  ASSERT_TRUE(join(add_member("ann")));
  auto reason = down_reason(room.address());
  ASSERT_TRUE(reason);
  EXPECT_TRUE(errc_ns::is(*reason, errc_ns::errc::behavior_failed)) << render(*reason);
  room = nullptr;
}

TEST_F(RoomTest, StatsCountTheOpenRoomItsMessagesAndDeliveries) {
  auto cfg = immediate();
  auto stats = cfg.stats;
  start(cfg);
  EXPECT_EQ(stats->open.load(), 1);
  EXPECT_EQ(stats->started.load(), 1u);
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  ASSERT_TRUE(join(ann));
  ASSERT_TRUE(join(bob));
  auto presence_deliveries = stats->deliveries.load(); // bob's arrival, told to ann
  EXPECT_EQ(presence_deliveries, 1u);
  ASSERT_TRUE(publish(ann, "one"));
  ASSERT_TRUE(publish(bob, "two"));
  EXPECT_EQ(stats->messages.load(), 2u);
  EXPECT_EQ(stats->deliveries.load(), presence_deliveries + 4) << "two messages to two members";
  self->send_exit(room, caf::exit_reason::user_shutdown);
  run();
  EXPECT_TRUE(down_reason(room.address()));
  EXPECT_EQ(stats->open.load(), 0);
  room = nullptr;
}

TEST_F(RoomTest, BigRoomsCollectPresenceChangesLonger) {
  room_config cfg; // batched: 200 ms per 100 members, at most 2 s
  cfg.presence_members_per_interval = 2;
  start(cfg);
  auto& ann = add_member("ann");
  auto& bob = add_member("bob");
  auto& cid = add_member("cid");
  for (auto* m : {&ann, &bob, &cid})
    ASSERT_TRUE(join(*m));
  advance_time(cfg.max_presence_interval); // whatever the joins armed
  ann.forget();
  auto& dan = add_member("dan");
  ASSERT_TRUE(join(dan)); // 4 members: 4 / 2 + 1 = 3 intervals
  advance_time(cfg.presence_interval * 2);
  EXPECT_TRUE(ann.presence().empty()) << "a room of 4 waits 3 intervals, not 1";
  advance_time(cfg.presence_interval);
  ASSERT_EQ(ann.presence().size(), 1u);
  EXPECT_EQ(ann.presence()[0].joined(0), "dan");
}

// -- members on other nodes, through relays ----------------------------------------
